//! Helpers shared by the end-to-end tests: running the binary, reading tables back, a local
//! HTTP server, and the real files of `../shared/data/real/`.
#![allow(dead_code)]

pub mod http;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use ecomix_core::layout::TableRef;
use ecomix_lake::Lake;

pub fn ecomix(lake: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ecomix"));
    command
        .arg("--lake")
        .arg(lake)
        .env_remove("ECOMIX_LAKE")
        .env("NO_COLOR", "1");
    command
}

/// Runs the binary, returning its output; panics with the output when it cannot start.
pub fn run(lake: &Path, args: &[&str]) -> Output {
    ecomix(lake)
        .args(args)
        .output()
        .expect("the ecomix binary runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/data/real/`, or `None` (with a visible message) where it is absent.
pub fn real_data() -> Option<PathBuf> {
    let dir = repo_root().join("../shared/data/real");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} is absent; the real-file tests need it",
            dir.display()
        );
        None
    }
}

/// Every data file under the real-data folder (documentation, checksums and manifests aside).
pub fn real_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for sub in ["rte_xls", "tempo", "odre", "xlsx", "derived"] {
        walk(&dir.join(sub), &mut files);
    }
    files
}

/// The Python interpreter when it can import `modules`. Otherwise `None`, after saying the test
/// is skipped; but when ECOMIX_REQUIRE_PYTHON is set (as in CI) a missing module fails the test.
pub fn python_with(modules: &str) -> Option<String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output();
    if probe.as_ref().is_ok_and(|o| o.status.success()) {
        return Some(python);
    }
    assert!(
        std::env::var("ECOMIX_REQUIRE_PYTHON").is_err(),
        "ECOMIX_REQUIRE_PYTHON is set but `{python} -c 'import {modules}'` fails"
    );
    eprintln!("SKIPPED: Python modules {modules} are not installed (pip install them)");
    None
}

pub fn query(lake: &Path, table: TableRef, sql: &str) -> Vec<RecordBatch> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let lake = Lake::new(lake.to_str().unwrap()).unwrap();
        ecomix_lake::query(&lake, table, sql).await.unwrap()
    })
}

pub fn version(lake: &Path, table: TableRef) -> Option<u64> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let lake = Lake::new(lake.to_str().unwrap()).unwrap();
        lake.version(table).await.unwrap()
    })
}

/// One scalar per row of the first column, as text (nulls as `None`).
pub fn strings(batches: &[RecordBatch], column: usize) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for batch in batches {
        let array = cast(batch.column(column), &DataType::Utf8).unwrap();
        let array = array.as_string::<i32>();
        out.extend((0..array.len()).map(|i| array.is_valid(i).then(|| array.value(i).to_string())));
    }
    out
}

pub fn floats(batches: &[RecordBatch], column: usize) -> Vec<Option<f64>> {
    let mut out = Vec::new();
    for batch in batches {
        let array = cast(batch.column(column), &DataType::Float64).unwrap();
        let array = array.as_primitive::<deltalake::arrow::datatypes::Float64Type>();
        out.extend((0..array.len()).map(|i| array.is_valid(i).then(|| array.value(i))));
    }
    out
}

pub fn count(lake: &Path, table: TableRef) -> i64 {
    floats(&query(lake, table, "SELECT COUNT(*) FROM t"), 0)
        .first()
        .copied()
        .flatten()
        .unwrap_or(0.0) as i64
}

/// The file's bytes, gunzipped when stored gzipped.
pub fn read_plain(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let bytes = std::fs::read(path).unwrap();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        bytes
    }
}

/// Text from bytes the simplest way: UTF-8 if valid, else each byte as its Latin-1 character.
pub fn naive_decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

fn is_date_or_time(field: &str) -> bool {
    let f = field.trim().trim_matches('"').as_bytes();
    let date =
        f.len() >= 10 && f[..4].iter().all(u8::is_ascii_digit) && f[4] == b'-' && f[7] == b'-';
    let time = f.len() == 5 && f[2] == b':' && f[..2].iter().all(u8::is_ascii_digit);
    date || time
}

/// Data rows and the sum of the consumption column of a delimited text file, computed without
/// any of ecomix's code: the header is the first line naming a date or hour column, a data row
/// is a later line with a date or a time in it.
pub fn text_expectations(bytes: &[u8]) -> (usize, f64) {
    let text = naive_decode(bytes);
    let mut lines = text.lines();
    let (separator, consumption) = loop {
        let line = lines.next().expect("a header line");
        let separator = ['\t', ';', ','].into_iter().find(|s| line.contains(*s));
        let Some(separator) = separator else { continue };
        let labels: Vec<String> = line
            .split(separator)
            .map(|l| l.trim().to_lowercase())
            .collect();
        if labels
            .iter()
            .any(|l| ["date", "heures", "heure", "date_heure"].contains(&l.as_str()))
        {
            let consumption = labels
                .iter()
                .position(|l| l.starts_with("consommation") && !l.contains("corrig"));
            break (separator, consumption);
        }
    };
    let mut rows = 0;
    let mut sum = 0.0;
    for line in lines {
        let fields: Vec<&str> = line.split(separator).collect();
        if fields.len() >= 2 && fields.iter().any(|f| is_date_or_time(f)) {
            rows += 1;
            if let Some(value) = consumption
                .and_then(|c| fields.get(c))
                .and_then(|v| v.trim().trim_matches('"').parse::<f64>().ok())
            {
                sum += value;
            }
        }
    }
    (rows, sum)
}

/// Columns that name the run which wrote a row, or when: they differ between two runs that
/// wrote the same data.
const RUN_COLUMNS: [&str; 3] = ["_run_id", "_ingested_at", "_ingest_date"];

/// Every data table of the lake (the run log aside), in the order data flows through them.
pub fn data_tables() -> Vec<TableRef> {
    let mut tables = vec![
        ecomix_core::layout::ECO2MIX_BRONZE,
        ecomix_core::layout::TEMPO_BRONZE,
        ecomix_silver::ECO2MIX_SILVER,
        ecomix_silver::ECO2MIX_QUARANTINE,
    ];
    tables.extend(ecomix_gold::tables::TABLES.iter().map(|t| t.table));
    tables
}

/// Each data table's row count and a checksum of its content (rows as text, sorted, hashed;
/// the run columns left out); `None` for a table that does not exist. Two lakes with the same
/// checksums hold the same rows.
pub fn checksums(lake: &Path) -> Vec<(String, Option<(usize, String)>)> {
    use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
    use sha2::{Digest, Sha256};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let handle = Lake::new(lake.to_str().unwrap()).unwrap();
        let mut out = Vec::new();
        for table in data_tables() {
            if handle.version(table).await.unwrap().is_none() {
                out.push((table.to_string(), None));
                continue;
            }
            let batches = ecomix_lake::query(&handle, table, "SELECT * FROM t")
                .await
                .unwrap();
            let mut rows = Vec::new();
            let options = FormatOptions::default().with_null("∅");
            for batch in &batches {
                let schema = batch.schema();
                let columns: Vec<(String, ArrayFormatter)> = schema
                    .fields()
                    .iter()
                    .zip(batch.columns())
                    .filter(|(f, _)| !RUN_COLUMNS.contains(&f.name().as_str()))
                    .map(|(f, c)| {
                        (
                            f.name().clone(),
                            ArrayFormatter::try_new(c.as_ref(), &options).unwrap(),
                        )
                    })
                    .collect();
                for row in 0..batch.num_rows() {
                    let text: Vec<String> = columns
                        .iter()
                        .map(|(name, f)| format!("{name}={}", f.value(row)))
                        .collect();
                    rows.push(text.join("|"));
                }
            }
            rows.sort();
            let mut hash = Sha256::new();
            for row in &rows {
                hash.update(row.as_bytes());
                hash.update(b"\n");
            }
            out.push((
                table.to_string(),
                Some((rows.len(), hex::encode(hash.finalize()))),
            ));
        }
        out
    })
}

/// The Parquet files under `dir`, at any depth.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(parquet_files(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            files.push(path);
        }
    }
    files
}

/// Copies a lake (or any folder) recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The output of a command that must succeed; its exit code and both streams otherwise.
pub fn succeeded(output: Output) -> Output {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    );
    output
}

/// xorshift64*: a deterministic stream of numbers for generated test inputs, so that a
/// failing input can be made again from its seed.
pub struct Random(pub u64);

impl Random {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Seeds for generated bad inputs: every sample file (each published format) and real files of
/// other shapes (a legacy daily CSV, a workbook, a regional RTE file, the portal's Parquet).
pub fn seed_files() -> Vec<PathBuf> {
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(repo_root().join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    if let Some(real) = real_data() {
        for relative in [
            "derived/pierre-haessig__french-elec/RTE_CO2mix_2012-03-01.csv",
            "xlsx/GreenForecast-Squad__energetic-stress-production/eCO2mix_RTE_tempo_2023-2024.xlsx",
            "rte_xls/regional/P-Mercator__Masters_Thesis@60884e0/eCO2mix_RTE_PACA_En-cours-TR.xls",
            "odre/JunzhangZHONG__Lambda_eCO2mix/eco2mix-national-tr.parquet",
        ] {
            let path = real.join(relative);
            assert!(path.is_file(), "{} is missing", path.display());
            seeds.push(path);
        }
    }
    seeds.sort();
    seeds
}
