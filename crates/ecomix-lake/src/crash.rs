//! Crash points for the reliability tests: `ECOMIX_CRASH_AT=<point>:<n>` aborts the process
//! (no destructor runs, as under SIGKILL) the n-th time it reaches `<point>`. The points sit
//! where an interrupted commit is most delicate: data files written but the log not yet, and
//! the log written but the command not yet told. Unset, a point costs nothing.

use std::sync::Mutex;

static REACHED: Mutex<Vec<(String, usize)>> = Mutex::new(Vec::new());

/// `ECOMIX_CRASH_AT`, read once: points sit on the write path.
static WANTED: std::sync::LazyLock<Option<(String, String)>> = std::sync::LazyLock::new(|| {
    let wanted = std::env::var("ECOMIX_CRASH_AT").ok()?;
    let (target, nth) = wanted.split_once(':')?;
    Some((target.to_string(), nth.to_string()))
});

/// Aborts here if `ECOMIX_CRASH_AT` names this point and this is its n-th passage.
pub(crate) fn point(name: &str) {
    let Some((target, nth)) = WANTED.as_ref() else {
        return;
    };
    if target != name {
        return;
    }
    let mut reached = REACHED.lock().unwrap_or_else(|e| e.into_inner());
    let count = match reached.iter_mut().find(|(n, _)| n == name) {
        Some((_, count)) => {
            *count += 1;
            *count
        }
        None => {
            reached.push((name.to_string(), 1));
            1
        }
    };
    if nth.parse::<usize>() == Ok(count) {
        eprintln!("ECOMIX_CRASH_AT: aborting at {name} #{count}");
        std::process::abort();
    }
}
