//! Every input format, reduced to the same thing: a header, and rows of text fields each with
//! the line (or sheet row) it came from. Typing happens once, in `frame`, whatever the format.

use std::borrow::Cow;
use std::io::Cursor;

use calamine::{Data, Reader};
use chrono::NaiveDate;
use csv::StringRecord;
use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::datatypes::DataType;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::decode::{Encoding, decode};
use crate::error::InputError;
use crate::sniff::{Document, Format};

#[derive(Debug)]
pub struct Grid<'a> {
    pub header: Vec<String>,
    /// Where the header is, to report header problems.
    pub header_line: u64,
    /// Context that the legacy daily files give in lines above the header.
    pub preamble: Preamble,
    pub encoding: Option<Encoding>,
    pub delimiter: Option<u8>,
    body: Body<'a>,
}

/// Where the rows come from: text is parsed as it is read, so a file's rows are never all held
/// as records at once; workbooks and Parquet files are small and arrive as rows.
#[derive(Debug)]
enum Body<'a> {
    Text {
        text: Cow<'a, str>,
        /// Byte offset of the header line.
        offset: usize,
        delimiter: u8,
    },
    Rows(Vec<Row>),
}

/// A line-aligned slice of a text body, typed on its own (see [`Grid::parts`]).
#[derive(Debug, Clone)]
pub struct Part {
    /// Byte range within the body (which starts at the header line).
    start: usize,
    end: usize,
    /// Line number of the part's first line.
    first_line: u64,
    has_header: bool,
    last: bool,
}

#[derive(Debug)]
pub struct Row {
    pub line: u64,
    pub fields: StringRecord,
}

#[derive(Debug, Default, Clone)]
pub struct Preamble {
    /// `Journée du DD/MM/YYYY`: the date of every row of a legacy daily file.
    pub date: Option<NaiveDate>,
    /// `Données temps réel`: the nature of every row of a legacy daily file.
    pub nature: Option<String>,
}

pub fn read(document: &Document) -> Result<Grid<'_>, InputError> {
    match document.format {
        Format::Text => read_text(&document.name, &document.bytes),
        Format::Workbook => read_workbook(&document.name, &document.bytes),
        Format::Parquet => read_parquet(&document.name, &document.bytes),
    }
}

fn read_text<'a>(name: &str, bytes: &'a [u8]) -> Result<Grid<'a>, InputError> {
    let (text, encoding) = decode(name, bytes)?;
    let mut offset = 0usize;
    let mut line_no = 0u64;
    let mut preamble = Preamble::default();
    // Skip blank lines and the legacy preamble to reach the header line.
    let (header_line, header_offset) = loop {
        let Some(line) = next_line(&text, offset) else {
            return Err(InputError::file(
                name,
                "no header line: the file holds only blank lines",
            ));
        };
        line_no += 1;
        let content = line.trim();
        let here = offset;
        // Past the whole line, its `\r\n` or `\n` included.
        offset += text[offset..]
            .find('\n')
            .map_or(text.len() - offset, |p| p + 1);
        if content.is_empty() {
            continue;
        }
        if let Some(date) = legacy_day(content) {
            preamble.date = Some(date);
            continue;
        }
        if preamble.date.is_some() && content.starts_with("Données") && !has_delimiter(content) {
            preamble.nature = Some(content.to_string());
            continue;
        }
        break (line_no, here);
    };
    let header_text = next_line(&text, header_offset).unwrap_or("");
    let delimiter = [b'\t', b';', b',']
        .into_iter()
        .find(|d| header_text.as_bytes().contains(d));
    let Some(delimiter) = delimiter else {
        return Err(InputError::at(
            name,
            header_line,
            None,
            "no column separator (tab, ';' or ',') in the header line: not an eCO2mix table",
        ));
    };
    let header = text_reader(text[header_offset..].as_bytes(), delimiter)
        .records()
        .next()
        .transpose()
        .map_err(|e| csv_error(name, header_line, e))?
        .map(|r| r.iter().map(str::to_string).collect::<Vec<_>>())
        .ok_or_else(|| InputError::at(name, header_line, None, "empty header line"))?;
    Ok(Grid {
        header,
        header_line,
        preamble,
        encoding: Some(encoding),
        delimiter: Some(delimiter),
        body: Body::Text {
            text,
            offset: header_offset,
            delimiter,
        },
    })
}

fn text_reader(text: &[u8], delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        // RTE's tab files never quote, and a stray quote must not swallow the lines after it.
        .quoting(delimiter != b'\t')
        .from_reader(text)
}

fn next_line(text: &str, offset: usize) -> Option<&str> {
    if offset >= text.len() {
        return None;
    }
    let rest = &text[offset..];
    Some(
        rest.split('\n')
            .next()
            .unwrap_or(rest)
            .trim_end_matches('\r'),
    )
    .map(|l| &rest[..l.len()])
}

fn has_delimiter(line: &str) -> bool {
    line.contains(['\t', ';', ','])
}

/// `Journée du 01/03/2012`, the first line of the daily files published until 2013.
fn legacy_day(line: &str) -> Option<NaiveDate> {
    let rest = line.strip_prefix("Journée du ")?;
    NaiveDate::parse_from_str(rest.trim().trim_end_matches(['\t', ';', ',']), "%d/%m/%Y").ok()
}

fn csv_error(name: &str, header_line: u64, e: csv::Error) -> InputError {
    let line = e
        .position()
        .map_or(header_line, |p| header_line - 1 + p.line());
    match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => InputError::at(
            name,
            line,
            Some(format!("{}", err.field() + 1)),
            "invalid text",
        ),
        _ => InputError::at(name, line, None, e.to_string()),
    }
}

impl Grid<'_> {
    /// Calls `visit` with each data row and its line number, and returns how many trailing lines
    /// were notes rather than rows.
    ///
    /// Blank rows are not data; notes after the last data row (RTE's disclaimer, padded with
    /// separators or not) are not data either. A note *between* data rows is passed on, so that
    /// it is reported as a malformed row rather than skipped.
    pub fn for_each_row(
        &self,
        name: &str,
        visit: impl FnMut(u64, &Fields) -> Result<(), InputError>,
    ) -> Result<usize, InputError> {
        self.for_each_row_in(name, &self.whole(), visit)
    }

    fn whole(&self) -> Part {
        let end = match &self.body {
            Body::Text { text, offset, .. } => text.len() - offset,
            Body::Rows(_) => 0,
        };
        Part {
            start: 0,
            end,
            first_line: self.header_line,
            has_header: true,
            last: true,
        }
    }

    /// Splits a large text body into about `wanted` parts at line boundaries, to be typed in
    /// parallel. Text whose fields may be quoted (and so hold line breaks) is not split, nor are
    /// bodies too small for it to pay.
    pub fn parts(&self, wanted: usize) -> Vec<Part> {
        const MIN_PART: usize = 512 * 1024;
        let Body::Text {
            text,
            offset,
            delimiter,
        } = &self.body
        else {
            return vec![self.whole()];
        };
        let body = text[*offset..].as_bytes();
        let quoted = *delimiter != b'\t' && body.contains(&b'"');
        let count = wanted.min(body.len() / MIN_PART).max(1);
        if quoted || count == 1 {
            return vec![self.whole()];
        }
        let mut cuts = vec![0];
        for k in 1..count {
            let target = (body.len() * k / count).max(cuts[cuts.len() - 1]);
            match body[target..].iter().position(|&b| b == b'\n') {
                Some(newline) => cuts.push(target + newline + 1),
                None => break,
            }
        }
        cuts.push(body.len());
        cuts.dedup();
        let mut line = self.header_line;
        let mut parts = Vec::with_capacity(cuts.len() - 1);
        for (k, window) in cuts.windows(2).enumerate() {
            if k > 0 {
                line += memchr::memchr_iter(b'\n', &body[cuts[k - 1]..window[0]]).count() as u64;
            }
            parts.push(Part {
                start: window[0],
                end: window[1],
                first_line: line,
                has_header: k == 0,
                last: window[1] == body.len(),
            });
        }
        parts
    }

    /// How many lines (or rows) `part` spans: at least its number of data rows.
    pub fn line_count(&self, part: &Part) -> usize {
        match &self.body {
            Body::Text { text, offset, .. } => {
                let body = &text.as_bytes()[offset + part.start..offset + part.end];
                memchr::memchr_iter(b'\n', body).count() + 1
            }
            Body::Rows(rows) => rows.len(),
        }
    }

    /// Calls `visit` with each data row of `part` and its line number, and returns how many
    /// trailing lines were notes rather than rows.
    ///
    /// Blank rows are not data; notes after the last data row (RTE's disclaimer, padded with
    /// separators or not) are not data either. A note *between* data rows is passed on, so that
    /// it is reported as a malformed row rather than skipped.
    pub fn for_each_row_in(
        &self,
        name: &str,
        part: &Part,
        mut visit: impl FnMut(u64, &Fields) -> Result<(), InputError>,
    ) -> Result<usize, InputError> {
        let mut notes: Vec<(u64, OwnedFields)> = Vec::new();
        let mut on_row = |line: u64, fields: &Fields| -> Result<(), InputError> {
            if fields.iter().all(|f| f.trim_ascii().is_empty()) {
                return Ok(());
            }
            if is_note(fields) {
                notes.push((line, OwnedFields::from(fields)));
                return Ok(());
            }
            for (note_line, note) in notes.drain(..) {
                visit(note_line, &note.fields())?;
            }
            visit(line, fields)
        };
        let mut spans = Vec::new();
        match &self.body {
            Body::Rows(rows) => {
                for row in rows {
                    on_row(row.line, &Fields::of_record(&row.fields, &mut spans))?;
                }
            }
            Body::Text {
                text,
                offset,
                delimiter: b'\t',
            } => {
                // RTE's tab files are not quoted (see `text_reader`): a record is a line, its
                // fields are split at tabs, and csv's byte-by-byte state machine is not needed,
                // nor a copy of the fields. Like csv, `\r`, `\n` and `\r\n` end a record and
                // empty records are skipped; lines are counted by their `\n`.
                // Parts, lines and fields end at ASCII bytes: slices of the text stay text, and
                // are not checked as UTF-8 again field by field.
                let body = &text[offset + part.start..offset + part.end];
                let bytes = body.as_bytes();
                let mut line = part.first_line;
                let mut skip_header = part.has_header;
                let mut at = 0;
                while at < body.len() {
                    let end =
                        memchr::memchr2(b'\n', b'\r', &bytes[at..]).map_or(body.len(), |p| at + p);
                    let content = &body[at..end];
                    if !content.is_empty() {
                        if skip_header {
                            skip_header = false;
                        } else {
                            // Fields are a few bytes long: a plain scan beats a search per tab.
                            spans.clear();
                            let mut from = 0;
                            for (k, &byte) in content.as_bytes().iter().enumerate() {
                                if byte == b'\t' {
                                    spans.push((from, k));
                                    from = k + 1;
                                }
                            }
                            spans.push((from, content.len()));
                            on_row(
                                line,
                                &Fields {
                                    text: content,
                                    spans: &spans,
                                },
                            )?;
                        }
                    }
                    if bytes.get(end) == Some(&b'\n') {
                        line += 1;
                    }
                    at = end + 1;
                }
            }
            Body::Text {
                text,
                offset,
                delimiter,
            } => {
                // csv positions a record where the previous one's terminator began (so blank
                // lines and the `\n` of a CRLF are not counted): a record really starts past
                // those line breaks.
                let body = &text.as_bytes()[offset + part.start..offset + part.end];
                let mut reader = text_reader(body, *delimiter);
                let mut record = StringRecord::new();
                let (mut counted_to, mut line) = (0usize, part.first_line);
                let mut skip_header = part.has_header;
                loop {
                    let more = reader
                        .read_record(&mut record)
                        .map_err(|e| csv_error(name, part.first_line, e))?;
                    if !more {
                        break;
                    }
                    let mut start = record.position().map_or(counted_to, |p| p.byte() as usize);
                    while matches!(body.get(start), Some(b'\r' | b'\n')) {
                        start += 1;
                    }
                    line += body[counted_to..start]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count() as u64;
                    counted_to = start;
                    if skip_header {
                        skip_header = false;
                        continue;
                    }
                    on_row(line, &Fields::of_record(&record, &mut spans))?;
                }
            }
        }
        if !part.last {
            // Notes at the end of a part are followed by more rows: they are rows themselves.
            for (note_line, note) in std::mem::take(&mut notes) {
                visit(note_line, &note.fields())?;
            }
        }
        Ok(notes.len())
    }
}

/// One row's fields, borrowed: from the text itself on the tab path, else from a record.
pub struct Fields<'a> {
    text: &'a str,
    /// Each field's byte range in `text`.
    spans: &'a [(usize, usize)],
}

impl<'a> Fields<'a> {
    fn of_record(record: &'a StringRecord, spans: &'a mut Vec<(usize, usize)>) -> Self {
        spans.clear();
        let mut at = 0;
        for field in record.iter() {
            spans.push((at, at + field.len()));
            at += field.len();
        }
        Fields {
            text: record.as_slice(),
            spans,
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        self.spans
            .get(i)
            .map(|&(start, end)| &self.text.as_bytes()[start..end])
    }

    pub fn text(&self, i: usize) -> Option<&'a str> {
        self.spans
            .get(i)
            .map(|&(start, end)| &self.text[start..end])
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.spans
            .iter()
            .map(|&(start, end)| &self.text.as_bytes()[start..end])
    }

    pub fn texts(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.spans
            .iter()
            .map(|&(start, end)| &self.text[start..end])
    }
}

/// A copy of a row's fields, for the notes held until it is known whether rows follow them.
struct OwnedFields {
    text: String,
    spans: Vec<(usize, usize)>,
}

impl From<&Fields<'_>> for OwnedFields {
    fn from(fields: &Fields) -> Self {
        OwnedFields {
            text: fields.text.to_string(),
            spans: fields.spans.to_vec(),
        }
    }
}

impl OwnedFields {
    fn fields(&self) -> Fields<'_> {
        Fields {
            text: &self.text,
            spans: &self.spans,
        }
    }
}

/// A line of prose in the first field and nothing else.
fn is_note(fields: &Fields) -> bool {
    let mut iter = fields.iter();
    let first = iter.next().unwrap_or(b"");
    iter.all(|f| f.trim_ascii().is_empty())
        && String::from_utf8_lossy(first).split_whitespace().count() >= 4
}

fn read_workbook(name: &str, bytes: &[u8]) -> Result<Grid<'static>, InputError> {
    let mut workbook = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| InputError::file(name, format!("unreadable Excel workbook ({e})")))?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| InputError::file(name, "the workbook has no sheet"))?
        .map_err(|e| InputError::file(name, format!("unreadable first sheet ({e})")))?;
    let first_row = range.start().map_or(0, |(r, _)| r as u64) + 1;
    let mut rows_iter = range
        .rows()
        .enumerate()
        .map(|(i, cells)| (first_row + i as u64, cells))
        .skip_while(|(_, cells)| cells.iter().all(|c| cell_text(c).trim().is_empty()));
    let Some((header_line, header_cells)) = rows_iter.next() else {
        return Err(InputError::file(name, "the first sheet is empty"));
    };
    let header = header_cells.iter().map(cell_text).collect();
    let rows = rows_iter
        .map(|(line, cells)| Row {
            line,
            fields: cells.iter().map(cell_text).collect::<StringRecord>(),
        })
        .collect();
    Ok(Grid {
        header,
        header_line,
        preamble: Preamble::default(),
        encoding: None,
        delimiter: None,
        body: Body::Rows(rows),
    })
}

/// A cell as the text the same value has in RTE's text files.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::Error(e) => format!("#{e:?}"),
        Data::DateTime(d) => {
            let serial = d.as_f64();
            match d.as_datetime() {
                // A time of day alone is stored as a fraction of a day.
                Some(dt) if serial < 1.0 => dt.format("%H:%M").to_string(),
                Some(dt) if serial.fract() == 0.0 => dt.format("%Y-%m-%d").to_string(),
                Some(dt) => dt.format("%Y-%m-%d %H:%M").to_string(),
                None => serial.to_string(),
            }
        }
    }
}

fn read_parquet(name: &str, bytes: &[u8]) -> Result<Grid<'static>, InputError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        InputError::file(name, format!("unreadable Parquet file ({e})"))
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes))
        .map_err(|e| unreadable(&e))?
        .build()
        .map_err(|e| unreadable(&e))?;
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    let mut line = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| unreadable(&e))?;
        if header.is_none() {
            header = Some(
                batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect(),
            );
        }
        // Every column through its text form, so that typing is the same as for text files.
        let columns = batch
            .columns()
            .iter()
            .map(|c| text_column(c.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unreadable(&e))?;
        for i in 0..batch.num_rows() {
            line += 1;
            let fields: StringRecord = columns.iter().map(|c| c[i].as_str()).collect();
            rows.push(Row { line, fields });
        }
    }
    Ok(Grid {
        header: header.unwrap_or_default(),
        header_line: 0,
        preamble: Preamble::default(),
        encoding: None,
        delimiter: None,
        body: Body::Rows(rows),
    })
}

fn text_column(array: &dyn Array) -> Result<Vec<String>, deltalake::arrow::error::ArrowError> {
    use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
    if let DataType::Timestamp(_, Some(_)) = array.data_type() {
        // RFC 3339 with the offset, as the portal's CSV writes `date_heure`.
        let utc = deltalake::arrow::compute::cast(
            array,
            &DataType::Timestamp(deltalake::arrow::datatypes::TimeUnit::Microsecond, None),
        )?;
        let micros = utc.as_primitive::<deltalake::arrow::datatypes::TimestampMicrosecondType>();
        let tz: chrono_tz::Tz = match array.data_type() {
            DataType::Timestamp(_, Some(tz)) => tz.parse().unwrap_or(chrono_tz::UTC),
            _ => chrono_tz::UTC,
        };
        return Ok((0..micros.len())
            .map(|i| {
                if micros.is_null(i) {
                    return String::new();
                }
                chrono::DateTime::from_timestamp_micros(micros.value(i))
                    .map(|t| t.with_timezone(&tz).to_rfc3339())
                    .unwrap_or_default()
            })
            .collect());
    }
    let options = FormatOptions::default().with_null("");
    let formatter = ArrayFormatter::try_new(array, &options)?;
    Ok((0..array.len())
        .map(|i| formatter.value(i).to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> Result<(Grid<'_>, Vec<Row>, usize), InputError> {
        let grid = read_text("t.xls", bytes)?;
        let mut rows = Vec::new();
        let notes = grid.for_each_row("t.xls", |line, fields| {
            rows.push(Row {
                line,
                fields: fields.texts().collect(),
            });
            Ok(())
        })?;
        Ok((grid, rows, notes))
    }

    #[test]
    fn rte_text_drops_disclaimer_and_keeps_line_numbers() {
        let (grid, rows, notes) = text(
            b"Date\tHeures\tConsommation\n\n2024-01-01\t00:00\t1\t\n2024-01-01\t00:15\t2\t\nRTE ne pourra \xeatre tenu responsable de rien.\n\n",
        )
        .unwrap();
        assert_eq!(grid.header, ["Date", "Heures", "Consommation"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 3);
        assert_eq!(rows[1].line, 4);
        assert_eq!(&rows[1].fields[2], "2");
        assert_eq!(notes, 1);
        assert_eq!(grid.delimiter, Some(b'\t'));
        assert_eq!(grid.encoding, Some(Encoding::Latin1));
    }

    #[test]
    fn legacy_preamble_gives_date_and_nature() {
        let (grid, rows, _) = text(
            "Journée du 01/03/2012\nDonnées temps réel\nHeures\tConsommation\n00:00\t5\n"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(grid.preamble.date, NaiveDate::from_ymd_opt(2012, 3, 1));
        assert_eq!(grid.preamble.nature.as_deref(), Some("Données temps réel"));
        assert_eq!(grid.header_line, 3);
        assert_eq!(rows[0].line, 4);
    }

    #[test]
    fn crlf_preamble_keeps_line_numbers() {
        let (grid, rows, _) = text(
            "\r\nJournée du 01/03/2012\r\nDonnées temps réel\r\nHeures\tConsommation\r\n00:00\t5\r\n00:15\t6\r\n"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(grid.header_line, 4);
        assert_eq!((rows[0].line, rows[1].line), (5, 6));
        assert_eq!(grid.preamble.nature.as_deref(), Some("Données temps réel"));
    }

    /// The tab path splits lines itself: it must see the records, fields and line numbers the
    /// csv reader sees, line endings of every kind and stray quotes included.
    #[test]
    fn tab_rows_match_the_csv_reader() {
        let body = "Date\tHeures\tNote\r\n2024-01-01\t00:00\t\"x\r\n\r\n\n2024-01-01\t00:15\t\t\n2024-01-01\t00:30\ra\tb\n\t\tz";
        let (grid, rows, _) = text(body.as_bytes()).unwrap();
        assert_eq!(grid.delimiter, Some(b'\t'));
        let fields = |row: &Row| -> Vec<String> { row.fields.iter().map(str::to_string).collect() };
        let got: Vec<(u64, Vec<String>)> = rows.iter().map(|r| (r.line, fields(r))).collect();
        let expected: Vec<(u64, Vec<String>)> = vec![
            (2, vec!["2024-01-01".into(), "00:00".into(), "\"x".into()]),
            (
                5,
                vec!["2024-01-01".into(), "00:15".into(), "".into(), "".into()],
            ),
            // A lone `\r` ends a record but not a line.
            (6, vec!["2024-01-01".into(), "00:30".into()]),
            (6, vec!["a".into(), "b".into()]),
            (7, vec!["".into(), "".into(), "z".into()]),
        ];
        assert_eq!(got, expected);
        // The csv reader, configured as for text with other separators, agrees.
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b'\t')
            .has_headers(false)
            .flexible(true)
            .quoting(false)
            .from_reader(body.as_bytes());
        let records: Vec<Vec<String>> = reader
            .byte_records()
            .skip(1)
            .map(|r| {
                r.unwrap()
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect()
            })
            .collect();
        let fields_only: Vec<Vec<String>> = expected.into_iter().map(|(_, f)| f).collect();
        assert_eq!(records, fields_only);
    }

    #[test]
    fn crlf_semicolon_csv() {
        let (grid, rows, _) = text(b"date;heure;consommation\r\n2022-01-01;00:00;7\r\n").unwrap();
        assert_eq!(grid.delimiter, Some(b';'));
        assert_eq!(&rows[0].fields[2], "7");
        assert_eq!(rows[0].line, 2);
    }

    #[test]
    fn parts_see_the_same_rows_and_lines_as_the_whole() {
        let mut text = String::from("Date\tHeures\tConsommation\n");
        for i in 0..60_000 {
            text.push_str(&format!("2024-01-01\t00:00\t{i}\t\n"));
            if i % 7_919 == 0 {
                text.push('\n');
            }
        }
        text.push_str("RTE ne pourra être tenu responsable de rien.\n\n");
        let (grid, whole, notes) = self::text(text.as_bytes()).unwrap();
        let parts = grid.parts(4);
        assert_eq!(
            parts.len(),
            2,
            "1.3 MB splits in two parts of at least 512 KiB"
        );
        let mut pieces = Vec::new();
        let mut trailer = 0;
        for part in &parts {
            trailer += grid
                .for_each_row_in("t", part, |line, fields| {
                    pieces.push((line, fields.texts().collect::<StringRecord>()));
                    Ok(())
                })
                .unwrap();
        }
        assert_eq!((trailer, notes), (1, 1));
        assert_eq!(pieces.len(), whole.len());
        for ((line, fields), row) in pieces.iter().zip(&whole) {
            assert_eq!((*line, fields), (row.line, &row.fields));
        }
    }

    #[test]
    fn a_note_between_rows_stays_a_row() {
        let (_, rows, notes) =
            text(b"Date\tHeures\nsome note in the middle of it\n2024-01-01\t00:00\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(notes, 0);
    }
}
