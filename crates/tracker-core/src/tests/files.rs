//! The file index: publish rules, chunk registration, views and ids.

use serde_json::json;

use super::*;
use crate::limits::MAX_FILES_PER_PEER;
use crate::{ChunkParams, ChunksAdded, PeerFile, Published, file_id, file_id_of};

#[test]
fn file_ids() {
    let d = sha256(b"a");
    assert_eq!(file_id_of(&[d]), hex(&sha256(&d)));
    let mut two = d.to_vec();
    two.extend_from_slice(&sha256(b"b"));
    assert_eq!(file_id_of(&[d, sha256(b"b")]), hex(&sha256(&two)));
    assert_eq!(
        file_id_of(&[]),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    check(file_id(&[hex(&d)]), Ok(file_id_of(&[d])));
    check(file_id(&[hex(&d).to_uppercase()]), Ok(file_id_of(&[d])));
    check(
        file_id(&[hex(&d), "xyz".into()]),
        Err((400, "chunk hash 1 is not 64 hex digits")),
    );
}

#[test]
fn publish_validation() {
    let mut r = Registry::default();
    let t = add(&mut r, "a", 1, T0);
    let p = |f: &dyn Fn(&mut PublishParams)| {
        let mut p = publish_params("a", &t, "file.bin", 10, 4, 1);
        f(&mut p);
        p
    };
    let id3 = file_id(&p(&|_| {}).chunk_hashes).unwrap();
    let cases: Vec<(PublishParams, Expect<Published>)> = vec![
        (
            p(&|_| {}),
            Ok(Published {
                file_id: id3.clone(),
                chunks: 3,
            }),
        ),
        (
            p(&|p| p.chunk_hashes.pop().map(drop).unwrap()),
            Err((400, "10 bytes in chunks of 4 needs 3 chunk hashes, got 2")),
        ),
        (
            p(&|p| p.chunk_hashes.push(hash(9))),
            Err((400, "needs 3 chunk hashes, got 4")),
        ),
        (
            p(&|p| p.chunk_size = 0),
            Err((400, "chunk_size must be in 1..=67108864, got 0")),
        ),
        (
            p(&|p| p.chunk_size = 64 * 1024 * 1024 + 1),
            Err((400, "chunk_size must be")),
        ),
        (
            p(&|p| {
                p.size = 65_537;
                p.chunk_size = 1;
            }),
            Err((
                400,
                "65537 bytes in chunks of 1 is 65537 chunks, more than 65536",
            )),
        ),
        (
            p(&|p| p.chunk_hashes[1] = "ab".into()),
            Err((400, "chunk hash 1 is not 64 hex digits")),
        ),
        (
            p(&|p| p.chunk_hashes[2] = "g".repeat(64)),
            Err((400, "chunk hash 2")),
        ),
        (p(&|p| p.name = String::new()), Err((400, "file name"))),
        (
            p(&|p| p.name = "../etc/passwd".into()),
            Err((400, "plain name")),
        ),
        (p(&|p| p.peer_id = "ghost".into()), Err((404, "ghost"))),
        (
            p(&|p| p.token = Some(hash(1)[..32].into())),
            Err((403, "wrong token")),
        ),
    ];
    for (params, expected) in cases {
        let failing = expected.is_err();
        let before = snapshot(&r);
        let label = format!("{}/{}/{}", params.name, params.size, params.chunk_size);
        check(r.publish(params, T0), expected);
        if failing {
            assert_eq!(snapshot(&r), before, "{label}");
        }
    }
    // Bounds are inclusive: the largest chunk and the most chunks are fine; so is an empty file.
    r.publish(
        p(&|p| *p = publish_params("a", &t, "big", 64 * 1024 * 1024, 64 * 1024 * 1024, 2)),
        T0,
    )
    .unwrap();
    r.publish(
        p(&|p| *p = publish_params("a", &t, "many", 65_536, 1, 3)),
        T0,
    )
    .unwrap();
    let empty = r
        .publish(
            p(&|p| *p = publish_params("a", &t, "empty", 0, 1024, 4)),
            T0,
        )
        .unwrap();
    assert_eq!(empty.chunks, 0);
}

#[test]
fn names_per_peer_and_shared_content() {
    let mut r = Registry::default();
    let ta = add(&mut r, "a", 1, T0);
    let tb = add(&mut r, "b", 2, T0);
    let one = r
        .publish(publish_params("a", &ta, "x.txt", 10, 4, 1), T0)
        .unwrap()
        .file_id;
    // The same name for other content by the same peer → 409, state unchanged.
    let before = snapshot(&r);
    check(
        r.publish(publish_params("a", &ta, "x.txt", 10, 4, 2), T0)
            .map(drop),
        Err((409, "peer a already shares another file named \"x.txt\"")),
    );
    assert_eq!(snapshot(&r), before);
    // The same name by another peer for other content is fine.
    let two = r
        .publish(publish_params("b", &tb, "x.txt", 10, 4, 2), T0)
        .unwrap()
        .file_id;
    // The same content under another name by another peer: one entry, two holders.
    let again = r
        .publish(publish_params("b", &tb, "copy.txt", 10, 4, 1), T0)
        .unwrap()
        .file_id;
    assert_eq!(again, one);
    assert_eq!(r.file(&one, T0).unwrap().holders.len(), 2);
    assert_eq!(
        r.file(&one, T0).unwrap().name,
        "x.txt",
        "the first publisher's name is listed"
    );
    let names = |r: &Registry, id: &str| {
        r.peer_files(id, T0)
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&r, "b"), vec!["copy.txt", "x.txt"]);
    // Re-publishing one's own content renames one's copy.
    r.publish(publish_params("a", &ta, "renamed.txt", 10, 4, 1), T0)
        .unwrap();
    assert_eq!(names(&r, "a"), vec!["renamed.txt"]);
    // Known content with another size or chunk size → 409.
    let mut lie = publish_params("a", &ta, "x.txt", 12, 4, 1);
    lie.chunk_hashes.truncate(3);
    check(
        r.publish(lie, T0).map(drop),
        Err((409, "is published with size 10 and chunk size 4")),
    );
    let mut lie = publish_params("a", &ta, "x.txt", 10, 5, 1);
    lie.chunk_hashes = r.file(&one, T0).unwrap().chunk_hashes[..2].to_vec();
    assert_ne!(file_id(&lie.chunk_hashes).unwrap(), one);
    r.publish(lie, T0).unwrap();
    // With one chunk the chunk size is not fixed by the content, so it may differ.
    let single = r
        .publish(publish_params("a", &ta, "s", 3, 4, 7), T0)
        .unwrap()
        .file_id;
    let again = r
        .publish(publish_params("b", &tb, "s", 3, 1024, 7), T0)
        .unwrap()
        .file_id;
    assert_eq!(single, again);
    assert_ne!(one, two);
}

#[test]
fn files_per_peer_cap() {
    let mut r = Registry::default();
    let t = add(&mut r, "a", 1, T0);
    for i in 0..MAX_FILES_PER_PEER as u64 {
        r.publish(publish_params("a", &t, &format!("f{i}"), 1, 1, i + 1), T0)
            .unwrap();
    }
    let before = snapshot(&r);
    check(
        r.publish(publish_params("a", &t, "more", 1, 1, 999), T0)
            .map(drop),
        Err((400, "at most 256 files")),
    );
    assert_eq!(snapshot(&r), before);
    // Someone else's file cannot be taken up either, but one's own can be refreshed.
    let tb = add(&mut r, "b", 2, T0);
    let other = r
        .publish(publish_params("b", &tb, "o", 1, 1, 999), T0)
        .unwrap()
        .file_id;
    let chunks = ChunkParams {
        peer_id: "a".into(),
        token: Some(t.clone()),
        chunks: vec![0],
    };
    check(
        r.add_chunks(&other, chunks, T0).map(drop),
        Err((400, "at most 256 files")),
    );
    r.publish(publish_params("a", &t, "f0", 1, 1, 1), T0)
        .unwrap();
}

#[test]
fn add_chunks() {
    let mut r = Registry::default();
    let ta = add(&mut r, "a", 1, T0);
    let tb = add(&mut r, "b", 2, T0);
    // 130 chunks span three bitmap words.
    let id = r
        .publish(publish_params("a", &ta, "big", 130, 1, 1), T0)
        .unwrap()
        .file_id;
    let req = |chunks: &[u64]| ChunkParams {
        peer_id: "b".into(),
        token: Some(tb.clone()),
        chunks: chunks.to_vec(),
    };
    let ok = |have: u64, complete: bool| {
        Ok(ChunksAdded {
            file_id: id.clone(),
            have,
            chunks: 130,
            complete,
        })
    };
    let cases: Vec<(&str, ChunkParams, Expect<ChunksAdded>)> = vec![
        (&id, req(&[]), ok(0, false)),
        (&id, req(&[0, 63, 64, 129, 64]), ok(4, false)),
        (&id, req(&[130]), Err((400, "chunk 130 out of range"))),
        (
            "0000",
            req(&[0]),
            Err((404, "file 0000 is not in the index")),
        ),
        (
            &id,
            ChunkParams {
                token: None,
                ..req(&[1])
            },
            Err((403, "missing token")),
        ),
        (
            &id,
            ChunkParams {
                peer_id: "ghost".into(),
                ..req(&[1])
            },
            Err((404, "peer ghost")),
        ),
        (&id, req(&(0..130).collect::<Vec<_>>()), ok(130, true)),
    ];
    let mut holder_counts = Vec::new();
    for (file, params, expected) in cases {
        let failing = expected.is_err();
        let before = snapshot(&r);
        check(r.add_chunks(file, params, T0), expected);
        if failing {
            assert_eq!(snapshot(&r), before);
        }
        holder_counts.push(r.file(&id, T0).unwrap().holders.len());
    }
    // An empty list does not make a holder of a peer that has nothing.
    assert_eq!(holder_counts, vec![1, 2, 2, 2, 2, 2, 2]);
    assert_eq!(
        r.peer_files("b", T0).unwrap(),
        vec![PeerFile {
            file_id: id.clone(),
            name: "big".into(),
            size: 130,
            chunk_size: 1,
            chunks: 130,
            have: 130,
            complete: true
        }]
    );
}

#[test]
fn views_have_the_spec_shape() {
    let mut r = Registry::default();
    let ta = r
        .register(params("a", 5001), ip("10.0.0.1"), T0)
        .unwrap()
        .token;
    let tb = r
        .register(params("b", 5002), ip("10.0.0.2"), T0)
        .unwrap()
        .token;
    let p = publish_params("a", &ta, "notes.txt", 10, 4, 1);
    let hashes = p.chunk_hashes.clone();
    let id = r.publish(p, T0).unwrap().file_id;
    let req = ChunkParams {
        peer_id: "b".into(),
        token: Some(tb),
        chunks: vec![2, 0],
    };
    r.add_chunks(&id, req, T0).unwrap();
    assert_eq!(
        serde_json::to_value(r.files(&Page::default(), T0).items).unwrap(),
        json!([{"file_id": id, "name": "notes.txt", "size": 10, "chunk_size": 4, "chunks": 3, "holders": ["a", "b"]}])
    );
    assert_eq!(
        serde_json::to_value(r.file(&id, T0).unwrap()).unwrap(),
        json!({"file_id": id, "name": "notes.txt", "size": 10, "chunk_size": 4, "chunks": 3,
        "chunk_hashes": hashes,
        "holders": [
            {"peer_id": "a", "ip": "10.0.0.1", "port": 5001, "chunks": [0, 1, 2], "complete": true},
            {"peer_id": "b", "ip": "10.0.0.2", "port": 5002, "chunks": [0, 2], "complete": false},
        ]})
    );
    assert_eq!(
        serde_json::to_value(r.peer_files("b", T0).unwrap()).unwrap(),
        json!([{"file_id": id, "name": "notes.txt", "size": 10, "chunk_size": 4, "chunks": 3, "have": 2, "complete": false}])
    );
    check(
        r.file("nope", T0).map(drop),
        Err((404, "file nope is not in the index")),
    );
    check(
        r.peer_files("nope", T0).map(drop),
        Err((404, "peer nope is not registered")),
    );
    let body: PublishParams = serde_json::from_value(json!({
        "peer_id": "a", "token": ta, "name": "n", "size": 1, "chunk_size": 1, "chunk_hashes": [hash(1)]
    }))
    .unwrap();
    assert_eq!(body.chunk_hashes.len(), 1);
}
