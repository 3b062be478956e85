//! Appending to a table in a single commit, streaming batches through the Parquet encoder so a
//! large ingest never holds more than one batch in memory.

use std::collections::{BTreeSet, HashMap};

use delta_kernel::expressions::Scalar;
use deltalake::arrow::array::ArrayRef;
use deltalake::arrow::datatypes::{DataType, Field, SchemaRef};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, StructType};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter, WriteMode};
use deltalake::{DeltaTable, DeltaTableError};
use ecomix_core::layout::TableRef;
use indexmap::IndexMap;

use crate::{Lake, LakeError};

/// An append in progress. Nothing is visible to readers until [`Appender::commit`]; dropping
/// the appender abandons the write (files already uploaded are unreferenced and go at the next
/// vacuum).
pub struct Appender {
    lake: Lake,
    table_ref: TableRef,
    existing: Option<DeltaTable>,
    /// The schema batches are written under: the table's, grown by the columns batches bring.
    schema: SchemaRef,
    /// Whether `schema` grew since the append started: the commit then evolves the table's.
    widened: bool,
    partition_columns: Vec<String>,
    /// One writer per schema: deltalake's writer does not widen a partitioned table's schema,
    /// so a batch with new columns opens a wider writer; files of the narrower ones simply lack
    /// the new columns, which readers see as nulls.
    writers: Vec<RecordBatchWriter>,
    /// Whether ecomix's Parquet settings were asked for (see [`writer_properties`]); they are
    /// derived from the schema, so a wider writer gets them for its new columns too.
    configured: bool,
    dictionary: Vec<String>,
    no_statistics: Vec<String>,
    /// Files finalized by [`Appender::seal`], added by the commit.
    sealed: Vec<Add>,
    rows: usize,
    /// Which current files the commit removes (a replace rather than an append).
    replace: Option<Replace>,
}

/// Rows per Parquet row group: small enough that a reader filtering on a column the rows are
/// grouped by (bronze's dates, silver's instants) skips most of a file by its statistics, and
/// that an open file holds little in memory before its row group is encoded and uploaded.
pub(crate) const ROW_GROUP_ROWS: usize = 65_536;

/// A file is finished and a new one started past this size: a bulk ingest of a whole history
/// gives files readers can scan in parallel and that compaction leaves alone.
const FILE_BYTES: u64 = 128 * 1024 * 1024;

/// Which existing files a replacing commit removes.
#[derive(Debug, Clone)]
enum Replace {
    All,
    Partitions {
        column: String,
        values: BTreeSet<String>,
    },
    /// Exactly these files (their paths in the log): the rows written are theirs, rearranged
    /// by `operation` (an `OPTIMIZE`), so the commit changes no data.
    Rearrangement {
        files: BTreeSet<String>,
        operation: Box<DeltaOperation>,
    },
}

impl Appender {
    /// Starts an append to `table`, which is created with `schema` and `partition_columns` at
    /// commit time if it does not exist yet.
    pub async fn start(
        lake: &Lake,
        table: TableRef,
        schema: SchemaRef,
        partition_columns: &[&str],
    ) -> Result<Self, LakeError> {
        let existing = lake.open(table).await?;
        Self::with_table(lake, table, existing, schema, partition_columns)
    }

    /// [`Appender::start`] on the table as already opened (`None`: it does not exist yet).
    pub(crate) fn with_table(
        lake: &Lake,
        table: TableRef,
        existing: Option<DeltaTable>,
        schema: SchemaRef,
        partition_columns: &[&str],
    ) -> Result<Self, LakeError> {
        let partition_columns: Vec<String> = match &existing {
            Some(t) => t
                .snapshot()
                .map_err(|e| LakeError::delta(table, e))?
                .metadata()
                .partition_columns()
                .to_vec(),
            None => partition_columns.iter().map(|c| c.to_string()).collect(),
        };
        let writer = match &existing {
            Some(t) => RecordBatchWriter::for_table(t),
            None => RecordBatchWriter::try_new(
                lake.table_url(table),
                schema.clone(),
                Some(partition_columns.clone()),
                Some(lake.storage_options().clone()),
            ),
        }
        .map_err(|e| LakeError::delta(table, e))?
        .with_target_file_size(FILE_BYTES);
        // An existing table's schema may have grown beyond `schema` (columns an earlier file
        // brought): batches are written under the table's.
        let schema = match &existing {
            Some(_) => writer.arrow_schema(),
            None => schema,
        };
        let mut appender = Self {
            lake: lake.clone(),
            table_ref: table,
            existing,
            schema,
            widened: false,
            partition_columns,
            writers: vec![writer],
            configured: false,
            dictionary: Vec::new(),
            no_statistics: table.unstatistical.iter().map(|c| c.to_string()).collect(),
            sealed: Vec::new(),
            rows: 0,
            replace: None,
        };
        if !table.unstatistical.is_empty() {
            appender.apply_properties();
        }
        Ok(appender)
    }

    /// A second encoder for this append's commit, to run beside it and be given back with
    /// [`Appender::absorb`]: the same table version (the log is not read again), schema and
    /// Parquet settings, and nothing to remove of its own.
    pub fn sibling(&self) -> Result<Self, LakeError> {
        let partition_columns: Vec<&str> =
            self.partition_columns.iter().map(String::as_str).collect();
        let mut sibling = Self::with_table(
            &self.lake,
            self.table_ref,
            self.existing.clone(),
            self.schema.clone(),
            &partition_columns,
        )?;
        sibling.dictionary = self.dictionary.clone();
        if self.configured {
            sibling.apply_properties();
        }
        Ok(sibling)
    }

    /// The batch under the append's schema, opening a wider writer first when the batch
    /// brings columns the schema does not have; columns the batch lacks are nulls.
    fn conform(&mut self, batch: RecordBatch) -> Result<RecordBatch, LakeError> {
        use deltalake::arrow::array::new_null_array;
        if batch.schema() == self.schema {
            return Ok(batch);
        }
        let fail = |e: &dyn std::fmt::Display| LakeError::Query {
            table: self.table_ref.to_string(),
            message: format!("a batch does not fit the table's schema: {e}"),
        };
        let new: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .filter(|f| self.schema.field_with_name(f.name()).is_err())
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        if !new.is_empty() {
            tracing::info!(
                table = %self.table_ref,
                columns = ?new.iter().map(|f| f.name()).collect::<Vec<_>>(),
                "the table's schema grows"
            );
            self.schema = widened(&self.schema, new);
            self.widened = true;
            let writer = RecordBatchWriter::try_new(
                self.lake.table_url(self.table_ref),
                self.schema.clone(),
                Some(self.partition_columns.clone()),
                Some(self.lake.storage_options().clone()),
            )
            .map_err(|e| LakeError::delta(self.table_ref, e))?
            .with_target_file_size(FILE_BYTES);
            let writer = if self.configured {
                writer.with_writer_properties(self.built_properties())
            } else {
                writer
            };
            self.writers.push(writer);
        }
        fitted(&batch, &self.schema, |field, rows| {
            Ok(new_null_array(field.data_type(), rows))
        })
        .map_err(|e| fail(&e))
    }

    /// Parquet dictionaries only for these columns (low-cardinality text); the others get the
    /// encodings of `writer_properties` (measures plain, integers and dates delta-encoded).
    pub fn with_dictionary_columns(mut self, columns: &[&str]) -> Self {
        self.dictionary = columns.iter().map(|c| c.to_string()).collect();
        self.apply_properties();
        self
    }

    fn built_properties(&self) -> deltalake::parquet::file::properties::WriterProperties {
        writer_properties(&self.schema, &self.dictionary, &self.no_statistics)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build()
    }

    fn apply_properties(&mut self) {
        let properties = self.built_properties();
        self.writers = std::mem::take(&mut self.writers)
            .into_iter()
            .map(|w| w.with_writer_properties(properties.clone()))
            .collect();
        self.configured = true;
    }

    /// Makes the commit replace these partitions: their current files are removed in the same
    /// transaction that adds the new ones, so readers see the old or the new data, never both.
    pub fn replacing_partitions(
        mut self,
        column: &str,
        values: impl IntoIterator<Item = String>,
    ) -> Self {
        self.replace = Some(Replace::Partitions {
            column: column.to_string(),
            values: values.into_iter().collect(),
        });
        self
    }

    /// Makes the commit replace the whole table's data.
    pub fn replacing_all(mut self) -> Self {
        self.replace = Some(Replace::All);
        self
    }

    /// Makes the commit a rearrangement of the table's rows under `operation` (an
    /// `OPTIMIZE`): it removes exactly `files`, which the rows written were read from, and
    /// marks its adds and removes as changing no data, so that readers of changes skip it.
    pub(crate) fn rearranging(
        mut self,
        files: impl IntoIterator<Item = String>,
        operation: DeltaOperation,
    ) -> Self {
        self.replace = Some(Replace::Rearrangement {
            files: files.into_iter().collect(),
            operation: Box::new(operation),
        });
        self
    }

    /// The schema batches are written under.
    pub(crate) fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn table_exists(&self) -> bool {
        self.existing.is_some()
    }

    pub async fn write(&mut self, batch: RecordBatch) -> Result<(), LakeError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = self.conform(batch)?;
        self.rows += batch.num_rows();
        let writer = self.writers.last_mut().expect("an appender has a writer");
        let result = match single_partition(&batch, &self.partition_columns) {
            // The usual case (one ingest, one date): skip the writer's split by partition, which
            // copies every column of the batch.
            Some(values) => writer
                .write_partition(batch, &values, WriteMode::Default)
                .await
                .map(|_| ()),
            None => writer.write(batch).await,
        };
        result.map_err(|e| LakeError::delta(self.table_ref, e))?;
        crate::crash::point("batch-written");
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Finalizes the files written so far without committing them: what their open row groups
    /// held is uploaded and freed, so memory follows the batch, not the whole append. The
    /// commit still adds every file in one version.
    pub async fn seal(&mut self) -> Result<(), LakeError> {
        for writer in &mut self.writers {
            let adds = writer
                .flush()
                .await
                .map_err(|e| LakeError::delta(self.table_ref, e))?;
            self.sealed.extend(adds);
        }
        Ok(())
    }

    /// Takes in another append to the same table (a second encoder, run beside this one): its
    /// files are finalized and added by this append's commit, and its new columns join the
    /// schema the commit gives the table.
    pub async fn absorb(&mut self, mut other: Appender) -> Result<(), LakeError> {
        other.seal().await?;
        self.sealed.append(&mut other.sealed);
        self.rows += other.rows;
        if other.widened {
            let new = other
                .schema
                .fields()
                .iter()
                .filter(|f| self.schema.field_with_name(f.name()).is_err())
                .map(|f| f.as_ref().clone());
            self.schema = widened(&self.schema, new);
            self.widened = true;
        }
        Ok(())
    }

    /// Commits everything written as one new table version, recording `app_metadata` in the
    /// commit info. Returns the new version, or `None` when nothing was written.
    pub async fn commit(
        self,
        app_metadata: HashMap<String, serde_json::Value>,
    ) -> Result<Option<u64>, LakeError> {
        Ok(self.commit_counting(app_metadata).await?.0)
    }

    /// [`Appender::commit`], also returning how many files the commit added.
    pub(crate) async fn commit_counting(
        mut self,
        app_metadata: HashMap<String, serde_json::Value>,
    ) -> Result<(Option<u64>, u64), LakeError> {
        let table_ref = self.table_ref;
        let fail = |e: DeltaTableError| LakeError::delta(table_ref, e);
        let mut files = std::mem::take(&mut self.sealed);
        for writer in &mut self.writers {
            files.extend(writer.flush().await.map_err(fail)?);
        }
        let data_change = !matches!(self.replace, Some(Replace::Rearrangement { .. }));
        let adds: Vec<Action> = files
            .into_iter()
            .map(|add| Action::Add(Add { data_change, ..add }))
            .collect();
        let added = adds.len() as u64;
        let removes = match (&self.existing, &self.replace) {
            (Some(table), Some(replace)) => {
                removals(table, replace, data_change).await.map_err(fail)?
            }
            _ => Vec::new(),
        };
        if adds.is_empty() && removes.is_empty() {
            return Ok((None, 0));
        }
        crate::lock::ensure_lease_held(self.lake.root().as_str())?;
        crate::crash::point("before-commit");
        let properties = CommitProperties::default().with_metadata(app_metadata);
        match self.existing {
            Some(table) => {
                let write = |mode, predicate| DeltaOperation::Write {
                    mode,
                    partition_by: Some(self.partition_columns.clone()).filter(|p| !p.is_empty()),
                    predicate,
                };
                let operation = match &self.replace {
                    None => write(SaveMode::Append, None),
                    Some(Replace::All) => write(SaveMode::Overwrite, None),
                    Some(Replace::Partitions { column, values }) => {
                        let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
                        let predicate = format!("{column} IN ({})", quoted.join(", "));
                        write(SaveMode::Overwrite, Some(predicate))
                    }
                    Some(Replace::Rearrangement { operation, .. }) => operation.as_ref().clone(),
                };
                let snapshot = table.snapshot().map_err(fail)?;
                // New columns: the same commit evolves the table's schema.
                let evolved = if self.widened {
                    use deltalake::kernel::MetadataExt as _;
                    let schema: StructType = self
                        .schema
                        .as_ref()
                        .try_into_kernel()
                        .map_err(|e| fail(DeltaTableError::from(e)))?;
                    let metadata = snapshot
                        .metadata()
                        .clone()
                        .with_schema(&schema)
                        .map_err(|e| fail(e.into()))?;
                    Some(Action::Metadata(metadata))
                } else {
                    None
                };
                let adds: Vec<Action> = evolved.into_iter().chain(removes).chain(adds).collect();
                let finalized = CommitBuilder::from(properties)
                    .with_actions(adds)
                    .build(Some(snapshot), table.log_store(), operation)
                    .await
                    .map_err(fail)?;
                crate::crash::point("after-commit");
                Ok((Some(finalized.version()), added))
            }
            None => {
                let delta_schema: StructType = self
                    .schema
                    .as_ref()
                    .try_into_kernel()
                    .map_err(|e| fail(DeltaTableError::from(e)))?;
                // Built without loading: the table does not exist yet.
                let table = deltalake::DeltaTableBuilder::from_url(self.lake.table_url(table_ref))
                    .and_then(|b| {
                        b.with_storage_options(self.lake.storage_options().clone())
                            .build()
                    })
                    .map_err(fail)?;
                let created = table
                    .create()
                    .with_table_name(table_ref.name)
                    .with_columns(delta_schema.fields().cloned())
                    .with_partition_columns(self.partition_columns.clone())
                    .with_actions(adds)
                    .with_commit_properties(properties)
                    .await
                    .map_err(fail)?;
                crate::crash::point("after-commit");
                Ok((created.version(), added))
            }
        }
    }
}

/// `batch` with the columns of `schema`, in its order and types: a column of another type is
/// cast, strictly (a value that does not fit is an error, never a silent null), and a column
/// the batch lacks is made by `missing` from its field and the number of rows.
pub(crate) fn fitted(
    batch: &RecordBatch,
    schema: &SchemaRef,
    mut missing: impl FnMut(&Field, usize) -> Result<ArrayRef, ArrowError>,
) -> Result<RecordBatch, ArrowError> {
    let rows = batch.num_rows();
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(c) => cast_strictly(c, field.data_type()),
            None => missing(field, rows),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}

/// `column` as `to`: itself when it already is, else cast strictly (a value that does not fit
/// is an error, never a silent null).
pub(crate) fn cast_strictly(column: &ArrayRef, to: &DataType) -> Result<ArrayRef, ArrowError> {
    if column.data_type() == to {
        return Ok(column.clone());
    }
    let strict = deltalake::arrow::compute::CastOptions {
        safe: false,
        ..Default::default()
    };
    deltalake::arrow::compute::cast_with_options(column, to, &strict)
}

/// `schema` with `new` fields after its own.
fn widened(schema: &SchemaRef, new: impl IntoIterator<Item = Field>) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .chain(new)
        .collect();
    std::sync::Arc::new(deltalake::arrow::datatypes::Schema::new(fields))
}

/// An [`Appender`] driven from a task of its own, so that encoding and uploading Parquet runs
/// beside the work that produces the batches (on the other core) rather than after it.
pub struct BackgroundAppender {
    table: String,
    jobs: Option<tokio::sync::mpsc::Sender<Job>>,
    task: Option<tokio::task::JoinHandle<Result<Appender, LakeError>>>,
}

enum Job {
    Write(RecordBatch),
    Seal,
}

/// Batches queued ahead of the writer: enough to keep it busy, few enough to bound memory.
const QUEUED_BATCHES: usize = 4;

impl Appender {
    pub fn in_background(mut self) -> BackgroundAppender {
        let table = self.table_ref.to_string();
        let (jobs, mut queue) = tokio::sync::mpsc::channel(QUEUED_BATCHES);
        let task = tokio::spawn(async move {
            while let Some(job) = queue.recv().await {
                match job {
                    Job::Write(batch) => self.write(batch).await?,
                    Job::Seal => self.seal().await?,
                }
            }
            Ok(self)
        });
        BackgroundAppender {
            table,
            jobs: Some(jobs),
            task: Some(task),
        }
    }
}

impl BackgroundAppender {
    pub async fn write(&mut self, batch: RecordBatch) -> Result<(), LakeError> {
        self.send(Job::Write(batch)).await
    }

    /// See [`Appender::seal`].
    pub async fn seal(&mut self) -> Result<(), LakeError> {
        self.send(Job::Seal).await
    }

    async fn send(&mut self, job: Job) -> Result<(), LakeError> {
        let sent = match &self.jobs {
            Some(jobs) => jobs.send(job).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The writer stopped: its own error is the one to report.
        self.jobs = None;
        match self.join().await {
            Err(e) => Err(e),
            Ok(_) => Err(LakeError::Query {
                table: self.table.clone(),
                message: "the background writer stopped".into(),
            }),
        }
    }

    async fn join(&mut self) -> Result<Appender, LakeError> {
        let task = self.task.take().ok_or_else(|| LakeError::Query {
            table: self.table.clone(),
            message: "the background writer already stopped".into(),
        })?;
        task.await.map_err(|e| LakeError::Query {
            table: self.table.clone(),
            message: format!("the background writer failed: {e}"),
        })?
    }

    /// Waits for every queued batch to be written; the appender is then ready to commit.
    pub async fn finish(mut self) -> Result<Appender, LakeError> {
        self.jobs = None;
        self.join().await
    }
}

/// The value of a primitive column whose rows all hold the same one.
fn constant<T: deltalake::arrow::datatypes::ArrowPrimitiveType>(
    column: &dyn deltalake::arrow::array::Array,
) -> Option<T::Native> {
    use deltalake::arrow::array::AsArray;
    let values = column.as_primitive::<T>().values();
    let first = *values.first()?;
    values.iter().all(|v| *v == first).then_some(first)
}

/// Remove actions for the table's current files that `replace` covers.
async fn removals(
    table: &DeltaTable,
    replace: &Replace,
    data_change: bool,
) -> Result<Vec<Action>, DeltaTableError> {
    use futures::TryStreamExt;
    let files: Vec<_> = table
        .get_active_add_actions_by_partitions(&[])
        .try_collect()
        .await?;
    Ok(files
        .into_iter()
        .filter(|file| match replace {
            Replace::All => true,
            Replace::Partitions { column, values } => file
                .partition_values_map()
                .get(column)
                .and_then(|v| v.as_ref())
                .is_some_and(|v| values.contains(v)),
            Replace::Rearrangement { files, .. } => files.contains(file.path().as_ref()),
        })
        .map(|file| Action::Remove(file.remove_action(data_change)))
        .collect())
}

/// The partition values of `batch` when all its rows are in one partition of these columns
/// (dates, integers and strings, the partition types ecomix uses); `None` otherwise.
fn single_partition(
    batch: &RecordBatch,
    partition_columns: &[String],
) -> Option<IndexMap<String, Scalar>> {
    use deltalake::arrow::array::{Array, AsArray};
    use deltalake::arrow::datatypes::{DataType, Date32Type, Int32Type};
    if partition_columns.is_empty() {
        return None;
    }
    let mut values = IndexMap::new();
    for name in partition_columns {
        let column = batch.column_by_name(name)?;
        if column.null_count() > 0 {
            return None;
        }
        let scalar = match column.data_type() {
            DataType::Date32 => Scalar::Date(constant::<Date32Type>(column)?),
            DataType::Int32 => Scalar::Integer(constant::<Int32Type>(column)?),
            DataType::Utf8 => {
                let strings = column.as_string::<i32>();
                let first = strings.value(0);
                strings
                    .iter()
                    .all(|s| s == Some(first))
                    .then(|| Scalar::String(first.to_string()))?
            }
            _ => return None,
        };
        values.insert(name.clone(), scalar);
    }
    Some(values)
}

/// The Parquet settings of every file ecomix writes (appends and optimize's rewrites alike).
///
/// - Snappy: fast to encode and decode, and what every Delta reader expects.
/// - Dictionaries only for `dictionary` (low-cardinality text): measures are written plainly,
///   which is faster and no larger once compressed.
/// - Integer, date and timestamp columns delta-encoded: the lineage's row numbers and
///   ingestion times, dates and instants step by a constant, so each page of them packs into a
///   few bytes instead of eight per row that Snappy then has to scan (a third of bronze's and
///   silver's bytes before compression).
/// - No statistics for `no_statistics`: text that no reader filters on.
pub(crate) fn writer_properties(
    schema: &deltalake::arrow::datatypes::Schema,
    dictionary: &[String],
    no_statistics: &[String],
) -> deltalake::parquet::file::properties::WriterPropertiesBuilder {
    use deltalake::arrow::datatypes::DataType;
    use deltalake::parquet::basic::{Compression, Encoding};
    use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
    use deltalake::parquet::schema::types::ColumnPath;
    let mut properties = WriterProperties::builder()
        .set_created_by(format!("ecomix {}", env!("CARGO_PKG_VERSION")))
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(false);
    for field in schema.fields() {
        let integral = matches!(
            field.data_type(),
            DataType::Int32 | DataType::Int64 | DataType::Date32 | DataType::Timestamp(_, _)
        );
        if integral && !dictionary.iter().any(|c| c == field.name()) {
            properties = properties.set_column_encoding(
                ColumnPath::from(field.name().as_str()),
                Encoding::DELTA_BINARY_PACKED,
            );
        }
    }
    for column in dictionary {
        properties =
            properties.set_column_dictionary_enabled(ColumnPath::from(column.as_str()), true);
    }
    for column in no_statistics {
        properties = properties.set_column_statistics_enabled(
            ColumnPath::from(column.as_str()),
            EnabledStatistics::None,
        );
    }
    properties
}

/// One append of `batch` to `table` (created unpartitioned if need be), committed.
#[cfg(test)]
pub(crate) async fn append_once(lake: &Lake, table: TableRef, batch: RecordBatch) {
    let mut append = Appender::start(lake, table, batch.schema(), &[])
        .await
        .unwrap();
    append.write(batch).await.unwrap();
    append.commit(HashMap::new()).await.unwrap();
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::array::{Date32Array, Float64Array, Int64Array};
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    use ecomix_core::layout::{Layer, TableRef};

    use super::*;

    const TABLE: TableRef = TableRef::new(Layer::Bronze, "append_test");

    fn batch(days: &[i32], values: &[f64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("value", DataType::Float64, true),
            Field::new("day", DataType::Date32, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Float64Array::from(values.to_vec())),
                Arc::new(Date32Array::from(days.to_vec())),
            ],
        )
        .unwrap()
    }

    #[test]
    fn single_partition_is_found_only_when_constant() {
        let partitions = ["day".to_string()];
        let one = single_partition(&batch(&[5, 5, 5], &[1.0, 2.0, 3.0]), &partitions).unwrap();
        assert_eq!(one.get("day"), Some(&Scalar::Date(5)));
        assert!(single_partition(&batch(&[5, 6], &[1.0, 2.0]), &partitions).is_none());
        assert!(single_partition(&batch(&[5], &[1.0]), &[]).is_none());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn appends_commit_once_each_and_nothing_before_commit() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path().to_str().unwrap()).unwrap();
        let schema = batch(&[0], &[0.0]).schema();

        let mut first = Appender::start(&lake, TABLE, schema.clone(), &["day"])
            .await
            .unwrap();
        first.write(batch(&[7, 7], &[1.0, 2.0])).await.unwrap();
        first.write(batch(&[7, 8], &[3.0, 4.0])).await.unwrap();
        assert_eq!(
            lake.version(TABLE).await.unwrap(),
            None,
            "nothing visible before commit"
        );
        assert_eq!(first.commit(HashMap::new()).await.unwrap(), Some(0));

        let mut abandoned = Appender::start(&lake, TABLE, schema.clone(), &["day"])
            .await
            .unwrap();
        abandoned.write(batch(&[9], &[100.0])).await.unwrap();
        drop(abandoned);

        let mut second = Appender::start(&lake, TABLE, schema.clone(), &["day"])
            .await
            .unwrap();
        assert!(second.table_exists());
        second.write(batch(&[8], &[5.0])).await.unwrap();
        assert_eq!(second.commit(HashMap::new()).await.unwrap(), Some(1));
        let empty = Appender::start(&lake, TABLE, schema, &["day"])
            .await
            .unwrap();
        assert_eq!(empty.commit(HashMap::new()).await.unwrap(), None);

        let rows = crate::query(
            &lake,
            TABLE,
            "SELECT CAST(day AS BIGINT) AS d, SUM(value) FROM t GROUP BY d ORDER BY d",
        )
        .await
        .unwrap();
        let days: Vec<i64> = rows
            .iter()
            .flat_map(|b| {
                let c = deltalake::arrow::compute::cast(b.column(0), &DataType::Int64).unwrap();
                c.as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(days, [7, 8], "the abandoned append left no row");
        assert!(
            dir.path()
                .join("bronze/append_test/day=1970-01-08")
                .is_dir()
        );
        assert_eq!(lake.version(TABLE).await.unwrap(), Some(1));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn files_carry_each_column_types_encoding() {
        use deltalake::arrow::array::{AsArray, StringArray};
        use deltalake::arrow::datatypes::{Float64Type, Int64Type};
        use deltalake::parquet::basic::Encoding;
        use deltalake::parquet::file::reader::{FileReader, SerializedFileReader};

        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path().to_str().unwrap()).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("value", DataType::Float64, true),
            Field::new("row", DataType::Int64, true),
            Field::new("label", DataType::Utf8, true),
            Field::new("day", DataType::Date32, true),
        ]));
        let rows: Vec<i64> = (2..1_002).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Float64Array::from_iter_values(
                    rows.iter().map(|&r| r as f64 / 4.0),
                )),
                Arc::new(Int64Array::from(rows.clone())),
                Arc::new(StringArray::from(vec!["Données définitives"; rows.len()])),
                Arc::new(Date32Array::from(vec![7; rows.len()])),
            ],
        )
        .unwrap();
        let mut append = Appender::start(&lake, TABLE, schema, &["day"])
            .await
            .unwrap()
            .with_dictionary_columns(&["label"]);
        append.write(batch).await.unwrap();
        append.commit(HashMap::new()).await.unwrap();

        let partition = dir.path().join("bronze/append_test/day=1970-01-08");
        let file = std::fs::read_dir(&partition)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "parquet"))
            .expect("a data file");
        let reader = SerializedFileReader::new(std::fs::File::open(file).unwrap()).unwrap();
        let group = reader.metadata().row_group(0);
        let encodings = |name: &str| {
            group
                .columns()
                .iter()
                .find(|c| c.column_path().string() == name)
                .unwrap_or_else(|| panic!("a column {name}"))
                .encodings()
                .collect::<Vec<_>>()
        };
        assert!(encodings("row").contains(&Encoding::DELTA_BINARY_PACKED));
        assert!(!encodings("value").contains(&Encoding::DELTA_BINARY_PACKED));
        assert!(!encodings("value").contains(&Encoding::RLE_DICTIONARY));
        assert!(encodings("label").contains(&Encoding::RLE_DICTIONARY));

        // Read back through DataFusion: the delta-encoded numbers are the ones written.
        let back = crate::query(&lake, TABLE, "SELECT row, value FROM t ORDER BY row")
            .await
            .unwrap();
        let read: Vec<(i64, f64)> = back
            .iter()
            .flat_map(|b| {
                let r = b.column(0).as_primitive::<Int64Type>().clone();
                let v = b.column(1).as_primitive::<Float64Type>().clone();
                (0..b.num_rows()).map(move |i| (r.value(i), v.value(i)))
            })
            .collect();
        let expected: Vec<(i64, f64)> = rows.iter().map(|&r| (r, r as f64 / 4.0)).collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn table_urls_follow_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path().to_str().unwrap()).unwrap();
        let url = lake.table_url(TABLE);
        assert!(url.as_str().starts_with("file://"));
        assert!(url.as_str().ends_with("/bronze/append_test/"), "{url}");
    }
}
