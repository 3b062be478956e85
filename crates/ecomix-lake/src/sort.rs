//! Z-ordering on one column, done as what it amounts to: a sort by that column.
//!
//! deltalake Z-orders by building a bit-interleaved binary key for every row, sorting the keys
//! and merging the sorted runs row by row across every column. On one column the curve is the
//! column's own order, and that machinery was most of the cost: silver's Z-order on
//! `horodatage` took half of a full history's `ecomix run`. Here each partition's files are
//! read a row group at a time, without the chunks their statistics show null throughout, their
//! rows put in the column's order in one sort, and written with the appends' Parquet settings;
//! the commit is an `OPTIMIZE`, as deltalake's, that removes exactly the files read and changes
//! no data.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::arrow::array::{
    Array, ArrayRef, RecordBatch, StringArray, UInt32Array, new_null_array,
};
use deltalake::arrow::compute::{concat, concat_batches, interleave, sort_to_indices, take};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use deltalake::parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use deltalake::protocol::DeltaOperation;
use ecomix_core::layout::TableRef;
use futures::TryStreamExt;

use crate::append::{Appender, BackgroundAppender, ROW_GROUP_ROWS, cast_strictly};
use crate::maintenance::{OptimizeReport, partition_of};
use crate::query::row_groups::StoreReader;
use crate::{Lake, LakeError};

/// One data file to rewrite.
struct DataFile {
    /// As the log names it: what the commit removes.
    log_path: String,
    store_path: deltalake::Path,
    size: u64,
    partition_values: HashMap<String, Option<String>>,
}

/// Rewrites the partitions of `delta` (the opened `table`) whose first partition column's
/// value is in `touched` (every partition when `None`), each sorted by `column`, and commits
/// the rewrite as an `OPTIMIZE` with `metadata` in its commit information. `text_columns` get
/// dictionaries, as in every other write of the table. `None` when the table is one this
/// reader does not handle (a reader version above 1, or `column` missing or a partition
/// column): deltalake's Z-order is used instead.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn sort_partitions(
    lake: &Lake,
    table: TableRef,
    delta: &DeltaTable,
    text_columns: &[String],
    column: &str,
    touched: Option<&BTreeSet<String>>,
    target_size: u64,
    metadata: HashMap<String, serde_json::Value>,
) -> Result<Option<OptimizeReport>, LakeError> {
    let fail = |e: deltalake::DeltaTableError| LakeError::delta(table, e);
    // The table's own schema is used: the empty one would only serve a table to create.
    let appender = Appender::with_table(
        lake,
        table,
        Some(delta.clone()),
        Arc::new(Schema::empty()),
        &[],
    )?;
    let schema = appender.schema();
    let state = delta.snapshot().map_err(fail)?;
    let partition_columns = state.metadata().partition_columns().to_vec();
    let readable = state.protocol().min_reader_version() <= 1
        && schema.field_with_name(column).is_ok()
        && !partition_columns.iter().any(|p| p == column);
    if !readable {
        return Ok(None);
    }
    let text: Vec<&str> = text_columns.iter().map(String::as_str).collect();

    let partitions = files_by_partition(delta, &partition_columns, touched)
        .await
        .map_err(fail)?;
    let mut report = OptimizeReport {
        table: table.to_string(),
        zorder: vec![column.to_string()],
        partitions: partitions.len(),
        ..OptimizeReport::default()
    };
    if partitions.is_empty() {
        return Ok(Some(report));
    }

    let removed: Vec<String> = partitions
        .values()
        .flatten()
        .map(|f| f.log_path.clone())
        .collect();
    report.files_removed = removed.len() as u64;
    let operation = DeltaOperation::Optimize {
        predicate: None,
        target_size: i64::try_from(target_size).unwrap_or(i64::MAX),
    };
    let first = appender
        .with_dictionary_columns(&text)
        .rearranging(removed, operation);
    // Two encoders, alternate partitions: encoding is most of the work, and this task's
    // reading and sorting is less than one core's.
    let second = first.sibling()?;
    let mut lanes = [first.in_background(), second.in_background()];
    let store = delta.object_store();
    for (number, files) in partitions.values().enumerate() {
        let rows =
            read_partition(table, &store, files, &schema, &partition_columns, column).await?;
        write_sorted(table, rows, &schema, column, &mut lanes[number % 2]).await?;
    }
    let [first, second] = lanes;
    let mut appender = first.finish().await?;
    let second = second.finish().await?;
    appender.absorb(second).await?;
    let (version, files_added) = appender.commit_counting(metadata).await?;
    report.version = version;
    report.files_added = files_added;
    Ok(Some(report))
}

/// The table's files, by partition, of the version the commit builds on: those of the
/// partitions whose first partition column's value is in `touched` (all when `None`).
async fn files_by_partition(
    delta: &DeltaTable,
    partition_columns: &[String],
    touched: Option<&BTreeSet<String>>,
) -> Result<BTreeMap<Vec<(String, Option<String>)>, Vec<DataFile>>, deltalake::DeltaTableError> {
    let mut partitions: BTreeMap<Vec<(String, Option<String>)>, Vec<DataFile>> = BTreeMap::new();
    let files: Vec<_> = delta
        .get_active_add_actions_by_partitions(&[])
        .try_collect()
        .await?;
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
        partitions
            .entry(partition_of(&file))
            .or_default()
            .push(DataFile {
                log_path: file.path().to_string(),
                store_path: file.object_store_path(),
                size: u64::try_from(file.size()).unwrap_or(0),
                partition_values,
            });
    }
    Ok(partitions)
}

/// A partition's rows as read: a row group at a time, each with only the columns that hold a
/// value in it. A region's row group is null throughout in most national measures (at 130
/// perimeters, most of a month's chunks), and reading those in full filled the partition with
/// zeros: its nulls are made only for the chunks being written.
struct Partition {
    groups: Vec<RowGroup>,
    /// By field of the table's schema: the partition's value for a partition column (kept in
    /// the log, not in the files).
    partition_values: Vec<Option<String>>,
}

/// One row group: its row count and, by field of the table's schema, its column, or `None`
/// where the file lacks the column or its statistics show it null throughout.
struct RowGroup {
    rows: usize,
    columns: Vec<Option<ArrayRef>>,
}

/// The rows of one partition's files under `schema`: columns a file lacks are null, and the
/// partition columns hold the partition's values. `column`, the sort key, is always read.
async fn read_partition(
    table: TableRef,
    store: &deltalake::logstore::ObjectStoreRef,
    files: &[DataFile],
    schema: &SchemaRef,
    partition_columns: &[String],
    column: &str,
) -> Result<Partition, LakeError> {
    let partition_values = schema
        .fields()
        .iter()
        .map(|field| {
            let is_partition = partition_columns.iter().any(|p| p == field.name());
            let value = files
                .first()
                .and_then(|f| f.partition_values.get(field.name()).cloned().flatten());
            is_partition.then_some(value).flatten()
        })
        .collect();
    let mut groups = Vec::new();
    for file in files {
        let fail = |e: &dyn std::fmt::Display| {
            LakeError::query(table, format!("{}: {e}", file.store_path))
        };
        let mut reader = StoreReader {
            store: store.clone(),
            path: file.store_path.clone(),
            size: file.size,
        };
        let metadata = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new())
            .await
            .map_err(|e| fail(&e))?;
        let parquet = metadata.metadata().clone();
        let descriptor = parquet.file_metadata().schema_descr();
        // By field of `schema`: the file's column of that name (a root, for the projection),
        // unless it is a partition column; and the column's leaf when the column is a plain
        // value, whose null count is a count of null rows. A list's or a struct's leaves count
        // null elements and fields, not rows: such a column is always read.
        let columns_in_file: Vec<Option<(usize, Option<usize>)>> = schema
            .fields()
            .iter()
            .map(|field| {
                if partition_columns.iter().any(|p| p == field.name()) {
                    return None;
                }
                let root = metadata.schema().index_of(field.name()).ok()?;
                let leaf = descriptor.columns().iter().position(|leaf| {
                    leaf.max_rep_level() == 0 && leaf.path().parts() == [field.name().as_str()]
                });
                Some((root, leaf))
            })
            .collect();
        for (index, group) in parquet.row_groups().iter().enumerate() {
            let rows = usize::try_from(group.num_rows()).unwrap_or(0);
            if rows == 0 {
                continue;
            }
            let null_throughout = |leaf: usize| {
                group
                    .column(leaf)
                    .statistics()
                    .and_then(|s| s.null_count_opt())
                    == Some(rows as u64)
            };
            let wanted: Vec<Option<usize>> = schema
                .fields()
                .iter()
                .zip(&columns_in_file)
                .map(|(field, in_file)| match *in_file {
                    Some((_, Some(leaf))) if field.name() != column && null_throughout(leaf) => {
                        None
                    }
                    Some((root, _)) => Some(root),
                    None => None,
                })
                .collect();
            let mask = ProjectionMask::roots(descriptor, wanted.iter().flatten().copied());
            let batches: Vec<RecordBatch> = ParquetRecordBatchStreamBuilder::new_with_metadata(
                reader.clone(),
                metadata.clone(),
            )
            .with_row_groups(vec![index])
            .with_projection(mask)
            .with_batch_size(rows)
            .build()
            .map_err(|e| fail(&e))?
            .try_collect()
            .await
            .map_err(|e| fail(&e))?;
            let Some(first) = batches.first() else {
                return Err(fail(&format!("row group {index} gave no rows")));
            };
            let batch = concat_batches(&first.schema(), &batches).map_err(|e| fail(&e))?;
            if batch.num_rows() != rows {
                return Err(fail(&format!(
                    "row group {index} gave {} rows, its metadata says {rows}",
                    batch.num_rows()
                )));
            }
            let columns = schema
                .fields()
                .iter()
                .zip(&wanted)
                .map(|(field, wanted)| {
                    wanted
                        .and_then(|_| batch.column_by_name(field.name()))
                        .map(|read| cast_strictly(read, field.data_type()))
                        .transpose()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| fail(&e))?;
            groups.push(RowGroup {
                rows: batch.num_rows(),
                columns,
            });
        }
    }
    Ok(Partition {
        groups,
        partition_values,
    })
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
    let one: ArrayRef = Arc::new(StringArray::from(vec![value]));
    let one = cast_strictly(&one, field.data_type())?;
    take(&one, &UInt32Array::from(vec![0u32; rows]), None)
}

/// Rows gathered and sent to an encoder at a time. A quarter of a row group: the encoder
/// still fills whole row groups, and the chunks queued ahead of two encoders (a partition's
/// worth at 130 perimeters) stay small beside the partition itself.
const CHUNK_ROWS: usize = ROW_GROUP_ROWS / 4;

/// Writes the partition's rows in the order of `column`, a chunk at a time: each chunk is
/// gathered from the row groups as it is sent, so the sorted copy never exists whole beside
/// the rows, and a column null throughout a row group is null in the chunk without having
/// been read.
async fn write_sorted(
    table: TableRef,
    partition: Partition,
    schema: &SchemaRef,
    column: &str,
    lane: &mut BackgroundAppender,
) -> Result<(), LakeError> {
    let fail = |e: deltalake::arrow::error::ArrowError| LakeError::query(table, e);
    let key_index = schema
        .index_of(column)
        .map_err(|_| LakeError::query(table, format!("no column {column}")))?;
    let key_field = schema.field(key_index);
    let order = {
        let parts = partition
            .groups
            .iter()
            .map(|group| match &group.columns[key_index] {
                Some(part) => part.clone(),
                None => new_null_array(key_field.data_type(), group.rows),
            })
            .collect::<Vec<_>>();
        let parts: Vec<&dyn Array> = parts.iter().map(|part| part.as_ref()).collect();
        let key = concat(&parts).map_err(fail)?;
        sort_to_indices(&key, None, None).map_err(fail)?
    };
    // Where each row group starts in the key: a row of the key is (group, row within it).
    let starts: Vec<usize> = partition
        .groups
        .iter()
        .scan(0, |start, group| {
            let this = *start;
            *start += group.rows;
            Some(this)
        })
        .collect();
    let locate = |row: u32| {
        let row = row as usize;
        let group = starts.partition_point(|&start| start <= row) - 1;
        (group, row - starts[group])
    };
    // The one-row null each absent chunk's rows are gathered from.
    let nulls: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| new_null_array(field.data_type(), 1))
        .collect();
    let mut start = 0;
    while start < order.len() {
        let length = CHUNK_ROWS.min(order.len() - start);
        let rows: Vec<(usize, usize)> = order.values()[start..start + length]
            .iter()
            .map(|&row| locate(row))
            .collect();
        // One null column per type for the chunk, shared by every column null throughout it:
        // a zeroed buffer for each was 4 % of silver's sort.
        let mut nulls_throughout: HashMap<DataType, ArrayRef> = HashMap::new();
        // The rows to gather, by which row groups hold the column: the same for most columns
        // (a region's row groups lack the same national measures), and building them anew for
        // each was a tenth of silver's sort at 10x.
        let mut picks_by_groups_held: HashMap<Vec<bool>, Vec<(usize, usize)>> = HashMap::new();
        let columns = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(index, field)| {
                if let Some(value) = &partition.partition_values[index] {
                    return repeated(field, value, length);
                }
                let parts: Vec<Option<&ArrayRef>> = partition
                    .groups
                    .iter()
                    .map(|group| group.columns[index].as_ref())
                    .collect();
                if parts.iter().all(Option::is_none) {
                    let nulls = nulls_throughout
                        .entry(field.data_type().clone())
                        .or_insert_with(|| new_null_array(field.data_type(), length));
                    return Ok(nulls.clone());
                }
                if let [Some(part)] = parts[..] {
                    return take(part, &order.slice(start, length), None);
                }
                if parts.iter().all(Option::is_some) {
                    let sources: Vec<&dyn Array> =
                        parts.iter().flatten().map(|part| part.as_ref()).collect();
                    return interleave(&sources, &rows);
                }
                let sources: Vec<&dyn Array> = parts
                    .iter()
                    .map(|part| part.unwrap_or(&nulls[index]).as_ref())
                    .collect();
                let held: Vec<bool> = parts.iter().map(Option::is_some).collect();
                let picks = picks_by_groups_held.entry(held).or_insert_with_key(|held| {
                    rows.iter()
                        .map(|&(group, row)| {
                            if held[group] {
                                (group, row)
                            } else {
                                (group, 0)
                            }
                        })
                        .collect()
                });
                interleave(&sources, picks)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        let chunk = RecordBatch::try_new(schema.clone(), columns).map_err(fail)?;
        lane.write(chunk).await?;
        start += length;
    }
    // The partition's file is finished: memory follows a partition, not the table.
    lane.seal().await
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};
    use std::sync::Arc;

    use deltalake::arrow::array::{
        Array, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
        TimestampMicrosecondArray,
    };
    use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use ecomix_core::layout::{Layer, TableRef};
    use futures::TryStreamExt;

    use crate::Lake;
    use crate::append::Appender;

    const TABLE: TableRef = TableRef::new(Layer::Silver, "sort_test");
    const FIRST_DAY: i32 = 19_727; // 2024-01-05
    const QUARTER_HOUR: i64 = 900_000_000;

    /// (day, instant, value, label, extra): one row as the test writes and reads it.
    type Row = (i32, i64, i64, String, Option<i64>);

    /// `rows` rows whose instants are a scramble of `rows` quarter-hours, nine in ten on the
    /// second day; `extra` adds a column the earlier appends lacked.
    fn rows(batch: i64, rows: i64, extra: bool) -> Vec<Row> {
        (0..rows)
            .map(|i| {
                let day = FIRST_DAY + i32::from(i % 10 != 0);
                let instant = (i * 7_919) % rows * QUARTER_HOUR;
                let label = ["France", "Bretagne", "Occitanie"][(i % 3) as usize].to_string();
                (
                    day,
                    instant,
                    batch * 1_000_000 + i,
                    label,
                    extra.then_some(i),
                )
            })
            .collect()
    }

    fn batch_of(rows: &[Row], extra: bool) -> RecordBatch {
        let mut fields = vec![
            Field::new("day", DataType::Date32, true),
            Field::new(
                "instant",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("value", DataType::Float64, true),
            Field::new("label", DataType::Utf8, true),
        ];
        let mut columns: Vec<Arc<dyn Array>> = vec![
            Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1))
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|r| r.2 as f64),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.3))),
        ];
        if extra {
            fields.push(Field::new("extra", DataType::Int64, true));
            columns.push(Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.4))));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    async fn append(lake: &Lake, rows: &[Row], extra: bool) {
        append_batch(lake, batch_of(rows, extra), &[]).await;
    }

    /// One committed append of `batch` to `TABLE`, partitioned by day, `dictionary` columns
    /// dictionary-encoded as ecomix's appends do.
    async fn append_batch(lake: &Lake, batch: RecordBatch, dictionary: &[&str]) {
        let mut append = Appender::start(lake, TABLE, batch.schema(), &["day"])
            .await
            .unwrap()
            .with_dictionary_columns(dictionary);
        append.write(batch).await.unwrap();
        append.commit(HashMap::new()).await.unwrap().unwrap();
    }

    async fn active_files(lake: &Lake) -> BTreeSet<String> {
        let delta = lake.open(TABLE).await.unwrap().unwrap();
        delta
            .get_active_add_actions_by_partitions(&[])
            .map_ok(|f| f.path().to_string())
            .try_collect()
            .await
            .unwrap()
    }

    async fn table_rows(lake: &Lake) -> Vec<Row> {
        let batches = crate::query(
            lake,
            TABLE,
            "SELECT CAST(day AS INT) AS d, CAST(instant AS BIGINT) AS i, \
             CAST(value AS BIGINT) AS v, label, extra FROM t",
        )
        .await
        .unwrap();
        let mut read = Vec::new();
        for b in &batches {
            let column = |n: usize| b.column(n).as_any();
            let day = column(0)
                .downcast_ref::<deltalake::arrow::array::Int32Array>()
                .unwrap();
            let instant = column(1).downcast_ref::<Int64Array>().unwrap();
            let value = column(2).downcast_ref::<Int64Array>().unwrap();
            let label = deltalake::arrow::compute::cast(b.column(3), &DataType::Utf8).unwrap();
            let label = label.as_any().downcast_ref::<StringArray>().unwrap();
            let extra = column(4).downcast_ref::<Int64Array>().unwrap();
            for r in 0..b.num_rows() {
                read.push((
                    day.value(r),
                    instant.value(r),
                    value.value(r),
                    label.value(r).to_string(),
                    extra.is_valid(r).then(|| extra.value(r)),
                ));
            }
        }
        read.sort();
        read
    }

    /// The actions of commit `version`, one JSON object per line of its log file.
    fn commit(dir: &std::path::Path, version: u64) -> Vec<serde_json::Value> {
        let path = dir.join(format!("silver/sort_test/_delta_log/{version:020}.json"));
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Three appends (the last one bringing a new column) leave unsorted files; a one-column
    /// Z-order rewrites each day into files in the column's order, keeps every row, and
    /// commits an `OPTIMIZE` that removes exactly the files it read and changes no data. A
    /// second optimize has nothing to do; after a new append, only that day is rewritten.
    #[tokio::test(flavor = "multi_thread")]
    async fn sorting_keeps_every_row_and_commits_a_rearrangement() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path().to_str().unwrap()).unwrap();
        let mut written = rows(1, 40_000, false);
        written.extend(rows(2, 40_000, false));
        let late = rows(3, 1_000, true);
        append(&lake, &written[..40_000], false).await;
        append(&lake, &written[40_000..], false).await;
        append(&lake, &late, true).await;
        written.extend(late);
        written.sort();
        let before = active_files(&lake).await;
        assert_eq!(before.len(), 6, "three appends, two days each");

        let report = lake
            .optimize(TABLE, &["instant".to_string()])
            .await
            .unwrap();
        assert_eq!(report.version, Some(3));
        assert_eq!(report.partitions, 2);
        assert_eq!(report.files_removed, 6);
        assert_eq!(report.files_added, 2);
        assert_eq!(table_rows(&lake).await, written);

        let actions = commit(dir.path(), 3);
        let info = actions.iter().find_map(|a| a.get("commitInfo")).unwrap();
        assert_eq!(info["operation"], "OPTIMIZE");
        assert_eq!(info["zOrderBy"], r#"["instant"]"#);
        let removed: BTreeSet<String> = actions
            .iter()
            .filter_map(|a| a.get("remove"))
            .map(|r| r["path"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(removed, before);
        for change in actions
            .iter()
            .filter_map(|a| a.get("add").or_else(|| a.get("remove")))
        {
            assert_eq!(change["dataChange"], false, "{change}");
        }

        let after = active_files(&lake).await;
        let mut rows_per_file = Vec::new();
        for file in &after {
            let path = dir.path().join("silver/sort_test").join(file);
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
            let mut instants = Vec::new();
            for batch in reader {
                let batch = batch.unwrap();
                let column = batch.column_by_name("instant").unwrap();
                let column = column
                    .as_any()
                    .downcast_ref::<TimestampMicrosecondArray>()
                    .unwrap();
                instants.extend(column.values().iter().copied());
            }
            assert!(instants.is_sorted(), "{file} is in instant order");
            rows_per_file.push(instants.len());
        }
        rows_per_file.sort();
        let second_day = written.iter().filter(|r| r.0 == FIRST_DAY + 1).count();
        assert_eq!(rows_per_file, [written.len() - second_day, second_day]);

        let again = lake
            .optimize(TABLE, &["instant".to_string()])
            .await
            .unwrap();
        assert_eq!(again.version, None, "nothing new since the last optimize");
        assert_eq!(active_files(&lake).await, after);

        let newer = vec![(
            FIRST_DAY,
            5 * QUARTER_HOUR,
            9_000_000,
            "Corse".to_string(),
            None,
        )];
        append(&lake, &newer, false).await;
        let report = lake
            .optimize(TABLE, &["instant".to_string()])
            .await
            .unwrap();
        assert_eq!(report.partitions, 1, "only the day appended to");
        assert_eq!(report.files_removed, 2);
        assert_eq!(report.files_added, 1);
        written.extend(newer);
        written.sort();
        assert_eq!(table_rows(&lake).await, written);
    }

    /// A row group whose statistics show a column null throughout is read without that
    /// column, the others with it; the sorted table still holds every value and every null.
    #[tokio::test(flavor = "multi_thread")]
    async fn row_groups_null_throughout_in_a_column_are_read_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path().to_str().unwrap()).unwrap();
        let mut written = rows(1, 150_000, true);
        for row in &mut written[..80_000] {
            row.4 = None;
        }
        // A second column, null throughout in other row groups than `extra`: each column is
        // gathered by the row groups that hold it.
        let other = |value: i64| {
            (40_000..120_000)
                .contains(&(value % 1_000_000))
                .then_some(value)
        };
        let batch = batch_of(&written, true);
        let mut fields = batch.schema().fields().to_vec();
        fields.push(Arc::new(Field::new("other", DataType::Int64, true)));
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(Int64Array::from_iter(
            written.iter().map(|r| other(r.2)),
        )));
        // And columns null in every row group, of two types: each chunk's nulls of one type
        // are shared, and must keep their type and the chunk's length (the last chunk's too).
        for (name, data_type) in [
            ("absent", DataType::Int64),
            ("absent_too", DataType::Int64),
            ("absent_text", DataType::Utf8),
        ] {
            fields.push(Arc::new(Field::new(name, data_type.clone(), true)));
            columns.push(deltalake::arrow::array::new_null_array(
                &data_type,
                written.len(),
            ));
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        // With the appends' settings, so that the files have their row groups.
        append_batch(&lake, batch, &["label"]).await;

        // Each day's rows in the order written, cut into row groups: (rows, any extra).
        let mut expected = Vec::new();
        for day in [FIRST_DAY, FIRST_DAY + 1] {
            let of_day: Vec<&Row> = written.iter().filter(|r| r.0 == day).collect();
            expected.push(
                of_day
                    .chunks(crate::append::ROW_GROUP_ROWS)
                    .map(|group| (group.len(), group.iter().any(|r| r.4.is_some())))
                    .collect::<Vec<_>>(),
            );
        }
        assert!(
            expected.iter().flatten().any(|g| !g.1),
            "a row group without extra"
        );

        let delta = lake.open(TABLE).await.unwrap().unwrap();
        let schema = Appender::with_table(
            &lake,
            TABLE,
            Some(delta.clone()),
            Arc::new(Schema::empty()),
            &[],
        )
        .unwrap()
        .schema();
        let partition_columns = vec!["day".to_string()];
        let partitions = super::files_by_partition(&delta, &partition_columns, None)
            .await
            .unwrap();
        let extra = schema.index_of("extra").unwrap();
        let other_index = schema.index_of("other").unwrap();
        let day = schema.index_of("day").unwrap();
        let mut held = Vec::new();
        let mut patterns = BTreeSet::new();
        for files in partitions.values() {
            let partition = super::read_partition(
                TABLE,
                &delta.object_store(),
                files,
                &schema,
                &partition_columns,
                "instant",
            )
            .await
            .unwrap();
            assert!(partition.partition_values[day].is_some());
            assert!(partition.groups.iter().all(|g| g.columns[day].is_none()));
            for index in [extra, other_index] {
                let pattern: Vec<bool> = partition
                    .groups
                    .iter()
                    .map(|g| g.columns[index].is_some())
                    .collect();
                patterns.insert(pattern);
            }
            held.push(
                partition
                    .groups
                    .iter()
                    .map(|g| (g.rows, g.columns[extra].is_some()))
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(held, expected);
        assert!(
            patterns.contains(&vec![false, true, true])
                && patterns.contains(&vec![true, true, false]),
            "the two columns are held by different row groups of one partition: {patterns:?}"
        );

        lake.optimize(TABLE, &["instant".to_string()])
            .await
            .unwrap();
        written.sort();
        assert_eq!(table_rows(&lake).await, written);
        let pairs = crate::query(&lake, TABLE, "SELECT CAST(value AS BIGINT), other FROM t")
            .await
            .unwrap();
        let mut checked = 0;
        for batch in &pairs {
            let values = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            let others = batch
                .column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            for r in 0..batch.num_rows() {
                let read = others.is_valid(r).then(|| others.value(r));
                assert_eq!(
                    read,
                    other(values.value(r)),
                    "row of value {}",
                    values.value(r)
                );
                checked += 1;
            }
        }
        assert_eq!(checked, written.len());
        let counts = crate::query(
            &lake,
            TABLE,
            "SELECT count(*), count(absent), count(absent_too), count(absent_text), \
             arrow_typeof(absent), arrow_typeof(absent_text) FROM t \
             GROUP BY arrow_typeof(absent), arrow_typeof(absent_text)",
        )
        .await
        .unwrap();
        let groups: usize = counts.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(groups, 1, "one type for each absent column in every file");
        let count = |c: usize| {
            counts[0]
                .column(c)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0)
        };
        assert_eq!(
            [count(0), count(1), count(2), count(3)],
            [written.len() as i64, 0, 0, 0]
        );
        let type_of = |c: usize| {
            let text =
                deltalake::arrow::compute::cast(counts[0].column(c), &DataType::Utf8).unwrap();
            text.as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .value(0)
                .to_string()
        };
        assert_eq!(type_of(4), "Int64");
        assert!(type_of(5).contains("Utf8"), "{}", type_of(5));
    }

    /// A list's leaf counts null elements, not null rows: a row group whose elements are all
    /// null, though its lists are not, is read with its lists and keeps them.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_list_column_is_read_whatever_its_null_count() {
        use deltalake::arrow::array::{AsArray, Int64Builder, ListBuilder};
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path().to_str().unwrap()).unwrap();
        let item = Arc::new(Field::new("item", DataType::Int64, true));
        let schema = Arc::new(Schema::new(vec![
            Field::new("day", DataType::Date32, true),
            Field::new(
                "instant",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("tags", DataType::List(item), true),
        ]));
        // Two rows, written in reverse instant order: three leaf values, two of them null.
        let mut tags = ListBuilder::new(Int64Builder::new());
        tags.values().append_null();
        tags.values().append_null();
        tags.append(true);
        tags.values().append_value(7);
        tags.append(true);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Date32Array::from(vec![FIRST_DAY, FIRST_DAY])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![2 * QUARTER_HOUR, QUARTER_HOUR])
                        .with_timezone("UTC"),
                ),
                Arc::new(tags.finish()),
            ],
        )
        .unwrap();
        append_batch(&lake, batch, &[]).await;

        let report = lake
            .optimize(TABLE, &["instant".to_string()])
            .await
            .unwrap();
        assert_eq!(report.files_added, 1);
        let files = active_files(&lake).await;
        let path = dir
            .path()
            .join("silver/sort_test")
            .join(files.first().unwrap());
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let mut read = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            let instants = batch.column_by_name("instant").unwrap();
            let instants = instants
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .unwrap();
            let tags = batch.column_by_name("tags").unwrap().as_list::<i32>();
            for row in 0..batch.num_rows() {
                let values = tags.value(row);
                let values = values.as_primitive::<deltalake::arrow::datatypes::Int64Type>();
                read.push((
                    instants.value(row),
                    tags.is_valid(row),
                    values.iter().collect::<Vec<_>>(),
                ));
            }
        }
        assert_eq!(
            read,
            [
                (QUARTER_HOUR, true, vec![Some(7)]),
                (2 * QUARTER_HOUR, true, vec![None, None]),
            ]
        );
    }
}
