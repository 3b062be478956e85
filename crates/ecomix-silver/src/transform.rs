//! `ecomix transform`: bronze to silver, incrementally by period.
//!
//! Silver remembers, in its commit metadata, the newest `_ingested_at` it has seen. A run reads
//! which local dates the newer bronze rows touch, maps them to periods (the partitions: months
//! by default), rebuilds each such period from *all* its bronze rows, and replaces exactly those
//! partitions of silver and of the quarantine table, in one commit each. Nothing new: nothing
//! written.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Float64Builder, Int32Builder, Int64Array,
    Int64Builder, StringArray, StringBuilder, TimestampMicrosecondBuilder,
};
use deltalake::arrow::compute::{cast, concat_batches};
use deltalake::arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};
use deltalake::arrow::record_batch::RecordBatch;
use ecomix_core::catalogue::{self, Family};
use ecomix_core::layout::{ECO2MIX_BRONZE, Layer, TableRef};
use ecomix_lake::{Appender, Lake, LakeError};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::instant;
use crate::rules::{self, Level, RULES, RowView, measure_index};
use crate::schema;

pub const ECO2MIX_SILVER: TableRef = TableRef::new(Layer::Silver, "eco2mix_silver");
pub const ECO2MIX_QUARANTINE: TableRef = TableRef::new(Layer::Silver, "eco2mix_quarantine");

#[derive(Debug, thiserror::Error)]
pub enum SilverError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("{0}")]
    RuleFailed(Box<RuleFailure>),
    #[error(
        "silver is partitioned by {existing:?}, not {wanted:?}: run `ecomix transform --full` to rebuild it"
    )]
    Partitioning { existing: String, wanted: String },
    #[error("{0}")]
    Bronze(String),
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

#[derive(Debug, Clone)]
pub struct TransformOptions {
    pub full: bool,
    pub run_id: String,
    pub partitioning: Partitioning,
    /// Rule levels overriding the declared ones, by rule name.
    pub rule_levels: HashMap<String, Level>,
}

#[derive(Debug, Default, Serialize)]
pub struct TransformReport {
    pub run_id: String,
    /// `written`, or `no_op` when bronze has nothing silver has not seen.
    pub status: &'static str,
    pub periods: Vec<String>,
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
            return Err(SilverError::Bronze(format!(
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
    let watermark = if options.full {
        None
    } else {
        silver_watermark(lake).await?
    };
    let newer = match watermark {
        Some(w) => format!("WHERE CAST(_ingested_at AS BIGINT) > {w}"),
        None => String::new(),
    };
    let dates = ecomix_lake::query(
        lake,
        ECO2MIX_BRONZE,
        &format!("SELECT DISTINCT date FROM t {newer}"),
    )
    .await?;
    let mut periods: BTreeMap<String, (NaiveDate, NaiveDate)> = BTreeMap::new();
    for batch in &dates {
        let column = batch.column(0).as_primitive::<Date32Type>();
        for date in column.iter().flatten() {
            let date = date32_to_date(date);
            periods.insert(
                options.partitioning.key(date),
                options.partitioning.range(date),
            );
        }
    }
    if periods.is_empty() {
        return Ok(report);
    }
    let new_watermark = scalar_i64(
        &ecomix_lake::query(
            lake,
            ECO2MIX_BRONZE,
            "SELECT MAX(CAST(_ingested_at AS BIGINT)) FROM t",
        )
        .await?,
    );
    let measured_end = measured_ends(lake).await?;

    let column = options.partitioning.column();
    let keys: Vec<String> = periods.keys().cloned().collect();
    let mut silver = Appender::start(lake, ECO2MIX_SILVER, schema::silver(), &[column]).await?;
    let mut quarantine =
        Appender::start(lake, ECO2MIX_QUARANTINE, schema::quarantine(), &[column]).await?;
    if silver.table_exists() && silver.partition_columns() != [column.to_string()] {
        if !options.full {
            return Err(SilverError::Partitioning {
                existing: silver.partition_columns().join(","),
                wanted: column.to_string(),
            });
        }
        return Err(SilverError::Bronze(
            "changing silver's partitioning needs the table removed first (delete its folder) and a --full run".into(),
        ));
    }
    if options.full {
        silver = silver.replacing_all();
        quarantine = quarantine.replacing_all();
    } else {
        silver = silver.replacing_partitions(column, keys.clone());
        quarantine = quarantine.replacing_partitions(column, keys.clone());
    }

    for (key, (start, end)) in &periods {
        let sql = format!("SELECT * FROM t WHERE date >= DATE '{start}' AND date < DATE '{end}'");
        let batches = ecomix_lake::query(lake, ECO2MIX_BRONZE, &sql).await?;
        if batches.is_empty() {
            continue;
        }
        let bronze = concat_batches(&batches[0].schema(), &batches)
            .map_err(|e| SilverError::Bronze(format!("period {key}: {e}")))?;
        let built =
            build_period(&bronze, &measured_end, options).map_err(SilverError::RuleFailed)?;
        report.rows_read += bronze.num_rows();
        report.rows_written += built.silver.num_rows();
        report.rows_quarantined += built.quarantine.num_rows();
        for (rule, n) in built.quarantined {
            *report.quarantined_by_rule.entry(rule).or_default() += n;
        }
        for (rule, n) in built.warnings {
            *report.warnings_by_rule.entry(rule).or_default() += n;
        }
        silver.write(built.silver).await?;
        quarantine.write(built.quarantine).await?;
    }

    let metadata = HashMap::from([(
        "ecomix".to_string(),
        serde_json::json!({
            "command": "transform",
            "run_id": options.run_id,
            "periods": keys,
            "bronze_watermark": new_watermark,
        }),
    )]);
    report.quarantine_version = quarantine.commit(metadata.clone()).await?;
    // Silver last: its commit carries the watermark, so a failure before it re-runs the periods.
    report.silver_version = silver.commit(metadata).await?;
    report.periods = keys;
    report.status = "written";
    Ok(report)
}

/// The newest bronze `_ingested_at` (µs) silver was built from, from silver's last commit.
async fn silver_watermark(lake: &Lake) -> Result<Option<i64>, SilverError> {
    use futures::StreamExt;
    let Some(table) = lake.open(ECO2MIX_SILVER).await? else {
        return Ok(None);
    };
    let mut history = table.history(Some(1));
    while let Some(commit) = history.next().await {
        let commit =
            commit.map_err(|e| SilverError::Bronze(format!("reading silver's history: {e}")))?;
        if let Some(w) = commit
            .info
            .get("ecomix")
            .and_then(|e| e.get("bronze_watermark"))
            .and_then(Value::as_i64)
        {
            return Ok(Some(w));
        }
    }
    Ok(None)
}

/// For each bronze file (by content hash), the last local time at which it has a measured
/// consumption: among files of the same nature, the one measured later is the newer publication.
async fn measured_ends(lake: &Lake) -> Result<HashMap<String, String>, SilverError> {
    let batches = ecomix_lake::query(
        lake,
        ECO2MIX_BRONZE,
        "SELECT _source_sha256, MAX(CAST(date AS VARCHAR) || ' ' || heure) FROM t \
         WHERE consommation IS NOT NULL GROUP BY _source_sha256",
    )
    .await?;
    let mut ends = HashMap::new();
    for batch in &batches {
        let shas = string_column(batch.column(0));
        let times = string_column(batch.column(1));
        for i in 0..batch.num_rows() {
            if shas.is_valid(i) && times.is_valid(i) {
                ends.insert(shas.value(i).to_string(), times.value(i).to_string());
            }
        }
    }
    Ok(ends)
}

fn string_column(array: &ArrayRef) -> StringArray {
    cast(array, &DataType::Utf8)
        .expect("text columns cast to Utf8")
        .as_string::<i32>()
        .clone()
}

fn scalar_i64(batches: &[RecordBatch]) -> Option<i64> {
    let batch = batches.first()?;
    let column = cast(batch.column(0), &DataType::Int64).ok()?;
    let column = column.as_primitive::<Int64Type>();
    column.is_valid(0).then(|| column.value(0))
}

fn date32_to_date(days: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days + 719_163).expect("a date in range")
}

fn nature_rank(nature: Option<&str>) -> u8 {
    match nature {
        Some(n) if n.contains("finitive") => 3,
        Some(n) if n.contains("consolid") => 2,
        Some(n) if n.contains("temps r") => 1,
        _ => 0,
    }
}

struct Built {
    silver: RecordBatch,
    quarantine: RecordBatch,
    quarantined: BTreeMap<String, usize>,
    warnings: BTreeMap<String, usize>,
}

/// Columns a `-` turns into 0: a source (or sub-type, storage) that does not exist in the
/// perimeter. Anywhere else `-` means missing.
fn dash_means_zero(family: Family) -> bool {
    matches!(
        family,
        Family::ProductionSource | Family::SubType | Family::Storage
    )
}

/// One period's bronze rows to silver and quarantine rows.
fn build_period(
    bronze: &RecordBatch,
    measured_end: &HashMap<String, String>,
    options: &TransformOptions,
) -> Result<Built, Box<RuleFailure>> {
    let text = |name: &str| string_column(bronze.column_by_name(name).expect("bronze column"));
    let perimetre = text("perimetre");
    let nature = text("nature");
    let heure = text("heure");
    let sha = text("_source_sha256");
    let source_file = text("_source_file");
    let rescued = text("_rescued");
    let dates = bronze
        .column_by_name("date")
        .expect("bronze date")
        .as_primitive::<Date32Type>()
        .clone();
    let source_row: Int64Array = bronze
        .column_by_name("_source_row")
        .expect("bronze _source_row")
        .as_primitive::<Int64Type>()
        .clone();
    let measures: Vec<Float64Array> = catalogue::MEASURES
        .iter()
        .map(|c| {
            cast(
                bronze.column_by_name(c.name).expect("bronze measure"),
                &DataType::Float64,
            )
            .expect("measures are doubles")
            .as_primitive::<Float64Type>()
            .clone()
        })
        .collect();
    fn get(a: &StringArray, i: usize) -> Option<&str> {
        a.is_valid(i).then(|| a.value(i))
    }

    let mut quarantine = QuarantineBuilder::new(&options.run_id);
    let mut quarantined: BTreeMap<String, usize> = BTreeMap::new();
    let mut warnings: BTreeMap<String, usize> = BTreeMap::new();
    let raw_values = |i: usize| -> String {
        let mut map = Map::new();
        for (c, column) in catalogue::MEASURES.iter().enumerate() {
            if measures[c].is_valid(i) {
                map.insert(column.name.into(), Value::from(measures[c].value(i)));
            }
        }
        if let Some(r) = get(&rescued, i) {
            map.insert("_rescued".into(), Value::String(r.to_string()));
        }
        Value::Object(map).to_string()
    };

    // Precedence: one row per (perimetre, instant), the best nature, then the newer publication.
    let mut best: HashMap<(&str, i64), usize> = HashMap::new();
    let rank = |i: usize| {
        (
            nature_rank(get(&nature, i)),
            get(&sha, i).and_then(|s| measured_end.get(s)),
            get(&sha, i),
        )
    };
    for i in 0..bronze.num_rows() {
        let date = date32_to_date(dates.value(i));
        let time = get(&heure, i).and_then(instant::parse_heure);
        let (Some(p), Some(time)) = (get(&perimetre, i), time) else {
            quarantine.push(
                rules::MISSING_KEY,
                "no perimeter or no valid time",
                i,
                bronze,
                &raw_values(i),
            );
            *quarantined.entry(rules::MISSING_KEY.into()).or_default() += 1;
            continue;
        };
        let Some(at) = instant::to_utc(date, time).instant() else {
            let reason = format!(
                "{date} {} does not exist in Europe/Paris (clocks go forward)",
                time.format("%H:%M")
            );
            quarantine.push(rules::NONEXISTENT_TIME, &reason, i, bronze, &raw_values(i));
            *quarantined
                .entry(rules::NONEXISTENT_TIME.into())
                .or_default() += 1;
            continue;
        };
        best.entry((p, at.timestamp_micros()))
            .and_modify(|current| {
                if rank(i) > rank(*current) {
                    *current = i;
                }
            })
            .or_insert(i);
    }
    let mut winners: Vec<((&str, i64), usize)> = best.into_iter().collect();
    winners.sort_unstable();

    let levels: Vec<Level> = RULES
        .iter()
        .map(|r| options.rule_levels.get(r.name).copied().unwrap_or(r.level))
        .collect();
    let mut out = SilverBuilder::new(winners.len(), &options.run_id);
    let mut values = vec![None; catalogue::MEASURES.len()];
    'rows: for ((p, micros), i) in winners {
        for (value, measure) in values.iter_mut().zip(&measures) {
            *value = measure.is_valid(i).then(|| measure.value(i));
        }
        if let Some(json) = get(&rescued, i)
            && let Ok(Value::Object(tokens)) = serde_json::from_str::<Value>(json)
        {
            for (name, token) in tokens {
                if token.as_str().is_some_and(|t| t.trim() == "-")
                    && let Some(c) = catalogue::MEASURES.iter().position(|m| m.name == name)
                    && dash_means_zero(catalogue::MEASURES[c].family)
                {
                    values[c] = Some(0.0);
                }
            }
        }
        let view = RowView {
            perimetre: p,
            values: &values,
        };
        for (rule, level) in RULES.iter().zip(&levels) {
            if (rule.check)(&view) {
                continue;
            }
            match level {
                Level::Warn => *warnings.entry(rule.name.into()).or_default() += 1,
                Level::Quarantine => {
                    quarantine.push(rule.name, rule.description, i, bronze, &raw_values(i));
                    *quarantined.entry(rule.name.into()).or_default() += 1;
                    continue 'rows;
                }
                Level::Fail => {
                    return Err(Box::new(RuleFailure {
                        rule: rule.name.into(),
                        description: rule.description.into(),
                        perimetre: p.into(),
                        date: date32_to_date(dates.value(i)).to_string(),
                        heure: get(&heure, i).unwrap_or_default().into(),
                        file: get(&source_file, i).unwrap_or_default().into(),
                        line: source_row.value(i),
                    }));
                }
            }
        }
        let at = DateTime::<Utc>::from_timestamp_micros(micros).expect("a valid instant");
        out.push(
            p,
            get(&nature, i),
            at,
            date32_to_date(dates.value(i)),
            &values,
            get(&source_file, i),
            source_row.value(i),
        );
    }
    Ok(Built {
        silver: out.finish(),
        quarantine: quarantine.finish(),
        quarantined,
        warnings,
    })
}

/// The derived columns of a row, from its measures (see the README's data contract).
fn derived(values: &[Option<f64>]) -> [Option<f64>; 7] {
    let v = |name: &str| values[measure_index(name)];
    let sources = [
        "nucleaire",
        "eolien",
        "solaire",
        "hydraulique",
        "bioenergies",
        "gaz",
        "charbon",
        "fioul",
        "thermique",
    ];
    let observed = sources.iter().any(|s| v(s).is_some());
    let sum = |names: &[&str]| -> Option<f64> {
        observed.then(|| names.iter().map(|n| v(n).unwrap_or(0.0)).sum())
    };
    let renewables = sum(&["eolien", "solaire", "hydraulique", "bioenergies"]);
    let fossils = sum(&["gaz", "charbon", "fioul", "thermique"]);
    let total = match (sum(&["nucleaire"]), renewables, fossils) {
        (Some(n), Some(r), Some(f)) => Some(n + r + f),
        _ => None,
    };
    let share = match (renewables, total) {
        (Some(r), Some(t)) if t != 0.0 => Some(100.0 * r / t),
        _ => None,
    };
    let gap = |forecast: &str| Some(v("consommation")? - v(forecast)?);
    // Before 2013 Germany and Belgium were published apart; they are never both present.
    let exchanges = [
        "ech_comm_angleterre",
        "ech_comm_espagne",
        "ech_comm_italie",
        "ech_comm_suisse",
        "ech_comm_allemagne_belgique",
        "ech_comm_allemagne",
        "ech_comm_belgique",
    ];
    let balance = exchanges
        .iter()
        .filter_map(|n| v(n))
        .fold(None, |acc: Option<f64>, x| Some(acc.unwrap_or(0.0) + x));
    [
        renewables,
        fossils,
        total,
        share,
        gap("prevision_j1"),
        gap("prevision_j"),
        balance,
    ]
}

struct SilverBuilder {
    perimetre: StringBuilder,
    nature: StringBuilder,
    horodatage: TimestampMicrosecondBuilder,
    date: Vec<i32>,
    heure: Int32Builder,
    minute: Int32Builder,
    mois: StringBuilder,
    annee: Int32Builder,
    measures: Vec<Float64Builder>,
    derived: Vec<Float64Builder>,
    source_file: StringBuilder,
    source_row: Int64Builder,
    run_id: String,
}

impl SilverBuilder {
    fn new(capacity: usize, run_id: &str) -> Self {
        let floats = |n: usize| {
            (0..n)
                .map(|_| Float64Builder::with_capacity(capacity))
                .collect()
        };
        Self {
            perimetre: StringBuilder::new(),
            nature: StringBuilder::new(),
            horodatage: TimestampMicrosecondBuilder::with_capacity(capacity),
            date: Vec::with_capacity(capacity),
            heure: Int32Builder::with_capacity(capacity),
            minute: Int32Builder::with_capacity(capacity),
            mois: StringBuilder::new(),
            annee: Int32Builder::with_capacity(capacity),
            measures: floats(catalogue::MEASURES.len()),
            derived: floats(schema::DERIVED.len()),
            source_file: StringBuilder::new(),
            source_row: Int64Builder::with_capacity(capacity),
            run_id: run_id.to_string(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        perimetre: &str,
        nature: Option<&str>,
        at: DateTime<Utc>,
        date: NaiveDate,
        values: &[Option<f64>],
        source_file: Option<&str>,
        source_row: i64,
    ) {
        let local = at.with_timezone(&ecomix_core::TIME_ZONE);
        self.perimetre.append_value(perimetre);
        self.nature.append_option(nature);
        self.horodatage.append_value(at.timestamp_micros());
        self.date.push(date.num_days_from_ce() - 719_163);
        self.heure.append_value(local.hour() as i32);
        self.minute.append_value(local.minute() as i32);
        self.mois.append_value(date.format("%Y-%m").to_string());
        self.annee.append_value(date.year());
        for (builder, v) in self.measures.iter_mut().zip(values) {
            builder.append_option(*v);
        }
        for (builder, v) in self.derived.iter_mut().zip(derived(values)) {
            builder.append_option(v);
        }
        self.source_file.append_option(source_file);
        self.source_row.append_value(source_row);
    }

    fn finish(mut self) -> RecordBatch {
        let n = self.date.len();
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.perimetre.finish()),
            Arc::new(self.nature.finish()),
            Arc::new(self.horodatage.finish().with_timezone("UTC")),
            Arc::new(Date32Array::from(self.date)),
            Arc::new(self.heure.finish()),
            Arc::new(self.minute.finish()),
            Arc::new(self.mois.finish()),
            Arc::new(self.annee.finish()),
        ];
        columns.extend(
            self.measures
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        columns.extend(
            self.derived
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        columns.push(Arc::new(self.source_file.finish()));
        columns.push(Arc::new(self.source_row.finish()));
        columns.push(Arc::new(StringArray::from(vec![self.run_id.as_str(); n])));
        RecordBatch::try_new(schema::silver(), columns).expect("silver columns match the schema")
    }
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

    fn push(&mut self, rule: &str, reason: &str, i: usize, bronze: &RecordBatch, raw_values: &str) {
        let text = |name: &str| {
            let column = string_column(bronze.column_by_name(name).expect("bronze column"));
            column.is_valid(i).then(|| column.value(i).to_string())
        };
        let days = bronze
            .column_by_name("date")
            .expect("bronze date")
            .as_primitive::<Date32Type>()
            .value(i);
        let date = date32_to_date(days);
        self.rule.append_value(rule);
        self.reason.append_value(reason);
        self.perimetre.append_option(text("perimetre"));
        self.nature.append_option(text("nature"));
        self.date.push(days);
        self.heure.append_option(text("heure"));
        self.mois.append_value(date.format("%Y-%m").to_string());
        self.annee.append_value(date.year());
        self.raw_values.append_value(raw_values);
        self.source_file.append_option(text("_source_file"));
        self.source_row.append_option(
            bronze
                .column_by_name("_source_row")
                .map(|c| c.as_primitive::<Int64Type>().value(i)),
        );
    }

    fn finish(mut self) -> RecordBatch {
        let n = self.date.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.rule.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.perimetre.finish()),
            Arc::new(self.nature.finish()),
            Arc::new(Date32Array::from(self.date)),
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
