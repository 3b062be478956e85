//! Bad inputs are refused with a one-line error naming the file (and the line and column where
//! that applies), a non-zero exit, and the bronze table left exactly as it was.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use ecomix_core::layout::ECO2MIX_BRONZE;

fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(c as u32).unwrap())
        .collect()
}

const HEADER: &str = "Périmètre\tNature\tDate\tHeures\tConsommation\n";

/// A lake holding the bundled sample, and its bronze version and row count.
fn seeded_lake() -> (tempfile::TempDir, u64, i64) {
    let lake = tempfile::tempdir().unwrap();
    let sample = repo_root().join("data");
    let output = run(lake.path(), &["ingest", sample.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let version = version(lake.path(), ECO2MIX_BRONZE).unwrap();
    let rows = count(lake.path(), ECO2MIX_BRONZE);
    (lake, version, rows)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// (file name, content, what the error must say besides the file name)
fn bad_inputs() -> Vec<(&'static str, Vec<u8>, Vec<&'static str>)> {
    let zip = std::fs::read(repo_root().join("data/eCO2mix_RTE_Bretagne_En-cours-TR.zip")).unwrap();
    let mut random = Vec::new();
    let mut x = 0x1234_5678_u32;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        random.push(x as u8);
    }
    vec![
        ("empty.xls", Vec::new(), vec!["empty"]),
        (
            "eCO2mix_RTE_En-cours-TR.xls",
            b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head><body></body></html>\n".to_vec(),
            vec!["HTML"],
        ),
        ("truncated.zip", zip[..zip.len() / 2].to_vec(), vec!["zip"]),
        ("random.xls", random, vec!["line", "column", "not text"]),
        (
            "no-date.xls",
            latin1("Périmètre\tNature\tHeures\tConsommation\nFrance\tDonnées temps réel\t00:00\t51000\t\n"),
            vec!["line 1", "no date column"],
        ),
        (
            "bad-date.xls",
            latin1(&format!(
                "{HEADER}France\tDonnées temps réel\t2024-01-01\t00:00\t51000\t\nFrance\tDonnées temps réel\t2024-13-45\t00:15\t51000\t\n"
            )),
            vec!["line 3", "column 3 (Date)", "malformed date \"2024-13-45\""],
        ),
        (
            "unknown-encoding.csv",
            b"Date;Heures;Consommation\n2024-01-01;00:00;51000\n2024-01-01;00:15;5\x81\x8d00\n".to_vec(),
            vec!["line 3", "column 19", "0x81"],
        ),
    ]
}

#[test]
fn each_bad_input_is_refused_and_bronze_is_unchanged() {
    let (lake, version_before, rows_before) = seeded_lake();
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, expected) in bad_inputs() {
        let path = write(dir.path(), name, &bytes);
        let output = run(lake.path(), &["ingest", path.to_str().unwrap()]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{name}: one line expected, got {stderr:?}");
        assert!(
            lines[0].contains(&path.display().to_string()),
            "{name}: {stderr}"
        );
        for fragment in expected {
            assert!(
                lines[0].contains(fragment),
                "{name}: {fragment:?} missing from {stderr:?}"
            );
        }
        assert_eq!(
            version(lake.path(), ECO2MIX_BRONZE),
            Some(version_before),
            "{name}"
        );
        assert_eq!(count(lake.path(), ECO2MIX_BRONZE), rows_before, "{name}");
    }
}

#[test]
fn several_inputs_commit_all_or_nothing_unless_keep_going() {
    let (lake, version_before, rows_before) = seeded_lake();
    let dir = tempfile::tempdir().unwrap();
    let good_rows = 3;
    let good = write(
        dir.path(),
        "good.xls",
        &latin1(&format!(
            "{HEADER}France\tDonnées temps réel\t2030-01-01\t00:00\t50000\t\nFrance\tDonnées temps réel\t2030-01-01\t00:15\t50100\t\nFrance\tDonnées temps réel\t2030-01-01\t00:30\tND\t\n"
        )),
    );
    let bad = write(dir.path(), "bad.xls", b"<html></html>");
    let (good, bad) = (good.to_str().unwrap(), bad.to_str().unwrap());

    let output = run(lake.path(), &["ingest", good, bad]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("nothing was committed"));
    assert_eq!(version(lake.path(), ECO2MIX_BRONZE), Some(version_before));

    let output = run(
        lake.path(),
        &["--json", "ingest", "--keep-going", good, bad],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["rejected"][0]["file"], bad);
    assert_eq!(
        version(lake.path(), ECO2MIX_BRONZE),
        Some(version_before + 1)
    );
    assert_eq!(count(lake.path(), ECO2MIX_BRONZE), rows_before + good_rows);
    let rescued = strings(
        &query(
            lake.path(),
            ECO2MIX_BRONZE,
            "SELECT _rescued FROM t WHERE date = DATE '2030-01-01' ORDER BY _source_row",
        ),
        0,
    );
    assert_eq!(
        rescued,
        [None, None, Some(r#"{"consommation":"ND"}"#.to_string())]
    );
}
