//! One function per command: each reads its settings (flags over the pipeline file), calls the
//! crate that does the work, logs the run in `_ecomix_runs` and prints a summary (or JSON).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use ecomix_bronze::IngestOptions;
use ecomix_core::config::Pipeline;
use ecomix_core::layout::{ECO2MIX_BRONZE, RUNS, TEMPO_BRONZE, TableRef};
use ecomix_gold::tables::TABLES as GOLD_TABLES;
use ecomix_lake::{Lake, RunRecord};
use ecomix_silver::{ECO2MIX_QUARANTINE, ECO2MIX_SILVER};
use serde_json::{Value, json};

use crate::cli::{self, Cli, Command};

/// Where `ecomix run` finds its pipeline when not told.
const DEFAULT_PIPELINE: &str = "pipelines/eco2mix.toml";
const DEFAULT_LAKE: &str = "lakehouse/";

/// What every command needs: the lake, the pipeline's settings, how to print.
pub struct Context {
    pub lake: Lake,
    pub pipeline: Pipeline,
    pub json: bool,
    pub quiet: bool,
}

impl Context {
    pub fn says(&self) -> bool {
        !self.json && !self.quiet
    }
}

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Synth(args) = &cli.command {
        return synth(&cli, args);
    }
    if let Command::Download(args) = &cli.command {
        return download(&cli, args).await;
    }
    let pipeline_path = match (&cli.pipeline, &cli.command) {
        (Some(path), _) => Some(path.clone()),
        (None, Command::Run(_)) => Some(PathBuf::from(DEFAULT_PIPELINE)),
        _ => None,
    };
    let pipeline = match &pipeline_path {
        Some(path) => Pipeline::load(path)?,
        None => Pipeline::default(),
    };
    let location = cli
        .lake
        .clone()
        .or_else(|| pipeline.lake.clone())
        .unwrap_or_else(|| DEFAULT_LAKE.to_string());
    ecomix_core::secrets::register_options(&pipeline.storage);
    let mut storage: std::collections::HashMap<String, String> =
        pipeline.storage.clone().into_iter().collect();
    if cli.emulator {
        storage.insert("use_emulator".into(), "true".into());
    }
    let lake = Lake::with_storage_options(&location, storage)
        .with_context(|| format!("opening the lake at {location}"))?;
    // A wrong key or a missing container is told before any input is read.
    lake.probe().await?;
    // Writers take the lake's write lock for the whole command; `status` only reads.
    let lock = match writer_name(&cli.command) {
        Some(command) => Some(lake.lock_for_writing(command).await?),
        None => None,
    };
    let ctx = Context {
        lake,
        pipeline,
        json: cli.json,
        quiet: cli.quiet,
    };
    let outcome = execute(&cli, &ctx, pipeline_path.as_deref()).await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    let (code, report) = outcome?;
    if ctx.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(code)
}

/// The command's name when it writes to the lake.
fn writer_name(command: &Command) -> Option<&'static str> {
    match command {
        Command::Ingest(_) => Some("ingest"),
        Command::Transform(_) => Some("transform"),
        Command::Gold(_) => Some("gold"),
        Command::Optimize(_) => Some("optimize"),
        Command::Vacuum(args) if !args.dry_run => Some("vacuum"),
        Command::Run(_) => Some("run"),
        _ => None,
    }
}

async fn execute(
    cli: &Cli,
    ctx: &Context,
    pipeline_path: Option<&Path>,
) -> anyhow::Result<(ExitCode, Value)> {
    Ok(match &cli.command {
        Command::Ingest(args) => {
            ingest(ctx, &args.inputs, args.force, args.keep_going, None).await?
        }
        Command::Transform(args) => {
            transform(ctx, args.full, args.partition_by, &args.rules, None).await?
        }
        Command::Gold(args) => gold(ctx, args.full, None).await?,
        Command::Optimize(args) => optimize(ctx, &args.tables, &args.zorder).await?,
        Command::Vacuum(args) => {
            vacuum(ctx, &args.tables, args.retention_hours, args.dry_run).await?
        }
        Command::Run(args) => run(ctx, args, pipeline_path).await?,
        Command::Status => crate::status::status(ctx).await?,
        Command::Synth(_) | Command::Download(_) => unreachable!("handled above"),
    })
}

/// Every table of the lake, in the order data flows through them.
pub fn all_tables() -> Vec<TableRef> {
    let mut tables = vec![
        ECO2MIX_BRONZE,
        TEMPO_BRONZE,
        ECO2MIX_SILVER,
        ECO2MIX_QUARANTINE,
    ];
    tables.extend(GOLD_TABLES.iter().map(|t| t.table));
    tables.push(RUNS);
    tables
}

/// Tables by name (`eco2mix_silver` or `silver.eco2mix_silver`); all of them for no name.
fn select_tables(names: &[String]) -> anyhow::Result<Vec<TableRef>> {
    let all = all_tables();
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|name| {
            all.iter()
                .find(|t| t.name == name || t.to_string() == *name)
                .copied()
                .ok_or_else(|| {
                    let known: Vec<&str> = all.iter().map(|t| t.name).collect();
                    anyhow::anyhow!(
                        "unknown table {name:?}; the tables are: {}",
                        known.join(", ")
                    )
                })
        })
        .collect()
}

/// The Z-order columns of each table unless configured: silver and gold on their natural
/// filter columns; the others are only compacted.
fn default_zorder(table: TableRef) -> Vec<String> {
    if table == ECO2MIX_SILVER {
        return vec!["horodatage".into()];
    }
    GOLD_TABLES
        .iter()
        .find(|g| g.table == table)
        .map(|g| g.zorder.iter().map(|c| c.to_string()).collect())
        .unwrap_or_default()
}

/// A run's entry in `_ecomix_runs`, filled in as the command goes.
fn run_record(command: &str, run_id: &str, started_at: DateTime<Utc>) -> RunRecord {
    RunRecord {
        run_id: run_id.to_string(),
        command: command.into(),
        started_at,
        ended_at: Utc::now(),
        status: "failed".into(),
        rows: Default::default(),
        input_files: Vec::new(),
        details: Value::Null,
        message: None,
    }
}

/// Appends the run to `_ecomix_runs`; a run log that cannot be written is reported, not fatal.
async fn log_run(lake: &Lake, run: &RunRecord) {
    if let Err(e) = ecomix_lake::record_run(lake, run).await {
        tracing::warn!("could not write the run log: {e}");
    }
}

/// A run's status in the log from a step's report status (`no_op` or `written`).
fn outcome(report_status: &str) -> String {
    if report_status == "no_op" {
        "no_op"
    } else {
        "succeeded"
    }
    .into()
}

fn new_run_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Lands files, folders, globs and URLs in the bronze tables.
pub async fn ingest(
    ctx: &Context,
    inputs: &[String],
    force: bool,
    keep_going: bool,
    run_id: Option<&str>,
) -> anyhow::Result<(ExitCode, Value)> {
    let options = IngestOptions {
        force,
        keep_going: keep_going || ctx.pipeline.ingest.keep_going,
        run_id: run_id.map_or_else(new_run_id, String::from),
        ingested_at: Utc::now(),
        show_progress: ctx.says(),
    };
    let started = Instant::now();
    let result = ecomix_bronze::ingest(&ctx.lake, inputs, &options).await;
    let mut run = run_record("ingest", &options.run_id, options.ingested_at);
    run.input_files = inputs.to_vec();
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
            run.details = json!({ "rejected": report.rejected });
        }
        Err(e) => run.message = Some(e.to_string()),
    }
    run.ended_at = Utc::now();
    log_run(&ctx.lake, &run).await;
    let report = result?;
    let elapsed = started.elapsed();
    if ctx.says() {
        for file in &report.files {
            match file.status {
                "ingested" => say!(
                    "ingested  {} ({} rows, {}) -> {}",
                    file.source_file,
                    file.rows,
                    file.format,
                    file.table.as_deref().unwrap_or("-")
                ),
                "duplicate_in_run" => say!(
                    "skipped   {} (same content as an earlier input of this run)",
                    file.source_file
                ),
                _ => say!(
                    "skipped   {} (content already in bronze; --force ingests it again)",
                    file.source_file
                ),
            }
        }
        for rejected in &report.rejected {
            say!("rejected  {}", format_rejected(rejected));
        }
        for table in &report.tables {
            if table.rows_written > 0 {
                say!(
                    "{}: +{} rows, now at version {}",
                    table.table,
                    table.rows_written,
                    table.version.map_or("-".into(), |v| v.to_string())
                );
            }
        }
        if report.rows_written() == 0 && report.rejected.is_empty() {
            say!("nothing new to ingest: every input is already in bronze");
        }
        let mb = report.bytes_read as f64 / 1e6;
        say!(
            "{} file(s), {:.1} MB in {:.2} s ({:.0} MB/s)",
            report.files.len(),
            mb,
            elapsed.as_secs_f64(),
            mb / elapsed.as_secs_f64().max(1e-9)
        );
    }
    let code = if report.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    Ok((code, serde_json::to_value(&report)?))
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
pub async fn transform(
    ctx: &Context,
    full: bool,
    partition_by: Option<ecomix_silver::Partitioning>,
    rules: &[(String, ecomix_silver::rules::Level)],
    run_id: Option<&str>,
) -> anyhow::Result<(ExitCode, Value)> {
    let settings = &ctx.pipeline.transform;
    let partitioning = match (partition_by, &settings.partition_by) {
        (Some(p), _) => Some(p),
        (None, Some(text)) => Some(
            text.parse()
                .map_err(|e: String| anyhow::anyhow!("[transform] partition_by: {e}"))?,
        ),
        (None, None) => None,
    };
    let mut rule_levels = std::collections::HashMap::new();
    for (name, level) in &settings.rules {
        let level = level
            .parse()
            .map_err(|e: String| anyhow::anyhow!("[transform.rules] {name}: {e}"))?;
        rule_levels.insert(name.clone(), level);
    }
    rule_levels.extend(rules.iter().cloned());
    let started_at = Utc::now();
    let started = Instant::now();
    let message = "transform: building silver from bronze";
    let spinner = Spinner::start(ctx, message);
    let options = ecomix_silver::TransformOptions {
        full,
        run_id: run_id.map_or_else(new_run_id, String::from),
        partitioning,
        rule_levels,
        batch_rows: settings
            .batch_rows
            .unwrap_or(ecomix_silver::DEFAULT_BATCH_ROWS)
            .max(1),
        progress: spinner.progress(message),
    };
    let result = ecomix_silver::transform(&ctx.lake, &options).await;
    drop(spinner);
    let mut run = run_record("transform", &options.run_id, started_at);
    match &result {
        Ok(report) => {
            run.status = outcome(report.status);
            run.rows = [
                (ECO2MIX_SILVER.to_string(), report.rows_written as u64),
                (
                    ECO2MIX_QUARANTINE.to_string(),
                    report.rows_quarantined as u64,
                ),
            ]
            .into();
            run.details = json!({
                "periods": report.periods,
                "rows_read": report.rows_read,
                "quarantined_by_rule": report.quarantined_by_rule,
                "warnings_by_rule": report.warnings_by_rule,
            });
        }
        Err(e) => run.message = Some(e.to_string()),
    }
    run.ended_at = Utc::now();
    log_run(&ctx.lake, &run).await;
    let report = result?;
    if ctx.says() {
        if report.status == "no_op" {
            say!("silver: nothing to do, silver has seen every bronze row (--full rebuilds it)");
        } else {
            say!(
                "silver: {} rows read, {} written, {} quarantined, {} period(s) rebuilt ({}) in {:.2} s",
                report.rows_read,
                report.rows_written,
                report.rows_quarantined,
                report.periods.len(),
                summarize(&report.periods),
                started.elapsed().as_secs_f64()
            );
            for (rule, n) in &report.quarantined_by_rule {
                say!("  quarantined by {rule}: {n}");
            }
            for (rule, n) in &report.warnings_by_rule {
                say!("  warnings from {rule}: {n}");
            }
        }
    }
    Ok((ExitCode::SUCCESS, serde_json::to_value(&report)?))
}

fn summarize(periods: &[String]) -> String {
    match periods {
        [] => String::new(),
        [one] => one.clone(),
        [first, .., last] => format!("{first} .. {last}"),
    }
}

/// Builds the gold tables for the years whose silver changed.
pub async fn gold(
    ctx: &Context,
    full: bool,
    run_id: Option<&str>,
) -> anyhow::Result<(ExitCode, Value)> {
    let options = ecomix_gold::GoldOptions {
        full,
        run_id: run_id.map_or_else(new_run_id, String::from),
    };
    let started_at = Utc::now();
    let started = Instant::now();
    let spinner = Spinner::start(ctx, "gold: building the six gold tables");
    let result = ecomix_gold::build(&ctx.lake, &options).await;
    drop(spinner);
    let mut run = run_record("gold", &options.run_id, started_at);
    match &result {
        Ok(report) => {
            run.status = outcome(report.status);
            run.rows = report
                .tables
                .iter()
                .map(|(name, t)| (format!("gold.{name}"), t.rows as u64))
                .collect();
            run.details = json!({ "years": report.years, "silver_version": report.silver_version });
        }
        Err(e) => run.message = Some(e.to_string()),
    }
    run.ended_at = Utc::now();
    log_run(&ctx.lake, &run).await;
    let report = result?;
    if ctx.says() {
        if report.status == "no_op" {
            say!("gold: nothing to do, gold is up to date with silver (--full rebuilds it)");
        } else {
            let years: Vec<String> = report.years.iter().map(i32::to_string).collect();
            say!(
                "gold: {} national silver rows read, year(s) {} rebuilt in {:.2} s",
                report.silver_rows_read,
                summarize(&years),
                started.elapsed().as_secs_f64()
            );
            for (name, table) in &report.tables {
                say!(
                    "  {name:<32} {:>8} rows  version {}",
                    table.rows,
                    table.version.map_or("-".into(), |v| v.to_string())
                );
            }
        }
    }
    Ok((ExitCode::SUCCESS, serde_json::to_value(&report)?))
}

/// Compacts the tables and Z-orders silver and gold.
pub async fn optimize(
    ctx: &Context,
    tables: &[String],
    zorder: &[(String, Vec<String>)],
) -> anyhow::Result<(ExitCode, Value)> {
    let tables = select_tables(tables)?;
    let configured: BTreeMap<&str, &Vec<String>> = ctx
        .pipeline
        .optimize
        .zorder
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .chain(zorder.iter().map(|(k, v)| (k.as_str(), v)))
        .collect();
    for name in configured.keys() {
        select_tables(&[name.to_string()]).context("in the Z-order settings")?;
    }
    let started_at = Utc::now();
    let run_id = new_run_id();
    let mut run = run_record("optimize", &run_id, started_at);
    let mut reports = Vec::new();
    let mut failure = None;
    for table in tables {
        let columns = configured
            .get(table.name)
            .map(|c| c.to_vec())
            .unwrap_or_else(|| default_zorder(table));
        let spinner = Spinner::start(ctx, &format!("optimize: {table}"));
        let result = ctx.lake.optimize(table, &columns).await;
        drop(spinner);
        match result {
            Ok(report) => {
                if ctx.says() {
                    match report.version {
                        Some(v) => say!(
                            "optimized {:<36} {} file(s) -> {} in {} partition(s){}, version {v}",
                            report.table,
                            report.files_removed,
                            report.files_added,
                            report.partitions,
                            if columns.is_empty() {
                                String::new()
                            } else {
                                format!(", Z-order ({})", columns.join(", "))
                            }
                        ),
                        None => say!("optimized {:<36} nothing to do", report.table),
                    }
                }
                run.rows.insert(table.to_string(), report.files_added);
                reports.push(report);
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    run.status = if failure.is_some() {
        "failed"
    } else {
        "succeeded"
    }
    .into();
    run.message = failure.as_ref().map(|e| e.to_string());
    run.details = serde_json::to_value(&reports)?;
    run.ended_at = Utc::now();
    log_run(&ctx.lake, &run).await;
    if let Some(e) = failure {
        return Err(e.into());
    }
    Ok((ExitCode::SUCCESS, serde_json::to_value(&reports)?))
}

/// Deletes the files no version within the retention needs.
pub async fn vacuum(
    ctx: &Context,
    tables: &[String],
    retention_hours: Option<u64>,
    dry_run: bool,
) -> anyhow::Result<(ExitCode, Value)> {
    let tables = select_tables(tables)?;
    let hours = retention_hours.unwrap_or(ctx.pipeline.vacuum.retention_hours);
    let retention = Duration::from_secs(hours * 3600);
    let mut reports = Vec::new();
    for table in tables {
        let report = ctx.lake.vacuum(table, retention, dry_run).await?;
        if ctx.says() {
            let verb = if dry_run { "would delete" } else { "deleted" };
            say!(
                "vacuum {:<36} {verb} {} file(s)",
                report.table,
                report.files.len()
            );
            if dry_run {
                for file in &report.files {
                    say!("  {file}");
                }
            }
        }
        reports.push(report);
    }
    if ctx.says() {
        say!("retention: {hours} hour(s)");
    }
    Ok((ExitCode::SUCCESS, serde_json::to_value(&reports)?))
}

/// The whole job: ingest, transform, gold, then optimize (and vacuum when configured).
async fn run(
    ctx: &Context,
    args: &cli::RunArgs,
    pipeline_path: Option<&Path>,
) -> anyhow::Result<(ExitCode, Value)> {
    let inputs = if args.inputs.is_empty() {
        ctx.pipeline.ingest.inputs.clone()
    } else {
        args.inputs.clone()
    };
    if inputs.is_empty() {
        anyhow::bail!(
            "{}: [ingest] inputs is empty and no input was given",
            pipeline_path.map_or("the pipeline".into(), |p| p.display().to_string())
        );
    }
    let run_id = new_run_id();
    let started_at = Utc::now();
    let started = Instant::now();
    let mut steps = serde_json::Map::new();
    let mut timings: Vec<StepTiming> = Vec::new();
    let mut step_started = Instant::now();
    let mut done =
        |name: &'static str, report: Value, steps: &mut serde_json::Map<String, Value>| {
            steps.insert(name.into(), report);
            timings.push(StepTiming {
                step: name,
                seconds: step_started.elapsed().as_secs_f64(),
                peak_rss_mib: ecomix_core::peak_rss_mib(),
            });
            crate::allocator::release_memory();
            step_started = Instant::now();
        };
    let mut record = run_record("run", &run_id, started_at);
    record.input_files = inputs.clone();
    let outcome: anyhow::Result<ExitCode> = async {
        let (code, report) = ingest(ctx, &inputs, false, false, Some(&run_id)).await?;
        done("ingest", report, &mut steps);
        let (_, report) = transform(ctx, args.full, None, &[], Some(&run_id)).await?;
        done("transform", report, &mut steps);
        let (_, report) = gold(ctx, args.full, Some(&run_id)).await?;
        done("gold", report, &mut steps);
        if ctx.pipeline.optimize.after_run {
            let (_, report) = optimize(ctx, &[], &[]).await?;
            done("optimize", report, &mut steps);
        }
        if ctx.pipeline.vacuum.after_run {
            let (_, report) = vacuum(ctx, &[], None, false).await?;
            done("vacuum", report, &mut steps);
        }
        Ok(code)
    }
    .await;
    record.status = match &outcome {
        Ok(code) if *code == ExitCode::SUCCESS => "succeeded",
        Ok(_) => "partial",
        Err(_) => "failed",
    }
    .into();
    record.message = outcome.as_ref().err().map(|e| format!("{e:#}"));
    record.details = json!({ "steps": timings });
    record.ended_at = Utc::now();
    log_run(&ctx.lake, &record).await;
    let code = outcome?;
    if ctx.says() {
        let parts: Vec<String> = timings
            .iter()
            .map(|t| format!("{} {:.2} s", t.step, t.seconds))
            .collect();
        say!(
            "run {run_id}: done in {:.2} s ({}), lake {}",
            started.elapsed().as_secs_f64(),
            parts.join(", "),
            ctx.lake.root()
        );
    }
    Ok((
        code,
        json!({ "run_id": run_id, "steps": steps, "timings": timings }),
    ))
}

/// One step of `ecomix run`: its wall time, and the process's memory high-water mark when it
/// ended (the step that raises it is the one that needed the memory).
#[derive(serde::Serialize)]
struct StepTiming {
    step: &'static str,
    seconds: f64,
    peak_rss_mib: Option<u64>,
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
        say!("{}", serde_json::to_string_pretty(&results)?);
    } else if !cli.quiet {
        for r in &results {
            say!("{:<9} {} ({} bytes)", r.status, r.file.display(), r.bytes);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes synthetic eCO2mix files in the published formats.
fn synth(cli: &Cli, args: &cli::SynthArgs) -> anyhow::Result<ExitCode> {
    let mut written = match (args.from, args.to) {
        (Some(from), Some(to)) => {
            anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
            let history = ecomix_synth::History {
                from,
                to,
                perimeters: args.perimeters,
                seed: args.seed,
            };
            ecomix_synth::write_history(&args.out, &history)
        }
        _ => ecomix_synth::write_sample(&args.out, args.seed),
    }
    .with_context(|| format!("writing synthetic files into {}", args.out.display()))?;
    written.sort_by(|a, b| a.path.cmp(&b.path));
    if cli.json {
        say!("{}", serde_json::to_string_pretty(&written)?);
    } else if !cli.quiet {
        for file in &written {
            say!("wrote {} ({} data rows)", file.path.display(), file.rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A spinner on stderr while a step runs (hidden when stderr is not a terminal, or with
/// --quiet/--json).
struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    fn start(ctx: &Context, message: &str) -> Self {
        if !ctx.says() {
            return Self(None);
        }
        let bar = indicatif::ProgressBar::new_spinner().with_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Self(Some(bar))
    }
}

impl Spinner {
    /// A callback that shows "(batch k of n)" after the spinner's message.
    fn progress(&self, message: &str) -> Option<ecomix_silver::Progress> {
        let bar = self.0.clone()?;
        let message = message.to_string();
        Some(std::sync::Arc::new(move |done, total| {
            bar.set_message(format!("{message} (batch {done} of {total})"));
        }))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
