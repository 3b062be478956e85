//! A corpus of malformed variants of real and sample files, ingested one by one: no panic, no
//! hang, each either ingested or refused with a short error naming the file, and a refused file
//! leaves the lake exactly as it was.
//!
//! 240 variants in CI; `make stress` (ECOMIX_STRESS=1) 2,400.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use ecomix_core::layout::{ECO2MIX_BRONZE, TEMPO_BRONZE};

/// What one ingest may take before it counts as a hang.
const TIME_BOUND: Duration = Duration::from_secs(60);

/// The lines of a text file, with its line ends and field separator.
fn lines(bytes: &[u8]) -> (Vec<Vec<u8>>, u8) {
    let separator = if bytes.contains(&b'\t') { b'\t' } else { b';' };
    let lines = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .collect();
    (lines, separator)
}

fn join(lines: &[Vec<u8>], end: &[u8]) -> Vec<u8> {
    lines.join(end)
}

/// A data line (not the header, not blank) chosen at random.
fn data_line(lines: &[Vec<u8>], random: &mut Random) -> usize {
    let candidates: Vec<usize> = (1..lines.len()).filter(|&i| lines[i].len() > 10).collect();
    if candidates.is_empty() {
        0
    } else {
        candidates[random.below(candidates.len())]
    }
}

fn replace_field(line: &[u8], separator: u8, index: usize, with: &[u8]) -> Vec<u8> {
    let mut fields: Vec<Vec<u8>> = line
        .split(|&b| b == separator)
        .map(<[u8]>::to_vec)
        .collect();
    let index = index % fields.len();
    fields[index] = with.to_vec();
    fields.join(&separator)
}

/// One malformed variant of `seed`; the name says what was done.
fn mutate(seed: &[u8], random: &mut Random) -> (&'static str, Vec<u8>) {
    let (mut lines, separator) = lines(seed);
    let columns = lines
        .iter()
        .map(|l| l.split(|&b| b == separator).count())
        .max()
        .unwrap_or(1);
    match random.below(13) {
        0 => ("truncated", seed[..random.below(seed.len())].to_vec()),
        1 => {
            let mut bytes = seed.to_vec();
            for _ in 0..=random.below(16) {
                let at = random.below(bytes.len());
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= 1 << random.below(8);
                }
            }
            ("bytes-flipped", bytes)
        }
        2 => {
            let column = random.below(columns);
            for line in &mut lines {
                let fields: Vec<&[u8]> = line.split(|&b| b == separator).collect();
                if column < fields.len() {
                    let kept: Vec<&[u8]> = fields
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != column)
                        .map(|(_, f)| *f)
                        .collect();
                    *line = kept.join(&separator);
                }
            }
            ("column-removed", join(&lines, b"\n"))
        }
        3 => {
            let column = random.below(columns);
            for line in &mut lines {
                let mut fields: Vec<Vec<u8>> = line
                    .split(|&b| b == separator)
                    .map(<[u8]>::to_vec)
                    .collect();
                if column < fields.len() {
                    fields.insert(column, fields[column].clone());
                    *line = fields.join(&separator);
                }
            }
            ("column-duplicated", join(&lines, b"\n"))
        }
        4 => {
            // Latin-1 bytes read as UTF-8 (or the reverse) and written out again.
            let text: String = if std::str::from_utf8(seed).is_ok() {
                String::from_utf8_lossy(seed).into_owned()
            } else {
                seed.iter().map(|&b| b as char).collect()
            };
            match random.below(3) {
                0 => ("as-utf8", text.into_bytes()),
                1 => {
                    let mut bytes = vec![0xFF, 0xFE];
                    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
                    ("as-utf16le", bytes)
                }
                _ => (
                    "as-latin1",
                    text.chars()
                        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                        .collect(),
                ),
            }
        }
        5 => {
            let to = [b';', b',', b'|', b'\t'][random.below(4)];
            let bytes = seed
                .iter()
                .map(|&b| if b == separator { to } else { b })
                .collect();
            ("separator-changed", bytes)
        }
        6 => {
            let at = data_line(&lines, random);
            let bad = [
                &b"2024-02-30"[..],
                b"31/12/2024",
                b"hier",
                b"2024-1-1",
                b"20240101",
            ];
            let date_column = lines[0]
                .split(|&b| b == separator)
                .position(|f| f.eq_ignore_ascii_case(b"date") || f.starts_with(b"Date"))
                .unwrap_or(2);
            lines[at] = replace_field(&lines[at], separator, date_column, bad[random.below(5)]);
            ("date-malformed", join(&lines, b"\n"))
        }
        7 => {
            let at = data_line(&lines, random);
            let column = 4 + random.below(columns.saturating_sub(4).max(1));
            let text = [&b"abc"[..], b"1,5e", b"NaN", b"--", b"1e999", b"12 345"][random.below(6)];
            lines[at] = replace_field(&lines[at], separator, column, text);
            ("number-as-text", join(&lines, b"\n"))
        }
        8 => {
            let at = data_line(&lines, random);
            lines.insert(at, vec![b'x'; 4 << 20]);
            ("huge-line", join(&lines, b"\n"))
        }
        9 => {
            let at = data_line(&lines, random);
            for _ in 0..=random.below(3) {
                lines.insert(at, Vec::new());
            }
            ("empty-lines", join(&lines, b"\n"))
        }
        10 => {
            let mut bytes = b"\xEF\xBB\xBF".to_vec();
            bytes.extend_from_slice(seed);
            ("bom", bytes)
        }
        11 => ("crlf", join(&lines, b"\r\n")),
        _ => {
            // Two mutations on top of each other.
            let (_, once) = mutate(seed, random);
            let (_, twice) = mutate(&once, random);
            ("twice", twice)
        }
    }
}

fn bronze_versions(lake: &Path) -> (Option<u64>, Option<u64>) {
    (version(lake, ECO2MIX_BRONZE), version(lake, TEMPO_BRONZE))
}

#[test]
fn malformed_variants_are_ingested_or_refused_cleanly() {
    let count = if std::env::var_os("ECOMIX_STRESS").is_some() {
        2_400
    } else {
        240
    };
    let seeds = seed_files();
    let contents: Vec<Vec<u8>> = seeds.iter().map(|p| read_plain(p)).collect();
    let lake = tempfile::tempdir().unwrap();
    let sample = repo_root().join("data");
    assert!(
        run(lake.path(), &["-q", "ingest", sample.to_str().unwrap()])
            .status
            .success()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut random = Random(0x00EC_0312_2012_0001);
    let (mut ingested, mut refused) = (0, 0);
    let mut slowest = Duration::ZERO;
    for i in 0..count {
        let which = random.below(seeds.len());
        let (kind, bytes) = mutate(&contents[which], &mut random);
        let original = seeds[which].file_name().unwrap().to_string_lossy();
        let original = original.trim_end_matches(".gz");
        let path = dir.path().join(format!("{i:04}-{kind}-{original}"));
        std::fs::write(&path, &bytes).unwrap();

        let before = bronze_versions(lake.path());
        let started = Instant::now();
        // Into a file, not a pipe: a child blocked on a full pipe would pass for a hang.
        let stderr_path = dir.path().join("stderr");
        let mut child = ecomix(lake.path())
            .args(["-q", "ingest"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > TIME_BOUND {
                child.kill().unwrap();
                panic!("{}: no answer within {TIME_BOUND:?}", path.display());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        slowest = slowest.max(started.elapsed());
        let status = child.wait().unwrap();
        let stderr = text(&std::fs::read(&stderr_path).unwrap());
        match status.code() {
            Some(0) => ingested += 1,
            Some(1) => {
                refused += 1;
                assert!(
                    stderr.contains(&path.display().to_string()),
                    "{}: the error does not name the file: {stderr}",
                    path.display()
                );
                assert!(
                    stderr.lines().count() <= 2 && stderr.len() < 2_000,
                    "{}: not a short error: {stderr}",
                    path.display()
                );
                assert_eq!(
                    bronze_versions(lake.path()),
                    before,
                    "{}: refused but the lake changed",
                    path.display()
                );
            }
            other => panic!("{}: exit {other:?}: {stderr}", path.display()),
        }
        assert!(!stderr.contains("panicked"), "{}: {stderr}", path.display());
        // Keep the folder small: the variant has been judged.
        std::fs::remove_file(&path).unwrap();
    }
    eprintln!(
        "{count} variants of {} seeds: {ingested} ingested, {refused} refused; slowest {slowest:?}",
        seeds.len()
    );
    assert!(
        ingested > count / 20 && refused > count / 5,
        "{ingested} / {refused}"
    );
    // The lake still reads.
    let status = run(lake.path(), &["--json", "status"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
}

#[test]
fn the_corpus_is_the_same_from_run_to_run() {
    let seed = std::fs::read(repo_root().join("data/eco2mix-national-tr.csv")).unwrap();
    let make = || {
        let mut random = Random(42);
        (0..50)
            .map(|_| mutate(&seed, &mut random))
            .collect::<Vec<_>>()
    };
    let (a, b) = (make(), make());
    assert!(a == b, "the generator is not deterministic");
    let kinds: std::collections::BTreeSet<&str> = a.iter().map(|(k, _)| *k).collect();
    assert!(kinds.len() >= 10, "{kinds:?}");
}
