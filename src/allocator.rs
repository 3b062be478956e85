//! The allocator ecomix runs on, and how it is tuned: shared by the binary and the bench's
//! floor (examples/floor.rs), so that both measure the same memory behaviour.

/// The system allocator returns freed pages to the kernel eagerly, and ingest allocates column
/// builders and Parquet buffers file after file: page faults were a tenth of a profile.
/// mimalloc keeps and reuses its pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the option enum of the bundled mimalloc (v2 and v3 `mimalloc.h`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc returns freed pages to the kernel 10 ms after they fall idle; transform frees and
/// re-allocates a batch's columns every few milliseconds, so that default made the kernel zero
/// pages for a third of its run (`clear_page` in perf). After a second idle, memory still goes
/// back; a full transform of the real files went from 5.0 s to 3.6 s.
pub(crate) fn tune() {
    // A user's own `MIMALLOC_PURGE_DELAY` was read by mimalloc at start-up, and stays.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set only stores an integer option; any value is valid for this one.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1_000) };
    }
    disable_transparent_huge_pages();
}

/// Bumped between the steps of `ecomix run`. A step's freed memory otherwise stays with the
/// thread that freed it (mimalloc purges lazily, from that thread), and the next step's peak
/// comes on top of it: at 10x, gold peaked at 879 MiB inside `run` and 644 MiB alone.
static RELEASE_EPOCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    static RELEASED_AT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Gives this thread's freed memory back to the kernel if a release was asked since it last
/// did: an atomic load otherwise, cheap enough for every park of a runtime thread.
pub(crate) fn release_if_asked() {
    let epoch = RELEASE_EPOCH.load(std::sync::atomic::Ordering::Relaxed);
    RELEASED_AT.with(|seen| {
        if seen.get() != epoch {
            seen.set(epoch);
            // SAFETY: mi_collect only frees memory mimalloc holds and no live block uses.
            unsafe { libmimalloc_sys::mi_collect(true) };
        }
    });
}

/// Between two steps: every thread gives back what the finished step freed, the runtime's
/// workers when they next fall idle, the caller and rayon's threads now.
pub(crate) fn release_memory() {
    RELEASE_EPOCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    release_if_asked();
    rayon::broadcast(|_| release_if_asked());
}

/// mimalloc asks the kernel for transparent huge pages (`madvise`), and the kernel then zeroes,
/// and at times compacts memory for, 2 MiB at each first touch: a transform of the real files
/// spent 0.5 to 2 s in the kernel instead of 0.3 to 0.5, and peaked 100 to 200 MiB higher,
/// for no gain in user time. `MIMALLOC_ALLOW_THP` set by the user keeps them.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process; no memory is touched.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        super::tune();
        // SAFETY: reading an option has no precondition.
        let delay = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        match std::env::var("MIMALLOC_PURGE_DELAY") {
            Ok(own) => assert_eq!(delay.to_string(), own.trim()),
            Err(_) => assert_eq!(delay, 1_000),
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn transparent_huge_pages_are_off_unless_asked_for() {
        super::tune();
        // SAFETY: PR_GET_THP_DISABLE only reads this process's flag.
        let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        let asked_for = std::env::var_os("MIMALLOC_ALLOW_THP").is_some();
        assert_eq!(disabled, if asked_for { 0 } else { 1 });
    }
}
