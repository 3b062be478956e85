//! `ecomix`: the command line. Each command is one function that wires the crates together;
//! nothing is computed here. Exit codes are decided in one place: 0 success, 1 some input was
//! rejected, 2 any other error.

mod cli;
mod commands;
mod status;

use std::process::ExitCode;

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
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        // mimalloc read the user's own setting at start-up.
        return;
    }
    // SAFETY: mi_option_set only stores an integer option; any value is valid for this one.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1_000) };
}

use clap::Parser;
use cli::Cli;
use ecomix_bronze::BronzeError;

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => code,
        Err(error) => {
            let rejected = error
                .downcast_ref::<BronzeError>()
                .is_some_and(|e| matches!(e, BronzeError::Rejected(_)));
            eprintln!("error: {error:#}");
            ExitCode::from(if rejected { 1 } else { 2 })
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ECOMIX_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "ecomix={default},ecomix_bronze={default},ecomix_lake={default},warn"
        ))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        super::tune_allocator();
        // SAFETY: reading an option has no precondition.
        let delay = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, 1_000);
    }
}
