//! The floor under `ecomix run` (without optimize) on one input: the parts of its work that no
//! implementation on this stack can leave out, each measured in the CPU time of the threads
//! doing it. Their sum, spread over every core, is less than any run can take here.
//! scripts/bench.py runs it after `ecomix run` to show how close a run gets.
//!
//! Usage: `floor LAKE FILE...`, where LAKE is a lake that one `ecomix run` (without optimize)
//! built from FILE... and nothing else wrote to, so every Parquet file in it is live.
//!
//! - hash: SHA-256 of every input, which makes a re-ingested file a no-op.
//! - parse: sniffing, decoding and parsing every input into bronze batches, as ingest does.
//! - encode bronze, encode silver: arrow-rs's Parquet encoder writing the lake's own bronze and
//!   silver rows again, a row group per call, to a sink that only counts bytes, with the
//!   settings read from each file (compression, dictionaries, encodings, statistics, row-group
//!   size); and again "bare", with the same dictionaries and encodings but without compression
//!   or statistics (files several times larger, which Delta readers could no longer skip by
//!   their statistics).
//! - decode bronze: reading bronze back as transform does (`ecomix_silver::scan_bronze`).
//!
//! Left out, so that no run can be faster: building silver's rows and quarantine, gold, the
//! Delta logs, the file system, and any time a core waits. Memory stays bounded (a file's bytes
//! and a row group per thread), so it runs at every scale of the bench.
//!
//! Prints one JSON object: each part's CPU seconds, the floor (their sum over the cores) and
//! the bare floor (the same with the bare encodings). Linux only: it reads the threads' CPU
//! clocks.

#[cfg(target_os = "linux")]
fn main() -> anyhow::Result<()> {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("floor reads each thread's CPU clock, which it knows how to do on Linux only");
    std::process::exit(2);
}

/// ecomix's allocator, tuned as the binary tunes it, so that the floor does not pay for another.
#[allow(dead_code)]
#[path = "../src/allocator.rs"]
mod allocator;

#[cfg(target_os = "linux")]
mod linux {
    use std::path::{Path, PathBuf};

    use anyhow::{Context, Result, bail};
    use deltalake::parquet::arrow::ArrowWriter;
    use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use deltalake::parquet::basic::{Compression, Encoding};
    use deltalake::parquet::file::metadata::ParquetMetaData;
    use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
    use ecomix_core::layout::{ECO2MIX_BRONZE, TableRef};
    use ecomix_lake::Lake;
    use futures::StreamExt;
    use rayon::prelude::*;
    use serde_json::json;
    use sha2::{Digest, Sha256};

    /// CPU seconds of `clock`: exact to the nanosecond, where `getrusage` for a thread moves
    /// only at the scheduler's ticks (4 ms here), longer than most of the spans measured.
    fn cpu_seconds(clock: libc::clockid_t) -> f64 {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec it is given and nothing else.
        let status = unsafe { libc::clock_gettime(clock, &mut now) };
        assert_eq!(status, 0, "clock_gettime({clock}) failed");
        now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
    }

    /// Runs `work` on this thread and returns its result with the thread's CPU seconds: tasks
    /// run side by side on every core, and only their measured part counts, not their reading.
    /// `work` must not wait on rayon, or another task's work could run inside its measure.
    fn on_this_thread<T>(work: impl FnOnce() -> T) -> (T, f64) {
        let before = cpu_seconds(libc::CLOCK_THREAD_CPUTIME_ID);
        let result = work();
        (result, cpu_seconds(libc::CLOCK_THREAD_CPUTIME_ID) - before)
    }

    fn parquet_files(folder: &Path) -> Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        let mut folders = vec![folder.to_path_buf()];
        while let Some(folder) = folders.pop() {
            for entry in
                std::fs::read_dir(&folder).with_context(|| format!("listing {folder:?}"))?
            {
                let path = entry?.path();
                if path.is_dir() {
                    if !path.ends_with("_delta_log") {
                        folders.push(path);
                    }
                } else if path.extension().is_some_and(|e| e == "parquet") {
                    files.push(path);
                }
            }
        }
        files.sort();
        Ok(files)
    }

    /// The settings the file was written with, as far as its metadata tells them (ecomix sets
    /// them per file, so its first row group tells them all); `bare`: without compression or
    /// statistics.
    fn settings_of(metadata: &ParquetMetaData, bare: bool) -> Option<WriterProperties> {
        let largest_row_group = metadata.row_groups().iter().map(|g| g.num_rows()).max()?;
        let mut settings = WriterProperties::builder()
            .set_dictionary_enabled(false)
            .set_max_row_group_row_count(Some(largest_row_group.max(1) as usize));
        for chunk in metadata.row_group(0).columns() {
            let path = chunk.column_path().clone();
            let encodings: Vec<Encoding> = chunk.encodings().collect();
            let compression = if bare {
                Compression::UNCOMPRESSED
            } else {
                chunk.compression()
            };
            settings = settings.set_column_compression(path.clone(), compression);
            if encodings.contains(&Encoding::RLE_DICTIONARY) {
                settings = settings.set_column_dictionary_enabled(path.clone(), true);
            }
            if encodings.contains(&Encoding::DELTA_BINARY_PACKED) {
                settings =
                    settings.set_column_encoding(path.clone(), Encoding::DELTA_BINARY_PACKED);
            }
            if bare || chunk.statistics().is_none() {
                settings = settings.set_column_statistics_enabled(path, EnabledStatistics::None);
            }
        }
        Some(settings.build())
    }

    /// Counts the bytes written to it: a growing buffer would add copies and page faults that a
    /// run streaming its files out does not pay.
    #[derive(Default)]
    struct ByteCount(usize);

    impl std::io::Write for ByteCount {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Writes a table's files again, a row group per call: (rows, bytes written, CPU seconds of
    /// the encoder alone).
    fn encode_table(folder: &Path, bare: bool) -> Result<(usize, usize, f64)> {
        let per_file: Result<Vec<(usize, usize, f64)>> = parquet_files(folder)?
            .par_iter()
            .map(|path| {
                let bytes = bytes::Bytes::from(std::fs::read(path)?);
                let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                    .with_context(|| format!("reading {path:?}"))?;
                let Some(settings) = settings_of(reader.metadata(), bare) else {
                    return Ok((0, 0, 0.0));
                };
                let largest_row_group = settings.max_row_group_row_count().unwrap_or(1);
                let mut writer = ArrowWriter::try_new(
                    ByteCount::default(),
                    reader.schema().clone(),
                    Some(settings),
                )?;
                let (mut rows, mut cpu) = (0, 0.0);
                for batch in reader.with_batch_size(largest_row_group).build()? {
                    let batch = batch?;
                    rows += batch.num_rows();
                    let (written, seconds) = on_this_thread(|| writer.write(&batch));
                    written?;
                    cpu += seconds;
                }
                let (written, seconds) = on_this_thread(|| writer.into_inner());
                Ok((rows, written?.0, cpu + seconds))
            })
            .collect();
        Ok(per_file?
            .iter()
            .fold((0, 0, 0.0), |(r, b, c), f| (r + f.0, b + f.1, c + f.2)))
    }

    fn table_folder(lake: &Path, table: TableRef) -> PathBuf {
        lake.join(table.relative_path())
    }

    /// Reads bronze as transform does: (rows, CPU seconds). The reader runs on the runtime's
    /// threads, so this is the process's CPU time, from after the Delta log is read.
    fn decode_bronze(lake: &Path) -> Result<(usize, f64)> {
        let lake = Lake::new(&lake.to_string_lossy())?;
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(async {
            let bronze = lake
                .snapshot(ECO2MIX_BRONZE)
                .await?
                .context("the lake has no bronze table")?;
            let before = cpu_seconds(libc::CLOCK_PROCESS_CPUTIME_ID);
            let Some(mut stream) =
                ecomix_silver::scan_bronze(&bronze, vec![(i32::MIN, i32::MAX)]).await?
            else {
                bail!("bronze needs a Delta feature transform's reader leaves to DataFusion");
            };
            let mut rows = 0;
            while let Some(batch) = stream.next().await {
                rows += batch?.num_rows();
            }
            Ok((rows, cpu_seconds(libc::CLOCK_PROCESS_CPUTIME_ID) - before))
        })
    }

    /// Hashes and parses every input, one after the other on a pool of one thread: (rows,
    /// hashing's and parsing's CPU seconds). The parser splits a large file over the rayon
    /// pool, and a thread waiting for its parts would steal another file's work into its own
    /// measure: alone on its pool, every part of a parse runs on the thread that measures it.
    /// Content seen before is skipped, as ingest skips it.
    fn hash_and_parse(inputs: &[String]) -> Result<(usize, f64, f64)> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
        pool.install(|| {
            let (mut rows, mut hashing, mut parsing) = (0, 0.0, 0.0);
            let mut seen = std::collections::HashSet::new();
            for path in inputs {
                let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
                let (digest, seconds) = on_this_thread(|| Sha256::digest(&bytes));
                hashing += seconds;
                if !seen.insert(digest) {
                    continue;
                }
                let (documents, seconds) =
                    on_this_thread(|| ecomix_bronze::parse_input(path, bytes));
                parsing += seconds;
                rows += documents?.iter().map(|(_, _, rows)| rows).sum::<usize>();
            }
            Ok((rows, hashing, parsing))
        })
    }

    pub(super) fn main() -> Result<()> {
        super::allocator::tune();
        let mut arguments = std::env::args().skip(1);
        let lake = PathBuf::from(arguments.next().context("usage: floor LAKE FILE...")?);
        let inputs: Vec<String> = arguments.collect();

        let (rows, hashing, parsing) = hash_and_parse(&inputs)?;
        let mut parts = vec![
            json!({"part": "hash", "cpu_s": hashing}),
            json!({"part": "parse", "cpu_s": parsing, "rows": rows}),
        ];
        for (name, table) in [
            ("encode bronze", ECO2MIX_BRONZE),
            ("encode silver", ecomix_silver::ECO2MIX_SILVER),
        ] {
            let folder = table_folder(&lake, table);
            let (rows, bytes, cpu) = encode_table(&folder, false)?;
            let (_, bare_bytes, bare_cpu) = encode_table(&folder, true)?;
            parts.push(json!({
                "part": name, "cpu_s": cpu, "rows": rows, "bytes": bytes,
                "bare_cpu_s": bare_cpu, "bare_bytes": bare_bytes,
            }));
        }
        let (rows, cpu) = decode_bronze(&lake)?;
        parts.push(json!({"part": "decode bronze", "cpu_s": cpu, "rows": rows}));

        let total: f64 = parts.iter().filter_map(|p| p["cpu_s"].as_f64()).sum();
        let bare_total: f64 = parts
            .iter()
            .filter_map(|p| p.get("bare_cpu_s").or(p.get("cpu_s"))?.as_f64())
            .sum();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let report = json!({
            "parts": parts,
            "cpu_s": total,
            "cores": cores,
            "floor_s": total / cores as f64,
            "bare_floor_s": bare_total / cores as f64,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        Ok(())
    }
}
