//! Parsers of binary formats (Parquet's Arrow schema, zip, workbooks) may panic on corrupt
//! bytes instead of returning an error; the fuzzer found one in arrow-ipc. A panic while
//! reading an input becomes that input's error, and the program goes on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::InputError;

/// How many guarded reads are under way, on any thread (parsers use rayon's pool).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// Whether an input is being read under a guard: a panic hook may then keep quiet, as the
/// panic will be reported as the input's error.
pub fn reading_untrusted_input() -> bool {
    ACTIVE.load(Ordering::SeqCst) > 0
}

struct Active;

impl Active {
    fn enter() -> Self {
        ACTIVE.fetch_add(1, Ordering::SeqCst);
        Active
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `read` on the input `name`, turning a panic into an error naming the input.
pub(crate) fn catching<T>(
    name: &str,
    read: impl FnOnce() -> Result<T, InputError>,
) -> Result<T, InputError> {
    let _active = Active::enter();
    catch_unwind(AssertUnwindSafe(read)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "no detail".into());
        Err(InputError::file(
            name,
            format!("corrupt file: its reader failed ({why})"),
        ))
    })
}
