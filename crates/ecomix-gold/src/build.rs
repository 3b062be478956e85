//! `ecomix gold`: rebuilds the gold partitions (years) whose silver rows changed since gold
//! was last built, each table in one commit.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, TimeZone, Weekday};
use deltalake::arrow::array::{Array, AsArray, Date32Array, Float64Array, Int32Array, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Date32Type, Field, Int32Type, Schema};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::prelude::SessionContext;
use ecomix_core::TIME_ZONE;
use ecomix_lake::{Appender, Lake, LakeError, Snapshot};
use ecomix_silver::ECO2MIX_SILVER;
use futures::StreamExt;
use serde::Serialize;

use crate::tables::{self, GoldTable, PERIMETER, TABLES};

#[derive(Debug, thiserror::Error)]
pub enum GoldError {
    #[error(transparent)]
    Lake(Box<LakeError>),
    #[error("computing gold table {table}: {message}")]
    Compute { table: String, message: String },
}

impl From<LakeError> for GoldError {
    fn from(error: LakeError) -> Self {
        Self::Lake(Box::new(error))
    }
}

#[derive(Debug, Clone, Default)]
pub struct GoldOptions {
    pub full: bool,
    pub run_id: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GoldReport {
    pub run_id: String,
    /// `no_op` when silver has not changed since gold was built, else `written`.
    pub status: &'static str,
    pub silver_version: Option<u64>,
    /// Calendar years rebuilt (ISO years for the weekly table may reach one further).
    pub years: Vec<i32>,
    pub silver_rows_read: usize,
    /// Rows written and new version, per table.
    pub tables: BTreeMap<String, TableOutcome>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TableOutcome {
    pub rows: usize,
    pub version: Option<u64>,
}

fn compute_error(
    table: &str,
) -> impl Fn(deltalake::datafusion::error::DataFusionError) -> GoldError {
    move |e| GoldError::Compute {
        table: table.to_string(),
        message: e.to_string(),
    }
}

pub async fn build(lake: &Lake, options: &GoldOptions) -> Result<GoldReport, GoldError> {
    let mut report = GoldReport {
        run_id: options.run_id.clone(),
        status: "no_op",
        ..GoldReport::default()
    };
    // One silver version for the whole run.
    let Some(silver) = lake.snapshot(ECO2MIX_SILVER).await? else {
        return Ok(report);
    };
    let silver_version = silver.version();
    report.silver_version = silver_version;
    let watermark = if options.full {
        None
    } else {
        gold_watermark(lake).await?
    };
    let france_years = format!("SELECT DISTINCT annee FROM t WHERE perimetre = '{PERIMETER}'");
    let changed = match watermark {
        Some(seen) if Some(seen) == silver_version => return Ok(report),
        Some(seen) => silver.query_added_since(seen, &france_years).await?,
        None => None,
    };
    let full = changed.is_none();
    // A full rebuild takes every national row: their years come from the rows read, not from a
    // scan of silver of its own.
    let (ctx, years) = match changed {
        None => {
            let (ctx, rows, years) = national_rows(&silver, None).await?;
            report.silver_rows_read = rows;
            (Some(ctx).filter(|_| !years.is_empty()), years)
        }
        Some(batches) => {
            let years = years_in(&batches);
            if years.is_empty() {
                return Ok(report);
            }
            let (ctx, rows, _) = national_rows(&silver, Some(&years)).await?;
            report.silver_rows_read = rows;
            (Some(ctx), years)
        }
    };
    tracing::debug!(
        rows = report.silver_rows_read,
        peak_rss_mib = ecomix_core::peak_rss_mib(),
        "national rows read"
    );
    report.years = years.iter().copied().collect();
    let iso_years = iso_years(&years);

    let metadata = HashMap::from([(
        "ecomix".to_string(),
        serde_json::json!({
            "command": "gold",
            "run_id": options.run_id,
            "silver_version": silver_version,
            "years": report.years,
        }),
    )]);
    // Two tables at a time, one per core: each is its own query, encoder and commit. In
    // whatever order they finish: the hourly production takes longer than the five others
    // together, and an ordered buffer started none of them until it was done.
    let mut written = futures::stream::iter(TABLES)
        .map(|table| {
            let partitions = if table.partition == "annee_iso" {
                iso_years.clone()
            } else {
                years.clone()
            };
            let job = write_table(
                lake.clone(),
                table,
                ctx.clone(),
                partitions,
                full,
                metadata.clone(),
            );
            async move {
                tokio::spawn(job).await.map_err(|e| GoldError::Compute {
                    table: table.name().to_string(),
                    message: format!("the task failed: {e}"),
                })?
            }
        })
        .buffer_unordered(CONCURRENT_TABLES);
    while let Some(result) = written.next().await {
        let (name, outcome) = result?;
        report.tables.insert(name, outcome);
    }
    report.status = "written";
    Ok(report)
}

/// Tables computed and written at once: the machines ecomix aims at have two cores or more,
/// and each table holds at most its sorted result in memory.
const CONCURRENT_TABLES: usize = 2;

/// Replaces `table`'s `partitions` (all of it when `full`) by the rows `ctx` computes for
/// them, in one commit.
async fn write_table(
    lake: Lake,
    table: &'static GoldTable,
    ctx: Option<SessionContext>,
    partitions: BTreeSet<i32>,
    full: bool,
    metadata: HashMap<String, serde_json::Value>,
) -> Result<(String, TableOutcome), GoldError> {
    let mut appender = Appender::start(&lake, table.table, table.schema(), &[table.partition])
        .await?
        .with_dictionary_columns(&table.text_columns());
    appender = if full {
        appender.replacing_all()
    } else {
        appender.replacing_partitions(table.partition, partitions.iter().map(i32::to_string))
    };
    let mut rows = 0;
    if let Some(ctx) = &ctx {
        // Streamed into the table's files: the results are never all in memory at once.
        let mut batches = compute(ctx, table, &partitions).await?;
        while let Some(batch) = batches.next().await {
            let batch = conform(table, batch.map_err(compute_error(table.name()))?)?;
            rows += batch.num_rows();
            appender.write(batch).await?;
        }
    }
    let version = appender.commit(metadata).await?;
    tracing::info!(table = table.name(), rows, ?version, "gold table written");
    Ok((table.name().to_string(), TableOutcome { rows, version }))
}

/// The silver version gold was built from: the oldest among the six tables (a run interrupted
/// between two tables is caught up), `None` when a table is missing.
async fn gold_watermark(lake: &Lake) -> Result<Option<u64>, GoldError> {
    let mut oldest: Option<u64> = None;
    for table in TABLES {
        let Some((_, metadata)) = lake.last_ecomix_metadata(table.table).await? else {
            return Ok(None);
        };
        let Some(version) = metadata.get("silver_version").and_then(|v| v.as_u64()) else {
            return Ok(None);
        };
        oldest = Some(oldest.map_or(version, |o| o.min(version)));
    }
    match oldest {
        Some(version) => Ok(Some(lake.same_rows_as(ECO2MIX_SILVER, version).await?)),
        None => Ok(None),
    }
}

fn years_in(batches: &[RecordBatch]) -> BTreeSet<i32> {
    batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_primitive::<Int32Type>()
                .iter()
                .flatten()
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The ISO years that the days of `years` fall in (the first days of January and the last of
/// December may belong to the year before or after).
fn iso_years(years: &BTreeSet<i32>) -> BTreeSet<i32> {
    years
        .iter()
        .flat_map(|&y| {
            let first = NaiveDate::from_ymd_opt(y, 1, 1).expect("valid year");
            let last = NaiveDate::from_ymd_opt(y, 12, 31).expect("valid year");
            [first.iso_week().year(), y, last.iso_week().year()]
        })
        .collect()
}

/// The days gold reads for `years`: the years themselves and the whole ISO weeks they touch.
fn days_of(years: &BTreeSet<i32>) -> Option<(NaiveDate, NaiveDate)> {
    let (&first, &last) = (years.first()?, years.last()?);
    let iso = iso_years(years);
    let (&iso_first, &iso_last) = (iso.first()?, iso.last()?);
    let start = NaiveDate::from_ymd_opt(first, 1, 1)?.min(NaiveDate::from_isoywd_opt(
        iso_first,
        1,
        Weekday::Mon,
    )?);
    let end = NaiveDate::from_ymd_opt(last, 12, 31)?
        .max(NaiveDate::from_isoywd_opt(iso_last + 1, 1, Weekday::Mon)? - chrono::Days::new(1));
    Some((start, end))
}

/// Columns of `s`: silver's national rows of the days of `years` (all of them when `None`),
/// held in memory, and `jours`, the calendar facts of those days. Returns the rows read and, when
/// `years` is `None`, the years they hold (empty otherwise).
async fn national_rows(
    silver: &Snapshot,
    years: Option<&BTreeSet<i32>>,
) -> Result<(SessionContext, usize, BTreeSet<i32>), GoldError> {
    let ctx = silver.session("silver").await?;
    let fail = compute_error("(national rows)");
    let exchanges = tables::COUNTRIES[..4]
        .iter()
        .zip([
            "ech_comm_angleterre",
            "ech_comm_espagne",
            "ech_comm_italie",
            "ech_comm_suisse",
        ])
        .map(|((_, alias), column)| format!("{column} AS {alias}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT horodatage, date, heure, consommation, prevision_j1, prevision_j, {sources}, \
           taux_co2, production_totale, renouvelables_total, {exchanges}, \
           COALESCE(ech_comm_allemagne_belgique, \
             CASE WHEN ech_comm_allemagne IS NOT NULL OR ech_comm_belgique IS NOT NULL \
               THEN COALESCE(ech_comm_allemagne, 0) + COALESCE(ech_comm_belgique, 0) END) AS de_be \
         FROM silver WHERE perimetre = '{PERIMETER}' {days}",
        sources = tables::SOURCES.join(", "),
        days = match years.and_then(days_of) {
            Some((start, end)) => format!("AND date >= DATE '{start}' AND date <= DATE '{end}'"),
            None => String::new(),
        },
    );
    let frame = ctx.sql(&sql).await.map_err(&fail)?;
    let schema = frame.schema().inner().clone();
    let rows = frame.collect().await.map_err(&fail)?;
    let count = rows.iter().map(RecordBatch::num_rows).sum();
    // The years are only unknown on a full rebuild; an incremental run already has them.
    let found: BTreeSet<i32> = rows
        .iter()
        .filter(|_| years.is_none())
        .filter_map(|batch| batch.column_by_name("date"))
        .flat_map(|dates| {
            dates
                .as_primitive::<Date32Type>()
                .iter()
                .flatten()
                .filter_map(|days| {
                    NaiveDate::from_ymd_opt(1970, 1, 1)
                        .and_then(|epoch| {
                            epoch.checked_add_signed(chrono::Duration::days(days.into()))
                        })
                        .map(|d| d.year())
                })
                .collect::<BTreeSet<i32>>()
        })
        .collect();
    let table = MemTable::try_new(schema, vec![rows]).map_err(&fail)?;
    ctx.register_table("s", Arc::new(table)).map_err(&fail)?;
    // No national row: the calendar is not read, one day stands for it.
    let (start, end) = days_of(years.unwrap_or(&found)).unwrap_or_else(|| {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
        (epoch, epoch)
    });
    ctx.register_batch("jours", calendar(start, end))
        .map_err(&fail)?;
    // The daily energies feed four tables: computed once, held in memory.
    for (name, sql) in [
        ("jour", tables::daily_energies()),
        ("jour_totaux", tables::daily_totals()),
    ] {
        let cached = ctx
            .sql(&sql)
            .await
            .map_err(&fail)?
            .cache()
            .await
            .map_err(&fail)?;
        ctx.register_table(name, cached.into_view())
            .map_err(&fail)?;
    }
    Ok((ctx, count, found))
}

/// `table`'s rows in `partitions`, cast to its schema.
async fn compute(
    ctx: &SessionContext,
    table: &GoldTable,
    partitions: &BTreeSet<i32>,
) -> Result<SendableRecordBatchStream, GoldError> {
    let fail = compute_error(table.name());
    let wanted: Vec<String> = partitions.iter().map(i32::to_string).collect();
    let sql = format!(
        "SELECT * FROM ({}) WHERE {} IN ({})",
        (table.sql)(),
        table.partition,
        wanted.join(", ")
    );
    ctx.sql(&sql)
        .await
        .map_err(&fail)?
        .execute_stream()
        .await
        .map_err(&fail)
}

/// A computed batch under the table's declared schema.
fn conform(table: &GoldTable, batch: RecordBatch) -> Result<RecordBatch, GoldError> {
    let fail = |message: String| GoldError::Compute {
        table: table.name().to_string(),
        message,
    };
    let schema = table.schema();
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let column = batch
                .column_by_name(field.name())
                .ok_or_else(|| fail(format!("the SQL gives no column {}", field.name())))?;
            cast(column, field.data_type()).map_err(|e| fail(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema, columns).map_err(|e| fail(e.to_string()))
}

/// One row per local date from `start` to `end`: its length in hours (23 on the spring-forward
/// day, 25 on the fall-back day), year, and ISO year, week and Monday.
pub fn calendar(start: NaiveDate, end: NaiveDate) -> RecordBatch {
    let days: Vec<NaiveDate> = start.iter_days().take_while(|d| *d <= end).collect();
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    let ordinal = |d: NaiveDate| (d - epoch).num_days() as i32;
    let schema = Arc::new(Schema::new(vec![
        Field::new("date", DataType::Date32, false),
        Field::new("h", DataType::Float64, false),
        Field::new("annee", DataType::Int32, false),
        Field::new("annee_iso", DataType::Int32, false),
        Field::new("semaine_iso", DataType::Int32, false),
        Field::new("debut_semaine", DataType::Date32, false),
    ]));
    let columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(Date32Array::from_iter_values(
            days.iter().map(|d| ordinal(*d)),
        )),
        Arc::new(Float64Array::from_iter_values(
            days.iter().map(|d| day_hours(*d)),
        )),
        Arc::new(Int32Array::from_iter_values(days.iter().map(|d| d.year()))),
        Arc::new(Int32Array::from_iter_values(
            days.iter().map(|d| d.iso_week().year()),
        )),
        Arc::new(Int32Array::from_iter_values(
            days.iter().map(|d| d.iso_week().week() as i32),
        )),
        Arc::new(Date32Array::from_iter_values(days.iter().map(|d| {
            ordinal(*d - chrono::Days::new(u64::from(d.weekday().num_days_from_monday())))
        }))),
    ];
    RecordBatch::try_new(schema, columns).expect("columns match the schema")
}

/// The length in hours of local day `date` in Paris.
pub fn day_hours(date: NaiveDate) -> f64 {
    let midnight = |d: NaiveDate| {
        TIME_ZONE
            .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("valid"))
            .earliest()
            .expect("midnight exists in Paris")
    };
    let next = date.succ_opt().expect("not the last date");
    (midnight(next) - midnight(date)).num_seconds() as f64 / 3600.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_lengths_follow_paris_dst() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(day_hours(d(2025, 3, 30)), 23.0);
        assert_eq!(day_hours(d(2025, 3, 29)), 24.0);
        assert_eq!(day_hours(d(2024, 10, 27)), 25.0);
        assert_eq!(day_hours(d(2013, 3, 31)), 23.0);
    }

    #[test]
    fn calendar_gives_iso_weeks_and_mondays() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        // 2024-12-30 is the Monday of ISO week 1 of 2025; 2021-01-03 is in week 53 of 2020.
        let batch = calendar(d(2024, 12, 30), d(2024, 12, 31));
        let iso = batch.column(3).as_primitive::<Int32Type>();
        assert_eq!(iso.values().to_vec(), [2025, 2025]);
        let batch = calendar(d(2021, 1, 3), d(2021, 1, 4));
        let week = batch.column(4).as_primitive::<Int32Type>();
        assert_eq!(week.values().to_vec(), [53, 1]);
        let monday = batch
            .column(5)
            .as_primitive::<deltalake::arrow::datatypes::Date32Type>();
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_eq!(
            epoch + chrono::Days::new(monday.value(0) as u64),
            d(2020, 12, 28)
        );
        assert_eq!(
            epoch + chrono::Days::new(monday.value(1) as u64),
            d(2021, 1, 4)
        );
    }
}
