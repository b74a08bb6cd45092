//! Handing freed memory back to the system: glibc's `malloc_trim` (and `mallinfo2`, to tell
//! when it is worth it), the only unsafe calls of the workspace, allowed here and nowhere else.
//!
//! Why it is needed: after 100,000 peers expire, glibc's malloc keeps most of their memory
//! resident. It returns heap memory only from the top of the heap, only beyond a trim threshold
//! that it raises (up to 64 MiB) each time a large table is freed, and a small live allocation
//! above the freed ones pins them all. Measured with `cargo xtask bench tracker`: 3.5 MiB idle,
//! 30 MiB with the peers, 12 MiB after they all expired; with `malloc_trim` after the mass
//! expiry, about 4.5 MiB. `malloc_trim(0)` also gives back whole free pages in the middle of the
//! heap (glibc 2.8 and later), which is what a fragmented heap needs.
//!
//! The alternatives measured worse: mimalloc as the global allocator idled at 11.7 MiB and held
//! 43 MiB after the expiry until later traffic let it purge; the glibc tunables
//! `mmap_threshold`/`trim_threshold` (which must be set before the process starts) left 7–9 MiB.

/// What the tracker's sweep agent uses: [`release`], when [`held`] says enough was freed.
pub const RELEASE: MemoryRelease = MemoryRelease { release, held };

/// Asks the C allocator to return the free pages it holds; answers whether it returned any.
/// Does nothing (and answers `false`) where the allocator is not glibc's.
pub fn release() -> bool {
    trim()
}

/// Bytes the C allocator holds in free chunks of its heaps (`mallinfo2().fordblks`): what the
/// process freed and the allocator kept; 0 where the allocator is not glibc's. It walks the
/// allocator's free lists, a few microseconds for a heap of tens of MiB, once a second.
///
/// Needed beside the count of dropped peers because connections free memory too: 50 clients
/// that fetched peer lists and left freed 15 MiB of answer buffers that glibc kept resident
/// (`bins/tracker-bin/tests/it/load.rs`), and the tracker cannot see connections close.
pub fn held() -> usize {
    free_chunks()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // the one FFI call of the workspace; see the module documentation
fn trim() -> bool {
    // SAFETY: `malloc_trim` takes no pointer and has no precondition; glibc serialises it with
    // every other allocator call (it is MT-Safe), so any thread may call it at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // the same audited FFI as `trim`; see the module documentation
fn free_chunks() -> usize {
    // SAFETY: `mallinfo2` takes no pointer and has no precondition; it returns a plain struct
    // by value and is MT-Safe (it locks each arena while it reads it).
    unsafe { libc::mallinfo2().fordblks }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() -> bool {
    false
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn free_chunks() -> usize {
    0
}

use tracker::server::MemoryRelease;

#[cfg(test)]
mod tests {
    use super::*;

    fn vm_rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Guards the reason this module exists: 64 MiB freed below a live block stays resident
    /// until `release`, which gives most of it back.
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn returns_memory_freed_below_a_live_block() {
        // 16 KiB blocks are below glibc's mmap threshold, so they come from the heap.
        let blocks: Vec<Vec<u8>> = (0..4096)
            .map(|i| vec![1 + i as u8 % 200; 16 * 1024])
            .collect();
        let pin = Box::new([7u8; 64]);
        let held_before = held();
        drop(blocks);
        assert!(
            held() >= held_before + 48 * 1024 * 1024,
            "the freed blocks are held"
        );
        let freed = vm_rss_kib();
        assert!(release(), "nothing released");
        let released = vm_rss_kib();
        assert!(
            released + 32 * 1024 < freed,
            "VmRSS {freed} KiB before the release, {released} KiB after"
        );
        assert_eq!(pin[0], 7);
    }
}
