//! A grid typed into the bronze tables' schemas: canonical columns from the catalogue, every
//! token that is not a number and every unknown column kept in `_rescued`, and the lineage of
//! each row.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, NaiveDate, Utc};
use deltalake::arrow::array::{
    ArrayRef, Date32Builder, Float64Array, Int64Array, StringBuilder, TimestampMicrosecondArray,
    TimestampMicrosecondBuilder, new_null_array,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::arrow::record_batch::RecordBatch;
use ecomix_core::catalogue::{self, Column, Kind};
use ecomix_core::layout::{ECO2MIX_BRONZE, TEMPO_BRONZE, TableRef};
use serde::Serializer as _;

use crate::error::{InputError, excerpt};
use crate::grid::{Grid, Part};

/// Lineage shared by every row of one source.
#[derive(Debug, Clone)]
pub struct Lineage {
    pub source_file: String,
    pub source_sha256: String,
    pub ingested_at: DateTime<Utc>,
    pub run_id: String,
}

/// The partition column: the UTC date of ingestion.
pub const PARTITION_COLUMN: &str = "_ingest_date";

const LINEAGE_FIELDS: [(&str, DataType); 5] = [
    ("_source_file", DataType::Utf8),
    ("_source_sha256", DataType::Utf8),
    ("_source_row", DataType::Int64),
    ("_run_id", DataType::Utf8),
    ("_rescued", DataType::Utf8),
];

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn arrow_type(kind: Kind) -> DataType {
    match kind {
        Kind::Text | Kind::Time => DataType::Utf8,
        Kind::Date => DataType::Date32,
        Kind::Timestamp => utc_micros(),
        Kind::Measure => DataType::Float64,
    }
}

fn with_lineage(columns: &[Column]) -> SchemaRef {
    let mut fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(c.name, arrow_type(c.kind), true))
        .collect();
    fields.extend(
        LINEAGE_FIELDS
            .iter()
            .map(|(name, ty)| Field::new(*name, ty.clone(), true)),
    );
    fields.push(Field::new("_ingested_at", utc_micros(), true));
    fields.push(Field::new(PARTITION_COLUMN, DataType::Date32, true));
    Arc::new(Schema::new(fields))
}

/// The schema of `eco2mix_bronze`.
pub fn eco2mix_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let columns: Vec<Column> = catalogue::KEYS
            .iter()
            .chain(catalogue::MEASURES)
            .copied()
            .collect();
        with_lineage(&columns)
    });
    SCHEMA.clone()
}

/// The schema of `tempo_bronze`.
pub fn tempo_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| with_lineage(catalogue::TEMPO));
    SCHEMA.clone()
}

/// Which bronze table a grid belongs to, decided by its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    Eco2mix,
    Tempo,
}

impl Dataset {
    pub fn of(grid: &Grid) -> Dataset {
        let is_tempo = grid
            .header
            .iter()
            .any(|label| catalogue::lookup(label).is_some_and(|c| c.name == "couleur"));
        if is_tempo {
            Dataset::Tempo
        } else {
            Dataset::Eco2mix
        }
    }

    fn columns(self) -> &'static [Column] {
        static ECO2MIX: LazyLock<Vec<Column>> = LazyLock::new(|| {
            catalogue::KEYS
                .iter()
                .chain(catalogue::MEASURES)
                .copied()
                .collect()
        });
        match self {
            Dataset::Eco2mix => &ECO2MIX,
            Dataset::Tempo => catalogue::TEMPO,
        }
    }

    pub fn table(self) -> TableRef {
        match self {
            Dataset::Eco2mix => ECO2MIX_BRONZE,
            Dataset::Tempo => TEMPO_BRONZE,
        }
    }

    pub fn schema(self) -> SchemaRef {
        match self {
            Dataset::Eco2mix => eco2mix_schema(),
            Dataset::Tempo => tempo_schema(),
        }
    }
}

/// At most this many unknown labels in one header become columns; more stay in `_rescued`.
const MAX_NEW_COLUMNS: usize = 8;
/// Column names made from labels are cut to this length.
const MAX_NAME_LEN: usize = 64;

/// What one header position feeds.
#[derive(Debug, Clone)]
enum Target {
    /// Index into the dataset's columns.
    Column(usize),
    /// A catalogued column that carries nothing (kept in `_rescued` if it ever does).
    Ignored(&'static str),
    /// A label the catalogue does not know: kept in `_rescued` under the label as published.
    Unknown(String),
}

/// One column being built.
enum Builder {
    Text(StringBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Measure(MeasureBuilder),
}

impl Builder {
    fn new(kind: Kind, capacity: usize) -> Self {
        match kind {
            // Room for a region's name or a nature (`Données consolidées`) on every row:
            // growing the values' buffer copied it several times over.
            Kind::Text | Kind::Time => {
                Builder::Text(StringBuilder::with_capacity(capacity, capacity * 24))
            }
            Kind::Date => Builder::Date(Date32Builder::with_capacity(capacity)),
            Kind::Timestamp => {
                Builder::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity))
            }
            Kind::Measure => Builder::Measure(MeasureBuilder::with_capacity(capacity)),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Builder::Text(mut b) => Arc::new(b.finish()),
            Builder::Date(mut b) => Arc::new(b.finish()),
            Builder::Timestamp(mut b) => Arc::new(b.finish().with_timezone("UTC")),
            Builder::Measure(b) => Arc::new(b.finish()),
        }
    }
}

/// A measure column: values and validity in plain vectors, which the row loop fills inline
/// (Arrow's builder cost a call and a bitmap update per cell, on five million cells a year).
struct MeasureBuilder {
    values: Vec<f64>,
    valid: Vec<bool>,
}

impl MeasureBuilder {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            values: Vec::with_capacity(capacity),
            valid: Vec::with_capacity(capacity),
        }
    }

    /// Appends a published cell: its number, or null when it is empty or not a number. Returns
    /// false for the latter, a token to rescue.
    fn append(&mut self, cell: &[u8]) -> bool {
        if cell.is_empty() {
            self.append_null();
            true
        } else if let Some(number) = parse_number(cell) {
            self.append_value(number);
            true
        } else {
            self.append_null();
            false
        }
    }

    fn append_value(&mut self, value: f64) {
        self.values.push(value);
        self.valid.push(true);
    }

    fn append_null(&mut self) {
        self.values.push(0.0);
        self.valid.push(false);
    }

    fn finish(self) -> Float64Array {
        let nulls = deltalake::arrow::buffer::NullBuffer::from(self.valid);
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        Float64Array::new(self.values.into(), nulls)
    }
}

/// The tokens of one row kept in `_rescued`, written as a JSON object with its keys sorted (as
/// `serde_json`'s map writes them) straight into a reused buffer: a third of the rows of a
/// regional history rescue a `-`, and a map of owned strings per row cost more than the row.
#[derive(Default)]
struct Rescue<'k> {
    /// Key and field position.
    entries: Vec<(Cow<'k, str>, usize)>,
    json: Vec<u8>,
}

impl Rescue<'_> {
    /// The row's object, or `None` when there is nothing to rescue. A key given twice keeps its
    /// last value.
    fn json<'f>(&mut self, field: impl Fn(usize) -> &'f [u8]) -> Option<Cow<'_, str>> {
        if self.entries.is_empty() {
            return None;
        }
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        self.json.clear();
        self.json.push(b'{');
        for (k, (key, at)) in self.entries.iter().enumerate() {
            if self.entries.get(k + 1).is_some_and(|next| next.0 == *key) {
                continue;
            }
            if self.json.len() > 1 {
                self.json.push(b',');
            }
            let mut writer = serde_json::Serializer::new(&mut self.json);
            // Writing a string into a Vec cannot fail.
            let _ = writer.serialize_str(key);
            self.json.push(b':');
            let mut writer = serde_json::Serializer::new(&mut self.json);
            let _ = writer.serialize_str(&String::from_utf8_lossy(field(*at)));
        }
        self.json.push(b'}');
        // serde_json writes UTF-8: this borrows; no row loses its tokens whatever happens.
        Some(String::from_utf8_lossy(&self.json))
    }
}

const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

fn date32(date: NaiveDate) -> i32 {
    use chrono::Datelike;
    date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

/// Types `grid` into record batches of `dataset`'s bronze schema, one per part of its body
/// (large text bodies are typed in parallel).
pub fn build(
    grid: &Grid,
    dataset: Dataset,
    lineage: &Lineage,
) -> Result<Vec<RecordBatch>, InputError> {
    let file = lineage.source_file.as_str();
    let columns = dataset.columns();
    let targets: Vec<Target> = grid
        .header
        .iter()
        .enumerate()
        .map(|(i, label)| match catalogue::lookup(label) {
            Some(c) => match columns.iter().position(|k| k.name == c.name) {
                Some(index) => Target::Column(index),
                None => Target::Ignored(c.name),
            },
            None if label.trim().is_empty() => Target::Unknown(format!("column_{}", i + 1)),
            None => Target::Unknown(label.clone()),
        })
        .collect();
    let mut position: Vec<Option<usize>> = vec![None; columns.len()];
    for (i, target) in targets.iter().enumerate() {
        if let Target::Column(c) = target {
            if let Some(first) = position[*c] {
                return Err(InputError::at(
                    file,
                    grid.header_line,
                    Some(format!("{} ({})", i + 1, grid.header[i])),
                    format!(
                        "column {:?} appears twice in the header (also column {})",
                        columns[*c].name,
                        first + 1
                    ),
                ));
            }
            position[*c] = Some(i);
        }
    }
    let find = |name: &str| {
        columns
            .iter()
            .position(|c| c.name == name)
            .and_then(|i| position[i])
    };
    let date_at = find("date");
    let date_heure_at = find("date_heure");
    if date_at.is_none() && date_heure_at.is_none() && grid.preamble.date.is_none() {
        return Err(InputError::at(
            file,
            grid.header_line,
            None,
            format!(
                "no date column in the header (expected one of Date, date, Date - Heure, date_heure); header is: {}",
                grid.header.join(" | ")
            ),
        ));
    }

    // Labels the catalogue does not know become text columns of their own (the Delta table's
    // schema grows with them), besides being kept in `_rescued`: a column RTE adds one day is in
    // bronze, queryable, before ecomix learns its meaning.
    let mut taken: Vec<String> = dataset
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut extra: Vec<(usize, String)> = Vec::new();
    let unknown = targets
        .iter()
        .filter(|t| matches!(t, Target::Unknown(_)))
        .count();
    // A header of mostly unknown labels is more likely a misread file than RTE's news: the
    // table's schema only ever grows, so such labels stay in `_rescued` alone.
    let widens = unknown <= MAX_NEW_COLUMNS;
    for (i, target) in targets.iter().enumerate() {
        if let Target::Unknown(label) = target
            && !grid.header[i].trim().is_empty()
            && widens
        {
            let mut base = catalogue::snake_case(label);
            base.truncate(MAX_NAME_LEN);
            let mut name = base.clone();
            let mut n = 1;
            while taken.contains(&name) {
                n += 1;
                name = format!("{base}_{n}");
            }
            taken.push(name.clone());
            extra.push((i, name));
        }
    }
    let schema = if extra.is_empty() {
        dataset.schema()
    } else {
        let mut fields: Vec<Field> = dataset
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.extend(
            extra
                .iter()
                .map(|(_, name)| Field::new(name, DataType::Utf8, true)),
        );
        Arc::new(Schema::new(fields))
    };

    let build_part = |part: &Part| -> Result<RecordBatch, InputError> {
        // Builders get room for every line of the part up front: growing them copied every
        // column several times over.
        let capacity = grid.line_count(part) + 1;
        let mut builders: Vec<Option<Builder>> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let derived = matches!(c.name, "date" | "heure" | "perimetre" | "nature");
                (position[i].is_some() || derived).then(|| Builder::new(c.kind, capacity))
            })
            .collect();
        let index_of = |name: &str| columns.iter().position(|c| c.name == name);
        let mut rescued = StringBuilder::with_capacity(capacity, 0);
        let mut source_rows: Vec<i64> = Vec::with_capacity(capacity);
        let mut rescue = Rescue::default();
        let mut extra_builders: Vec<StringBuilder> = extra
            .iter()
            .map(|_| StringBuilder::with_capacity(capacity, 0))
            .collect();
        let heure_index = index_of("heure");
        // A national file fills a third of the catalogue's columns, a regional one a tenth.
        // The published measures, nine cells in ten, are typed in a loop of their own: (field,
        // column, values); the other columns go through the general one. Every measure builder
        // has a field (only date, heure, perimetre and nature are built without one), so all of
        // them move here.
        let mut measures: Vec<(usize, usize, MeasureBuilder)> = Vec::new();
        for c in 0..columns.len() {
            if let (Some(i), Some(Builder::Measure(_))) = (position[c], &builders[c])
                && let Some(Builder::Measure(values)) = builders[c].take()
            {
                measures.push((i, c, values));
            }
        }
        let built: Vec<usize> = (0..columns.len())
            .filter(|&c| builders[c].is_some())
            .collect();
        // Fields whose tokens are kept in `_rescued` whenever they hold any.
        let rescued_fields: Vec<(usize, &str)> = targets
            .iter()
            .enumerate()
            .filter_map(|(i, target)| match target {
                Target::Column(_) => None,
                Target::Ignored(name) => Some((i, *name)),
                Target::Unknown(label) => Some((i, label.as_str())),
            })
            .collect();
        let perimetre_index = index_of("perimetre");
        let nature_index = index_of("nature");

        grid.for_each_row_in(file, part, |line, fields| {
            rescue.entries.clear();
            source_rows.push(line as i64);
            let field = |i: usize| fields.get(i).unwrap_or(b"");
            let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
            let column_name = |i: usize| format!("{} ({})", i + 1, grid.header[i].trim());

            // The instant: a date column, else the date part of `date_heure`, else the preamble's.
            let date_heure = match date_heure_at {
            Some(i) if !field(i).trim_ascii().is_empty() => Some(
                parse_timestamp(&text(field(i).trim_ascii())).ok_or_else(|| {
                    InputError::at(
                        file,
                        line,
                        Some(column_name(i)),
                        format!(
                            "malformed date-time {:?} (expected e.g. 2022-01-01T18:15:00+01:00)",
                            excerpt(&text(field(i)))
                        ),
                    )
                })?,
            ),
            _ => None,
        };
            let date = match date_at {
                Some(i) => parse_date(field(i).trim_ascii()).ok_or_else(|| {
                    InputError::at(
                        file,
                        line,
                        Some(column_name(i)),
                        format!(
                            "malformed date {:?} (expected YYYY-MM-DD)",
                            excerpt(&text(field(i)))
                        ),
                    )
                })?,
                None => match (date_heure, grid.preamble.date) {
                    (Some(dt), _) => dt.with_timezone(&ecomix_core::TIME_ZONE).date_naive(),
                    (None, Some(day)) => day,
                    (None, None) => {
                        let i = date_heure_at.unwrap_or(0);
                        return Err(InputError::at(
                            file,
                            line,
                            Some(column_name(i)),
                            "no date on this row",
                        ));
                    }
                },
            };

            for &c in &built {
                let column = &columns[c];
                let Some(builder) = builders[c].as_mut() else {
                    continue;
                };
                let Some(i) = position[c] else {
                    // Columns a format implies rather than publishes.
                    match builder {
                        Builder::Date(b) => b.append_value(date32(date)),
                        Builder::Text(b) if Some(c) == heure_index => match date_heure {
                            // Published times are Paris wall-clock times, whatever offset is given.
                            Some(dt) => b.append_value(
                                dt.with_timezone(&ecomix_core::TIME_ZONE)
                                    .format("%H:%M")
                                    .to_string(),
                            ),
                            None => b.append_null(),
                        },
                        Builder::Text(b)
                            if Some(c) == perimetre_index && grid.preamble.date.is_some() =>
                        {
                            // The legacy daily files are national.
                            b.append_value("France")
                        }
                        Builder::Text(b) if Some(c) == nature_index => {
                            match &grid.preamble.nature {
                                Some(nature) => b.append_value(nature),
                                None => b.append_null(),
                            }
                        }
                        Builder::Text(b) => b.append_null(),
                        Builder::Timestamp(b) => b.append_null(),
                        Builder::Measure(_) => unreachable!("measures have their own loop"),
                    }
                    continue;
                };
                let raw = field(i);
                let value = raw.trim_ascii();
                match builder {
                    Builder::Date(b) => b.append_value(date32(date)),
                    Builder::Timestamp(b) => match date_heure {
                        Some(dt) => b.append_value(dt.timestamp_micros()),
                        None => b.append_null(),
                    },
                    Builder::Text(b) if value.is_empty() => b.append_null(),
                    Builder::Text(b) => {
                        let value = fields.text(i).unwrap_or_default().trim_ascii();
                        if column.kind == Kind::Time && !is_time(value) {
                            return Err(InputError::at(
                                file,
                                line,
                                Some(column_name(i)),
                                format!(
                                    "malformed time {:?} (expected HH:MM)",
                                    excerpt(&text(raw))
                                ),
                            ));
                        }
                        b.append_value(value)
                    }
                    Builder::Measure(_) => unreachable!("measures have their own loop"),
                }
            }
            for (i, c, values) in &mut measures {
                if !values.append(field(*i).trim_ascii()) {
                    rescue.entries.push((Cow::Borrowed(columns[*c].name), *i));
                }
            }
            for &(i, key) in &rescued_fields {
                if !field(i).trim_ascii().is_empty() {
                    rescue.entries.push((Cow::Borrowed(key), i));
                }
            }
            for ((i, _), builder) in extra.iter().zip(&mut extra_builders) {
                let raw = field(*i).trim_ascii();
                if raw.is_empty() {
                    builder.append_null();
                } else {
                    builder.append_value(text(raw));
                }
            }
            // Fields beyond the header: RTE's trailing tab leaves one empty; anything else is kept.
            for i in grid.header.len()..fields.len() {
                let raw = field(i);
                if !raw.trim_ascii().is_empty() {
                    rescue
                        .entries
                        .push((Cow::Owned(format!("column_{}", i + 1)), i));
                }
            }
            match rescue.json(field) {
                Some(json) => rescued.append_value(json),
                None => rescued.append_null(),
            }
            Ok(())
        })?;

        let n = source_rows.len();
        for (_, c, values) in measures {
            builders[c] = Some(Builder::Measure(values));
        }
        let nulls_f64 = new_null_array(&DataType::Float64, n);
        let mut arrays: Vec<ArrayRef> = builders
            .into_iter()
            .zip(columns)
            .map(|(builder, column)| match builder {
                Some(b) => b.finish(),
                None if column.kind == Kind::Measure => nulls_f64.clone(),
                None => new_null_array(&arrow_type(column.kind), n),
            })
            .collect();
        let repeat = |value: &str| ecomix_lake::repeated_text(value, n);
        arrays.push(repeat(&lineage.source_file));
        arrays.push(repeat(&lineage.source_sha256));
        arrays.push(Arc::new(Int64Array::from(source_rows)));
        arrays.push(repeat(&lineage.run_id));
        arrays.push(Arc::new(rescued.finish()));
        arrays.push(Arc::new(
            TimestampMicrosecondArray::from(vec![lineage.ingested_at.timestamp_micros(); n])
                .with_timezone("UTC"),
        ));
        arrays.push(Arc::new(deltalake::arrow::array::Date32Array::from(vec![
        date32(lineage.ingested_at.date_naive());
        n
    ])));
        arrays.extend(
            extra_builders
                .into_iter()
                .map(|mut b| Arc::new(b.finish()) as ArrayRef),
        );
        RecordBatch::try_new(schema.clone(), arrays).map_err(|e| {
            InputError::file(
                file,
                format!("internal error building the bronze batch: {e}"),
            )
        })
    };
    let parts = grid.parts(rayon::current_num_threads());
    if parts.len() == 1 {
        return Ok(vec![build_part(&parts[0])?]);
    }
    use rayon::prelude::*;
    parts.par_iter().map(build_part).collect()
}

/// `YYYY-MM-DD`, or `DD/MM/YYYY` as RTE's specification describes it.
fn parse_date(b: &[u8]) -> Option<NaiveDate> {
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    match b.len() {
        10 if b[4] == b'-' && b[7] == b'-' => {
            NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?)
        }
        10 if b[2] == b'/' && b[5] == b'/' => {
            NaiveDate::from_ymd_opt(digits(6..10)? as i32, digits(3..5)?, digits(0..2)?)
        }
        // Workbooks may hold a date cell with a time of midnight.
        16.. if b[10] == b' ' || b[10] == b'T' => parse_date(&b[..10]),
        _ => None,
    }
}

fn parse_timestamp(s: &str) -> Option<DateTime<chrono::FixedOffset>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%:z"))
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z"))
        .ok()
}

/// `HH:MM` (or `H:MM`, or with seconds).
fn is_time(s: &str) -> bool {
    // The published form, tested without splitting.
    if let [
        h1 @ b'0'..=b'2',
        h2 @ b'0'..=b'9',
        b':',
        b'0'..=b'5',
        b'0'..=b'9',
    ] = s.as_bytes()
    {
        return (h1 - b'0') * 10 + (h2 - b'0') < 24;
    }
    let mut parts = s.split(':');
    let hour = parts
        .next()
        .and_then(|h| (h.len() <= 2).then(|| h.parse::<u32>().ok()).flatten());
    let minute = parts
        .next()
        .and_then(|m| (m.len() == 2).then(|| m.parse::<u32>().ok()).flatten());
    let second_ok = match parts.next() {
        None => true,
        Some(sec) => sec.len() == 2 && sec.parse::<u32>().is_ok_and(|v| v < 60),
    };
    matches!((hour, minute), (Some(h), Some(m)) if h < 24 && m < 60)
        && second_ok
        && parts.next().is_none()
}

/// A finite number, with a decimal point or (as French spreadsheets write it) a decimal comma.
#[inline]
fn parse_number(s: &[u8]) -> Option<f64> {
    // RTE publishes integers: parsed here exactly (up to 15 digits, all exact in a double), far
    // faster than the general path.
    if let Some(integer) = parse_integer(s) {
        return Some(integer as f64);
    }
    // A number has a digit: a region's `-` or an `ND` is a token, told at once.
    if !s.iter().any(u8::is_ascii_digit) {
        return None;
    }
    let s = std::str::from_utf8(s).ok()?;
    let number = match s.parse::<f64>() {
        Ok(v) => v,
        Err(_) if s.bytes().filter(|&b| b == b',').count() == 1 => {
            s.replace(',', ".").parse().ok()?
        }
        Err(_) => return None,
    };
    // `1e400` parses, to infinity: a token to rescue (`inf` and `NaN`, without a digit, never
    // reach this far).
    number.is_finite().then_some(number)
}

#[inline]
fn parse_integer(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    let mut magnitude = 0i64;
    for &byte in digits {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        magnitude = magnitude * 10 + i64::from(digit);
    }
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rescued object is what `serde_json` writes for a map of the same tokens: keys sorted,
    /// a key given twice keeping its last value, text escaped.
    #[test]
    fn rescued_json_is_serde_json_s_map() {
        let fields: [&[u8]; 4] = [b"-", b"ND", b"a \"quoted\"\ttab", b"caf\xe9"];
        let field = |i: usize| fields[i];
        let mut rescue = Rescue::default();
        assert_eq!(rescue.json(field).as_deref(), None);
        rescue.entries.extend([
            (Cow::Borrowed("nucleaire"), 0),
            (Cow::Borrowed("eolien"), 1),
            (Cow::Owned("column_9".to_string()), 2),
            (Cow::Borrowed("eolien"), 3),
        ]);
        let mut map = serde_json::Map::new();
        for (key, at) in &rescue.entries {
            map.insert(
                key.to_string(),
                serde_json::Value::String(String::from_utf8_lossy(field(*at)).into_owned()),
            );
        }
        let expected = serde_json::Value::Object(map).to_string();
        assert_eq!(rescue.json(field).as_deref(), Some(expected.as_str()));
        assert_eq!(
            expected,
            "{\"column_9\":\"a \\\"quoted\\\"\\ttab\",\"eolien\":\"caf\u{FFFD}\",\"nucleaire\":\"-\"}"
        );
    }

    #[test]
    fn numbers_and_tokens() {
        let number = |s: &str| parse_number(s.as_bytes());
        assert_eq!(number("51234"), Some(51234.0));
        assert_eq!(number("-1200"), Some(-1200.0));
        assert_eq!(number("+7"), Some(7.0));
        assert_eq!(number("12.5"), Some(12.5));
        assert_eq!(number("12,5"), Some(12.5));
        assert_eq!(number("1e3"), Some(1000.0));
        assert_eq!(number("ND"), None);
        assert_eq!(number("-"), None);
        assert_eq!(number("+"), None);
        assert_eq!(number("inf"), None);
        assert_eq!(number("NaN"), None);
        assert_eq!(number("1,2,3"), None);
        // The integer fast path agrees with the general parser, long numbers included.
        for s in [
            "0",
            "-0",
            "999999999999999",
            "-123456789012345",
            "1234567890123456789",
            "007",
        ] {
            assert_eq!(number(s), s.parse::<f64>().ok(), "{s}");
        }
    }

    #[test]
    fn dates_and_times() {
        let date = |s: &str| parse_date(s.as_bytes());
        assert_eq!(date("2024-03-31"), NaiveDate::from_ymd_opt(2024, 3, 31));
        assert_eq!(date("31/03/2024"), NaiveDate::from_ymd_opt(2024, 3, 31));
        assert_eq!(
            date("2024-03-31 00:00"),
            NaiveDate::from_ymd_opt(2024, 3, 31)
        );
        assert_eq!(date("2024-02-30"), None);
        assert_eq!(date("2024-3-31"), None);
        assert_eq!(date("2024-+3-31"), None);
        assert!(is_time("02:45"));
        assert!(is_time("2:45"));
        assert!(is_time("23:45:00"));
        assert!(!is_time("24:00"));
        assert!(!is_time("12h30"));
        for hour in 0..100 {
            for minute in 0..100 {
                let text = format!("{hour:02}:{minute:02}");
                assert_eq!(is_time(&text), hour < 24 && minute < 60, "{text}");
            }
        }
    }
}
