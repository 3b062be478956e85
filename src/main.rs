//! `ecomix`: the command line. Each command is one function that wires the crates together;
//! nothing is computed here. Exit codes are decided in one place: 0 success, 1 some input was
//! rejected, 2 any other error.

mod cli;
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
    // SAFETY: mi_option_set only stores an integer option; any value is valid for this one.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1_000) };
}

use anyhow::Context;
use clap::Parser;
use cli::{Cli, Command};
use ecomix_bronze::{BronzeError, IngestOptions};
use ecomix_lake::{Lake, RunRecord};

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
    match runtime.block_on(try_main(cli)) {
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

async fn try_main(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Ingest(args) => ingest(&cli, args).await,
        Command::Transform(args) => transform(&cli, args).await,
        Command::Download(args) => download(&cli, args).await,
        Command::Synth(args) => synth(&cli, args),
        Command::Status => status::status(&open_lake(&cli)?, cli.json).await,
    }
}

fn open_lake(cli: &Cli) -> anyhow::Result<Lake> {
    Lake::new(&cli.lake).with_context(|| format!("opening the lake at {}", cli.lake))
}

/// Lands files, folders, globs and URLs in the bronze tables.
async fn ingest(cli: &Cli, args: &cli::IngestArgs) -> anyhow::Result<ExitCode> {
    let lake = open_lake(cli)?;
    let options = IngestOptions {
        force: args.force,
        keep_going: args.keep_going,
        run_id: uuid::Uuid::new_v4().to_string(),
        ingested_at: chrono::Utc::now(),
        show_progress: !cli.quiet && !cli.json,
    };
    let started = std::time::Instant::now();
    let result = ecomix_bronze::ingest(&lake, &args.inputs, &options).await;
    let mut run = RunRecord {
        run_id: options.run_id.clone(),
        command: "ingest".into(),
        started_at: options.ingested_at,
        ended_at: chrono::Utc::now(),
        status: "failed".into(),
        rows: Default::default(),
        input_files: args.inputs.clone(),
        details: serde_json::Value::Null,
        message: None,
    };
    match &result {
        Ok(report) => {
            run.status = match (report.rows_written(), report.rejected.is_empty()) {
                (_, false) => "partial",
                (0, true) => "no_op",
                _ => "succeeded",
            }
            .into();
            run.rows = report
                .tables
                .iter()
                .map(|t| (t.table.clone(), t.rows_written as u64))
                .collect();
            run.input_files = report.files.iter().map(|f| f.source_file.clone()).collect();
            run.details = serde_json::json!({ "rejected": report.rejected });
        }
        Err(e) => run.message = Some(e.to_string()),
    }
    log_run(&lake, &run).await;
    let report = result?;
    let elapsed = started.elapsed();
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !cli.quiet {
        for file in &report.files {
            match file.status {
                "ingested" => println!(
                    "ingested  {} ({} rows, {}) -> {}",
                    file.source_file,
                    file.rows,
                    file.format,
                    file.table.as_deref().unwrap_or("-")
                ),
                _ => println!(
                    "skipped   {} (content already in bronze; --force ingests it again)",
                    file.source_file
                ),
            }
        }
        for rejected in &report.rejected {
            println!("rejected  {}", format_rejected(rejected));
        }
        for table in &report.tables {
            if table.rows_written > 0 {
                println!(
                    "{}: +{} rows, now at version {}",
                    table.table,
                    table.rows_written,
                    table.version.map_or("-".into(), |v| v.to_string())
                );
            }
        }
        if report.rows_written() == 0 && report.rejected.is_empty() {
            println!("nothing new to ingest: every input is already in bronze");
        }
        let mb = report.bytes_read as f64 / 1e6;
        println!(
            "{} file(s), {:.1} MB in {:.2} s ({:.0} MB/s)",
            report.files.len(),
            mb,
            elapsed.as_secs_f64(),
            mb / elapsed.as_secs_f64().max(1e-9)
        );
    }
    Ok(if report.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Appends the run to `_ecomix_runs`; a run log that cannot be written is reported, not fatal.
async fn log_run(lake: &Lake, run: &RunRecord) {
    if let Err(e) = ecomix_lake::record_run(lake, run).await {
        tracing::warn!("could not write the run log: {e}");
    }
}

fn format_rejected(r: &ecomix_bronze::ingest::Rejected) -> String {
    ecomix_bronze::InputError {
        file: r.file.clone(),
        line: r.line,
        column: r.column.clone(),
        message: r.message.clone(),
    }
    .to_string()
}

/// Builds silver from bronze, incrementally by period.
async fn transform(cli: &Cli, args: &cli::TransformArgs) -> anyhow::Result<ExitCode> {
    let lake = open_lake(cli)?;
    let options = ecomix_silver::TransformOptions {
        full: args.full,
        run_id: uuid::Uuid::new_v4().to_string(),
        partitioning: args.partition_by,
        rule_levels: args.rules.iter().cloned().collect(),
    };
    let started_at = chrono::Utc::now();
    let started = std::time::Instant::now();
    let result = ecomix_silver::transform(&lake, &options).await;
    let mut run = RunRecord {
        run_id: options.run_id.clone(),
        command: "transform".into(),
        started_at,
        ended_at: chrono::Utc::now(),
        status: "failed".into(),
        rows: Default::default(),
        input_files: Vec::new(),
        details: serde_json::Value::Null,
        message: None,
    };
    match &result {
        Ok(report) => {
            run.status = if report.status == "no_op" {
                "no_op"
            } else {
                "succeeded"
            }
            .into();
            run.rows = [
                (
                    ecomix_silver::ECO2MIX_SILVER.to_string(),
                    report.rows_written as u64,
                ),
                (
                    ecomix_silver::ECO2MIX_QUARANTINE.to_string(),
                    report.rows_quarantined as u64,
                ),
            ]
            .into();
            run.details = serde_json::json!({
                "periods": report.periods,
                "rows_read": report.rows_read,
                "quarantined_by_rule": report.quarantined_by_rule,
                "warnings_by_rule": report.warnings_by_rule,
            });
        }
        Err(e) => run.message = Some(e.to_string()),
    }
    log_run(&lake, &run).await;
    let report = result?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !cli.quiet {
        if report.status == "no_op" {
            println!("nothing to do: silver has seen every bronze row (--full rebuilds it)");
        } else {
            println!(
                "silver: {} rows read, {} written, {} quarantined, {} period(s) rebuilt ({}) in {:.2} s",
                report.rows_read,
                report.rows_written,
                report.rows_quarantined,
                report.periods.len(),
                summarize(&report.periods),
                started.elapsed().as_secs_f64()
            );
            for (rule, n) in &report.quarantined_by_rule {
                println!("  quarantined by {rule}: {n}");
            }
            for (rule, n) in &report.warnings_by_rule {
                println!("  warnings from {rule}: {n}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn summarize(periods: &[String]) -> String {
    match periods {
        [] => String::new(),
        [one] => one.clone(),
        [first, .., last] => format!("{first} .. {last}"),
    }
}

/// Fetches RTE's published files into a local folder.
async fn download(cli: &Cli, args: &cli::DownloadArgs) -> anyhow::Result<ExitCode> {
    use ecomix_bronze::download::{self, Publication};
    let publications = args
        .publications
        .iter()
        .map(|p| Publication::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let names = download::file_names(&publications, &args.regions).map_err(anyhow::Error::msg)?;
    let results =
        download::download(&args.base_url, &names, &args.dest, !cli.quiet && !cli.json).await?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else if !cli.quiet {
        for r in &results {
            println!("{:<9} {} ({} bytes)", r.status, r.file.display(), r.bytes);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes synthetic eCO2mix files in the published formats.
fn synth(cli: &Cli, args: &cli::SynthArgs) -> anyhow::Result<ExitCode> {
    let written = ecomix_synth::write_sample(&args.out, args.seed)
        .with_context(|| format!("writing the sample into {}", args.out.display()))?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&written)?);
    } else if !cli.quiet {
        for file in &written {
            println!("wrote {} ({} data rows)", file.path.display(), file.rows);
        }
    }
    Ok(ExitCode::SUCCESS)
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
