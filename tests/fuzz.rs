//! Fuzzing the sniffer and the parsers, in process: mutated real and sample files of every
//! format go through `parse_input` (sniff, unpack, decode, parse, exactly as `ingest`), which
//! must answer Ok or a clear error, never panic, and never take long.
//!
//! `make fuzz` (FUZZ_SECONDS, default 60; FUZZ_TARGET: all, text, zip, workbook, parquet) runs
//! the fuzzer; an input that panics or hangs is saved under `tests/fuzz-regressions/`, which
//! `regressions_stay_fixed` replays in every test run. cargo-fuzz needs a nightly compiler
//! this project's machines do not have; this is a mutation fuzzer without coverage feedback.

mod common;

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

/// An input that takes longer than this counts as a hang.
const TIME_BOUND: Duration = Duration::from_secs(10);

/// Byte strings that mean something to the sniffer and the parsers.
const TOKENS: [&[u8]; 18] = [
    b"\t",
    b";",
    b"\n",
    b"\r\n",
    b"ND",
    b"-",
    b"Date",
    b"Heures",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"PAR1",
    b"\xD0\xCF\x11\xE0",
    b"\xEF\xBB\xBF",
    b"\xFF\xFE",
    b"2024-03-31",
    b"02:00",
    b"Journ\xe9e du 01/01/2012",
    b"\"",
];

fn mutate(input: &mut Vec<u8>, other: &[u8], random: &mut Random) {
    let len = input.len().max(1);
    match random.below(8) {
        0 => {
            let at = random.below(len);
            if let Some(b) = input.get_mut(at) {
                *b ^= 1 << random.below(8);
            }
        }
        1 => {
            let at = random.below(len);
            if let Some(b) = input.get_mut(at) {
                *b = [0, 0xFF, b'\t', b';', b'\n', b'0', b'9', 0x80][random.below(8)];
            }
        }
        2 => {
            let start = random.below(len);
            let end = (start + random.below(64)).min(input.len());
            if start < end {
                input.drain(start..end);
            }
        }
        3 => {
            let start = random.below(len);
            let end = (start + random.below(256)).min(input.len());
            if start < end {
                let copy = input[start..end].to_vec();
                let at = random.below(len);
                input.splice(at.min(input.len())..at.min(input.len()), copy);
            }
        }
        4 => {
            let token = TOKENS[random.below(TOKENS.len())];
            let at = random.below(len).min(input.len());
            input.splice(at..at, token.iter().copied());
        }
        5 => input.truncate(random.below(len)),
        6 => {
            // Splice: the head of this input, the tail of another.
            let cut = random.below(len).min(input.len());
            let from = random.below(other.len().max(1)).min(other.len());
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        _ => {
            let at = random.below(len).min(input.len());
            let noise: Vec<u8> = (0..random.below(32)).map(|_| random.next() as u8).collect();
            input.splice(at..at, noise);
        }
    }
}

/// The seed files for a target.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let paths = seed_files();
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, read_plain(&p))
        })
        .filter(|(name, bytes)| {
            let format = match bytes.get(..4) {
                Some(b"PK\x03\x04") if name.ends_with(".xlsx") => "workbook",
                Some(b"PK\x03\x04") => "zip",
                Some(b"PAR1") => "parquet",
                Some([0xD0, 0xCF, 0x11, 0xE0]) => "workbook",
                _ => "text",
            };
            target == "all" || target == format
        })
        .collect()
}

/// Parses `bytes` on another thread: whether they parsed, or a description of a panic or a
/// hang.
fn judge(name: &str, bytes: &[u8]) -> Result<bool, String> {
    let (done, result) = mpsc::channel();
    let (name, bytes) = (name.to_string(), bytes.to_vec());
    std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(|| ecomix_bronze::parse_input(&name, bytes));
        let _ = done.send(outcome.map(|parsed| parsed.is_ok()).map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into())
        }));
    });
    match result.recv_timeout(TIME_BOUND) {
        Ok(outcome) => outcome.map_err(|p| format!("panicked: {p}")),
        Err(_) => Err(format!("no answer within {TIME_BOUND:?}")),
    }
}

fn regressions() -> PathBuf {
    repo_root().join("tests/fuzz-regressions")
}

/// Every input the fuzzer ever caught: each is answered (Ok or an error), without panic, in time.
#[test]
fn regressions_stay_fixed() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(regressions())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|e| e != "md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the regression folder lost its inputs");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy();
        // Saved as `<hash>-<original name>`: the original name is what the parser saw.
        let original = name.split_once('-').map_or(&*name, |(_, n)| n);
        let bytes = std::fs::read(&path).unwrap();
        if let Err(e) = judge(original, &bytes) {
            panic!("{}: {e}", path.display());
        }
    }
}

#[test]
#[ignore = "a long run: `make fuzz`"]
fn fuzz_the_parsers() {
    let seconds: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let target = std::env::var("FUZZ_TARGET").unwrap_or_else(|_| "all".into());
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let corpus = seeds(&target);
    assert!(!corpus.is_empty(), "no seed for target {target}");
    let mut random = Random(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut runs, mut accepted) = (0u64, 0u64);
    let mut found = Vec::new();
    while Instant::now() < deadline {
        let (name, seed_bytes) = &corpus[random.below(corpus.len())];
        let (_, other) = &corpus[random.below(corpus.len())];
        let mut input = seed_bytes.clone();
        for _ in 0..=random.below(4) {
            mutate(&mut input, other, &mut random);
        }
        runs += 1;
        match judge(name, &input) {
            Ok(parsed) => accepted += u64::from(parsed),
            Err(problem) => {
                let path = save(name, &input);
                eprintln!("FOUND {problem}: saved as {}", path.display());
                found.push(path);
            }
        }
    }
    eprintln!(
        "fuzz {target} (seed {seed}): {runs} inputs in {seconds} s from {} seeds, {accepted} parsed, {} problem(s)",
        corpus.len(),
        found.len()
    );
    assert!(found.is_empty(), "inputs that panic or hang: {found:?}");
}

fn save(name: &str, bytes: &[u8]) -> PathBuf {
    use sha2::{Digest, Sha256};
    let hash = hex::encode(&Sha256::digest(bytes)[..6]);
    let path = regressions().join(format!("{hash}-{name}"));
    std::fs::write(&path, bytes).unwrap();
    path
}
