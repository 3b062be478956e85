//! `ecomix`: the command line. Each command is one function that wires the crates together;
//! nothing is computed here. Exit codes are decided in one place: 0 success, 1 some input was
//! rejected, 2 any other error, 3 another run is writing to the lake (try again later).

/// `println!` for everything ecomix tells the user: credentials are masked on the way out.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::say_line(&format!($($arg)*))
    };
}

/// Set once stdout is closed (`ecomix run | head`): the command still finishes its work,
/// releases the lake and logs its run; it only stops printing.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// One line on stdout, redacted.
fn say_line(line: &str) {
    use std::io::Write as _;
    use std::sync::atomic::Ordering;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{}", redact(line)) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::warn!("cannot write to stdout: {e}");
        }
    }
}

mod allocator;
mod cli;
mod commands;
mod status;

use std::process::ExitCode;

use clap::Parser;
use cli::Cli;
use ecomix_bronze::BronzeError;
use ecomix_core::secrets::redact;

/// Panics that ecomix reports otherwise are kept off the terminal (they look like crashes):
/// deltalake 1.1 cleans up a failed upload in a detached task that calls object_store's
/// `BufWriter::abort` after the writer began to shut down, which panics ("Already shut down")
/// while the upload's own error is what ecomix reports; and a reader that panics on a corrupt
/// input (a panic inside a third-party reader while an input is read) is reported as that
/// input's error. Every other panic is printed as usual.
fn quiet_upload_abort_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_abort = info.location().is_some_and(|l| {
            l.file().contains("object_store") && l.file().ends_with("buffered.rs")
        }) && info.payload().downcast_ref::<&str>() == Some(&"Already shut down");
        if in_abort {
            tracing::debug!("a failed upload's clean-up task ended early (deltalake)");
        } else if ecomix_bronze::reading_untrusted_input()
            && info
                .location()
                .is_some_and(|l| l.file().contains("registry/src/"))
        {
            // Reported as the input's error ("corrupt file"); the details are for -vv.
            tracing::debug!("a reader panicked on a corrupt input: {info}");
        } else {
            default(info);
        }
    }));
}

fn main() -> ExitCode {
    allocator::tune();
    quiet_upload_abort_panics();
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(allocator::release_if_asked)
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
            let busy = lake_error(&error)
                .is_some_and(|e| matches!(e, ecomix_lake::LakeError::Busy { .. }));
            eprintln!("error: {}", redact(&explain(&error)));
            ExitCode::from(match (rejected, busy) {
                (true, _) => 1,
                (_, true) => 3,
                _ => 2,
            })
        }
    }
}

/// The lake error behind `error`, through the layers' wrappers (transparent ones hide it from
/// the source chain).
fn lake_error(error: &anyhow::Error) -> Option<&ecomix_lake::LakeError> {
    use ecomix_gold::GoldError;
    use ecomix_silver::SilverError;
    error.chain().find_map(|e| {
        e.downcast_ref::<ecomix_lake::LakeError>()
            .or_else(|| match e.downcast_ref::<BronzeError>() {
                Some(BronzeError::Lake(l)) => Some(l),
                _ => None,
            })
            .or_else(|| match e.downcast_ref::<SilverError>() {
                Some(SilverError::Lake(l)) => Some(l),
                _ => None,
            })
            .or_else(|| match e.downcast_ref::<GoldError>() {
                Some(GoldError::Lake(l)) => Some(l.as_ref()),
                _ => None,
            })
    })
}

/// The error chain as one line; a storage failure deep in it (a stack of wrapped HTTP errors)
/// is told in one sentence after the steps that led to it.
fn explain(error: &anyhow::Error) -> String {
    let full = format!("{error:#}");
    let Some(problem) = ecomix_lake::StorageProblem::find(&full) else {
        return full;
    };
    let mut steps = Vec::new();
    for link in error.chain() {
        if let Some(ecomix_lake::LakeError::Storage { .. }) = link.downcast_ref() {
            steps.push(link.to_string());
            return steps.join(": ");
        }
        let text = link.to_string();
        if ecomix_lake::StorageProblem::find(&text).is_some() {
            break;
        }
        steps.push(text);
    }
    steps.push(problem.to_string());
    steps.join(": ")
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    // deltalake and its kernel (the crate buoyant_kernel) log as errors the failures they also
    // return, which ecomix reports once, in plain words; object_store says at info level when
    // it retries.
    let libraries = match verbose {
        0 => "deltalake_core=off,buoyant_kernel=off,object_store=warn",
        1 => "deltalake_core=off,buoyant_kernel=off,object_store=info",
        _ => "deltalake_core=debug,buoyant_kernel=debug,object_store=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ECOMIX_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "ecomix={default},ecomix_bronze={default},ecomix_lake={default},{libraries},warn"
        ))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| RedactingStderr)
        .with_target(false)
        .init();
}

/// Standard error with credentials masked. The fmt layer writes each event in one call, so a
/// secret is never split across two writes.
struct RedactingStderr;

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = redact(&String::from_utf8_lossy(buf));
        std::io::stderr().write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
