use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// ecomix: a lakehouse pipeline for RTE's eCO2mix open data.
///
/// Files go to bronze (`ingest`), then silver and gold; tables are Delta tables under the lake
/// root: <lake>/bronze/<table>, <lake>/silver/<table>, <lake>/gold/<table>.
#[derive(Debug, Parser)]
#[command(name = "ecomix", version, about, long_about)]
pub struct Cli {
    /// Lake root: a local folder or an object-store URI [default: the pipeline file's `lake`,
    /// else lakehouse/].
    #[arg(long, global = true, env = "ECOMIX_LAKE")]
    pub lake: Option<String>,
    /// Reach az:// and abfss:// lakes on the local Azure Storage emulator, Azurite
    /// (http://127.0.0.1:10000, or AZURITE_BLOB_STORAGE_URL), with its well-known account.
    #[arg(
        long,
        global = true,
        env = "AZURE_STORAGE_USE_EMULATOR",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub emulator: bool,
    /// Pipeline file whose settings (lake, inputs, partitioning, rules, Z-order, retention) are
    /// the defaults of every command; `run` reads pipelines/eco2mix.toml without it.
    #[arg(long, global = true, env = "ECOMIX_PIPELINE")]
    pub pipeline: Option<PathBuf>,
    /// More logging (-v info, -vv debug, -vvv trace). ECOMIX_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print a machine-readable summary of the run on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Land eCO2mix files (any published format) in the bronze tables.
    Ingest(IngestArgs),
    /// Build silver from bronze: one row per perimeter and instant, for the periods bronze changed.
    Transform(TransformArgs),
    /// Build the six gold tables from silver's national rows, for the years silver changed.
    Gold(GoldArgs),
    /// Compact every table and Z-order silver and gold (partitions written since the last
    /// optimize only).
    Optimize(OptimizeArgs),
    /// Delete files no table version within the retention needs.
    Vacuum(VacuumArgs),
    /// The whole job from a pipeline file: ingest, transform, gold, optimize.
    Run(RunArgs),
    /// Fetch RTE's eCO2mix downloads into a local folder.
    Download(DownloadArgs),
    /// Write synthetic eCO2mix files in the published formats (the bundled sample).
    Synth(SynthArgs),
    /// Show the lake's tables: version, rows, files, size, partitions, last commit and run.
    Status,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files, folders, glob patterns or http(s) URLs.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Ingest again files whose content is already in bronze.
    #[arg(long)]
    pub force: bool,
    /// Ingest the good inputs and report the bad ones, instead of committing nothing.
    #[arg(long)]
    pub keep_going: bool,
}

#[derive(Debug, Args)]
pub struct TransformArgs {
    /// Rebuild every period, not only those with bronze rows silver has not seen.
    #[arg(long)]
    pub full: bool,
    /// Silver's partition column for new tables: mois (default), date or annee. Existing
    /// tables keep theirs.
    #[arg(long)]
    pub partition_by: Option<ecomix_silver::Partitioning>,
    /// Override a quality rule's level: NAME=warn|quarantine|fail (repeatable).
    #[arg(long = "rule", value_parser = parse_rule_level)]
    pub rules: Vec<(String, ecomix_silver::rules::Level)>,
}

fn parse_rule_level(text: &str) -> Result<(String, ecomix_silver::rules::Level), String> {
    let (name, level) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected NAME=LEVEL"))?;
    Ok((name.to_string(), level.parse()?))
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// What to fetch: tr, consolide, definitif:YYYY, tempo:YYYY (season YYYY-YYYY+1).
    #[arg(default_value = "tr")]
    pub publications: Vec<String>,
    /// Fetch the regional files of this region instead of the national ones (repeatable).
    #[arg(long = "region")]
    pub regions: Vec<String>,
    /// Folder to download into.
    #[arg(long, default_value = "downloads")]
    pub dest: PathBuf,
    /// Where RTE's files are served.
    #[arg(long, env = "ECOMIX_RTE_URL", default_value = ecomix_bronze::download::RTE_BASE_URL)]
    pub base_url: String,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Folder to write into.
    #[arg(long, default_value = "data")]
    pub out: PathBuf,
    /// Seed of the generator: the same seed writes the same bytes.
    #[arg(long, default_value_t = 2012)]
    pub seed: u64,
    /// Write a whole history from this day (YYYY-MM-DD) instead of the bundled sample: for each
    /// perimeter, definitive years, the current year's consolidated file and a real-time one.
    #[arg(long, requires = "to")]
    pub from: Option<chrono::NaiveDate>,
    /// Last day of the history.
    #[arg(long, requires = "from")]
    pub to: Option<chrono::NaiveDate>,
    /// Perimeters of the history: France, then the 12 regions, then sites (Site-0001, ...).
    #[arg(long, default_value_t = 13, requires = "from")]
    pub perimeters: usize,
}

#[derive(Debug, Args)]
pub struct GoldArgs {
    /// Rebuild every year, not only those whose silver rows changed.
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Args)]
pub struct OptimizeArgs {
    /// Only these tables (by name, e.g. eco2mix_silver); all of them by default.
    #[arg(long = "table")]
    pub tables: Vec<String>,
    /// Z-order TABLE on these columns: TABLE=col1,col2 (repeatable; empty only compacts).
    #[arg(long = "zorder", value_parser = parse_zorder)]
    pub zorder: Vec<(String, Vec<String>)>,
}

fn parse_zorder(text: &str) -> Result<(String, Vec<String>), String> {
    let (table, columns) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected TABLE=col1,col2"))?;
    let columns = columns
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect();
    Ok((table.to_string(), columns))
}

#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// Only these tables (by name); all of them by default.
    #[arg(long = "table")]
    pub tables: Vec<String>,
    /// Keep the files versions of the last this many hours need [default: the pipeline's, else
    /// 168, a week].
    #[arg(long)]
    pub retention_hours: Option<u64>,
    /// List the files that would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Rebuild silver and gold entirely.
    #[arg(long)]
    pub full: bool,
    /// Inputs to ingest instead of the pipeline file's.
    pub inputs: Vec<String>,
}
