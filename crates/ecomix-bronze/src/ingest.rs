//! `ecomix ingest`: inputs resolved, read, unpacked, hashed, parsed in parallel, and appended to
//! the bronze tables in one commit per table, only when every input was good (or `keep_going`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::record_batch::RecordBatch;
use ecomix_core::layout::{ECO2MIX_BRONZE, TEMPO_BRONZE, TableRef};
use ecomix_lake::{Appender, BackgroundAppender, Lake};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{BronzeError, InputError};
use crate::frame::{self, Dataset, Lineage, PARTITION_COLUMN};
use crate::grid;
use crate::guard;
use crate::http::{self, Fetched};
use crate::sniff::{self, Document};

#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Ingest again content whose hash is already in bronze.
    pub force: bool,
    /// Ingest the good inputs and report the bad ones, instead of committing nothing.
    pub keep_going: bool,
    pub run_id: String,
    pub ingested_at: DateTime<Utc>,
    pub show_progress: bool,
}

#[derive(Debug, Serialize)]
pub struct IngestReport {
    pub run_id: String,
    pub files: Vec<FileOutcome>,
    pub rejected: Vec<Rejected>,
    pub tables: Vec<TableOutcome>,
    /// Bytes of data documents read (after decompression).
    pub bytes_read: u64,
}

impl IngestReport {
    pub fn rows_written(&self) -> usize {
        self.tables.iter().map(|t| t.rows_written).sum()
    }
}

#[derive(Debug, Serialize)]
pub struct FileOutcome {
    pub source_file: String,
    pub sha256: String,
    pub format: &'static str,
    pub table: Option<String>,
    pub rows: usize,
    /// `ingested`, `already_ingested` or `duplicate_in_run`.
    pub status: &'static str,
}

impl FileOutcome {
    /// A document not ingested: its content is already in bronze, or earlier in this run.
    fn skipped(
        source_file: String,
        sha256: String,
        format: &'static str,
        status: &'static str,
    ) -> Self {
        FileOutcome {
            source_file,
            sha256,
            format,
            table: None,
            rows: 0,
            status,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Rejected {
    pub file: String,
    pub line: Option<u64>,
    pub column: Option<String>,
    pub message: String,
}

impl From<&InputError> for Rejected {
    fn from(e: &InputError) -> Self {
        Self {
            file: e.file.clone(),
            line: e.line,
            column: e.column.clone(),
            message: e.message.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TableOutcome {
    pub table: String,
    pub version: Option<u64>,
    pub rows_written: usize,
}

/// Where an input comes from.
#[derive(Debug, Clone)]
pub enum Input {
    Path(PathBuf),
    Url(String),
    /// An object (or, until listed, a folder) on the lake's object store: `az://`, `abfss://`…
    Object(String),
}

impl Input {
    fn name(&self) -> String {
        match self {
            Input::Path(p) => p.display().to_string(),
            // The name lands in bronze (`_source_file`) and in commit infos: a SAS signature
            // in a URL is masked there too.
            Input::Url(u) | Input::Object(u) => ecomix_core::secrets::redact(u),
        }
    }
}

/// Expands files, directories (recursively, hidden files aside), globs and URLs into inputs;
/// object-store folders are listed later, by [`list_objects`].
pub fn resolve_inputs(arguments: &[String]) -> (Vec<Input>, Vec<InputError>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for argument in arguments {
        if argument.starts_with("http://") || argument.starts_with("https://") {
            inputs.push(Input::Url(argument.clone()));
        } else if ecomix_lake::is_object_url(argument) {
            inputs.push(Input::Object(argument.clone()));
        } else if argument.contains(['*', '?', '[']) && !Path::new(argument).exists() {
            match glob::glob(argument) {
                Ok(paths) => {
                    let mut matched: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
                    matched.sort();
                    if matched.is_empty() {
                        errors.push(InputError::file(argument, "no file matches this pattern"));
                    }
                    for path in matched {
                        push_path(&path, &mut inputs, &mut errors);
                    }
                }
                Err(e) => errors.push(InputError::file(argument, format!("invalid pattern: {e}"))),
            }
        } else {
            push_path(Path::new(argument), &mut inputs, &mut errors);
        }
    }
    (inputs, errors)
}

fn push_path(path: &Path, inputs: &mut Vec<Input>, errors: &mut Vec<InputError>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(dir) => dir.filter_map(Result::ok).map(|e| e.path()).collect(),
            Err(e) => {
                errors.push(InputError::file(path.display().to_string(), e.to_string()));
                return;
            }
        };
        entries.sort();
        for entry in entries {
            let hidden = entry
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if !hidden {
                push_path(&entry, inputs, errors);
            }
        }
    } else if path.is_file() {
        inputs.push(Input::Path(path.to_path_buf()));
    } else {
        errors.push(InputError::file(
            path.display().to_string(),
            "no such file or directory",
        ));
    }
}

/// Orders inputs year by year (see [`year_of`]), keeping their order within a year.
///
/// Then each of bronze's row groups holds one year of several perimeters rather than several
/// years of one: transform reads bronze a few months at a time, and in name order (a region's
/// fourteen years, then the next region's) a row group spanned four years at the median and was
/// read again by every batch of months in them. At 10x the full history, transform took 29.5 s
/// instead of 24.7 s. What depends on the order: the report's order, and the name the rows
/// carry when one run is given the same content under two names (the first's, see [`Seen`]).
fn in_year_order(inputs: &mut [Input]) {
    inputs.sort_by_cached_key(|input| year_of(&input.name()));
}

/// The year a file's name gives (its first four-digit number from 1900 to 2099), `u16::MAX`
/// when it gives none (RTE's current-year files, the portal's exports).
fn year_of(name: &str) -> u16 {
    let path = name.split(['?', '#']).next().unwrap_or(name);
    let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let bytes = file.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        let digits = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            start += 1;
            continue;
        }
        let number = &bytes[start..start + digits];
        if digits == 4 && (number.starts_with(b"19") || number.starts_with(b"20")) {
            return number
                .iter()
                .fold(0, |year, digit| year * 10 + u16::from(digit - b'0'));
        }
        start += digits;
    }
    u16::MAX
}

/// Replaces each object-store input by the objects it names (itself, or a folder's content).
async fn list_objects(lake: &Lake, inputs: Vec<Input>, errors: &mut Vec<InputError>) -> Vec<Input> {
    let mut listed = Vec::with_capacity(inputs.len());
    for input in inputs {
        match input {
            Input::Object(location) => match lake.list_objects(&location).await {
                Ok(objects) => listed.extend(objects.into_iter().map(Input::Object)),
                Err(e) => errors.push(InputError::file(&location, object_error(e))),
            },
            other => listed.push(other),
        }
    }
    listed
}

/// The part of a lake error that is news next to the input's name.
fn object_error(error: ecomix_lake::LakeError) -> String {
    match error {
        ecomix_lake::LakeError::Storage { problem, .. } => problem.to_string(),
        ecomix_lake::LakeError::Location { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// A document with its content hash, before parsing.
struct Hashed {
    document: Document,
    sha256: String,
}

/// A document parsed into a batch of one bronze table.
struct Parsed {
    name: String,
    sha256: String,
    format: &'static str,
    dataset: Dataset,
    batches: Vec<RecordBatch>,
}

/// Inputs are read and parsed this many at a time, so memory stays bounded by a few files.
const CHUNK: usize = 2;

/// Low-cardinality text columns, worth Parquet dictionaries; measures are not (hashing every
/// float costs more than it saves).
const DICTIONARY_COLUMNS: [&str; 8] = [
    "perimetre",
    "nature",
    "heure",
    "code_insee_region",
    "couleur",
    "_source_file",
    "_source_sha256",
    "_run_id",
];

/// What became of one document of a chunk.
enum Outcome {
    Parsed(Parsed),
    Skipped(FileOutcome),
    Failed(InputError),
}

pub async fn ingest(
    lake: &Lake,
    arguments: &[String],
    options: &IngestOptions,
) -> Result<IngestReport, BronzeError> {
    let started = std::time::Instant::now();
    let ms = || started.elapsed().as_secs_f64() * 1e3;
    let (inputs, mut errors) = resolve_inputs(arguments);
    let mut inputs = list_objects(lake, inputs, &mut errors).await;
    in_year_order(&mut inputs);
    let seen = Arc::new(Mutex::new(Seen {
        in_bronze: if options.force {
            HashSet::new()
        } else {
            known_hashes(lake).await?
        },
        first: HashMap::new(),
    }));
    // Hashes of the documents whose rows this run wrote, in the order chunks are written.
    let mut written = HashSet::new();
    tracing::debug!(at_ms = ms(), "known content hashes loaded");
    // Two encoders for the large table, each on a task of its own, fed chunk by chunk: Parquet
    // encoding of bronze was a single thread, and the parsers kept waiting for it.
    let first = appender(lake, Dataset::Eco2mix).await?;
    let second = first.sibling()?;
    let mut bronze = [first.in_background(), second.in_background()];
    let mut tempo = appender(lake, Dataset::Tempo).await?.in_background();
    let mut files = Vec::new();
    let mut bytes_read = 0u64;
    let client = if inputs.iter().any(|i| matches!(i, Input::Url(_))) {
        Some(http::client().map_err(BronzeError::Download)?)
    } else {
        None
    };
    let bar = progress_bar(options.show_progress, inputs.len());

    // Chunk k+1 is read and parsed (on the rayon pool) while chunk k is encoded and written.
    let mut in_flight: Option<tokio::task::JoinHandle<(Vec<Outcome>, u64)>> = None;
    for (number, chunk) in inputs.chunks(CHUNK).enumerate() {
        let mut raw = Vec::with_capacity(chunk.len());
        for (position, input) in chunk.iter().enumerate() {
            match read_input(lake, input, client.as_ref(), options.show_progress).await {
                Ok(bytes) => raw.push((number * CHUNK + position, input.name(), bytes)),
                Err(e) => errors.push(e),
            }
        }
        let (seen, options_for_chunk) = (seen.clone(), options.clone());
        let next =
            tokio::task::spawn_blocking(move || process_chunk(raw, &seen, &options_for_chunk));
        if let Some(previous) = in_flight.replace(next) {
            let lane = &mut bronze[number % 2];
            let outcome = (&mut written, &mut files, &mut errors);
            bytes_read += write_chunk(previous, lane, &mut tempo, outcome).await?;
            tracing::debug!(at_ms = ms(), "chunk written");
        }
        bar.inc(chunk.len() as u64);
        if !errors.is_empty() && !options.keep_going {
            break;
        }
    }
    if let Some(last) = in_flight.take() {
        let lane = &mut bronze[0];
        let outcome = (&mut written, &mut files, &mut errors);
        bytes_read += write_chunk(last, lane, &mut tempo, outcome).await?;
        tracing::debug!(at_ms = ms(), "last chunk written");
    }
    bar.finish_and_clear();
    if !errors.is_empty() && !options.keep_going {
        return Err(BronzeError::Rejected(errors));
    }

    let names: Vec<&str> = files
        .iter()
        .filter(|f| f.status == "ingested")
        .map(|f| f.source_file.as_str())
        .collect();
    let metadata = HashMap::from([(
        "ecomix".to_string(),
        serde_json::json!({ "command": "ingest", "run_id": options.run_id, "files": names }),
    )]);
    let [first, second] = bronze;
    let mut bronze = first.finish().await?;
    bronze.absorb(second.finish().await?).await?;
    let tempo = tempo.finish().await?;
    let mut tables = Vec::new();
    for (appender, table) in [(bronze, ECO2MIX_BRONZE), (tempo, TEMPO_BRONZE)] {
        let rows_written = appender.rows();
        let version = match appender.commit(metadata.clone()).await? {
            Some(v) => Some(v),
            None => lake.version(table).await?,
        };
        tracing::debug!(at_ms = ms(), %table, ?version, "committed");
        tables.push(TableOutcome {
            table: table.to_string(),
            version,
            rows_written,
        });
    }
    Ok(IngestReport {
        run_id: options.run_id.clone(),
        files,
        rejected: errors.iter().map(Rejected::from).collect(),
        tables,
        bytes_read,
    })
}

fn progress_bar(show: bool, len: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("ingest {bar:30} {pos}/{len} files {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// The content hashes a run has met: those bronze already holds, and for each other one the
/// first document (by input, then by member of an archive) that brought it.
///
/// Chunk k+1 is hashed while chunk k is, so "the first hashed" would depend on timing: the same
/// content under two names would land under either. Ordering by position makes it the first
/// given (in year order, see [`in_year_order`]) on every run.
struct Seen {
    in_bronze: HashSet<String>,
    first: HashMap<String, (usize, usize)>,
}

impl Seen {
    /// Whether the document at `position` is skipped, and why: its content is in bronze, or an
    /// earlier document of this run brought it. Otherwise it claims the content.
    fn skip(&mut self, sha256: &str, position: (usize, usize)) -> Option<&'static str> {
        if self.in_bronze.contains(sha256) {
            return Some("already_ingested");
        }
        match self.first.get_mut(sha256) {
            Some(first) if *first < position => Some("duplicate_in_run"),
            Some(first) => {
                *first = position;
                None
            }
            None => {
                self.first.insert(sha256.to_string(), position);
                None
            }
        }
    }
}

/// Unpacks, hashes and parses one chunk of inputs (each with its position among the run's) in
/// parallel. A document whose content bronze holds, or an earlier document of this run brought,
/// is skipped before it is parsed.
fn process_chunk(
    raw: Vec<(usize, String, Vec<u8>)>,
    seen: &Mutex<Seen>,
    options: &IngestOptions,
) -> (Vec<Outcome>, u64) {
    let unpacked: Vec<(usize, Result<Vec<Hashed>, InputError>)> = raw
        .into_par_iter()
        .map(|(input, name, bytes)| {
            let hashed = guard::catching(&name, || sniff::unpack(&name, bytes)).map(|documents| {
                documents
                    .into_iter()
                    .map(|document| Hashed {
                        sha256: hex::encode(Sha256::digest(&document.bytes)),
                        document,
                    })
                    .collect()
            });
            (input, hashed)
        })
        .collect();
    let mut outcomes = Vec::new();
    let mut to_parse = Vec::new();
    let mut bytes = 0u64;
    {
        let mut seen = seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (input, result) in unpacked {
            match result {
                Err(e) => outcomes.push(Outcome::Failed(e)),
                Ok(documents) => {
                    for (member, hashed) in documents.into_iter().enumerate() {
                        bytes += hashed.document.bytes.len() as u64;
                        match seen.skip(&hashed.sha256, (input, member)) {
                            None => to_parse.push(hashed),
                            Some(status) => outcomes.push(Outcome::Skipped(FileOutcome::skipped(
                                hashed.document.name.clone(),
                                hashed.sha256,
                                hashed.document.format.as_str(),
                                status,
                            ))),
                        }
                    }
                }
            }
        }
    }
    let parsed: Vec<Outcome> = to_parse
        .into_par_iter()
        .map(|hashed| match parse(hashed, options) {
            Ok(p) => Outcome::Parsed(p),
            Err(e) => Outcome::Failed(e),
        })
        .collect();
    outcomes.extend(parsed);
    (outcomes, bytes)
}

async fn appender(lake: &Lake, dataset: Dataset) -> Result<Appender, BronzeError> {
    Ok(
        Appender::start(lake, dataset.table(), dataset.schema(), &[PARTITION_COLUMN])
            .await?
            .with_dictionary_columns(&DICTIONARY_COLUMNS),
    )
}

/// Waits for a parsed chunk and appends it, recording the contents written, each document's
/// outcome and the rejections; returns the bytes of its documents. Chunks are written in order:
/// a document with the content an earlier one of this run was written with (it was parsed
/// because its chunk was hashed first) is a duplicate.
async fn write_chunk(
    parsed: tokio::task::JoinHandle<(Vec<Outcome>, u64)>,
    bronze: &mut BackgroundAppender,
    tempo: &mut BackgroundAppender,
    (written, files, errors): (
        &mut HashSet<String>,
        &mut Vec<FileOutcome>,
        &mut Vec<InputError>,
    ),
) -> Result<u64, BronzeError> {
    let (outcomes, bytes) = parsed
        .await
        .map_err(|e| BronzeError::Download(format!("parser task failed: {e}")))?;
    for outcome in outcomes {
        match outcome {
            Outcome::Failed(e) => errors.push(e),
            Outcome::Skipped(file) => files.push(file),
            Outcome::Parsed(parsed) if !written.insert(parsed.sha256.clone()) => {
                files.push(FileOutcome::skipped(
                    parsed.name,
                    parsed.sha256,
                    parsed.format,
                    "duplicate_in_run",
                ));
            }
            Outcome::Parsed(parsed) => {
                let appender = match parsed.dataset {
                    Dataset::Eco2mix => &mut *bronze,
                    Dataset::Tempo => &mut *tempo,
                };
                files.push(FileOutcome {
                    source_file: parsed.name,
                    sha256: parsed.sha256,
                    format: parsed.format,
                    table: Some(parsed.dataset.table().to_string()),
                    rows: parsed.batches.iter().map(RecordBatch::num_rows).sum(),
                    status: "ingested",
                });
                for batch in parsed.batches {
                    appender.write(batch).await?;
                }
            }
        }
    }
    Ok(bytes)
}

async fn read_input(
    lake: &Lake,
    input: &Input,
    client: Option<&reqwest::Client>,
    show_progress: bool,
) -> Result<Vec<u8>, InputError> {
    match input {
        Input::Path(path) => std::fs::read(path)
            .map_err(|e| InputError::file(path.display().to_string(), format!("cannot read: {e}"))),
        Input::Url(url) => {
            let client = client.expect("a client is built when there are URLs");
            match http::fetch(client, url, None, show_progress).await {
                Ok(Fetched::Body { bytes, .. }) => Ok(bytes),
                Ok(Fetched::NotModified) => {
                    Err(InputError::file(url, "unexpected 304 Not Modified"))
                }
                Err(message) => Err(InputError::file(url, message)),
            }
        }
        Input::Object(location) => lake
            .read_object(location)
            .await
            .map_err(|e| InputError::file(location, object_error(e))),
    }
}

/// Sniffs, unpacks, decodes and parses one input exactly as `ingest` does, without a lake:
/// each document's name, format and rows. For the fuzzer, and for checking files before a run.
pub fn parse_input(
    name: &str,
    bytes: Vec<u8>,
) -> Result<Vec<(String, &'static str, usize)>, InputError> {
    let options = IngestOptions {
        force: true,
        keep_going: false,
        run_id: String::new(),
        ingested_at: DateTime::<Utc>::UNIX_EPOCH,
        show_progress: false,
    };
    guard::catching(name, || sniff::unpack(name, bytes))?
        .into_iter()
        .map(|document| {
            let parsed = parse(
                Hashed {
                    sha256: String::new(),
                    document,
                },
                &options,
            )?;
            let rows = parsed.batches.iter().map(RecordBatch::num_rows).sum();
            Ok((parsed.name, parsed.format, rows))
        })
        .collect()
}

fn parse(hashed: Hashed, options: &IngestOptions) -> Result<Parsed, InputError> {
    let name = hashed.document.name.clone();
    guard::catching(&name, || parse_document(hashed, options))
}

fn parse_document(hashed: Hashed, options: &IngestOptions) -> Result<Parsed, InputError> {
    let document = &hashed.document;
    let grid = grid::read(document)?;
    let dataset = Dataset::of(&grid);
    let lineage = Lineage {
        source_file: document.name.clone(),
        source_sha256: hashed.sha256.clone(),
        ingested_at: options.ingested_at,
        run_id: options.run_id.clone(),
    };
    let batches = frame::build(&grid, dataset, &lineage)?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows == 0 {
        return Err(InputError::file(
            &document.name,
            "no data row: the file has a header but nothing under it",
        ));
    }
    tracing::debug!(
        file = %document.name,
        rows,
        encoding = ?grid.encoding,
        delimiter = ?grid.delimiter.map(char::from),
        "parsed"
    );
    Ok(Parsed {
        name: document.name.clone(),
        sha256: hashed.sha256,
        format: document.format.as_str(),
        dataset,
        batches,
    })
}

/// Content hashes already in the bronze tables.
pub async fn known_hashes(lake: &Lake) -> Result<HashSet<String>, BronzeError> {
    let mut hashes = HashSet::new();
    for table in [ECO2MIX_BRONZE, TEMPO_BRONZE] {
        for batch in distinct_hashes(lake, table).await? {
            let column = batch.column(0);
            let strings = deltalake::arrow::compute::cast(
                column,
                &deltalake::arrow::datatypes::DataType::Utf8,
            )
            .map_err(|e| ecomix_lake::LakeError::Query {
                table: table.to_string(),
                message: e.to_string(),
            })?;
            let strings = strings.as_string::<i32>();
            hashes.extend(
                (0..strings.len())
                    .filter(|&i| strings.is_valid(i))
                    .map(|i| strings.value(i).to_string()),
            );
        }
    }
    Ok(hashes)
}

async fn distinct_hashes(lake: &Lake, table: TableRef) -> Result<Vec<RecordBatch>, BronzeError> {
    Ok(ecomix_lake::query(lake, table, "SELECT DISTINCT _source_sha256 FROM t").await?)
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::{Input, Seen, in_year_order, year_of};

    /// The first document given claims a content, whatever order the claims are made in.
    #[test]
    fn the_earliest_document_keeps_a_content() {
        let mut seen = Seen {
            in_bronze: HashSet::from(["old".to_string()]),
            first: HashMap::new(),
        };
        assert_eq!(seen.skip("old", (0, 0)), Some("already_ingested"));
        // Chunk 1 hashed before chunk 0: input 3 claims, then input 1 takes the content over.
        assert_eq!(seen.skip("new", (3, 0)), None);
        assert_eq!(seen.skip("new", (1, 0)), None);
        assert_eq!(seen.skip("new", (1, 1)), Some("duplicate_in_run"));
        assert_eq!(seen.skip("new", (2, 0)), Some("duplicate_in_run"));
        assert_eq!(seen.first["new"], (1, 0));
    }

    #[test]
    fn inputs_are_ordered_by_the_year_their_name_gives() {
        assert_eq!(
            year_of("data/eCO2mix_RTE_Bretagne_Annuel-Definitif_2013.zip"),
            2013
        );
        assert_eq!(year_of("/2019/eCO2mix_RTE_En-cours-TR.xls"), u16::MAX);
        assert_eq!(year_of("eCO2mix_RTE_2026-01-01.xls"), 2026);
        assert_eq!(year_of("eco2mix-national-cons-def.csv"), u16::MAX);
        assert_eq!(year_of("Site-12345_2014.xls"), 2014);
        assert_eq!(year_of("Site-0117_Annuel-Definitif_2016.xls"), 2016);
        assert_eq!(year_of("az://c/x_2015.csv?sv=2024-05-04&sig=x"), 2015);
        assert_eq!(year_of("https://h/export?file=a/b_2016"), u16::MAX);
        let mut inputs: Vec<Input> = [
            "eCO2mix_RTE_Annuel-Definitif_2013.xls",
            "eCO2mix_RTE_Annuel-Definitif_2012.xls",
            "eCO2mix_RTE_Bretagne_Annuel-Definitif_2012.xls",
            "eCO2mix_RTE_Bretagne_En-cours-TR.xls",
            "eCO2mix_RTE_Bretagne_Annuel-Definitif_2013.xls",
            "eCO2mix_RTE_En-cours-TR.xls",
        ]
        .map(|name| Input::Path(name.into()))
        .into();
        in_year_order(&mut inputs);
        let names: Vec<String> = inputs.iter().map(Input::name).collect();
        assert_eq!(
            names,
            [
                "eCO2mix_RTE_Annuel-Definitif_2012.xls",
                "eCO2mix_RTE_Bretagne_Annuel-Definitif_2012.xls",
                "eCO2mix_RTE_Annuel-Definitif_2013.xls",
                "eCO2mix_RTE_Bretagne_Annuel-Definitif_2013.xls",
                "eCO2mix_RTE_Bretagne_En-cours-TR.xls",
                "eCO2mix_RTE_En-cours-TR.xls",
            ]
        );
    }
}
