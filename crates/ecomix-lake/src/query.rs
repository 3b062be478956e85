//! Reading tables back with DataFusion SQL.

use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::execution::runtime_env::RuntimeEnv;
use deltalake::datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use ecomix_core::layout::TableRef;

use crate::{Lake, LakeError};

/// Runs `sql` against `table`, registered under the name `t`. Returns no batches when the
/// table does not exist yet.
pub async fn query(lake: &Lake, table: TableRef, sql: &str) -> Result<Vec<RecordBatch>, LakeError> {
    let Some(frame) = frame(lake, table, sql).await? else {
        return Ok(Vec::new());
    };
    frame
        .collect()
        .await
        .map_err(|e| LakeError::query(table, e))
}

async fn frame(lake: &Lake, table: TableRef, sql: &str) -> Result<Option<DataFrame>, LakeError> {
    let Some(delta) = lake.open(table).await? else {
        return Ok(None);
    };
    frame_of(&delta, table, sql, None, None).await.map(Some)
}

/// `sql` over `delta` at the version it holds, registered as `t`, optionally over some of its
/// files only.
async fn frame_of(
    delta: &DeltaTable,
    table: TableRef,
    sql: &str,
    only: Option<Vec<String>>,
    runtime: Option<Arc<RuntimeEnv>>,
) -> Result<DataFrame, LakeError> {
    let ctx = session_context(runtime);
    delta
        .update_datafusion_session(&ctx.state())
        .map_err(|e| LakeError::delta(table, e))?;
    let mut provider = delta.table_provider();
    if let Some(paths) = only {
        provider = provider.with_file_paths(paths);
    }
    let provider = provider.await.map_err(|e| LakeError::query(table, e))?;
    ctx.register_table("t", provider)
        .map_err(|e| LakeError::query(table, e))?;
    ctx.sql(sql).await.map_err(|e| LakeError::query(table, e))
}

/// A context on its own runtime, or on a snapshot's `runtime` for repeated queries (see
/// [`Snapshot::for_repeated_queries`]).
fn session_context(runtime: Option<Arc<RuntimeEnv>>) -> SessionContext {
    match runtime {
        Some(runtime) => {
            let mut config = SessionConfig::new();
            config.options_mut().execution.parquet.enable_page_index = false;
            SessionContext::new_with_config_rt(config, runtime)
        }
        None => SessionContext::new(),
    }
}

/// A table held at one version, so that the several queries of one run all read the same data
/// even while other processes append to it.
#[derive(Clone)]
pub struct Snapshot {
    table: DeltaTable,
    table_ref: TableRef,
    /// Shared by the snapshot's queries when they are many: see `for_repeated_queries`.
    repeated: Option<Repeated>,
}

/// What the queries of a snapshot for repeated queries share.
#[derive(Clone)]
struct Repeated {
    /// DataFusion's runtime, whose cache keeps the footers its queries read.
    runtime: Arc<RuntimeEnv>,
    /// The footers `scan_row_groups` read, kept for its next calls.
    footers: Footers,
}

/// Each data file's decoded footer and offset index, by path: a snapshot is one version of the
/// table, and Delta never writes a path twice, so a path names the same bytes for the
/// snapshot's life.
type Footers = Arc<
    std::sync::Mutex<
        std::collections::HashMap<
            deltalake::Path,
            deltalake::parquet::arrow::arrow_reader::ArrowReaderMetadata,
        >,
    >,
>;

impl Lake {
    /// The table at its latest version, held; `None` when it does not exist yet.
    pub async fn snapshot(&self, table: TableRef) -> Result<Option<Snapshot>, LakeError> {
        Ok(self.open(table).await?.map(|t| Snapshot {
            table: t,
            table_ref: table,
            repeated: None,
        }))
    }
}

impl Snapshot {
    /// The snapshot for many queries over the same files: they share one DataFusion runtime,
    /// whose cache keeps the footers read (up to DataFusion's default 50 MB), and skip the page
    /// indexes, which that cache could not hold at scale. Transform queries bronze once per
    /// batch of periods, filtering on dates that row groups' statistics already prune: at 10x
    /// (85 batches), reading every file's footer and page index again for each made transform
    /// take 41.1 s instead of 37.0 s.
    ///
    /// [`Snapshot::scan_row_groups`] keeps the footers it decodes too, with their offset
    /// indexes (the page locations, not the pages' statistics): it reads only a few pages of
    /// most row groups, and decoding each footer again for every batch was 6 % of transform at
    /// 10x. They are held for the snapshot's life, one run's; transform's peak at 10x fell with
    /// them (471 MiB against 548).
    pub fn for_repeated_queries(mut self) -> Self {
        self.repeated = Some(Repeated {
            runtime: Arc::new(RuntimeEnv::default()),
            footers: Footers::default(),
        });
        self
    }

    /// The runtime the snapshot's queries share, if they do.
    fn runtime(&self) -> Option<Arc<RuntimeEnv>> {
        self.repeated.as_ref().map(|r| r.runtime.clone())
    }

    pub fn version(&self) -> Option<u64> {
        self.table.version()
    }

    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, LakeError> {
        frame_of(&self.table, self.table_ref, sql, None, self.runtime())
            .await?
            .collect()
            .await
            .map_err(|e| LakeError::query(self.table_ref, e))
    }

    /// `sql` over only the files added since `version`; `None` when that version can no
    /// longer be read (its log was cleaned up), so the caller falls back to the whole table.
    pub async fn query_added_since(
        &self,
        version: u64,
        sql: &str,
    ) -> Result<Option<Vec<RecordBatch>>, LakeError> {
        let added = crate::maintenance::files_added_since(&self.table, version)
            .await
            .map_err(|e| LakeError::delta(self.table_ref, e))?;
        let Some(added) = added else {
            return Ok(None);
        };
        if added.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let paths = added.into_iter().map(|(path, _)| path).collect();
        frame_of(
            &self.table,
            self.table_ref,
            sql,
            Some(paths),
            self.runtime(),
        )
        .await?
        .collect()
        .await
        .map(Some)
        .map_err(|e| LakeError::query(self.table_ref, e))
    }

    /// A DataFusion session with this snapshot registered as `name`, for work that joins it
    /// with other (in-memory) tables.
    pub async fn session(&self, name: &str) -> Result<SessionContext, LakeError> {
        let ctx = session_context(self.runtime());
        self.table
            .update_datafusion_session(&ctx.state())
            .map_err(|e| LakeError::delta(self.table_ref, e))?;
        let provider = self
            .table
            .table_provider()
            .await
            .map_err(|e| LakeError::query(self.table_ref, e))?;
        ctx.register_table(name, provider)
            .map_err(|e| LakeError::query(self.table_ref, e))?;
        Ok(ctx)
    }

    pub async fn query_stream(&self, sql: &str) -> Result<SendableRecordBatchStream, LakeError> {
        frame_of(&self.table, self.table_ref, sql, None, self.runtime())
            .await?
            .execute_stream()
            .await
            .map_err(|e| LakeError::query(self.table_ref, e))
    }
}

/// The statistics-aware reader of [`Snapshot::scan_row_groups`].
pub(crate) mod row_groups {
    use std::ops::Range;
    use std::sync::Arc;

    use deltalake::ObjectStore;
    use deltalake::logstore::object_store::ObjectStoreExt;
    use deltalake::parquet::arrow::arrow_reader::ArrowReaderOptions;
    use deltalake::parquet::arrow::async_reader::AsyncFileReader;
    use deltalake::parquet::errors::ParquetError;
    use deltalake::parquet::file::metadata::{
        PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader, RowGroupMetaData,
    };
    use deltalake::parquet::file::statistics::Statistics;
    use futures::FutureExt;
    use futures::future::BoxFuture;

    /// One data file of a table, read by ranges from its object store.
    #[derive(Clone)]
    pub(crate) struct StoreReader {
        pub store: Arc<dyn ObjectStore>,
        pub path: deltalake::Path,
        pub size: u64,
    }

    fn external(e: deltalake::ObjectStoreError) -> ParquetError {
        ParquetError::External(Box::new(e))
    }

    impl AsyncFileReader for StoreReader {
        fn get_bytes(
            &mut self,
            range: Range<u64>,
        ) -> BoxFuture<'_, Result<bytes::Bytes, ParquetError>> {
            async move {
                self.store
                    .get_range(&self.path, range)
                    .await
                    .map_err(external)
            }
            .boxed()
        }

        fn get_byte_ranges(
            &mut self,
            ranges: Vec<Range<u64>>,
        ) -> BoxFuture<'_, Result<Vec<bytes::Bytes>, ParquetError>> {
            async move {
                self.store
                    .get_ranges(&self.path, &ranges)
                    .await
                    .map_err(external)
            }
            .boxed()
        }

        fn get_metadata<'a>(
            &'a mut self,
            options: Option<&'a ArrowReaderOptions>,
        ) -> BoxFuture<'a, Result<Arc<ParquetMetaData>, ParquetError>> {
            let size = self.size;
            let policy = |pick: fn(&ArrowReaderOptions) -> PageIndexPolicy| {
                options.map_or(PageIndexPolicy::Skip, pick)
            };
            let column_index = policy(ArrowReaderOptions::column_index_policy);
            let offset_index = policy(ArrowReaderOptions::offset_index_policy);
            let metadata_options = options.map(|o| o.metadata_options().clone());
            async move {
                // One read for the footer and, usually, the metadata before it.
                let metadata = ParquetMetaDataReader::new()
                    .with_prefetch_hint(Some(64 * 1024))
                    .with_metadata_options(metadata_options)
                    .with_column_index_policy(column_index)
                    .with_offset_index_policy(offset_index)
                    .load_and_finish(self, size)
                    .await?;
                Ok(Arc::new(metadata))
            }
            .boxed()
        }
    }

    /// The range of an `INT32` or `DATE` column in a row group, from its statistics, and
    /// whether the column is known to have no null there; `None` when it has no range (the row
    /// group must then be read).
    pub(super) fn int32_range(
        group: &RowGroupMetaData,
        column: &str,
    ) -> Option<((i32, i32), bool)> {
        let chunk = group
            .columns()
            .iter()
            .find(|c| c.column_path().string() == column)?;
        let statistics = chunk.statistics()?;
        let no_null = statistics.null_count_opt() == Some(0);
        match statistics {
            Statistics::Int32(s) => Some(((*s.min_opt()?, *s.max_opt()?), no_null)),
            _ => None,
        }
    }

    /// `schema` with its text columns read as string views.
    pub(super) fn with_string_views(
        schema: &deltalake::arrow::datatypes::SchemaRef,
    ) -> deltalake::arrow::datatypes::SchemaRef {
        use deltalake::arrow::datatypes::{DataType, Field, Schema};
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 => {
                    f.as_ref().clone().with_data_type(DataType::Utf8View)
                }
                _ => f.as_ref().clone(),
            })
            .collect();
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
    }

    /// `ranges` (half-open) sorted, with the ones that meet or touch merged: a batch of
    /// consecutive months is one range, which a row group can then lie wholly inside.
    pub(super) fn merged(mut ranges: Vec<(i32, i32)>) -> Vec<(i32, i32)> {
        ranges.retain(|&(start, end)| start < end);
        ranges.sort_unstable();
        let mut merged: Vec<(i32, i32)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged
    }

    /// Whether `[first, last]` meets one of the half-open `ranges`.
    pub(super) fn overlaps(ranges: &[(i32, i32)], first: i32, last: i32) -> bool {
        ranges
            .iter()
            .any(|&(start, end)| first < end && last >= start)
    }

    /// Whether `[first, last]` lies wholly inside one of the half-open `ranges`.
    pub(super) fn within(ranges: &[(i32, i32)], first: i32, last: i32) -> bool {
        ranges
            .iter()
            .any(|&(start, end)| first >= start && last < end)
    }

    /// Which values of an `INT32` or `DATE` column lie in one of the half-open `ranges` (a
    /// null is in none).
    pub(super) fn in_ranges(
        column: &deltalake::arrow::array::ArrayRef,
        ranges: &[(i32, i32)],
    ) -> Result<deltalake::arrow::array::BooleanArray, deltalake::arrow::error::ArrowError> {
        use deltalake::arrow::array::{Array, AsArray, BooleanArray};
        use deltalake::arrow::buffer::BooleanBuffer;
        use deltalake::arrow::datatypes::{DataType, Date32Type, Int32Type};
        let values: &[i32] = match column.data_type() {
            DataType::Date32 => column.as_primitive::<Date32Type>().values(),
            DataType::Int32 => column.as_primitive::<Int32Type>().values(),
            other => {
                return Err(deltalake::arrow::error::ArrowError::InvalidArgumentError(
                    format!("a range column must be an INT32 or a DATE, not {other}"),
                ));
            }
        };
        // A range at a time, each a single unsigned comparison the compiler vectorises: testing
        // every range per value was a tenth of transform at 10x.
        let mut inside: Option<BooleanBuffer> = None;
        for &(start, end) in ranges {
            let width = end.wrapping_sub(start) as u32;
            let this = BooleanBuffer::collect_bool(values.len(), |i| {
                (values[i].wrapping_sub(start) as u32) < width
            });
            inside = Some(match inside {
                Some(before) => &before | &this,
                None => this,
            });
        }
        let inside = inside.unwrap_or_else(|| BooleanBuffer::new_unset(values.len()));
        let inside = match column.logical_nulls() {
            Some(nulls) => &inside & nulls.inner(),
            None => inside,
        };
        Ok(BooleanArray::new(inside, None))
    }

    /// Whether the row group's statistics show `column` is null on every row.
    pub(super) fn all_null(group: &RowGroupMetaData, index: usize) -> bool {
        let rows = u64::try_from(group.num_rows()).unwrap_or(0);
        group
            .column(index)
            .statistics()
            .and_then(Statistics::null_count_opt)
            .is_some_and(|nulls| rows > 0 && nulls == rows)
    }
}

/// Rows per batch of [`Snapshot::scan_row_groups`], as DataFusion's scans: the Parquet reader's
/// default, 1,024, multiplies every per-batch cost of the caller by eight.
const SCAN_BATCH_ROWS: usize = 8_192;

impl Snapshot {
    /// The rows whose `range_column` (an `INT32` or `DATE` column) lies in one of `ranges`
    /// (half-open), each row group read with only those of `columns` that hold a value there;
    /// `always` are read even when null throughout. A batch lacks the other columns: they are
    /// null on its rows.
    ///
    /// A table of files of different shapes holds many row groups where most columns are null
    /// throughout (a region publishes a tenth of the national measures): a SQL scan would still
    /// decode, and fill with zeros, every one of them. Row groups outside the ranges are skipped
    /// by their statistics, and those the statistics put wholly inside a range are read whole;
    /// in the others, the range column is read first and the other columns only on the rows it
    /// keeps. `None` when the table needs a reader version above 1 (column mapping, deletion
    /// vectors, any reader feature) or a column asked for is a partition column: query it
    /// instead.
    pub async fn scan_row_groups(
        &self,
        columns: &[&str],
        always: &[&str],
        range_column: &str,
        ranges: Vec<(i32, i32)>,
    ) -> Result<
        Option<futures::stream::BoxStream<'static, Result<RecordBatch, LakeError>>>,
        LakeError,
    > {
        use deltalake::parquet::arrow::ProjectionMask;
        use deltalake::parquet::arrow::arrow_reader::{
            ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, RowFilter,
        };
        use deltalake::parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
        use deltalake::parquet::file::metadata::PageIndexPolicy;
        use futures::{StreamExt, TryStreamExt};
        use row_groups::StoreReader;

        let table = self.table_ref;
        let state = self
            .table
            .snapshot()
            .map_err(|e| LakeError::delta(table, e))?;
        // Reader version 1: no column mapping (physical names are the schema's), no deletion
        // vectors, no other reader feature; every file's rows are all live. Partition values
        // live in the log, not in the files: a scan that needs them is DataFusion's.
        let partition_columns = state.metadata().partition_columns();
        let partitioned = [columns, always, &[range_column]].iter().any(|names| {
            names
                .iter()
                .any(|c| partition_columns.iter().any(|p| p == c))
        });
        if state.protocol().min_reader_version() > 1 || partitioned {
            return Ok(None);
        }
        let files: Vec<(deltalake::Path, u64)> = self
            .table
            .get_active_add_actions_by_partitions(&[])
            .map_ok(|f| (f.object_store_path(), u64::try_from(f.size()).unwrap_or(0)))
            .try_collect()
            .await
            .map_err(|e| LakeError::delta(table, e))?;
        let store = self.table.object_store();
        let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let always: Vec<String> = always.iter().map(|c| c.to_string()).collect();
        let range_column = range_column.to_string();
        let ranges = std::sync::Arc::new(row_groups::merged(ranges));
        let fail = move |path: &deltalake::Path, e: &dyn std::fmt::Display| {
            LakeError::query(table, format!("{path}: {e}"))
        };
        let footers = self.repeated.as_ref().map(|r| r.footers.clone());
        let row_groups = futures::stream::iter(files)
            .then(move |(path, size)| {
                let store = store.clone();
                let footers = footers.clone();
                async move {
                    let mut reader = StoreReader { store, path, size };
                    let kept = footers.as_ref().and_then(|footers| {
                        let footers = footers.lock().unwrap_or_else(|e| e.into_inner());
                        footers.get(&reader.path).cloned()
                    });
                    if let Some(metadata) = kept {
                        return Ok::<_, LakeError>((reader, metadata));
                    }
                    // The offset index lets a row group whose rows are filtered be read by the
                    // pages that hold the rows kept, rather than every page of every column.
                    let options = ArrowReaderOptions::new()
                        .with_offset_index_policy(PageIndexPolicy::Optional);
                    let metadata = ArrowReaderMetadata::load_async(&mut reader, options.clone())
                        .await
                        .map_err(|e| fail(&reader.path, &e))?;
                    // Text as views into the decoded pages, as DataFusion reads it: copying every
                    // row's file name and hash into a string buffer cost more than the nulls saved.
                    let metadata = ArrowReaderMetadata::try_new(
                        metadata.metadata().clone(),
                        options.with_schema(row_groups::with_string_views(metadata.schema())),
                    )
                    .map_err(|e| fail(&reader.path, &e))?;
                    if let Some(footers) = &footers {
                        let mut footers = footers.lock().unwrap_or_else(|e| e.into_inner());
                        footers.insert(reader.path.clone(), metadata.clone());
                    }
                    Ok((reader, metadata))
                }
            })
            .map_ok(move |(reader, metadata)| {
                let parquet = metadata.metadata().clone();
                let descriptor = parquet.file_metadata().schema_descr_ptr();
                let leaf = |name: &str| {
                    (0..descriptor.num_columns())
                        .find(|&leaf| descriptor.column(leaf).path().string() == name)
                };
                // A file without the range column has it null on every row: in no range.
                let range_leaf = leaf(&range_column);
                // Each row group to read, its columns, and whether its rows need the range
                // filter: one whose statistics put every row in a range is read whole.
                let plans: Vec<(usize, Vec<usize>, bool)> = parquet
                    .row_groups()
                    .iter()
                    .enumerate()
                    .filter(|_| range_leaf.is_some())
                    .filter_map(|(index, group)| {
                        let filtered = match row_groups::int32_range(group, &range_column) {
                            Some(((first, last), no_null)) => {
                                if !row_groups::overlaps(&ranges, first, last) {
                                    return None;
                                }
                                !(no_null && row_groups::within(&ranges, first, last))
                            }
                            None => true,
                        };
                        let leaves = (0..descriptor.num_columns())
                            .filter(|&leaf| {
                                let name = descriptor.column(leaf).path().string();
                                always.contains(&name)
                                    || (columns.contains(&name)
                                        && !row_groups::all_null(group, leaf))
                            })
                            .collect();
                        Some((index, leaves, filtered))
                    })
                    .collect();
                let ranges = ranges.clone();
                let path = reader.path.clone();
                let stream_path = reader.path.clone();
                futures::stream::iter(plans.into_iter().map(move |(index, leaves, filtered)| {
                    let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(
                        reader.clone(),
                        metadata.clone(),
                    )
                    .with_row_groups(vec![index])
                    .with_batch_size(SCAN_BATCH_ROWS)
                    .with_projection(ProjectionMask::leaves(&descriptor, leaves));
                    if let Some(range_leaf) = range_leaf.filter(|_| filtered) {
                        let ranges = ranges.clone();
                        let keep = ArrowPredicateFn::new(
                            ProjectionMask::leaves(&descriptor, [range_leaf]),
                            move |batch| row_groups::in_ranges(batch.column(0), &ranges),
                        );
                        builder = builder.with_row_filter(RowFilter::new(vec![Box::new(keep)]));
                    }
                    builder.build().map_err(|e| fail(&path, &e))
                }))
                .map_ok(move |stream| {
                    let path = stream_path.clone();
                    stream.map_err(move |e| fail(&path, &e))
                })
            })
            .try_flatten()
            .try_flatten();
        Ok(Some(row_groups.boxed()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::array::{Array, AsArray, Date32Array, Float64Array, StringArray};
    use deltalake::arrow::datatypes::{DataType, Date32Type, Field, Float64Type, Schema};
    use ecomix_core::layout::{Layer, TableRef};
    use futures::TryStreamExt;

    use super::*;

    const TABLE: TableRef = TableRef::new(Layer::Bronze, "row_groups_test");

    /// Two files: days 0-9 with a measure, days 100-109 without it (null throughout). A scan of
    /// days [5, 8) and [100, 102) gets those rows only; the second file's batch lacks the
    /// measure, the first's has it; a range that meets no row group reads nothing.
    #[tokio::test(flavor = "multi_thread")]
    async fn row_groups_are_read_with_the_columns_they_hold() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path().to_str().unwrap()).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, true),
            Field::new("label", DataType::Utf8, true),
            Field::new("value", DataType::Float64, true),
        ]));
        for (first, values) in [(0, true), (100, false)] {
            let days: Vec<i32> = (first..first + 10).collect();
            let value: Vec<Option<f64>> = days
                .iter()
                .map(|&d| values.then_some(d as f64 * 1.5))
                .collect();
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Date32Array::from(days.clone())),
                    Arc::new(StringArray::from(vec!["Bretagne"; days.len()])),
                    Arc::new(Float64Array::from(value)),
                ],
            )
            .unwrap();
            crate::append::append_once(&lake, TABLE, batch).await;
        }
        let snapshot = lake.snapshot(TABLE).await.unwrap().unwrap();
        let scan = |ranges| scanned(&snapshot, &["date", "label", "value"], ranges);
        let batches = scan(vec![(5, 8), (100, 102)]).await;
        let mut rows: Vec<(i32, Option<f64>, String)> = Vec::new();
        for batch in &batches {
            let days = batch
                .column_by_name("date")
                .unwrap()
                .as_primitive::<Date32Type>();
            let labels = batch.column_by_name("label").unwrap();
            assert_eq!(
                labels.data_type(),
                &DataType::Utf8View,
                "text is read as views"
            );
            let labels = labels.as_string_view();
            let values = batch
                .column_by_name("value")
                .map(|v| v.as_primitive::<Float64Type>().clone());
            for i in 0..batch.num_rows() {
                let value = values.as_ref().map(|v| v.value(i));
                if days.value(i) >= 100 {
                    assert!(values.is_none(), "the null measure is not read");
                } else {
                    assert!(values.as_ref().is_some_and(|v| v.null_count() == 0));
                }
                rows.push((days.value(i), value, labels.value(i).to_string()));
            }
        }
        rows.sort_by_key(|r| r.0);
        let expected: Vec<(i32, Option<f64>, String)> = [5, 6, 7]
            .into_iter()
            .map(|d| (d, Some(d as f64 * 1.5)))
            .chain([(100, None), (101, None)])
            .map(|(d, v)| (d, v, "Bretagne".to_string()))
            .collect();
        assert_eq!(rows, expected);

        assert!(scan(vec![(20, 90)]).await.is_empty());
    }

    /// The queries of a snapshot for repeated queries share one runtime: the footers the first
    /// query read stay in its cache, without page indexes, and the next one is served from them.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_snapshots_queries_share_the_footers_they_read() {
        let (_dir, snapshot) = repeated_snapshot().await;
        let footers = snapshot
            .runtime()
            .unwrap()
            .cache_manager
            .get_file_metadata_cache();
        assert!(footers.is_empty());
        let total = async || -> f64 {
            let batches = snapshot
                .query("SELECT sum(value) FROM t WHERE date >= 5")
                .await
                .unwrap();
            batches[0].column(0).as_primitive::<Float64Type>().value(0)
        };
        let expected: f64 = (5..10).chain(20..30).map(|d| f64::from(d) * 1.5).sum();

        assert_eq!(total().await, expected);
        let entries = footers.list_entries();
        assert_eq!(entries.len(), 2, "both files' footers are kept");
        for entry in entries.values() {
            let extra = entry.value.file_metadata.extra_info();
            assert_eq!(extra.get("page_index").map(String::as_str), Some("false"));
            assert_eq!(entry.hits, 0);
        }

        assert_eq!(total().await, expected);
        let hits: Vec<usize> = footers.list_entries().values().map(|e| e.hits).collect();
        assert_eq!(
            hits,
            [1, 1],
            "the second query read the footers from the cache"
        );
    }

    /// `scan_row_groups` of `columns` (the date always read) in `ranges`, collected.
    async fn scanned(
        snapshot: &Snapshot,
        columns: &[&str],
        ranges: Vec<(i32, i32)>,
    ) -> Vec<RecordBatch> {
        snapshot
            .scan_row_groups(columns, &["date"], "date", ranges)
            .await
            .unwrap()
            .expect("a reader-version-1 table")
            .try_collect()
            .await
            .unwrap()
    }

    /// A snapshot for repeated queries of two files: days 0-9 and 20-29, `value` = 1.5 × day.
    async fn repeated_snapshot() -> (tempfile::TempDir, Snapshot) {
        let days = |range: std::ops::Range<i32>| range.map(Some).collect();
        let (dir, lake) = dated_values(vec![days(0..10), days(20..30)], |d| d * 1.5).await;
        let snapshot = lake
            .snapshot(TABLE)
            .await
            .unwrap()
            .unwrap()
            .for_repeated_queries();
        (dir, snapshot)
    }

    /// A lake whose `TABLE` holds a file per entry of `files`: a `date` per day, and a `value`
    /// of `value(day)` (null on a null day).
    async fn dated_values(
        files: Vec<Vec<Option<i32>>>,
        value: fn(f64) -> f64,
    ) -> (tempfile::TempDir, Lake) {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path().to_str().unwrap()).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, true),
            Field::new("value", DataType::Float64, true),
        ]));
        for days in files {
            let values: Vec<Option<f64>> = days
                .iter()
                .map(|d| d.map(|d| value(f64::from(d))))
                .collect();
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Date32Array::from(days)),
                    Arc::new(Float64Array::from(values)),
                ],
            )
            .unwrap();
            crate::append::append_once(&lake, TABLE, batch).await;
        }
        (dir, lake)
    }

    /// The days a scan of `ranges` returns from two files: days 0-9 with a null day among them,
    /// and days 20-29.
    async fn days_scanned(ranges: Vec<(i32, i32)>) -> Vec<i32> {
        let with_null: Vec<Option<i32>> = (0..10).map(Some).chain([None]).collect();
        let without: Vec<Option<i32>> = (20..30).map(Some).collect();
        let (_dir, lake) = dated_values(vec![with_null, without], |d| d).await;
        let snapshot = lake.snapshot(TABLE).await.unwrap().unwrap();
        let batches = scanned(&snapshot, &["value"], ranges).await;
        let mut days: Vec<i32> = Vec::new();
        for batch in &batches {
            let dates = batch.column_by_name("date").unwrap();
            assert_eq!(dates.null_count(), 0, "a null day is in no range");
            let values = batch.column_by_name("value").unwrap();
            let (dates, values) = (
                dates.as_primitive::<Date32Type>(),
                values.as_primitive::<Float64Type>(),
            );
            for i in 0..batch.num_rows() {
                assert_eq!(
                    values.value(i),
                    f64::from(dates.value(i)),
                    "rows stay whole"
                );
                days.push(dates.value(i));
            }
        }
        days.sort_unstable();
        days
    }

    /// A row group inside the ranges by its statistics gives all its rows, unless its range
    /// column has nulls (they are in no range); one that only meets them gives the rows in
    /// range; touching ranges give the rows of their union.
    #[tokio::test(flavor = "multi_thread")]
    async fn row_groups_inside_the_ranges_are_read_whole() {
        let all: Vec<i32> = (0..10).chain(20..30).collect();
        assert_eq!(days_scanned(vec![(15, 31), (-5, 15)]).await, all);
        assert_eq!(
            days_scanned(vec![(20, 25), (25, 30)]).await,
            (20..30).collect::<Vec<_>>()
        );
        assert_eq!(
            days_scanned(vec![(22, 25), (3, 5)]).await,
            vec![3, 4, 22, 23, 24]
        );
        assert_eq!(days_scanned(vec![(10, 20)]).await, Vec::<i32>::new());
    }

    #[test]
    fn ranges_are_sorted_and_merged_where_they_meet() {
        assert_eq!(
            row_groups::merged(vec![(25, 40), (10, 20), (5, 8), (20, 30), (50, 50), (8, 9)]),
            vec![(5, 9), (10, 40)]
        );
        assert!(row_groups::within(&[(5, 9), (10, 40)], 10, 39));
        assert!(!row_groups::within(&[(5, 9), (10, 40)], 10, 40));
        assert!(!row_groups::within(&[(5, 9), (10, 40)], 8, 10));
    }

    #[test]
    fn a_value_is_in_the_ranges_when_one_holds_it_and_a_null_never() {
        let column: deltalake::arrow::array::ArrayRef = Arc::new(Date32Array::from(vec![
            Some(1),
            None,
            Some(5),
            Some(12),
            Some(6),
        ]));
        let inside = row_groups::in_ranges(&column, &[(0, 6), (12, 13)]).unwrap();
        let inside: Vec<Option<bool>> = inside.iter().collect();
        assert_eq!(inside, [true, false, true, true, false].map(Some).to_vec());
    }

    /// Each range is tested as one unsigned comparison: values far below, far above and at
    /// both ends of ranges that reach `i32`'s limits must still fall on the right side.
    #[test]
    fn ranges_at_the_limits_of_the_type_keep_their_ends() {
        let values = vec![
            i32::MIN,
            i32::MIN + 1,
            -1,
            0,
            1,
            99,
            100,
            i32::MAX - 1,
            i32::MAX,
        ];
        let column: deltalake::arrow::array::ArrayRef =
            Arc::new(deltalake::arrow::array::Int32Array::from(values.clone()));
        for ranges in [
            vec![(i32::MIN, i32::MAX)],
            vec![(0, 100)],
            vec![(-1, 1), (99, i32::MAX)],
            vec![(i32::MIN + 1, 0)],
        ] {
            let inside = row_groups::in_ranges(&column, &ranges).unwrap();
            let expected: Vec<bool> = values
                .iter()
                .map(|&v| ranges.iter().any(|&(start, end)| v >= start && v < end))
                .collect();
            let inside: Vec<bool> = inside.iter().map(Option::unwrap).collect();
            assert_eq!(inside, expected, "ranges {ranges:?}");
        }
    }

    /// `scan_row_groups` on a snapshot for repeated queries decodes each file's footer, with
    /// its offset index, once: the second scan reads the footers kept by the first.
    #[tokio::test(flavor = "multi_thread")]
    async fn row_group_scans_of_a_snapshot_keep_the_footers_they_decode() {
        let (_dir, snapshot) = repeated_snapshot().await;
        let scan = async || -> Vec<i32> {
            let batches = scanned(&snapshot, &["date", "value"], vec![(5, 22)]).await;
            let mut dates: Vec<i32> = batches
                .iter()
                .flat_map(|b| {
                    let dates = b.column_by_name("date").unwrap();
                    dates.as_primitive::<Date32Type>().values().to_vec()
                })
                .collect();
            dates.sort_unstable();
            dates
        };
        let kept = || -> Vec<_> {
            let footers = snapshot.repeated.as_ref().unwrap().footers.lock().unwrap();
            let mut kept: Vec<_> = footers
                .iter()
                .map(|(p, m)| (p.clone(), m.clone()))
                .collect();
            kept.sort_by(|a, b| a.0.cmp(&b.0));
            kept
        };
        assert!(kept().is_empty());
        let expected: Vec<i32> = (5..10).chain(20..22).collect();

        assert_eq!(scan().await, expected);
        let first = kept();
        assert_eq!(first.len(), 2, "both files' footers are kept");
        for (_, metadata) in &first {
            assert!(
                metadata.metadata().offset_index().is_some(),
                "kept with the offset index"
            );
        }

        assert_eq!(scan().await, expected);
        let second = kept();
        assert_eq!(second.len(), 2);
        for ((_, before), (_, after)) in first.iter().zip(&second) {
            assert!(
                Arc::ptr_eq(before.metadata(), after.metadata()),
                "the second scan used the footer the first decoded"
            );
        }
    }
}
