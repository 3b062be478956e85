//! Z-ordering on one column, done as what it amounts to: a sort by that column.
//!
//! deltalake Z-orders by building a bit-interleaved binary key for every row, sorting the keys
//! and merging the sorted runs row by row across every column. On one column the curve is the
//! column's own order, and that machinery was most of the cost: silver's Z-order on
//! `horodatage` took half of a full history's `ecomix run`. Here each partition's files are
//! read, their rows put in the column's order in one sort, and written with the appends'
//! Parquet settings; the commit is an `OPTIMIZE`, as deltalake's, that removes exactly the
//! files read and changes no data.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt32Array, new_null_array};
use deltalake::arrow::compute::{cast, concat_batches, sort_to_indices, take, take_record_batch};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use deltalake::protocol::DeltaOperation;
use ecomix_core::layout::TableRef;
use futures::TryStreamExt;

use crate::append::{Appender, BackgroundAppender, ROW_GROUP_ROWS};
use crate::query::row_groups::StoreReader;
use crate::{Lake, LakeError};

/// What a sorting optimize did.
#[derive(Debug, Default)]
pub(crate) struct Sorted {
    pub version: Option<u64>,
    pub partitions: usize,
    pub files_removed: u64,
    pub files_added: u64,
}

/// One data file to rewrite.
struct DataFile {
    /// As the log names it: what the commit removes.
    log_path: String,
    store_path: deltalake::Path,
    size: u64,
    partition_values: HashMap<String, Option<String>>,
}

/// Rewrites the partitions of `table` whose first partition column's value is in `touched`
/// (every partition when `None`), each sorted by `column`, and commits the rewrite as an
/// `OPTIMIZE` with `metadata` in its commit information. `None` when the table is one this
/// reader does not handle (a reader version above 1, or `column` missing or a partition
/// column): deltalake's Z-order is used instead.
pub(crate) async fn sort_partitions(
    lake: &Lake,
    table: TableRef,
    column: &str,
    touched: Option<&BTreeSet<String>>,
    target_size: u64,
    metadata: HashMap<String, serde_json::Value>,
) -> Result<Option<Sorted>, LakeError> {
    let fail = |e: deltalake::DeltaTableError| LakeError::delta(table, e);
    // The table's own schema is used: the empty one would only serve a table to create.
    let appender = Appender::start(lake, table, Arc::new(Schema::empty()), &[]).await?;
    let Some(delta) = appender.table().cloned() else {
        return Ok(None);
    };
    let schema = appender.schema();
    let state = delta.snapshot().map_err(fail)?;
    let partition_columns = state.metadata().partition_columns().to_vec();
    let readable = state.protocol().min_reader_version() <= 1
        && schema.field_with_name(column).is_ok()
        && !partition_columns.iter().any(|p| p == column);
    if !readable {
        return Ok(None);
    }
    let text: Vec<&str> = schema
        .fields()
        .iter()
        .filter(|f| f.data_type() == &DataType::Utf8)
        .map(|f| f.name().as_str())
        .collect();

    // The files, by partition, of the version the commit builds on.
    let mut partitions: BTreeMap<Vec<(String, Option<String>)>, Vec<DataFile>> = BTreeMap::new();
    let files: Vec<_> = delta
        .get_active_add_actions_by_partitions(&[])
        .try_collect()
        .await
        .map_err(fail)?;
    for file in files {
        let partition_values = file.partition_values_map();
        let wanted = match (touched, partition_columns.first()) {
            (Some(values), Some(first)) => partition_values
                .get(first)
                .and_then(|v| v.as_ref())
                .is_some_and(|v| values.contains(v)),
            _ => true,
        };
        if !wanted {
            continue;
        }
        let mut key: Vec<_> = partition_values.clone().into_iter().collect();
        key.sort();
        partitions.entry(key).or_default().push(DataFile {
            log_path: file.path().to_string(),
            store_path: file.object_store_path(),
            size: u64::try_from(file.size()).unwrap_or(0),
            partition_values,
        });
    }
    let mut sorted = Sorted {
        partitions: partitions.len(),
        ..Sorted::default()
    };
    if partitions.is_empty() {
        return Ok(Some(sorted));
    }

    let removed: Vec<String> = partitions
        .values()
        .flatten()
        .map(|f| f.log_path.clone())
        .collect();
    sorted.files_removed = removed.len() as u64;
    let operation = DeltaOperation::Optimize {
        predicate: None,
        target_size: i64::try_from(target_size).unwrap_or(i64::MAX),
    };
    let first = appender
        .with_dictionary_columns(&text)
        .rearranging(removed, operation);
    // Two encoders, alternate partitions: encoding is most of the work, and this task's
    // reading and sorting is less than one core's.
    let second = Appender::start(lake, table, schema.clone(), &[])
        .await?
        .with_dictionary_columns(&text);
    let mut lanes = [first.in_background(), second.in_background()];
    let store = delta.object_store();
    for (number, files) in partitions.values().enumerate() {
        let rows = read_partition(table, &store, files, &schema).await?;
        write_sorted(table, &rows, column, &mut lanes[number % 2]).await?;
    }
    let [first, second] = lanes;
    let mut appender = first.finish().await?;
    let second = second.finish().await?;
    appender.absorb(second).await?;
    let (version, files_added) = appender.commit_counting(metadata).await?;
    sorted.version = version;
    sorted.files_added = files_added;
    Ok(Some(sorted))
}

/// The rows of one partition's files under `schema`: columns a file lacks are null, and the
/// partition columns (kept in the log, not in the files) hold the partition's values.
async fn read_partition(
    table: TableRef,
    store: &deltalake::logstore::ObjectStoreRef,
    files: &[DataFile],
    schema: &SchemaRef,
) -> Result<RecordBatch, LakeError> {
    let mut batches = Vec::new();
    for file in files {
        let fail = |e: &dyn std::fmt::Display| {
            LakeError::query(table, format!("{}: {e}", file.store_path))
        };
        let reader = StoreReader {
            store: store.clone(),
            path: file.store_path.clone(),
            size: file.size,
        };
        let stream = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(|e| fail(&e))?
            .with_batch_size(ROW_GROUP_ROWS)
            .build()
            .map_err(|e| fail(&e))?;
        let read: Vec<RecordBatch> = stream.try_collect().await.map_err(|e| fail(&e))?;
        for batch in read {
            batches.push(aligned(&batch, schema, &file.partition_values).map_err(|e| fail(&e))?);
        }
    }
    concat_batches(schema, &batches).map_err(|e| LakeError::query(table, e))
}

/// `batch` with the columns of `schema`, in its order and types.
fn aligned(
    batch: &RecordBatch,
    schema: &SchemaRef,
    partition_values: &HashMap<String, Option<String>>,
) -> Result<RecordBatch, deltalake::arrow::error::ArrowError> {
    let rows = batch.num_rows();
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(c) if c.data_type() == field.data_type() => Ok(c.clone()),
            Some(c) => cast(c, field.data_type()),
            None => match partition_values.get(field.name()) {
                Some(Some(value)) => repeated(field, value, rows),
                _ => Ok(new_null_array(field.data_type(), rows)),
            },
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}

/// A partition value, as the log writes it, on each of `rows` rows.
fn repeated(
    field: &Field,
    value: &str,
    rows: usize,
) -> Result<ArrayRef, deltalake::arrow::error::ArrowError> {
    if field.data_type() == &DataType::Utf8 {
        return Ok(crate::repeated_text(value, rows));
    }
    let one = cast(&StringArray::from(vec![value]), field.data_type())?;
    take(&one, &UInt32Array::from(vec![0u32; rows]), None)
}

/// Writes `rows` in the order of `column`, a row group's worth at a time: each chunk is
/// gathered as it is sent, so the sorted copy never exists whole beside the rows.
async fn write_sorted(
    table: TableRef,
    rows: &RecordBatch,
    column: &str,
    lane: &mut BackgroundAppender,
) -> Result<(), LakeError> {
    let fail = |e: deltalake::arrow::error::ArrowError| LakeError::query(table, e);
    let key = rows
        .column_by_name(column)
        .ok_or_else(|| LakeError::query(table, format!("no column {column}")))?;
    let order = sort_to_indices(key, None, None).map_err(fail)?;
    let mut start = 0;
    while start < order.len() {
        let length = ROW_GROUP_ROWS.min(order.len() - start);
        let chunk = take_record_batch(rows, &order.slice(start, length)).map_err(fail)?;
        lane.write(chunk).await?;
        start += length;
    }
    // The partition's file is finished: memory follows a partition, not the table.
    lane.seal().await
}
