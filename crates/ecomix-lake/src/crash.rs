//! Crash points for the reliability tests: `ECOMIX_CRASH_AT=<point>:<n>` aborts the process
//! (no destructor runs, as under SIGKILL) the n-th time it reaches `<point>`. The points sit
//! where an interrupted commit is most delicate: data files written but the log not yet, and
//! the log written but the command not yet told. Unset, a point costs one environment lookup
//! per commit.

use std::sync::Mutex;

static REACHED: Mutex<Vec<(String, usize)>> = Mutex::new(Vec::new());

/// Aborts here if `ECOMIX_CRASH_AT` names this point and this is its n-th passage.
pub(crate) fn point(name: &str) {
    let Ok(wanted) = std::env::var("ECOMIX_CRASH_AT") else {
        return;
    };
    let Some((target, nth)) = wanted.split_once(':') else {
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
