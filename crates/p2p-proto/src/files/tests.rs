//! Tests of the file-sharing core: ids, chunk ranges, and the fetch decisions without sockets.

use std::net::SocketAddr;

use super::*;

fn meta(chunks: usize) -> FileMeta {
    let data: Vec<Vec<u8>> = (0..chunks).map(|i| vec![i as u8; 4]).collect();
    let digests = data.iter().map(|d| chunk_digest(d)).collect();
    FileMeta::new("f", chunks as u64 * 4, 4, digests)
}

fn holder(id: &str, port: u16, chunks: &[usize], total: usize) -> HolderInfo {
    HolderInfo {
        peer_id: id.to_string(),
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        chunks: ChunkSet::from_indices(total, chunks.iter().copied()),
    }
}

fn asked(wants: &[Want]) -> Vec<(String, usize)> {
    wants.iter().map(|w| (w.holder.clone(), w.chunk)).collect()
}

fn pair(h: &str, c: usize) -> (String, usize) {
    (h.to_string(), c)
}

#[test]
fn the_file_id_is_the_trackers() {
    // docs/PROTOCOL.md's example: `hello world\n` in chunks of 8, with SHA-256 chunk hashes.
    let d0 = parse_digest("2850459f91fca1b8ca435e518708137a0eee63750d71056a67d700eb3d3ae9c9");
    let d1 = parse_digest("9413f219292fc7d0f60fcaea2a3ab7a7b73d89a938e5b9e9be040a9b7984f98e");
    assert_eq!(
        file_id(&[d0.unwrap(), d1.unwrap()]),
        "62921829630f561dc99d369b703a84365667dbf7c64d74b7df5ea57bf3b93a1b"
    );
    assert!(parse_digest("xyz").is_none());
    assert!(!is_file_id("notes.txt"));
    assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
}

#[test]
fn chunk_ranges_and_verification() {
    let data = b"hello world\n";
    let digests = vec![chunk_digest(&data[..8]), chunk_digest(&data[8..])];
    let m = FileMeta::new("hello.txt", 12, 8, digests);
    assert!(m.is_consistent());
    assert_eq!(m.chunk_range(0), Some((0, 8)));
    assert_eq!(m.chunk_range(1), Some((8, 4)));
    assert_eq!(m.chunk_range(2), None);
    assert!(m.verify(1, b"rld\n"));
    assert!(!m.verify(1, b"rlD\n"));
    assert!(!m.verify(0, b"rld\n"));
    assert_eq!(chunk_count(0, 8), 0);
    assert_eq!(chunk_count(16, 8), 2);
    assert_eq!(ChunkSet::ranges(&[0, 1, 2, 5, 7, 8]), "0-2, 5, 7-8");
}

#[test]
fn chunk_sets_count() {
    let mut s = ChunkSet::empty(70);
    assert!(s.insert(69));
    assert!(!s.insert(69));
    assert!(!s.insert(70));
    assert_eq!((s.count(), s.contains(69), s.contains(3)), (1, true, false));
    assert!(s.remove(69));
    assert!(ChunkSet::full(70).is_complete());
    assert_eq!(
        ChunkSet::from_indices(5, [4, 1]).iter().collect::<Vec<_>>(),
        [1, 4]
    );
}

#[test]
fn rarest_chunks_go_first_and_the_load_spreads() {
    let mut f = Fetch::new(meta(4), ChunkSet::empty(4), "me", 2);
    f.set_holders(vec![
        holder("a", 1, &[0, 1, 2, 3], 4),
        holder("b", 2, &[0, 1, 2], 4),
        holder("me", 3, &[0, 1, 2, 3], 4),
    ]);
    // Chunk 3 only `a` has: it goes first; then one each, up to each window of 2.
    let wants = f.wants(0);
    assert_eq!(
        asked(&wants),
        [pair("a", 3), pair("b", 0), pair("a", 1), pair("b", 2)]
    );
    assert_eq!(wants[0].addr.port(), 1);
    // Windows are full: nothing more until something comes back.
    assert!(f.wants(0).is_empty());
    assert!(f.received(3, "a"));
    assert!(!f.received(3, "a"), "a chunk is received once");
    assert!(f.wants(0).is_empty(), "every chunk is out");
    assert!(!f.chunk_ok(3));
    assert_eq!(f.have().count(), 1);
}

#[test]
fn resumed_chunks_are_not_asked_for() {
    let mut f = Fetch::new(meta(3), ChunkSet::from_indices(3, [0, 2]), "me", 4);
    f.set_holders(vec![holder("a", 1, &[0, 1, 2], 3)]);
    assert_eq!(asked(&f.wants(0)), [pair("a", 1)]);
    assert!(f.received(1, "a"));
    assert!(f.chunk_ok(1), "the last chunk completes the file");
}

#[test]
fn a_bad_chunk_is_asked_of_another_holder_and_the_sender_is_penalised() {
    let mut f = Fetch::new(meta(8), ChunkSet::empty(8), "me", 4);
    f.set_holders(vec![
        holder("a", 1, &[0, 1, 2, 3, 4, 5, 6, 7], 8),
        holder("b", 2, &[0, 1, 2, 3, 4, 5, 6, 7], 8),
    ]);
    let first = f.wants(0);
    assert_eq!(first.len(), 8);
    let from_a = first.iter().find(|w| w.holder == "a").unwrap().chunk;
    assert!(f.received(from_a, "a"));
    assert_eq!(f.chunk_bad(from_a), Some(("a".into(), BadChunk::Penalised)));
    // a's window is now 2 with 3 still out; b is full. The bad chunk waits for b.
    assert!(f.wants(0).is_empty());
    let from_b = first.iter().find(|w| w.holder == "b").unwrap().chunk;
    assert!(f.received(from_b, "b"));
    f.chunk_ok(from_b);
    assert_eq!(asked(&f.wants(0)), [pair("b", from_a)]);
    let stats = f.holder_stats();
    assert_eq!((stats[0].faults, stats[1].chunks), (1, 1));
}

#[test]
fn a_holder_is_dropped_after_repeated_faults() {
    let mut f = Fetch::new(meta(4), ChunkSet::empty(4), "me", 8);
    f.set_holders(vec![holder("a", 1, &[0, 1, 2, 3], 4)]);
    let wants = f.wants(0);
    assert_eq!(wants.len(), 4);
    for (round, want) in wants.iter().take(MAX_FAULTS as usize).enumerate() {
        assert!(f.received(want.chunk, "a"));
        let (who, cost) = f.chunk_bad(want.chunk).unwrap();
        assert_eq!(who, "a");
        let expected = match round + 1 == MAX_FAULTS as usize {
            true => BadChunk::Dropped,
            false => BadChunk::Penalised,
        };
        assert_eq!(cost, expected, "round {round}");
    }
    // Dropped: nothing is asked of it, and its outstanding requests were released.
    assert!(f.wants(0).is_empty());
    assert_eq!(f.in_flight(), 0);
    assert_eq!(f.unheld(), [0, 1, 2, 3]);
    assert_eq!(f.stuck(100), None);
    assert_eq!(f.stuck(100 + STUCK_GRACE_MS), Some(vec![0, 1, 2, 3]));
}

#[test]
fn a_dead_holders_requests_move_to_the_others_and_it_is_retried_later() {
    let mut f = Fetch::new(meta(4), ChunkSet::empty(4), "me", 2);
    f.set_holders(vec![
        holder("a", 1, &[0, 1, 2, 3], 4),
        holder("b", 2, &[0, 1, 2, 3], 4),
    ]);
    let wants = f.wants(0);
    let mut released = f.holder_down("a", 1_000);
    released.sort_unstable();
    let mut of_a: Vec<usize> = wants
        .iter()
        .filter(|w| w.holder == "a")
        .map(|w| w.chunk)
        .collect();
    of_a.sort_unstable();
    assert_eq!(released, of_a);
    // A late answer from the dead connection is ignored.
    assert!(!f.received(of_a[0], "a"));
    for w in wants.iter().filter(|w| w.holder == "b") {
        assert!(f.received(w.chunk, "b"));
        f.chunk_ok(w.chunk);
    }
    let next = f.wants(1_000);
    assert!(next.iter().all(|w| w.holder == "b") && next.len() == 2);
    assert_eq!(f.next_retry(), Some(1_000 + DOWN_BACKOFF_MS));
    for w in &next {
        f.request_failed(w.chunk, "b", false);
    }
    let later = f.wants(1_000 + DOWN_BACKOFF_MS);
    assert!(later.iter().any(|w| w.holder == "a"));
}

#[test]
fn a_holder_that_lacks_a_chunk_is_not_asked_again() {
    let mut f = Fetch::new(meta(1), ChunkSet::empty(1), "me", 2);
    f.set_holders(vec![holder("a", 1, &[0], 1)]);
    assert_eq!(asked(&f.wants(0)), [pair("a", 0)]);
    f.request_failed(0, "a", true);
    assert!(f.wants(0).is_empty());
    assert_eq!(f.unheld(), [0]);
    // The tracker lists the chunk again, so it is asked for again.
    f.set_holders(vec![holder("a", 1, &[0], 1)]);
    assert_eq!(f.wants(0).len(), 1);
}

#[test]
fn a_partial_holder_is_used_for_what_it_has() {
    let mut f = Fetch::new(meta(4), ChunkSet::empty(4), "me", 4);
    f.set_holders(vec![holder("third", 1, &[1, 2], 4)]);
    let mut got: Vec<usize> = f.wants(0).iter().map(|w| w.chunk).collect();
    got.sort_unstable();
    assert_eq!(got, [1, 2]);
    assert_eq!(f.unheld(), [0, 3]);
    assert_eq!(f.stuck(0), None, "requests are in flight");
}

#[test]
fn chunks_waiting_for_the_disk_hold_back_new_requests() {
    let n = MAX_VERIFYING + 4;
    let all: Vec<usize> = (0..n).collect();
    let mut f = Fetch::new(meta(n), ChunkSet::empty(n), "me", n);
    f.set_holders(vec![holder("a", 1, &all, n)]);
    let wants = f.wants(0);
    assert_eq!(wants.len(), n);
    for w in wants.iter().take(MAX_VERIFYING) {
        assert!(f.received(w.chunk, "a"));
    }
    f.request_failed(wants[n - 1].chunk, "a", false);
    assert!(f.wants(0).is_empty(), "the disk is behind");
    f.chunk_ok(wants[0].chunk);
    assert_eq!(f.wants(0).len(), 1);
}

#[test]
fn a_chunk_hashed_as_it_arrives_verifies_as_if_hashed_whole() {
    let meta = meta(3);
    let mut hasher = ChunkHasher::default();
    for byte in [2u8; 4] {
        hasher.update(&[byte]);
    }
    assert_eq!(hasher.finish(), chunk_digest(&[2; 4]));
    assert!(meta.verify_digest(2, 4, &hasher.finish()));
    assert!(!meta.verify_digest(1, 4, &hasher.finish()));
    assert!(!meta.verify_digest(2, 3, &hasher.finish()));
    assert!(!meta.verify_digest(3, 4, &hasher.finish()));
}
