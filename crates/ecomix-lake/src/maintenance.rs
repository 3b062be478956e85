//! Keeping tables fast and small: compaction and Z-ordering (`OPTIMIZE`), removal of files no
//! version needs any more (`VACUUM`), and the table facts `ecomix status` shows.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::num::NonZeroU64;
use std::time::Duration;

use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::optimize::OptimizeType;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::{DeltaTable, DeltaTableError, FilterOp, FilterValue};
use ecomix_core::layout::TableRef;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::{Lake, LakeError};

/// Delta operations that rearrange or delete files without changing a table's rows.
const MAINTENANCE_OPERATIONS: [&str; 3] = ["OPTIMIZE", "VACUUM START", "VACUUM END"];

/// The size Z-ordering writes files to (deltalake's default target, which is also
/// Databricks'): eCO2mix partitions are far smaller.
const TARGET_FILE_BYTES: u64 = 128 * 1024 * 1024;

/// Memory the Z-order sorts of one optimize may hold together. deltalake sorts each partition
/// in memory, two at a time on two cores: at 14 years × 130 perimeters a month of silver is
/// 387,000 rows (about 700 MB with its sorted copy), and `optimize` peaked at 1.3 GiB. Larger
/// partitions are therefore Z-ordered one at a time (there: 880 MiB and 125 s, against
/// 1,292 MiB and 98 s); the real history's months, ten times smaller, keep both cores.
const ZORDER_SORT_BYTES: usize = 512 * 1024 * 1024;

/// Compaction merges only files smaller than this, into files of about this size: a daily run's
/// small file is merged with other small ones, never with the large files of a bulk ingest
/// (rewriting a history's 100 MiB to add a day's 30 KiB cost a daily run seconds).
const COMPACT_FILES_BELOW: u64 = 32 * 1024 * 1024;

#[derive(Debug, Clone, Default, Serialize)]
pub struct OptimizeReport {
    pub table: String,
    /// `None` when there was nothing to optimize.
    pub version: Option<u64>,
    pub zorder: Vec<String>,
    pub partitions: usize,
    pub files_removed: u64,
    pub files_added: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VacuumReport {
    pub table: String,
    pub dry_run: bool,
    pub files: Vec<String>,
}

/// A table's facts for `ecomix status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableFacts {
    pub table: String,
    pub version: Option<u64>,
    pub files: usize,
    pub bytes: u64,
    pub partition_columns: Vec<String>,
    pub partitions: usize,
    pub last_operation: Option<String>,
    pub last_commit: Option<String>,
}

impl Lake {
    /// Compacts `table` and, when `zorder` names columns, Z-orders it on them. Only the
    /// partitions written since the table's last `OPTIMIZE` are rewritten, so a second run with
    /// nothing new commits nothing.
    pub async fn optimize(
        &self,
        table: TableRef,
        zorder: &[String],
    ) -> Result<OptimizeReport, LakeError> {
        let fail = |e: DeltaTableError| LakeError::delta(table, e);
        let mut report = OptimizeReport {
            table: table.to_string(),
            zorder: zorder.to_vec(),
            ..OptimizeReport::default()
        };
        let Some(delta) = self.open(table).await? else {
            return Ok(report);
        };
        let last_optimize = last_version_of(&delta, &["OPTIMIZE"]).await.map_err(fail)?;
        let snapshot = delta.snapshot().map_err(fail)?;
        let partition_columns = snapshot.metadata().partition_columns().to_vec();
        let text_columns: Vec<String> = snapshot
            .schema()
            .fields()
            .filter(|f| {
                matches!(
                    f.data_type(),
                    deltalake::kernel::DataType::Primitive(
                        deltalake::kernel::PrimitiveType::String
                    )
                )
            })
            .map(|f| f.name().to_string())
            .collect();
        let touched: Option<BTreeSet<String>> = match last_optimize {
            None => None,
            Some(version) => {
                let Some(added) = files_added_since(&delta, version).await.map_err(fail)? else {
                    return Err(LakeError::delta(
                        table,
                        DeltaTableError::Generic(format!("version {version} is unreadable")),
                    ));
                };
                if added.is_empty() {
                    return Ok(report);
                }
                partition_columns.first().map(|column| {
                    added
                        .iter()
                        .filter_map(|(_, values)| values.get(column).cloned().flatten())
                        .collect()
                })
            }
        };
        let mut metadata = HashMap::from([(
            "ecomix".to_string(),
            serde_json::json!({ "command": "optimize", "zorder": zorder }),
        )]);
        if !zorder.is_empty() {
            // Where Databricks' history shows it (deltalake's own OPTIMIZE commit omits it).
            metadata.insert(
                "zOrderBy".to_string(),
                serde_json::Value::String(serde_json::to_string(zorder).unwrap_or_default()),
            );
        }
        if let [column] = zorder {
            let sorted = crate::sort::sort_partitions(
                self,
                table,
                &delta,
                &text_columns,
                column,
                touched.as_ref(),
                TARGET_FILE_BYTES,
                metadata.clone(),
            )
            .await?;
            if let Some(sorted) = sorted {
                return Ok(sorted);
            }
        }
        let values: Vec<&str> = touched
            .iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>();
        let filters = match (&touched, partition_columns.first()) {
            (Some(_), Some(column)) => {
                vec![(column.as_str(), FilterOp::In, FilterValue::Set(values))]
            }
            _ => Vec::new(),
        };
        let writer_properties = rewrite_properties(
            snapshot.schema().as_ref(),
            &text_columns,
            table.unstatistical,
        )
        .map_err(fail)?;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let (optimize_type, target_size, tasks) = if zorder.is_empty() {
            (OptimizeType::Compact, COMPACT_FILES_BELOW, cores)
        } else {
            let columns = snapshot.schema().fields().count();
            let tasks = zorder_tasks(&delta, &filters, columns, cores)
                .await
                .map_err(fail)?;
            (
                OptimizeType::ZOrder(zorder.to_vec()),
                TARGET_FILE_BYTES,
                tasks,
            )
        };
        let properties = CommitProperties::default().with_metadata(metadata);
        let (optimized, metrics) = delta
            .optimize()
            .with_type(optimize_type)
            .with_filters(&filters)
            .with_target_size(NonZeroU64::new(target_size).expect("non-zero"))
            .with_commit_properties(properties)
            .with_max_concurrent_tasks(tasks)
            .with_writer_properties(writer_properties)
            .await
            .map_err(fail)?;
        report.partitions = metrics.partitions_optimized as usize;
        report.files_added = metrics.num_files_added;
        report.files_removed = metrics.num_files_removed;
        if metrics.num_files_added + metrics.num_files_removed > 0 {
            report.version = optimized.version();
        }
        Ok(report)
    }

    /// Deletes the files of `table` that no version younger than `retention` references, and
    /// files no version ever referenced (an interrupted write's) once older than `retention`.
    pub async fn vacuum(
        &self,
        table: TableRef,
        retention: Duration,
        dry_run: bool,
    ) -> Result<VacuumReport, LakeError> {
        let fail = |e: DeltaTableError| LakeError::delta(table, e);
        let mut report = VacuumReport {
            table: table.to_string(),
            dry_run,
            files: Vec::new(),
        };
        let Some(delta) = self.open(table).await? else {
            return Ok(report);
        };
        let retention = chrono::Duration::from_std(retention).map_err(|e| {
            LakeError::delta(table, DeltaTableError::Generic(format!("retention: {e}")))
        })?;
        let (_, metrics) = delta
            .vacuum()
            .with_mode(VacuumMode::Full)
            .with_retention_period(retention)
            // The default 7-day floor protects concurrent readers; the caller chose the value.
            .with_enforce_retention_duration(false)
            .with_dry_run(dry_run)
            .await
            .map_err(fail)?;
        // A dry run names files relative to the table, a real one from the store's root.
        let table_prefix = self.object_path(table);
        report.files = metrics
            .files_deleted
            .iter()
            .map(|f| {
                f.strip_prefix(&format!("{table_prefix}/"))
                    .unwrap_or(f)
                    .to_string()
            })
            .collect();
        report.files.sort();
        Ok(report)
    }

    /// Version, size, files, partitions and last commit of `table`.
    pub async fn facts(&self, table: TableRef) -> Result<TableFacts, LakeError> {
        let fail = |e: DeltaTableError| LakeError::delta(table, e);
        let mut facts = TableFacts {
            table: table.to_string(),
            ..TableFacts::default()
        };
        let Some(delta) = self.open(table).await? else {
            return Ok(facts);
        };
        facts.version = delta.version();
        facts.partition_columns = delta
            .snapshot()
            .map_err(fail)?
            .metadata()
            .partition_columns()
            .to_vec();
        let files: Vec<_> = delta
            .get_active_add_actions_by_partitions(&[])
            .try_collect()
            .await
            .map_err(fail)?;
        let mut partitions = HashSet::new();
        for file in &files {
            facts.bytes += file.size() as u64;
            partitions.insert(partition_of(file));
        }
        facts.files = files.len();
        facts.partitions = if facts.partition_columns.is_empty() {
            0
        } else {
            partitions.len()
        };
        let mut history = delta.history(Some(1));
        if let Some(commit) = history.next().await {
            let commit = commit.map_err(fail)?;
            facts.last_operation = commit.operation.clone();
            facts.last_commit = commit
                .timestamp
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        Ok(facts)
    }

    /// The `ecomix` metadata of the newest commit of `table` that has it, skipping maintenance
    /// commits; with the version it was recorded at.
    pub async fn last_ecomix_metadata(
        &self,
        table: TableRef,
    ) -> Result<Option<(u64, serde_json::Value)>, LakeError> {
        let Some(delta) = self.open(table).await? else {
            return Ok(None);
        };
        let fail = |e: DeltaTableError| LakeError::delta(table, e);
        let Some(latest) = delta.version() else {
            return Ok(None);
        };
        let mut history = delta.history(Some(HISTORY_DEPTH));
        let mut version = latest;
        while let Some(commit) = history.next().await {
            let commit = commit.map_err(fail)?;
            if let Some(metadata) = commit.info.get("ecomix")
                && metadata.get("command").and_then(|c| c.as_str()) != Some("optimize")
            {
                return Ok(Some((version, metadata.clone())));
            }
            version = version.saturating_sub(1);
        }
        Ok(None)
    }

    /// The newest version of `table` whose rows equal those at `version`: `version` moved past
    /// the maintenance commits (optimize, vacuum) that directly follow it. A watermark moved so
    /// does not mistake the files an `OPTIMIZE` rewrote for new data.
    pub async fn same_rows_as(&self, table: TableRef, version: u64) -> Result<u64, LakeError> {
        let Some(delta) = self.open(table).await? else {
            return Ok(version);
        };
        let fail = |e: DeltaTableError| LakeError::delta(table, e);
        let latest = delta.version().unwrap_or(version);
        if latest <= version {
            return Ok(version);
        }
        let newer = usize::try_from(latest - version).unwrap_or(usize::MAX);
        let commits: Vec<_> = delta
            .history(Some(newer))
            .try_collect()
            .await
            .map_err(fail)?;
        // Newest first: walk from the oldest of the newer commits.
        let mut same = version;
        for commit in commits.iter().rev() {
            let maintenance = commit
                .operation
                .as_deref()
                .is_some_and(|op| MAINTENANCE_OPERATIONS.contains(&op));
            if !maintenance {
                break;
            }
            same += 1;
        }
        Ok(same)
    }
}

/// Parquet settings of the files optimize writes: those of every append (Snappy rather than
/// deltalake's default for optimize, ZSTD level 4, which made the Z-order of silver about twice
/// as slow for files a few percent smaller; dictionaries for text only, as dictionary-encoding
/// every float cost a tenth of an optimize for files no smaller; no statistics where the table
/// declares none), and their row groups: a compacted bronze file is still read row group by
/// row group, each with the measures it holds (one a million rows long would mix regions and
/// the nation, and most of its dates).
fn rewrite_properties(
    schema: &deltalake::kernel::StructType,
    text_columns: &[String],
    unstatistical: &[&str],
) -> Result<deltalake::parquet::file::properties::WriterProperties, DeltaTableError> {
    use deltalake::kernel::engine::arrow_conversion::TryIntoArrow;
    let schema: deltalake::arrow::datatypes::Schema = schema.try_into_arrow()?;
    let unstatistical: Vec<String> = unstatistical.iter().map(|c| c.to_string()).collect();
    Ok(
        crate::append::writer_properties(&schema, text_columns, &unstatistical)
            .set_max_row_group_row_count(Some(crate::append::ROW_GROUP_ROWS))
            .build(),
    )
}

/// How many partitions to Z-order at once: as many as `cores`, as long as the largest
/// partition's sort (its values and their sorted copy, 8 bytes each, estimated from the row
/// counts in the log) fits [`ZORDER_SORT_BYTES`] that many times.
async fn zorder_tasks(
    delta: &DeltaTable,
    filters: &[deltalake::FilterLiteral<'_>],
    columns: usize,
    cores: usize,
) -> Result<usize, DeltaTableError> {
    let files: Vec<_> = delta
        .get_active_add_actions_by_partitions(filters)
        .try_collect()
        .await?;
    let mut rows: HashMap<Vec<(String, Option<String>)>, usize> = HashMap::new();
    for file in &files {
        *rows.entry(partition_of(file)).or_default() += file.num_records().unwrap_or(0);
    }
    let largest = rows.values().copied().max().unwrap_or(0);
    Ok(zorder_tasks_for(largest, columns, cores))
}

/// A file's partition values, sorted by column, as a key.
pub(crate) fn partition_of(
    file: &deltalake::kernel::LogicalFileView,
) -> Vec<(String, Option<String>)> {
    let mut values: Vec<_> = file.partition_values_map().into_iter().collect();
    values.sort();
    values
}

fn zorder_tasks_for(largest_partition_rows: usize, columns: usize, cores: usize) -> usize {
    let sort_bytes = largest_partition_rows
        .saturating_mul(columns)
        .saturating_mul(16)
        .max(1);
    (ZORDER_SORT_BYTES / sort_bytes).clamp(1, cores.max(1))
}

/// How far back the history is searched for ecomix's own commits.
const HISTORY_DEPTH: usize = 200;

/// The newest version of `delta` whose operation is one of `operations`.
async fn last_version_of(
    delta: &DeltaTable,
    operations: &[&str],
) -> Result<Option<u64>, DeltaTableError> {
    let Some(latest) = delta.version() else {
        return Ok(None);
    };
    let mut history = delta.history(Some(HISTORY_DEPTH));
    let mut version = latest;
    while let Some(commit) = history.next().await {
        let commit = commit?;
        if commit
            .operation
            .as_deref()
            .is_some_and(|op| operations.contains(&op))
        {
            return Ok(Some(version));
        }
        version = version.saturating_sub(1);
    }
    Ok(None)
}

/// The files active in `delta` that were not at `version`, with their partition values;
/// `None` when `version` can no longer be read (its log was cleaned up).
pub(crate) async fn files_added_since(
    delta: &DeltaTable,
    version: u64,
) -> Result<Option<Vec<(String, HashMap<String, Option<String>>)>>, DeltaTableError> {
    let mut then = delta.clone();
    if then.load_version(version).await.is_err() {
        return Ok(None);
    }
    let before: HashSet<String> = then
        .get_active_add_actions_by_partitions(&[])
        .map_ok(|f| f.path().to_string())
        .try_collect()
        .await?;
    let added: Vec<_> = delta
        .get_active_add_actions_by_partitions(&[])
        .try_filter(|f| futures::future::ready(!before.contains(f.path().as_ref())))
        .map_ok(|f| (f.path().to_string(), f.partition_values_map()))
        .try_collect()
        .await?;
    Ok(Some(added))
}

#[cfg(test)]
mod tests {
    use super::{rewrite_properties, zorder_tasks_for};

    #[test]
    fn optimize_rewrites_with_the_appends_encodings() {
        use deltalake::kernel::{DataType, PrimitiveType, StructField, StructType};
        use deltalake::parquet::basic::Encoding;
        use deltalake::parquet::schema::types::ColumnPath;
        let schema = StructType::try_new([
            StructField::new(
                "horodatage",
                DataType::Primitive(PrimitiveType::Timestamp),
                true,
            ),
            StructField::new(
                "_source_row",
                DataType::Primitive(PrimitiveType::Long),
                true,
            ),
            StructField::new("date", DataType::Primitive(PrimitiveType::Date), true),
            StructField::new("eolien", DataType::Primitive(PrimitiveType::Double), true),
            StructField::new(
                "perimetre",
                DataType::Primitive(PrimitiveType::String),
                true,
            ),
        ])
        .unwrap();
        let properties = rewrite_properties(&schema, &["perimetre".to_string()], &[]).unwrap();
        let column = |name: &str| ColumnPath::from(name);
        for integral in ["horodatage", "_source_row", "date"] {
            assert_eq!(
                properties.encoding(&column(integral)),
                Some(Encoding::DELTA_BINARY_PACKED),
                "{integral}"
            );
            assert!(!properties.dictionary_enabled(&column(integral)));
        }
        assert_eq!(properties.encoding(&column("eolien")), None);
        assert!(!properties.dictionary_enabled(&column("eolien")));
        assert!(properties.dictionary_enabled(&column("perimetre")));
        assert_eq!(
            properties.max_row_group_row_count(),
            Some(crate::append::ROW_GROUP_ROWS)
        );
    }

    /// Two appends leave two small files in one partition, which optimize compacts into one:
    /// that file, like the appended ones, has no statistics for the column the table declares
    /// unstatistical, and has them for the others.
    #[tokio::test(flavor = "multi_thread")]
    async fn compacted_files_keep_the_tables_unstatistical_columns() {
        use std::sync::Arc;

        use deltalake::arrow::array::{Float64Array, StringArray};
        use deltalake::arrow::datatypes::{DataType, Field, Schema};
        use deltalake::arrow::record_batch::RecordBatch;
        use deltalake::parquet::file::reader::{FileReader, SerializedFileReader};
        use ecomix_core::layout::{Layer, TableRef};
        use futures::TryStreamExt;

        const TABLE: TableRef =
            TableRef::new(Layer::Bronze, "unstatistical_test").without_statistics(&["tokens"]);
        let dir = tempfile::tempdir().unwrap();
        let lake = crate::Lake::new(dir.path().to_str().unwrap()).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("value", DataType::Float64, true),
            Field::new("tokens", DataType::Utf8, true),
            Field::new("label", DataType::Utf8, true),
        ]));
        for (value, tokens) in [(1.5, r#"{"a":"ND"}"#), (-2.0, r#"{"b":"-"}"#)] {
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Float64Array::from(vec![value])),
                    Arc::new(StringArray::from(vec![tokens])),
                    Arc::new(StringArray::from(vec!["France"])),
                ],
            )
            .unwrap();
            // No other setting asked for: the table's declaration alone takes effect.
            crate::append::append_once(&lake, TABLE, batch).await;
        }
        let data_files = || -> Vec<std::path::PathBuf> {
            std::fs::read_dir(dir.path().join("bronze/unstatistical_test"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
                .collect()
        };
        let statistics = |file: &std::path::Path| -> Vec<(String, bool)> {
            let reader = SerializedFileReader::new(std::fs::File::open(file).unwrap()).unwrap();
            let group = reader.metadata().row_group(0);
            group
                .columns()
                .iter()
                .map(|c| (c.column_path().string(), c.statistics().is_some()))
                .collect()
        };
        let expected = vec![
            ("value".to_string(), true),
            ("tokens".to_string(), false),
            ("label".to_string(), true),
        ];
        let appended = data_files();
        assert_eq!(appended.len(), 2);
        for file in &appended {
            assert_eq!(statistics(file), expected, "appended {file:?}");
        }

        lake.optimize(TABLE, &[]).await.unwrap();
        let delta = lake.open(TABLE).await.unwrap().unwrap();
        let active: Vec<String> = delta
            .get_active_add_actions_by_partitions(&[])
            .map_ok(|f| f.path().to_string())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(active.len(), 1, "the two appends compacted into one file");
        let compacted = dir
            .path()
            .join("bronze/unstatistical_test")
            .join(&active[0]);
        assert!(!appended.contains(&compacted));
        assert_eq!(statistics(&compacted), expected, "compacted {compacted:?}");
    }

    #[test]
    fn large_partitions_are_z_ordered_one_at_a_time() {
        // A month of silver: 13 perimeters × 2,976 quarter-hours, then 130 perimeters.
        let columns = 115;
        assert_eq!(zorder_tasks_for(13 * 2_976, columns, 2), 2);
        assert_eq!(zorder_tasks_for(130 * 2_976, columns, 2), 1);
        assert_eq!(zorder_tasks_for(0, columns, 2), 2);
        assert_eq!(zorder_tasks_for(130 * 2_976, columns, 0), 1);
    }
}
