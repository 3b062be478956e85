//! `ecomix transform`: bronze to silver, incrementally by period.
//!
//! Silver remembers, in its commit metadata, the bronze version it was built from. A run reads
//! which local dates the bronze files added since then touch, maps them to periods (the partitions: months
//! by default), rebuilds each such period from *all* its bronze rows, and replaces exactly those
//! partitions of silver and of the quarantine table, in one commit each. Nothing new: nothing
//! written.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Hash maps keyed by locators and instants, millions of entries: a fast non-cryptographic hash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, Timelike};
use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int32Builder, Int64Array,
    Int64Builder, StringArray, StringBuilder, StringViewArray, TimestampMicrosecondArray,
    new_null_array,
};
use deltalake::arrow::buffer::{BooleanBuffer, NullBuffer};
use deltalake::arrow::compute::{FilterBuilder, FilterPredicate, cast, filter_record_batch};
use deltalake::arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};
use deltalake::arrow::record_batch::RecordBatch;
use ecomix_core::catalogue::{self, Family};
use ecomix_core::layout::{ECO2MIX_BRONZE, Layer, TableRef};
use ecomix_lake::{Appender, Lake, LakeError, Snapshot};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::instant;
use crate::rules::{self, Level, RULES, measure_index};
use crate::schema;

pub const ECO2MIX_SILVER: TableRef = TableRef::new(Layer::Silver, "eco2mix_silver");
/// The quarantine's raw values (JSON) are never filtered by value.
pub const ECO2MIX_QUARANTINE: TableRef =
    TableRef::new(Layer::Silver, "eco2mix_quarantine").without_statistics(&["raw_values"]);

#[derive(Debug, thiserror::Error)]
pub enum SilverError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("{0}")]
    RuleFailed(Box<RuleFailure>),
    #[error(
        "silver is partitioned by {existing:?}, not {wanted:?}: a table's partitioning is fixed; to change it, delete the silver folders (silver/eco2mix_silver, silver/eco2mix_quarantine) and run `ecomix transform --full --partition-by {wanted}`"
    )]
    Partitioning { existing: String, wanted: String },
    /// Options that cannot be applied (an unknown rule).
    #[error("{0}")]
    Options(String),
    #[error("{0}")]
    Read(String),
}

/// Where a fail-level rule stopped the run.
#[derive(Debug)]
pub struct RuleFailure {
    pub rule: String,
    pub description: String,
    pub perimetre: String,
    pub date: String,
    pub heure: String,
    pub file: String,
    pub line: i64,
}

impl std::fmt::Display for RuleFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rule {} (level fail) rejects {} {} {} from {}, line {}: {}; no table was changed",
            self.rule,
            self.perimetre,
            self.date,
            self.heure,
            self.file,
            self.line,
            self.description
        )
    }
}

/// The partition column of silver, and so the period that is rebuilt as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Partitioning {
    /// One partition per local month (`mois`, `YYYY-MM`): about 3,000 rows a perimeter, big
    /// enough files. Daily partitions would hold 96 rows: the small-files anti-pattern.
    #[default]
    Mois,
    Date,
    Annee,
}

impl std::str::FromStr for Partitioning {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "mois" => Ok(Self::Mois),
            "date" => Ok(Self::Date),
            "annee" => Ok(Self::Annee),
            _ => Err(format!(
                "unknown partitioning {text:?}: expected mois, date or annee"
            )),
        }
    }
}

impl Partitioning {
    pub fn column(self) -> &'static str {
        match self {
            Self::Mois => "mois",
            Self::Date => "date",
            Self::Annee => "annee",
        }
    }

    /// The partition value of a local date, as Delta writes it in the log.
    fn key(self, date: NaiveDate) -> String {
        match self {
            Self::Mois => date.format("%Y-%m").to_string(),
            Self::Date => date.format("%Y-%m-%d").to_string(),
            Self::Annee => date.year().to_string(),
        }
    }

    /// A number identifying a date's partition (for grouping rows; not the partition value).
    fn ordinal(self, date: NaiveDate) -> i32 {
        match self {
            Self::Mois => date.year() * 12 + date.month0() as i32,
            Self::Date => date.num_days_from_ce(),
            Self::Annee => date.year(),
        }
    }

    /// The local dates of a period, as a half-open range.
    fn range(self, date: NaiveDate) -> (NaiveDate, NaiveDate) {
        let first = |y, m| NaiveDate::from_ymd_opt(y, m, 1).expect("first of a month");
        match self {
            Self::Date => (date, date.succ_opt().unwrap_or(date)),
            Self::Mois => {
                let start = first(date.year(), date.month());
                let end = if date.month() == 12 {
                    first(date.year() + 1, 1)
                } else {
                    first(date.year(), date.month() + 1)
                };
                (start, end)
            }
            Self::Annee => (first(date.year(), 1), first(date.year() + 1, 1)),
        }
    }
}

/// Called after each batch of periods with (batches done, batches in all).
pub type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

#[derive(Clone)]
pub struct TransformOptions {
    pub full: bool,
    /// Bronze rows per batch of periods (about): the periods are rebuilt a batch at a time, so
    /// memory is bounded by this, whatever the size of the history.
    pub batch_rows: usize,
    pub progress: Option<Progress>,
    pub run_id: String,
    /// Silver's partitioning; `None` keeps the existing tables' (months for new tables).
    pub partitioning: Option<Partitioning>,
    /// Rule levels overriding the declared ones, by rule name.
    pub rule_levels: HashMap<String, Level>,
}

#[derive(Debug, Default, Serialize)]
pub struct TransformReport {
    pub run_id: String,
    /// `written`, or `no_op` when bronze has nothing silver has not seen.
    pub status: &'static str,
    pub periods: Vec<String>,
    /// Batches of periods the rebuild took (see [`TransformOptions::batch_rows`]).
    pub batches: usize,
    pub rows_read: usize,
    pub rows_written: usize,
    pub rows_quarantined: usize,
    pub quarantined_by_rule: BTreeMap<String, usize>,
    pub warnings_by_rule: BTreeMap<String, usize>,
    pub silver_version: Option<u64>,
    pub quarantine_version: Option<u64>,
}

pub async fn transform(
    lake: &Lake,
    options: &TransformOptions,
) -> Result<TransformReport, SilverError> {
    for name in options.rule_levels.keys() {
        if !RULES.iter().any(|r| r.name == name) {
            let known: Vec<&str> = RULES.iter().map(|r| r.name).collect();
            return Err(SilverError::Options(format!(
                "unknown rule {name:?}; the rules are: {}",
                known.join(", ")
            )));
        }
    }
    let mut report = TransformReport {
        run_id: options.run_id.clone(),
        status: "no_op",
        ..TransformReport::default()
    };
    // One version of bronze for every query of this run: rows ingested meanwhile wait for the
    // next run, instead of being half seen.
    let Some(bronze) = lake.snapshot(ECO2MIX_BRONZE).await? else {
        return Ok(report);
    };
    let bronze = bronze.for_repeated_queries();
    let bronze_version = bronze.version();
    let seen = if options.full {
        None
    } else {
        silver_watermark(lake).await?
    };
    tracing::debug!("reading the periods to rebuild");
    let partitioning = effective_partitioning(lake, options.partitioning).await?;
    let dates_sql = "SELECT DISTINCT date FROM t";
    let added_dates = match seen {
        Some(seen) if Some(seen) == bronze_version => Some(Vec::new()),
        Some(seen) => bronze.query_added_since(seen, dates_sql).await?,
        None => None,
    };
    let mut ends = HashMap::new();
    let (periods, counts) = match added_dates {
        Some(dates) => {
            let mut periods: BTreeMap<String, (NaiveDate, NaiveDate)> = BTreeMap::new();
            for batch in &dates {
                let column = batch.column(0).as_primitive::<Date32Type>();
                for date in column.iter().flatten() {
                    let date = date32_to_date(date);
                    periods.insert(partitioning.key(date), partitioning.range(date));
                }
            }
            let counts = if periods.is_empty() {
                FileScan::new(partitioning)
            } else {
                let sql = format!(
                    "SELECT date, _source_sha256 FROM t {}",
                    period_filter(&periods)
                );
                FileScan::run(&bronze, &sql, partitioning).await?
            };
            (periods, counts)
        }
        // Everything is rebuilt: one scan gives the periods, their rows and every file's end.
        None => {
            let sql = "SELECT date, _source_sha256, heure, consommation IS NOT NULL FROM t";
            let mut scan = FileScan::run(&bronze, sql, partitioning).await?;
            ends = std::mem::take(&mut scan.ends);
            for (_, files) in scan.per_period.values() {
                for sha in files {
                    ends.entry(sha.clone()).or_insert(None);
                }
            }
            (std::mem::take(&mut scan.ranges), scan)
        }
    };
    if periods.is_empty() {
        return Ok(report);
    }
    tracing::debug!(peak_rss_mib = ecomix_core::peak_rss_mib(), "periods found");

    let column = partitioning.column();
    let keys: Vec<String> = periods.keys().cloned().collect();
    let appender = async |table, schema| -> Result<Appender, SilverError> {
        Ok(Appender::start(lake, table, schema, &[column])
            .await?
            .with_dictionary_columns(&DICTIONARY_COLUMNS))
    };
    let mut silver = appender(ECO2MIX_SILVER, schema::silver()).await?;
    let mut quarantine = appender(ECO2MIX_QUARANTINE, schema::quarantine()).await?;
    if options.full {
        silver = silver.replacing_all();
        quarantine = quarantine.replacing_all();
    } else {
        silver = silver.replacing_partitions(column, keys.clone());
        quarantine = quarantine.replacing_partitions(column, keys.clone());
    }

    let levels: Vec<Level> = RULES
        .iter()
        .map(|r| options.rule_levels.get(r.name).copied().unwrap_or(r.level))
        .collect();
    let batches = batches_of_periods(&periods, counts, options.batch_rows);
    tracing::debug!(
        peak_rss_mib = ecomix_core::peak_rss_mib(),
        "batches planned"
    );
    report.batches = batches.len();
    let started = std::time::Instant::now();
    // Two encoders, each with its own partitions (alternate ones): silver's encoding is half
    // of transform's work, and one encoder kept the second core waiting.
    let second = silver.sibling()?;
    let mut silver = [silver.in_background(), second.in_background()];
    let mut quarantine = quarantine.in_background();
    // Pass 1 of the next batch runs while this batch's rows are built: it reads only keys, and
    // would otherwise leave the second core idle.
    let mut ends = Arc::new(ends);
    let decide_batch = |number: usize, ends: &Arc<HashMap<String, Option<String>>>| {
        let batch: &Batch = &batches[number];
        AbortOnDrop(tokio::spawn(decide(
            bronze.clone(),
            batch.periods.clone(),
            ends.clone(),
            batch.rows,
        )))
    };
    add_measured_ends(&bronze, &batches[0].files, Arc::make_mut(&mut ends)).await?;
    let mut next = Some(decide_batch(0, &ends));
    for (number, batch) in batches.iter().enumerate() {
        let task = next.take().expect("each batch's pass 1 starts before it");
        let (mut verdicts, mut to_quarantine, rows_read) = task.join().await?;
        report.rows_read += rows_read;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "precedence decided"
        );
        if let Some(following) = batches.get(number + 1) {
            add_measured_ends(&bronze, &following.files, Arc::make_mut(&mut ends)).await?;
            next = Some(decide_batch(number + 1, &ends));
        }

        // Pass 2, whole rows: the winners become silver rows, batch by batch.
        let mut rejected = QuarantineBuilder::new(&options.run_id);
        let (mut rows, reader) = bronze_rows(&bronze, &batch.periods).await?;
        while let Some(batch) = rows.recv().await {
            let batch = batch.map_err(|e| *e)?;
            let (batches, counts) = build_rows(
                &batch,
                &mut verdicts,
                &mut to_quarantine,
                &levels,
                &options.run_id,
                partitioning,
                &mut rejected,
            )
            .map_err(SilverError::RuleFailed)?;
            for (rule, n) in counts.quarantined {
                *report.quarantined_by_rule.entry(rule).or_default() += n;
            }
            for (rule, n) in counts.warnings {
                *report.warnings_by_rule.entry(rule).or_default() += n;
            }
            for (part, rows) in batches {
                report.rows_written += rows.num_rows();
                silver[part.rem_euclid(2) as usize].write(rows).await?;
            }
            if rejected.len() >= BATCH_ROWS {
                report.rows_quarantined += rejected.len();
                quarantine.write(rejected.take()).await?;
            }
        }
        // The channel also closes when the reader panics: only its end says the rows are all in.
        reader.join().await?;
        report.rows_quarantined += rejected.len();
        quarantine.write(rejected.take()).await?;
        // The batch's files are finished: memory follows one batch, not the whole history.
        for encoder in &mut silver {
            encoder.seal().await?;
        }
        quarantine.seal().await?;
        tracing::debug!(
            batch = number + 1,
            of = batches.len(),
            rows_read = report.rows_read,
            elapsed_ms = started.elapsed().as_millis() as u64,
            peak_rss_mib = ecomix_core::peak_rss_mib(),
            "batch of periods written"
        );
        if let Some(progress) = &options.progress {
            progress(number + 1, batches.len());
        }
    }

    let [silver, second] = silver;
    let mut silver = silver.finish().await?;
    silver.absorb(second.finish().await?).await?;
    let quarantine = quarantine.finish().await?;
    let metadata = HashMap::from([(
        "ecomix".to_string(),
        serde_json::json!({
            "command": "transform",
            "run_id": options.run_id,
            "periods": keys,
            "bronze_version": bronze_version,
        }),
    )]);
    report.quarantine_version = quarantine.commit(metadata.clone()).await?;
    // Silver last: its commit carries the watermark, so a failure before it re-runs the periods.
    report.silver_version = silver.commit(metadata).await?;
    report.periods = keys;
    report.status = "written";
    Ok(report)
}

/// The partitioning of the silver and quarantine tables where they exist (they must agree with
/// each other and with `wanted`), else `wanted`, else months.
async fn effective_partitioning(
    lake: &Lake,
    wanted: Option<Partitioning>,
) -> Result<Partitioning, SilverError> {
    let mut partitioning = wanted;
    for table in [ECO2MIX_SILVER, ECO2MIX_QUARANTINE] {
        let Some(columns) = lake.partition_columns(table).await? else {
            continue;
        };
        let existing = columns.join(",");
        let mismatch = |wanted: &str| SilverError::Partitioning {
            existing: existing.clone(),
            wanted: wanted.to_string(),
        };
        let found: Partitioning = existing
            .parse()
            .map_err(|_| mismatch(partitioning.unwrap_or_default().column()))?;
        match partitioning {
            Some(p) if p != found => return Err(mismatch(p.column())),
            _ => partitioning = Some(found),
        }
    }
    Ok(partitioning.unwrap_or_default())
}

/// The bronze version silver was last built from (from silver's last own commit), moved past
/// the bronze maintenance commits that followed it.
async fn silver_watermark(lake: &Lake) -> Result<Option<u64>, SilverError> {
    let Some((_, metadata)) = lake.last_ecomix_metadata(ECO2MIX_SILVER).await? else {
        return Ok(None);
    };
    match metadata.get("bronze_version").and_then(Value::as_u64) {
        Some(version) => Ok(Some(lake.same_rows_as(ECO2MIX_BRONZE, version).await?)),
        None => Ok(None),
    }
}

/// For each bronze file (by content hash) among `files`, the last local time at which it has a
/// measured consumption: among files of the same nature, the one measured later is the newer
/// publication. Only the files not in `ends` yet are read, by their hash, so a daily run reads
/// the few files of its month, not the whole history.
async fn add_measured_ends(
    bronze: &Snapshot,
    files: &BTreeSet<String>,
    ends: &mut HashMap<String, Option<String>>,
) -> Result<(), SilverError> {
    let missing: Vec<&String> = files.iter().filter(|f| !ends.contains_key(*f)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    // A hash is hex: it quotes safely.
    let quoted: Vec<String> = missing.iter().map(|sha| format!("'{sha}'")).collect();
    let sql = format!(
        "SELECT date, _source_sha256, heure, consommation IS NOT NULL FROM t \
         WHERE _source_sha256 IN ({})",
        quoted.join(", ")
    );
    let scan = FileScan::run(bronze, &sql, Partitioning::Mois).await?;
    for sha in missing {
        ends.insert(sha.clone(), None);
    }
    ends.extend(scan.ends);
    Ok(())
}

/// One streamed pass over bronze's `date`, `_source_sha256` and, optionally, `heure` and
/// whether consumption was measured: rows per period and the files they come from and, with the
/// last two columns, where each file's measured consumption ends (`YYYY-MM-DD HH:MM`, local).
/// Rows come in long runs of one file and one date, so the work per row is two comparisons:
/// as SQL aggregates, hashing every row's 64-character hash cost a fifth of a transform.
struct FileScan {
    partitioning: Partitioning,
    per_period: HashMap<String, (usize, BTreeSet<String>)>,
    ranges: BTreeMap<String, (NaiveDate, NaiveDate)>,
    ends: HashMap<String, Option<String>>,
}

impl FileScan {
    fn new(partitioning: Partitioning) -> Self {
        Self {
            partitioning,
            per_period: HashMap::new(),
            ranges: BTreeMap::new(),
            ends: HashMap::new(),
        }
    }

    async fn run(
        bronze: &Snapshot,
        sql: &str,
        partitioning: Partitioning,
    ) -> Result<Self, SilverError> {
        let mut scan = Self::new(partitioning);
        let mut stream = bronze.query_stream(sql).await?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| SilverError::Read(format!("reading bronze: {e}")))?;
            scan.add(&batch);
        }
        Ok(scan)
    }

    fn add(&mut self, batch: &RecordBatch) {
        let dates = batch.column(0).as_primitive::<Date32Type>();
        let shas = string_column(batch.column(1));
        let measured = (batch.num_columns() == 4).then(|| {
            (
                string_column(batch.column(2)),
                batch.column(3).as_boolean().clone(),
            )
        });
        // The current run of rows of one date and one file, and its count.
        let mut run: Option<(i32, &str, usize)> = None;
        // The latest measured (date, time) of the current file.
        let mut end: Option<(&str, i32, &str)> = None;
        for i in 0..batch.num_rows() {
            if !dates.is_valid(i) {
                continue;
            }
            let (date, sha) = (dates.value(i), get(&shas, i).unwrap_or_default());
            match &mut run {
                Some((d, s, n)) if *d == date && *s == sha => *n += 1,
                _ => {
                    if let Some((d, s, n)) = run.replace((date, sha, 1)) {
                        self.count(d, s, n);
                    }
                }
            }
            let Some((heure, measured)) = &measured else {
                continue;
            };
            if !measured.is_valid(i) || !measured.value(i) {
                continue;
            }
            let time = get(heure, i).unwrap_or_default();
            match &mut end {
                Some((s, d, t)) if *s == sha => {
                    if (date, lpad_time(time)) > (*d, lpad_time(t)) {
                        (*d, *t) = (date, time);
                    }
                }
                _ => {
                    if let Some((s, d, t)) = end.replace((sha, date, time)) {
                        self.end(s, d, t);
                    }
                }
            }
        }
        if let Some((d, s, n)) = run {
            self.count(d, s, n);
        }
        if let Some((s, d, t)) = end {
            self.end(s, d, t);
        }
    }

    fn count(&mut self, date: i32, sha: &str, rows: usize) {
        let date = date32_to_date(date);
        let key = self.partitioning.key(date);
        if !self.ranges.contains_key(&key) {
            self.ranges
                .insert(key.clone(), self.partitioning.range(date));
        }
        let period = self.per_period.entry(key).or_default();
        period.0 += rows;
        if !period.1.contains(sha) {
            period.1.insert(sha.to_string());
        }
    }

    fn end(&mut self, sha: &str, date: i32, time: &str) {
        let candidate = format!("{} {}", date32_to_date(date), lpad_time(time));
        let end = self.ends.entry(sha.to_string()).or_default();
        if end.as_ref().is_none_or(|e| candidate > *e) {
            *end = Some(candidate);
        }
    }
}

/// A published time as five characters, `HH:MM`: `9:45` is padded, seconds are cut (SQL's
/// `lpad(heure, 5, '0')`), so that times compare as text.
fn lpad_time(time: &str) -> std::borrow::Cow<'_, str> {
    match time.len() {
        5 => time.into(),
        n if n > 5 => time.get(..5).unwrap_or(time).into(),
        n => format!("{}{time}", "0".repeat(5 - n)).into(),
    }
}

/// A text column read where it lies, whatever Arrow string layout the scan produced
/// (DataFusion reads Parquet strings as views): no copy.
#[derive(Clone)]
enum Text {
    Utf8(StringArray),
    View(StringViewArray),
}

impl Text {
    fn is_valid(&self, i: usize) -> bool {
        match self {
            Text::Utf8(a) => a.is_valid(i),
            Text::View(a) => a.is_valid(i),
        }
    }

    fn value(&self, i: usize) -> &str {
        match self {
            Text::Utf8(a) => a.value(i),
            Text::View(a) => a.value(i),
        }
    }
}

fn string_column(array: &ArrayRef) -> Text {
    match array.data_type() {
        DataType::Utf8View => Text::View(array.as_string_view().clone()),
        DataType::Utf8 => Text::Utf8(array.as_string::<i32>().clone()),
        _ => Text::Utf8(
            cast(array, &DataType::Utf8)
                .expect("text columns cast to Utf8")
                .as_string::<i32>()
                .clone(),
        ),
    }
}

/// Days from 0001-01-01 (chrono's count) to 1970-01-01 (Arrow's `Date32`).
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

fn date32_to_date(days: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days + UNIX_EPOCH_DAYS_FROM_CE).expect("a date in range")
}

fn date_to_date32(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

fn nature_rank(nature: Option<&str>) -> u8 {
    match nature {
        Some(n) if n.contains("finitive") => 3,
        Some(n) if n.contains("consolid") => 2,
        Some(n) if n.contains("temps r") => 1,
        _ => 0,
    }
}

/// Low-cardinality text columns get Parquet dictionaries; measures are written plainly (a
/// dictionary per float column and open partition costs far more memory than it saves).
const DICTIONARY_COLUMNS: [&str; 6] = [
    "perimetre",
    "nature",
    "mois",
    "_source_file",
    "_run_id",
    "rule",
];

/// Quarantine rows are written in batches of this many.
const BATCH_ROWS: usize = 65_536;

/// Bronze rows per batch of periods unless told otherwise: a few hundred MiB of working memory.
pub const DEFAULT_BATCH_ROWS: usize = 1_000_000;

/// Periods rebuilt together, the bronze rows they hold and the files (content hashes) those
/// rows come from.
struct Batch {
    periods: BTreeMap<String, (NaiveDate, NaiveDate)>,
    rows: usize,
    files: BTreeSet<String>,
}

/// The periods to rebuild, in order, cut into batches of about `batch_rows` bronze rows (a
/// period larger than that is a batch of its own: a partition is never split).
fn batches_of_periods(
    periods: &BTreeMap<String, (NaiveDate, NaiveDate)>,
    mut scan: FileScan,
    batch_rows: usize,
) -> Vec<Batch> {
    let mut batches = Vec::new();
    let mut current = Batch {
        periods: BTreeMap::new(),
        rows: 0,
        files: BTreeSet::new(),
    };
    for (key, range) in periods {
        let (rows, files) = scan.per_period.remove(key).unwrap_or_default();
        if !current.periods.is_empty() && current.rows + rows > batch_rows {
            let next = Batch {
                periods: BTreeMap::new(),
                rows: 0,
                files: BTreeSet::new(),
            };
            batches.push(std::mem::replace(&mut current, next));
        }
        current.periods.insert(key.clone(), *range);
        current.rows += rows;
        current.files.extend(files);
    }
    if !current.periods.is_empty() {
        batches.push(current);
    }
    batches
}

/// `WHERE` clause selecting the bronze rows of `periods`, adjacent periods merged into one range.
fn period_filter(periods: &BTreeMap<String, (NaiveDate, NaiveDate)>) -> String {
    let mut ranges: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    let mut sorted: Vec<(NaiveDate, NaiveDate)> = periods.values().copied().collect();
    sorted.sort();
    for (start, end) in sorted {
        match ranges.last_mut() {
            Some(last) if last.1 >= start => last.1 = last.1.max(end),
            _ => ranges.push((start, end)),
        }
    }
    let clauses: Vec<String> = ranges
        .iter()
        .map(|(start, end)| format!("(date >= DATE '{start}' AND date < DATE '{end}')"))
        .collect();
    format!("WHERE {}", clauses.join(" OR "))
}

/// Pass 1 of a batch of periods, keys only: the winning bronze row of every (perimetre,
/// instant), by locator, the rows set aside, and how many rows were read.
async fn decide(
    bronze: Snapshot,
    periods: BTreeMap<String, (NaiveDate, NaiveDate)>,
    ends: Arc<HashMap<String, Option<String>>>,
    expected_rows: usize,
) -> Result<(Verdicts, Quarantined, usize), SilverError> {
    let mut plan = Plan::new(ends, expected_rows, batch_span(&periods));
    let mut stream = read_bronze(&bronze, PASS_1, &periods).await?;
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| *e)?;
        plan.add_keys(&batch);
        rows += batch.num_rows();
    }
    let (verdicts, quarantined) = plan.finish();
    Ok((verdicts, quarantined, rows))
}

/// The bronze columns pass 1 decides from.
const DECISION_COLUMNS: [&str; 6] = [
    "perimetre",
    "nature",
    "date",
    "heure",
    "_source_sha256",
    "_source_row",
];

/// `periods` as half-open ranges of days since 1970, the row-group reader's.
fn date_ranges(periods: &BTreeMap<String, (NaiveDate, NaiveDate)>) -> Vec<(i32, i32)> {
    periods
        .values()
        .map(|(start, end)| (date_to_date32(*start), date_to_date32(*end)))
        .collect()
}

/// What a pass reads of bronze: the columns, of which `always` are read even in row groups
/// that hold them null throughout (the others are then left out, and null).
struct BronzeRead {
    pass: &'static str,
    columns: &'static [&'static str],
    always: &'static [&'static str],
}

/// Pass 1 decides precedence from the keys alone.
const PASS_1: BronzeRead = BronzeRead {
    pass: "pass 1",
    columns: &DECISION_COLUMNS,
    always: &DECISION_COLUMNS,
};

/// Pass 2 builds silver's rows.
fn pass_2() -> BronzeRead {
    BronzeRead {
        pass: "pass 2",
        columns: &ROW_COLUMNS,
        always: &KEY_COLUMNS,
    }
}

/// What `read` reads of bronze for `periods`: by the row-group reader, which reads only the
/// pages holding those periods' rows, or, for a table that needs a Delta feature that reader
/// leaves to DataFusion, by a SQL query of the same rows.
async fn read_bronze(
    bronze: &Snapshot,
    read: BronzeRead,
    periods: &BTreeMap<String, (NaiveDate, NaiveDate)>,
) -> Result<BronzeStream, SilverError> {
    if let Some(stream) = row_groups_of(bronze, &read, date_ranges(periods)).await? {
        return Ok(stream
            .map(|b| b.map_err(|e| Box::new(SilverError::from(e))))
            .boxed());
    }
    tracing::debug!(
        "{}: bronze uses a Delta feature the row-group reader leaves to DataFusion",
        read.pass
    );
    let quoted: Vec<String> = read.columns.iter().map(|c| format!("\"{c}\"")).collect();
    let sql = format!(
        "SELECT {} FROM t {}",
        quoted.join(", "),
        period_filter(periods)
    );
    Ok(bronze
        .query_stream(&sql)
        .await?
        .map(|b| {
            b.map_err(|e| Box::new(SilverError::Read(format!("reading {ECO2MIX_BRONZE}: {e}"))))
        })
        .boxed())
}

/// Bronze's batches as `read_bronze` streams them; an error is boxed, as it travels with every
/// batch.
type BronzeStream = futures::stream::BoxStream<'static, Result<RecordBatch, Box<SilverError>>>;

/// A spawned task that stops when its handle is dropped: a run that fails does not leave the
/// next batch's pass 1 reading on.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<Result<T, SilverError>> {
    async fn join(mut self) -> Result<T, SilverError> {
        (&mut self.0)
            .await
            .map_err(|e| SilverError::Read(format!("reading bronze stopped: {e}")))?
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A bronze row's identity: its document's content hash (interned) and its line in it.
type Locator = (u32, i64);

#[derive(Clone, Copy)]
struct Candidate {
    nature: u8,
    locator: Locator,
}

/// Pass 1: which bronze row represents each (perimetre, instant), and which rows cannot.
struct Plan {
    shas: Interner,
    perimetres: Interner,
    /// Per interned hash, the last local time its document measured consumption.
    measured_end: Vec<Option<String>>,
    ends: Arc<HashMap<String, Option<String>>>,
    /// The best row of instants off the quarter-hour grid (or of perimeters past the grid's
    /// budget).
    best: FastMap<(u32, i64), Candidate>,
    /// The best row of each quarter-hour of the batch, per perimeter: an array indexed by
    /// time, where a hash table of a million entries spent its time missing the cache.
    grid: QuarterHours,
    quarantine: FastMap<Locator, (&'static str, String)>,
    instants: InstantCache,
}

const QUARTER_HOUR_MICROS: i64 = 15 * 60 * 1_000_000;

/// Per perimeter, one slot per quarter-hour from `base`.
struct QuarterHours {
    base: i64,
    slots: usize,
    /// Slots allocated so far may not pass this: a sparse batch (a few rows over years) keeps
    /// the hash table.
    budget: usize,
    perimetres: Vec<Option<Vec<Option<Candidate>>>>,
}

impl QuarterHours {
    /// Slots for the local dates `span` (start included, end excluded), in UTC with a margin for
    /// the offset; `budget` is a multiple of the rows expected.
    fn new(span: Option<(NaiveDate, NaiveDate)>, expected_rows: usize) -> Self {
        let micros = |date: NaiveDate| {
            date.and_hms_opt(0, 0, 0)
                .expect("midnight exists")
                .and_utc()
                .timestamp_micros()
        };
        let (base, slots) = match span {
            Some((start, end)) if start < end => {
                let base = micros(start) - 12 * 4 * QUARTER_HOUR_MICROS;
                let last = micros(end) + 12 * 4 * QUARTER_HOUR_MICROS;
                (base, ((last - base) / QUARTER_HOUR_MICROS) as usize)
            }
            _ => (0, 0),
        };
        Self {
            base,
            slots,
            budget: expected_rows.saturating_mul(2),
            perimetres: Vec::new(),
        }
    }

    /// The slot of `at` for `perimetre`, allocating the perimeter's array on first use; `None`
    /// off the grid or past the budget.
    fn slot(&mut self, perimetre: u32, at: i64) -> Option<(usize, usize)> {
        let offset = at.checked_sub(self.base)?;
        if offset < 0 || offset % QUARTER_HOUR_MICROS != 0 {
            return None;
        }
        let slot = usize::try_from(offset / QUARTER_HOUR_MICROS).ok()?;
        if slot >= self.slots {
            return None;
        }
        let p = perimetre as usize;
        if self.perimetres.len() <= p {
            self.perimetres.resize_with(p + 1, || None);
        }
        if self.perimetres[p].is_none() {
            if self.budget < self.slots {
                return None;
            }
            self.budget -= self.slots;
            self.perimetres[p] = Some(vec![None; self.slots]);
        }
        Some((p, slot))
    }
}

/// The local dates a batch's periods cover, first included and last excluded.
fn batch_span(
    periods: &BTreeMap<String, (NaiveDate, NaiveDate)>,
) -> Option<(NaiveDate, NaiveDate)> {
    let start = periods.values().map(|r| r.0).min()?;
    let end = periods.values().map(|r| r.1).max()?;
    Some((start, end))
}

impl Plan {
    /// `expected_rows` sizes the table up front: growing it by rehashing cost a tenth of the
    /// transform.
    fn new(
        ends: Arc<HashMap<String, Option<String>>>,
        expected_rows: usize,
        span: Option<(NaiveDate, NaiveDate)>,
    ) -> Self {
        Self {
            shas: Interner::default(),
            perimetres: Interner::default(),
            measured_end: Vec::new(),
            ends,
            best: FastMap::default(),
            grid: QuarterHours::new(span, expected_rows),
            quarantine: FastMap::default(),
            instants: InstantCache::default(),
        }
    }

    fn sha_id(&mut self, sha: &str) -> u32 {
        let id = self.shas.id(sha);
        if id as usize == self.measured_end.len() {
            self.measured_end
                .push(self.ends.get(sha).cloned().flatten());
        }
        id
    }

    /// Precedence: the best nature, then the publication measured later, then the larger hash,
    /// then the earlier line.
    fn outranks(&self, a: &Candidate, b: &Candidate) -> bool {
        let key = |c: &Candidate| {
            let sha = c.locator.0 as usize;
            // Last, the line: two rows of one document for one instant (or the same content
            // ingested twice) are then chosen the same way whatever order the scan returns.
            (
                c.nature,
                self.measured_end[sha].as_deref(),
                self.shas.name(c.locator.0),
                std::cmp::Reverse(c.locator.1),
            )
        };
        key(a) > key(b)
    }

    fn add_keys(&mut self, batch: &RecordBatch) {
        let text = |name| string_column(&bronze_column(batch, name));
        let (perimetre, nature, heure, sha) = (
            text("perimetre"),
            text("nature"),
            text("heure"),
            text("_source_sha256"),
        );
        let dates = bronze_column(batch, "date")
            .as_primitive::<Date32Type>()
            .clone();
        let row = bronze_column(batch, "_source_row")
            .as_primitive::<Int64Type>()
            .clone();
        // Rows come in long runs from one document and one perimeter: remember the last ids.
        let mut last_sha: Option<(&str, u32)> = None;
        let mut last_perimetre: Option<(&str, u32)> = None;
        let mut last_nature: Option<(Option<&str>, u8)> = None;
        for i in 0..batch.num_rows() {
            let hash = get(&sha, i).unwrap_or_default();
            let sha_id = match last_sha {
                Some((h, id)) if same_text(h, hash) => id,
                _ => {
                    let id = self.sha_id(hash);
                    last_sha = Some((hash, id));
                    id
                }
            };
            let locator = (sha_id, row.value(i));
            let (Some(p), Some(h)) = (get(&perimetre, i), get(&heure, i)) else {
                self.quarantine.insert(
                    locator,
                    (rules::MISSING_KEY, "no perimeter or no time".into()),
                );
                continue;
            };
            let date = dates.value(i);
            let Some(at) = self.instants.resolve(date, h) else {
                let reason = format!(
                    "{} {h} does not exist in Europe/Paris (clocks go forward), or is not a time",
                    date32_to_date(date)
                );
                self.quarantine
                    .insert(locator, (rules::NONEXISTENT_TIME, reason));
                continue;
            };
            let nature = get(&nature, i);
            let rank = match last_nature {
                Some((text, rank)) if text == nature => rank,
                _ => {
                    let rank = nature_rank(nature);
                    last_nature = Some((nature, rank));
                    rank
                }
            };
            let candidate = Candidate {
                nature: rank,
                locator,
            };
            let perimetre_id = match last_perimetre {
                Some((name, id)) if name == p => id,
                _ => {
                    let id = self.perimetres.id(p);
                    last_perimetre = Some((p, id));
                    id
                }
            };
            if let Some((p, slot)) = self.grid.slot(perimetre_id, at) {
                let current = self.grid.perimetres[p]
                    .as_ref()
                    .and_then(|slots| slots[slot]);
                if current.is_none_or(|current| self.outranks(&candidate, &current))
                    && let Some(slots) = self.grid.perimetres[p].as_mut()
                {
                    slots[slot] = Some(candidate);
                }
                continue;
            }
            let key = (perimetre_id, at);
            match self.best.get(&key) {
                Some(current) if !self.outranks(&candidate, current) => {}
                _ => {
                    self.best.insert(key, candidate);
                }
            }
        }
    }

    /// Each winning row's instant, by locator, and the rows to quarantine.
    fn finish(self) -> (Verdicts, Quarantined) {
        let mut verdicts = Verdicts {
            instants: vec![Vec::new(); self.shas.names.len()],
        };
        let base = self.grid.base;
        let gridded = self
            .grid
            .perimetres
            .into_iter()
            .flatten()
            .flat_map(|slots| {
                slots
                    .into_iter()
                    .enumerate()
                    .filter_map(move |(slot, candidate)| {
                        Some((base + slot as i64 * QUARTER_HOUR_MICROS, candidate?))
                    })
            });
        let hashed = self
            .best
            .into_iter()
            .map(|((_, at), candidate)| (at, candidate));
        for (at, candidate) in gridded.chain(hashed) {
            let (sha, row) = candidate.locator;
            let rows = &mut verdicts.instants[sha as usize];
            let row = usize::try_from(row).unwrap_or(0);
            if rows.len() <= row {
                rows.resize(row + 1, NOT_IN_SILVER);
            }
            rows[row] = at;
        }
        (
            verdicts,
            Quarantined {
                shas: self.shas,
                rows: self.quarantine,
            },
        )
    }
}

const NOT_IN_SILVER: i64 = i64::MIN;

/// Pass 1's verdict on every bronze row, by document and line: the instant (UTC µs) it stands
/// for in silver, or [`NOT_IN_SILVER`]. A plain vector per document: no hashing per row.
struct Verdicts {
    instants: Vec<Vec<i64>>,
}

impl Verdicts {
    /// The row's instant, once: content ingested twice (--force) gives identical rows.
    fn take(&mut self, (sha, row): Locator) -> Option<i64> {
        let slot = self
            .instants
            .get_mut(sha as usize)?
            .get_mut(usize::try_from(row).ok()?)?;
        let at = std::mem::replace(slot, NOT_IN_SILVER);
        (at != NOT_IN_SILVER).then_some(at)
    }
}

/// Rows set aside in pass 1, found again by locator in pass 2 to be written with their values.
struct Quarantined {
    shas: Interner,
    rows: FastMap<Locator, (&'static str, String)>,
}

#[derive(Default)]
struct Interner {
    ids: FastMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name.to_string(), id);
        self.names.push(name.to_string());
        id
    }

    fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

/// Local (date, time) to UTC microseconds. Rows come in runs of one date, and all but two days
/// a year have one UTC offset from midnight to midnight: for those, the last date's offset
/// turns a time into an instant by arithmetic. The two clock-change days go through the time
/// zone, memoised.
#[derive(Default)]
struct InstantCache {
    day: Option<(i32, Option<i64>)>,
    resolved: FastMap<(i32, u32), Option<i64>>,
}

impl InstantCache {
    fn resolve(&mut self, date: i32, heure: &str) -> Option<i64> {
        let time = instant::parse_heure(heure)?;
        let seconds = time.num_seconds_from_midnight();
        let offset = match self.day {
            Some((day, offset)) if day == date => offset,
            _ => {
                let offset = instant::whole_day_offset(date32_to_date(date));
                self.day = Some((date, offset));
                offset
            }
        };
        if let Some(offset) = offset {
            return Some((i64::from(date) * 86_400 + i64::from(seconds) - offset) * 1_000_000);
        }
        *self.resolved.entry((date, seconds)).or_insert_with(|| {
            instant::to_utc(date32_to_date(date), time)
                .instant()
                .map(|t| t.timestamp_micros())
        })
    }
}

/// String equality that first asks whether both are the same bytes: a dictionary-encoded
/// column decodes each row's hash as a view of one shared value, so the 64-byte comparison
/// every row is mostly skipped.
fn same_text(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

fn get(a: &Text, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

#[derive(Default)]
struct Counts {
    quarantined: BTreeMap<String, usize>,
    warnings: BTreeMap<String, usize>,
}

/// Pass 2 for one bronze batch: its winning rows assembled column by column into silver batches
/// (one per partition) and passed through the rules; its set-aside rows to the quarantine.
fn build_rows(
    batch: &RecordBatch,
    verdicts: &mut Verdicts,
    set_aside: &mut Quarantined,
    levels: &[Level],
    run_id: &str,
    partitioning: Partitioning,
    quarantine: &mut QuarantineBuilder,
) -> Result<(Vec<PartitionBatch>, Counts), Box<RuleFailure>> {
    let columns = BronzeColumns::new(batch);
    let mut counts = Counts::default();
    // Kept rows grouped by silver partition, so that each batch written lies in one partition
    // (the writer then need not split, and copy, it again).
    let mut parts: BTreeMap<i32, KeptRows> = BTreeMap::new();
    let mut last_date: Option<(i32, i32)> = None;
    let mut dashed: Vec<usize> = Vec::new();
    // Rows come in long runs from one document, and a document's rows mostly rescue the same
    // tokens (a region's `-` for nuclear): the last hash and the last rescued text are
    // remembered, not looked up or parsed again.
    let mut last_sha: Option<(&str, Option<u32>)> = None;
    let mut last_rescued: Option<&str> = None;
    for i in 0..batch.num_rows() {
        let hash = get(&columns.sha, i);
        let sha = match (last_sha, hash) {
            (Some((last, id)), Some(hash)) if same_text(last, hash) => id,
            (_, Some(hash)) => {
                let id = set_aside.shas.get(hash);
                last_sha = Some((hash, id));
                id
            }
            (_, None) => None,
        };
        let Some(sha) = sha else {
            continue;
        };
        let locator = (sha, columns.source_row.value(i));
        if !set_aside.rows.is_empty()
            && let Some((rule, reason)) = set_aside.rows.remove(&locator)
        {
            quarantine.push(rule, &reason, &columns, i);
            *counts.quarantined.entry(rule.into()).or_default() += 1;
            continue;
        }
        let Some(at) = verdicts.take(locator) else {
            continue;
        };
        let rescued = get(&columns.rescued, i);
        // An empty row (a definitive file's :15 and :45) rescues nothing: it does not make the
        // next row's tokens be parsed again.
        let zeroed: &[usize] = match rescued {
            None => &[],
            Some(text) => {
                if !last_rescued.is_some_and(|last| same_text(last, text)) {
                    last_rescued = Some(text);
                    dashed = dashed_measures(text);
                }
                &dashed
            }
        };
        let days = columns.dates.value(i);
        let part = match last_date {
            Some((d, part)) if d == days => part,
            _ => {
                let part = partitioning.ordinal(date32_to_date(days));
                last_date = Some((days, part));
                part
            }
        };
        let rows = parts.entry(part).or_default();
        rows.zeroes
            .extend(zeroed.iter().map(|&c| (rows.keep.len(), c)));
        rows.keep.push(i as u32);
        rows.instants.push(at);
    }
    let mut batches = Vec::with_capacity(parts.len());
    for (part, rows) in parts {
        let batch = assemble(&columns, rows, levels, run_id, quarantine, &mut counts)?;
        if batch.num_rows() > 0 {
            batches.push((part, batch));
        }
    }
    Ok((batches, counts))
}

/// A silver batch and the ordinal of the partition all its rows are in.
type PartitionBatch = (i32, RecordBatch);

/// The rows of one bronze batch kept for one silver partition.
#[derive(Default)]
struct KeptRows {
    keep: Vec<u32>,
    instants: Vec<i64>,
    /// (output row, measure) pairs that a `-` sets to 0.
    zeroes: Vec<(usize, usize)>,
}

/// The kept rows of a bronze batch, picked from each of its columns.
///
/// Kept rows are strictly ascending; usually a run of consecutive rows, which a slice shares
/// without copying ninety columns. Otherwise a filter, planned once for every column: it copies
/// runs of kept rows whole, where `take` gathered value by value and null bit by null bit (11 %
/// of transform at 10x).
enum Picker {
    Run { first: usize, len: usize },
    Filter(FilterPredicate),
}

impl Picker {
    /// `keep`: the kept rows, strictly ascending, of a batch of `rows` rows.
    fn new(keep: &[u32], rows: usize) -> Self {
        match (keep.first(), keep.last()) {
            (Some(&first), Some(&last)) if (last - first) as usize + 1 == keep.len() => {
                Picker::Run {
                    first: first as usize,
                    len: keep.len(),
                }
            }
            _ => {
                let mut kept = vec![false; rows];
                for &row in keep {
                    kept[row as usize] = true;
                }
                Picker::Filter(
                    FilterBuilder::new(&BooleanArray::from(kept))
                        .optimize()
                        .build(),
                )
            }
        }
    }

    fn pick(&self, array: &dyn Array) -> ArrayRef {
        match self {
            Picker::Run { first, len } => array.slice(*first, *len),
            // Most measures are null throughout a batch (a region publishes few of them).
            Picker::Filter(filter) if array.null_count() == array.len() => {
                new_null_array(array.data_type(), filter.count())
            }
            Picker::Filter(filter) => filter.filter(array).expect("the mask fits the batch"),
        }
    }
}

/// The silver batch of the kept rows, column by column (see [`Picker`]), with the measures a
/// `-` set to 0, the rules applied (rows a rule quarantines go to `quarantine` and are filtered
/// out) and the derived columns computed.
fn assemble(
    bronze: &BronzeColumns,
    rows: KeptRows,
    levels: &[Level],
    run_id: &str,
    quarantine: &mut QuarantineBuilder,
    counts: &mut Counts,
) -> Result<RecordBatch, Box<RuleFailure>> {
    let KeptRows {
        keep,
        instants,
        zeroes,
    } = rows;
    let picker = Picker::new(&keep, bronze.dates.len());
    let pick = |array: &dyn Array| picker.pick(array);
    let text = |array: &ArrayRef| -> ArrayRef {
        cast(&pick(array.as_ref()), &DataType::Utf8).expect("text casts to Utf8")
    };
    let mut measures: Vec<Float64Array> = bronze
        .measures
        .iter()
        .map(|m| pick(m).as_primitive::<Float64Type>().clone())
        .collect();
    let mut zeroed_columns: Vec<usize> = zeroes.iter().map(|&(_, c)| c).collect();
    zeroed_columns.sort_unstable();
    zeroed_columns.dedup();
    for c in zeroed_columns {
        // The column copied once, then its dashed rows set: not rebuilt value by value.
        let mut values = measures[c].values().to_vec();
        let mut valid: Vec<bool> = match measures[c].nulls() {
            Some(nulls) => nulls.iter().collect(),
            None => vec![true; values.len()],
        };
        for &(r, _) in zeroes.iter().filter(|z| z.1 == c) {
            values[r] = 0.0;
            valid[r] = true;
        }
        measures[c] = Float64Array::new(values.into(), Some(NullBuffer::from(valid)));
    }
    let perimetre = text(&bronze.perimetre_array);

    // The rules, in their declared order: a row's first quarantining rule sends it to the
    // quarantine, and the rules after it are not counted for it.
    let view = rules::Rows {
        perimetre: perimetre.as_string::<i32>(),
        measures: &measures,
    };
    let passes: Vec<Vec<bool>> = RULES.iter().map(|rule| (rule.check)(&view)).collect();
    let mut kept = vec![true; keep.len()];
    let mut warned = vec![0usize; RULES.len()];
    let mut quarantined = vec![0usize; RULES.len()];
    for (r, &row) in keep.iter().enumerate() {
        let i = row as usize;
        for (k, (rule, level)) in RULES.iter().zip(levels).enumerate() {
            if passes[k][r] {
                continue;
            }
            match level {
                Level::Warn => warned[k] += 1,
                Level::Quarantine => {
                    quarantine.push(rule.name, rule.description, bronze, i);
                    quarantined[k] += 1;
                    kept[r] = false;
                    break;
                }
                Level::Fail => {
                    return Err(Box::new(RuleFailure {
                        rule: rule.name.into(),
                        description: rule.description.into(),
                        perimetre: get(&bronze.perimetre, i).unwrap_or_default().into(),
                        date: date32_to_date(bronze.dates.value(i)).to_string(),
                        heure: get(&bronze.heure, i).unwrap_or_default().into(),
                        file: get(&bronze.source_file, i).unwrap_or_default().into(),
                        line: bronze.source_row.value(i),
                    }));
                }
            }
        }
    }
    for (k, rule) in RULES.iter().enumerate() {
        if warned[k] > 0 {
            *counts.warnings.entry(rule.name.into()).or_default() += warned[k];
        }
        if quarantined[k] > 0 {
            *counts.quarantined.entry(rule.name.into()).or_default() += quarantined[k];
        }
    }

    let n = keep.len();
    let dates = pick(&bronze.dates);
    let dates = dates.as_primitive::<Date32Type>();
    let mut hours = Int32Builder::with_capacity(n);
    let mut minutes = Int32Builder::with_capacity(n);
    for &i in &keep {
        // The published wall-clock time is the local time of the instant.
        let time = get(&bronze.heure, i as usize).and_then(instant::parse_heure);
        hours.append_option(time.map(|t| t.hour() as i32));
        minutes.append_option(time.map(|t| t.minute() as i32));
    }
    let mut months = StringBuilder::with_capacity(n, n * 7);
    let mut years = Int32Builder::with_capacity(n);
    let mut last: Option<(i32, String, i32)> = None;
    for days in dates.values().iter() {
        if last.as_ref().is_none_or(|l| l.0 != *days) {
            let date = date32_to_date(*days);
            last = Some((
                *days,
                format!("{:04}-{:02}", date.year(), date.month()),
                date.year(),
            ));
        }
        let (_, month, year) = last.as_ref().expect("set above");
        months.append_value(month);
        years.append_value(*year);
    }
    let derived = derived(&measures);
    let mut columns: Vec<ArrayRef> = vec![
        perimetre,
        text(&bronze.nature_array),
        Arc::new(TimestampMicrosecondArray::from(instants).with_timezone("UTC")),
        Arc::new(dates.clone()),
        Arc::new(hours.finish()),
        Arc::new(minutes.finish()),
        Arc::new(months.finish()),
        Arc::new(years.finish()),
    ];
    columns.extend(measures.into_iter().map(|m| Arc::new(m) as ArrayRef));
    columns.extend(derived);
    columns.push(text(&bronze.source_file_array));
    columns.push(pick(&bronze.source_row));
    columns.push(ecomix_lake::repeated_text(run_id, n));
    let batch =
        RecordBatch::try_new(schema::silver(), columns).expect("silver columns match the schema");
    if kept.iter().all(|&k| k) {
        return Ok(batch);
    }
    Ok(filter_record_batch(&batch, &BooleanArray::from(kept)).expect("the mask fits the batch"))
}

/// The bronze columns every silver row needs, read even where they are null throughout.
const KEY_COLUMNS: [&str; 8] = [
    "perimetre",
    "nature",
    "date",
    "heure",
    "_source_sha256",
    "_source_file",
    "_source_row",
    "_rescued",
];

/// The bronze columns silver rows are built from (not the run id, the ingestion time, or the
/// columns of labels ecomix does not know, which `_rescued` also holds): fewer to decode.
static ROW_COLUMNS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    KEY_COLUMNS
        .into_iter()
        .chain(catalogue::MEASURES.iter().map(|c| c.name))
        .collect()
});

/// Bronze's rows dated within `ranges` (days since 1970, half-open), as pass 2 reads them: the
/// columns silver is built from, each row group without the measures it holds null throughout.
/// `None` when bronze needs a Delta feature this reader leaves to DataFusion. Public for the
/// bench's floor (examples/floor.rs), which times this very read.
pub async fn scan_bronze(
    bronze: &Snapshot,
    ranges: Vec<(i32, i32)>,
) -> Result<Option<RowGroupStream>, LakeError> {
    row_groups_of(bronze, &pass_2(), ranges).await
}

type RowGroupStream = futures::stream::BoxStream<'static, Result<RecordBatch, LakeError>>;

async fn row_groups_of(
    bronze: &Snapshot,
    read: &BronzeRead,
    ranges: Vec<(i32, i32)>,
) -> Result<Option<RowGroupStream>, LakeError> {
    bronze
        .scan_row_groups(read.columns, read.always, "date", ranges)
        .await
}

/// Bronze batches queued ahead of pass 2: the next ones are decoded while rows are built.
const QUEUED_BRONZE_BATCHES: usize = 2;

/// Pass 2's bronze rows for `periods`, read by a task of their own. Row groups are read with
/// only the measures they hold: in a history of regions, nine in ten of bronze's measure chunks
/// are null throughout, and decoding them (and filling them with zeros) was two fifths of pass
/// 2's reading. A table this reader cannot read is queried with SQL (`read_bronze`).
async fn bronze_rows(
    bronze: &Snapshot,
    periods: &BTreeMap<String, (NaiveDate, NaiveDate)>,
) -> Result<(BronzeBatches, AbortOnDrop<Result<(), SilverError>>), SilverError> {
    let mut stream = read_bronze(bronze, pass_2(), periods).await?;
    let (sender, receiver) = tokio::sync::mpsc::channel(QUEUED_BRONZE_BATCHES);
    // The reader stops at its first error, which pass 2 receives, or when pass 2 stops (its
    // receiver dropped, the task aborted).
    let reader = AbortOnDrop(tokio::spawn(async move {
        while let Some(batch) = stream.next().await {
            let failed = batch.is_err();
            if sender.send(batch).await.is_err() || failed {
                break;
            }
        }
        Ok(())
    }));
    Ok((receiver, reader))
}

/// Bronze batches as pass 2 receives them.
type BronzeBatches = tokio::sync::mpsc::Receiver<Result<RecordBatch, Box<SilverError>>>;

/// A bronze batch's column `name`; a text column the batch lacks is null on every row (a row
/// group read without the columns it holds null throughout, or a file older than the column).
fn bronze_column(batch: &RecordBatch, name: &str) -> ArrayRef {
    match batch.column_by_name(name) {
        Some(c) => c.clone(),
        None if name == "date" || name == "_source_row" => {
            panic!("bronze rows always have {name}")
        }
        None => new_null_array(&DataType::Utf8, batch.num_rows()),
    }
}

/// Typed views of a bronze batch's columns.
struct BronzeColumns {
    perimetre_array: ArrayRef,
    nature_array: ArrayRef,
    source_file_array: ArrayRef,
    perimetre: Text,
    nature: Text,
    heure: Text,
    sha: Text,
    source_file: Text,
    rescued: Text,
    dates: Date32Array,
    source_row: Int64Array,
    measures: Vec<Float64Array>,
}

impl BronzeColumns {
    /// A column the batch lacks is null on every row: a row group read without the measures it
    /// does not hold, or a file older than the column.
    fn new(batch: &RecordBatch) -> Self {
        let n = batch.num_rows();
        let nulls_f64 = new_null_array(&DataType::Float64, n);
        let column = |name: &str| bronze_column(batch, name);
        let measure = |name: &str| -> ArrayRef {
            match batch.column_by_name(name) {
                Some(c) => c.clone(),
                None => nulls_f64.clone(),
            }
        };
        let text = |name: &str| string_column(&column(name));
        Self {
            perimetre_array: column("perimetre"),
            nature_array: column("nature"),
            source_file_array: column("_source_file"),
            perimetre: text("perimetre"),
            nature: text("nature"),
            heure: text("heure"),
            sha: text("_source_sha256"),
            source_file: text("_source_file"),
            rescued: text("_rescued"),
            dates: column("date").as_primitive::<Date32Type>().clone(),
            source_row: column("_source_row").as_primitive::<Int64Type>().clone(),
            measures: catalogue::MEASURES
                .iter()
                .map(|c| {
                    cast(&measure(c.name), &DataType::Float64)
                        .expect("measures are doubles")
                        .as_primitive::<Float64Type>()
                        .clone()
                })
                .collect(),
        }
    }

    /// A row's measures and rescued tokens as JSON, for the quarantine.
    fn raw_values(&self, i: usize) -> String {
        let mut map = Map::new();
        for (column, measure) in catalogue::MEASURES.iter().zip(&self.measures) {
            if measure.is_valid(i) {
                map.insert(column.name.into(), Value::from(measure.value(i)));
            }
        }
        if let Some(r) = get(&self.rescued, i) {
            map.insert("_rescued".into(), Value::String(r.to_string()));
        }
        Value::Object(map).to_string()
    }
}

/// The catalogue positions of the measures a row's rescued tokens (JSON) set to 0 with `-`.
fn dashed_measures(json: &str) -> Vec<usize> {
    let Ok(Value::Object(tokens)) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    tokens
        .iter()
        .filter(|(_, token)| token.as_str().is_some_and(|t| t.trim() == "-"))
        .filter_map(|(name, _)| catalogue::MEASURES.iter().position(|m| m.name == *name))
        .filter(|&c| dash_means_zero(catalogue::MEASURES[c].family))
        .collect()
}

/// Columns a `-` turns into 0: a source (or sub-type, storage) that does not exist in the
/// perimeter. Anywhere else `-` means missing.
fn dash_means_zero(family: Family) -> bool {
    matches!(
        family,
        Family::ProductionSource | Family::SubType | Family::Storage
    )
}

/// Catalogue positions of the measures the derived columns read, looked up once.
struct Inputs {
    sources: [usize; 9],
    renewables: [usize; 4],
    fossils: [usize; 4],
    nucleaire: usize,
    consommation: usize,
    prevision_j1: usize,
    prevision_j: usize,
    exchanges: [usize; 7],
}

static INPUTS: std::sync::LazyLock<Inputs> = std::sync::LazyLock::new(|| {
    let at = |names: &[&str]| names.iter().map(|n| measure_index(n)).collect::<Vec<_>>();
    let array = |names: &[&str]| -> Vec<usize> { at(names) };
    Inputs {
        sources: array(&[
            "nucleaire",
            "eolien",
            "solaire",
            "hydraulique",
            "bioenergies",
            "gaz",
            "charbon",
            "fioul",
            "thermique",
        ])
        .try_into()
        .expect("nine sources"),
        renewables: array(&["eolien", "solaire", "hydraulique", "bioenergies"])
            .try_into()
            .expect("four renewables"),
        fossils: array(&["gaz", "charbon", "fioul", "thermique"])
            .try_into()
            .expect("four fossils"),
        nucleaire: measure_index("nucleaire"),
        consommation: measure_index("consommation"),
        prevision_j1: measure_index("prevision_j1"),
        prevision_j: measure_index("prevision_j"),
        // Before 2013 Germany and Belgium were published apart; they are never both present.
        exchanges: array(&[
            "ech_comm_angleterre",
            "ech_comm_espagne",
            "ech_comm_italie",
            "ech_comm_suisse",
            "ech_comm_allemagne_belgique",
            "ech_comm_allemagne",
            "ech_comm_belgique",
        ])
        .try_into()
        .expect("seven exchange columns"),
    }
});

/// The derived columns (see the README's data contract), column by column: they are computed
/// where production is observed (some source is not null), a missing source counting as 0.
fn derived(measures: &[Float64Array]) -> Vec<ArrayRef> {
    let inputs = &*INPUTS;
    let n = measures.first().map_or(0, Array::len);
    let valid = |c: usize| -> BooleanBuffer {
        measures[c]
            .nulls()
            .map_or_else(|| BooleanBuffer::new_set(n), |nulls| nulls.inner().clone())
    };
    let observed = inputs
        .sources
        .iter()
        .map(|&c| valid(c))
        .fold(BooleanBuffer::new_unset(n), |a, b| &a | &b);
    // Added in the columns' order from -0.0, as `Iterator::sum` does, so each value is the same
    // to the bit as a row-by-row sum.
    let sum = |columns: &[usize]| -> Vec<f64> {
        let mut acc = vec![-0.0f64; n];
        for &c in columns {
            let column = &measures[c];
            for (r, total) in acc.iter_mut().enumerate() {
                *total += if column.is_valid(r) {
                    column.value(r)
                } else {
                    0.0
                };
            }
        }
        acc
    };
    let where_observed = |values: Vec<f64>| {
        Float64Array::new(values.into(), Some(NullBuffer::new(observed.clone())))
    };
    let renewables = sum(&inputs.renewables);
    let fossils = sum(&inputs.fossils);
    let total: Vec<f64> = sum(&[inputs.nucleaire])
        .iter()
        .zip(&renewables)
        .zip(&fossils)
        .map(|((n, r), f)| n + r + f)
        .collect();
    let share: Float64Array = (0..n)
        .map(|r| (observed.value(r) && total[r] != 0.0).then(|| 100.0 * renewables[r] / total[r]))
        .collect();
    let consommation = &measures[inputs.consommation];
    let gap = |forecast: usize| -> Float64Array {
        let forecast = &measures[forecast];
        consommation
            .iter()
            .zip(forecast)
            .map(|(c, f)| Some(c? - f?))
            .collect()
    };
    let mut balance = vec![0.0f64; n];
    let mut exchanged = BooleanBuffer::new_unset(n);
    for &c in &inputs.exchanges {
        let column = &measures[c];
        if column.null_count() == n {
            continue;
        }
        for (r, total) in balance.iter_mut().enumerate() {
            if column.is_valid(r) {
                *total += column.value(r);
            }
        }
        exchanged = &exchanged | &valid(c);
    }
    vec![
        Arc::new(where_observed(renewables)),
        Arc::new(where_observed(fossils)),
        Arc::new(where_observed(total)),
        Arc::new(share),
        Arc::new(gap(inputs.prevision_j1)),
        Arc::new(gap(inputs.prevision_j)),
        Arc::new(Float64Array::new(
            balance.into(),
            Some(NullBuffer::new(exchanged)),
        )),
    ]
}

struct QuarantineBuilder {
    rule: StringBuilder,
    reason: StringBuilder,
    perimetre: StringBuilder,
    nature: StringBuilder,
    date: Vec<i32>,
    heure: StringBuilder,
    mois: StringBuilder,
    annee: Int32Builder,
    raw_values: StringBuilder,
    source_file: StringBuilder,
    source_row: Int64Builder,
    run_id: String,
}

impl QuarantineBuilder {
    fn new(run_id: &str) -> Self {
        Self {
            rule: StringBuilder::new(),
            reason: StringBuilder::new(),
            perimetre: StringBuilder::new(),
            nature: StringBuilder::new(),
            date: Vec::new(),
            heure: StringBuilder::new(),
            mois: StringBuilder::new(),
            annee: Int32Builder::new(),
            raw_values: StringBuilder::new(),
            source_file: StringBuilder::new(),
            source_row: Int64Builder::new(),
            run_id: run_id.to_string(),
        }
    }

    fn push(&mut self, rule: &str, reason: &str, bronze: &BronzeColumns, i: usize) {
        let days = bronze.dates.value(i);
        let date = date32_to_date(days);
        self.rule.append_value(rule);
        self.reason.append_value(reason);
        self.perimetre.append_option(get(&bronze.perimetre, i));
        self.nature.append_option(get(&bronze.nature, i));
        self.date.push(days);
        self.heure.append_option(get(&bronze.heure, i));
        self.mois.append_value(date.format("%Y-%m").to_string());
        self.annee.append_value(date.year());
        self.raw_values.append_value(bronze.raw_values(i));
        self.source_file.append_option(get(&bronze.source_file, i));
        self.source_row.append_value(bronze.source_row.value(i));
    }

    fn len(&self) -> usize {
        self.date.len()
    }

    /// The rows so far as a batch; the builder starts again empty.
    fn take(&mut self) -> RecordBatch {
        let n = self.date.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.rule.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.perimetre.finish()),
            Arc::new(self.nature.finish()),
            Arc::new(Date32Array::from(std::mem::take(&mut self.date))),
            Arc::new(self.heure.finish()),
            Arc::new(self.mois.finish()),
            Arc::new(self.annee.finish()),
            Arc::new(self.raw_values.finish()),
            Arc::new(self.source_file.finish()),
            Arc::new(self.source_row.finish()),
            Arc::new(StringArray::from(vec![self.run_id.as_str(); n])),
        ];
        RecordBatch::try_new(schema::quarantine(), columns)
            .expect("quarantine columns match the schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quarter-hour grid chooses the same rows as the hash table: competing natures and
    /// files, a perimeter past the grid's budget, and times off the grid.
    #[test]
    fn the_quarter_hour_grid_decides_as_the_hash_table_does() {
        let day = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
        let days = (day - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32;
        let (mut perimetres, mut natures, mut dates, mut heures, mut shas, mut rows) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        let files = [
            ("a", "Données temps réel"),
            ("b", "Données consolidées"),
            ("c", "Données temps réel"),
        ];
        for (f, (sha, nature)) in files.iter().enumerate() {
            for (p, perimetre) in ["France", "Bretagne", "Corse"].iter().enumerate() {
                for minute in (0..24 * 60).step_by(if f == 1 { 30 } else { 15 }) {
                    // File c publishes one time off the quarter-hour grid.
                    let minute = if f == 2 && minute == 60 { 67 } else { minute };
                    perimetres.push(*perimetre);
                    natures.push(*nature);
                    dates.push(days + (minute % 2 == 0 && f == 0) as i32);
                    heures.push(format!("{:02}:{:02}", minute / 60, minute % 60));
                    shas.push(sha.repeat(64));
                    rows.push((p * 1000 + minute) as i64);
                }
            }
        }
        let batch = RecordBatch::try_from_iter([
            (
                "perimetre",
                Arc::new(StringArray::from(perimetres)) as ArrayRef,
            ),
            ("nature", Arc::new(StringArray::from(natures))),
            ("date", Arc::new(Date32Array::from(dates))),
            ("heure", Arc::new(StringArray::from(heures))),
            ("_source_sha256", Arc::new(StringArray::from(shas))),
            ("_source_row", Arc::new(Int64Array::from(rows))),
        ])
        .unwrap();
        let ends = Arc::new(HashMap::from([
            ("a".repeat(64), Some("2024-03-01 10:00".to_string())),
            ("c".repeat(64), Some("2024-03-02 23:45".to_string())),
        ]));
        let span = Some((day, day + chrono::Days::new(2)));
        let decide = |span, expected_rows| {
            let mut plan = Plan::new(ends.clone(), expected_rows, span);
            plan.add_keys(&batch);
            let gridded: usize = plan.grid.perimetres.iter().flatten().count();
            let (verdicts, _) = plan.finish();
            (verdicts.instants, gridded)
        };
        let (hashed, none) = decide(None, batch.num_rows());
        assert_eq!(none, 0);
        let (gridded, all) = decide(span, batch.num_rows());
        assert_eq!(all, 3);
        // Budget for one perimeter only: the others go to the hash table.
        let slots = QuarterHours::new(span, 0).slots;
        let (mixed, one) = decide(span, slots / 2);
        assert_eq!(one, 1);
        assert_eq!(gridded, hashed);
        assert_eq!(mixed, hashed);
        let chosen = hashed
            .iter()
            .flatten()
            .filter(|&&at| at != NOT_IN_SILVER)
            .count();
        // Per perimeter: the 96 quarter-hours of the first day (b has 01:00, which c lacks),
        // c's 01:07, and a's 48 :00 and :30 of the second day.
        assert_eq!(chosen, 3 * (96 + 1 + 48));
    }

    /// Kept rows picked from a batch's columns are exactly what `take` gathers: a run as a
    /// slice, scattered rows by the filter, and a column null throughout as nulls of its type.
    #[test]
    fn picked_rows_are_the_rows_take_gathers() {
        let rows = 10;
        let measure: ArrayRef = Arc::new(Float64Array::from(
            (0..rows)
                .map(|i| (i % 3 != 0).then_some(i as f64 * 2.5))
                .collect::<Vec<_>>(),
        ));
        let null_measure = new_null_array(&DataType::Float64, rows);
        let label: ArrayRef = Arc::new(StringArray::from(
            (0..rows)
                .map(|i| (i != 4).then(|| format!("row {i}")))
                .collect::<Vec<_>>(),
        ));
        for keep in [
            vec![2, 3, 4, 5],
            vec![0, 1, 4, 7, 8, 9],
            vec![6],
            vec![0, 9],
        ] {
            let picker = Picker::new(&keep, rows);
            assert_eq!(
                matches!(picker, Picker::Run { .. }),
                keep.len() == 1 || keep.windows(2).all(|w| w[1] == w[0] + 1),
                "{keep:?}"
            );
            let indices = deltalake::arrow::array::UInt32Array::from(keep.clone());
            for column in [&measure, &null_measure, &label] {
                let picked = picker.pick(column.as_ref());
                let taken = deltalake::arrow::compute::take(column, &indices, None).unwrap();
                assert_eq!(picked.data_type(), column.data_type());
                assert_eq!(&picked.to_data(), &taken.to_data(), "{keep:?}");
            }
        }
    }

    /// Derived columns by hand, on rows that take each branch: all sources present, some
    /// missing (counted as 0), none (nothing derived), a zero total (no share), exchanges
    /// partly published.
    #[test]
    fn derived_columns_by_hand() {
        let measures = rules::measures_of(&[
            ("nucleaire", [Some(40_000.0), None, None, Some(0.0)]),
            ("eolien", [Some(5_000.0), Some(100.0), None, None]),
            ("solaire", [Some(1_000.0), None, None, None]),
            ("hydraulique", [Some(6_000.0), Some(50.0), None, None]),
            ("bioenergies", [Some(1_000.0), None, None, None]),
            ("gaz", [Some(3_000.0), None, None, None]),
            ("thermique", [None, Some(25.0), None, None]),
            (
                "consommation",
                [Some(60_000.0), Some(700.0), Some(5.0), None],
            ),
            ("prevision_j1", [Some(59_000.0), None, Some(7.0), Some(1.0)]),
            ("prevision_j", [Some(60_500.0), Some(650.0), None, None]),
            ("ech_comm_espagne", [Some(-1_000.0), None, None, Some(2.0)]),
            ("ech_comm_suisse", [Some(-500.0), None, None, None]),
        ]);
        let derived = derived(&measures);
        let column = |k: usize| -> Vec<Option<f64>> {
            derived[k].as_primitive::<Float64Type>().iter().collect()
        };
        assert_eq!(column(0), [Some(13_000.0), Some(150.0), None, Some(0.0)]);
        assert_eq!(column(1), [Some(3_000.0), Some(25.0), None, Some(0.0)]);
        assert_eq!(column(2), [Some(56_000.0), Some(175.0), None, Some(0.0)]);
        assert_eq!(
            column(3),
            [
                Some(100.0 * 13_000.0 / 56_000.0),
                Some(100.0 * 150.0 / 175.0),
                None,
                None
            ]
        );
        assert_eq!(column(4), [Some(1_000.0), None, Some(-2.0), None]);
        assert_eq!(column(5), [Some(-500.0), Some(50.0), None, None]);
        assert_eq!(column(6), [Some(-1_500.0), None, None, Some(2.0)]);
        assert_eq!(derived.len(), schema::DERIVED.len());
    }

    #[test]
    fn cached_instants_agree_with_the_time_zone_every_quarter_hour() {
        let mut cache = InstantCache::default();
        let first = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        for date in first.iter_days().take(731) {
            let days = (date - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32;
            for quarter in 0..96 {
                let heure = format!("{:02}:{:02}", quarter / 4, quarter % 4 * 15);
                let time = instant::parse_heure(&heure).unwrap();
                let expected = instant::to_utc(date, time)
                    .instant()
                    .map(|t| t.timestamp_micros());
                assert_eq!(cache.resolve(days, &heure), expected, "{date} {heure}");
            }
        }
    }
}
