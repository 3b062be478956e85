//! The bundled sample: written by our generator, ingested whole, idempotently.

mod common;

use common::*;
use ecomix_core::layout::{ECO2MIX_BRONZE, TEMPO_BRONZE};

#[test]
fn the_bundled_sample_is_what_the_generator_writes() {
    let out = tempfile::tempdir().unwrap();
    let output = run(
        out.path(),
        &["synth", "--out", out.path().to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let data = repo_root().join("data");
    let mut names: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| !n.to_string_lossy().starts_with('.') && n != "README.md")
        .collect();
    names.sort();
    assert!(names.len() >= 6);
    for name in names {
        let committed = std::fs::read(data.join(&name)).unwrap();
        let generated = std::fs::read(out.path().join(&name)).unwrap();
        assert!(
            committed == generated,
            "data/{} differs from `ecomix synth`",
            name.to_string_lossy()
        );
    }
}

#[test]
fn sample_ingests_once_and_a_second_ingest_changes_nothing() {
    let lake = tempfile::tempdir().unwrap();
    let data = repo_root().join("data");
    let output = run(lake.path(), &["--json", "ingest", data.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    // Row counts straight from the files' text (the zip unpacked by the `zip` crate).
    let mut expected_eco2mix = 0;
    let mut expected_tempo = 0;
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name == "README.md" {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let bytes = if name.ends_with(".zip") {
            use std::io::Read;
            let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
            let mut member = archive.by_index(0).unwrap();
            let mut out = Vec::new();
            member.read_to_end(&mut out).unwrap();
            out
        } else {
            bytes
        };
        let (rows, _) = text_expectations(&bytes);
        if name.contains("tempo") {
            expected_tempo += rows;
        } else {
            expected_eco2mix += rows;
        }
    }
    assert_eq!(
        count(lake.path(), ECO2MIX_BRONZE) as usize,
        expected_eco2mix
    );
    assert_eq!(count(lake.path(), TEMPO_BRONZE) as usize, expected_tempo);
    let versions = (
        version(lake.path(), ECO2MIX_BRONZE),
        version(lake.path(), TEMPO_BRONZE),
    );
    assert_eq!(report["tables"][0]["rows_written"], expected_eco2mix);

    let output = run(lake.path(), &["--json", "ingest", data.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let again: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        again["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["status"] == "already_ingested")
    );
    assert_eq!(
        (
            version(lake.path(), ECO2MIX_BRONZE),
            version(lake.path(), TEMPO_BRONZE)
        ),
        versions
    );
    assert_eq!(
        count(lake.path(), ECO2MIX_BRONZE) as usize,
        expected_eco2mix
    );

    let output = run(lake.path(), &["ingest", data.to_str().unwrap()]);
    assert!(text(&output.stdout).contains("already in bronze"));

    // --force ingests the same content again, as a new version.
    let tempo = data.join("eCO2mix_RTE_tempo_2024-2025.xls");
    let output = run(lake.path(), &["ingest", "--force", tempo.to_str().unwrap()]);
    assert!(output.status.success());
    assert_eq!(
        version(lake.path(), TEMPO_BRONZE),
        versions.1.map(|v| v + 1)
    );
    assert_eq!(
        count(lake.path(), TEMPO_BRONZE) as usize,
        2 * expected_tempo
    );
}

#[test]
fn lineage_and_partitioning() {
    let lake = tempfile::tempdir().unwrap();
    let file = repo_root().join("data/eCO2mix_RTE_En-cours-TR.xls");
    let output = run(lake.path(), &["--json", "ingest", file.to_str().unwrap()]);
    assert!(output.status.success());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let run_id = report["run_id"].as_str().unwrap();

    let batches = query(
        lake.path(),
        ECO2MIX_BRONZE,
        "SELECT DISTINCT _source_file, _source_sha256, _run_id, CAST(_ingest_date AS VARCHAR), CAST(CAST(_ingested_at AS DATE) AS VARCHAR) FROM t",
    );
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&file).unwrap()))
    };
    assert_eq!(strings(&batches, 0), [Some(file.display().to_string())]);
    assert_eq!(strings(&batches, 1), [Some(sha)]);
    assert_eq!(strings(&batches, 2), [Some(run_id.to_string())]);
    assert_eq!(strings(&batches, 3), strings(&batches, 4));
    let partition = strings(&batches, 3)[0].clone().unwrap();
    assert!(
        lake.path()
            .join(format!("bronze/eco2mix_bronze/_ingest_date={partition}"))
            .is_dir()
    );
    // Source rows are the file's line numbers: header on line 1, so data on 2..=n+1.
    let rows = floats(
        &query(
            lake.path(),
            ECO2MIX_BRONZE,
            "SELECT MIN(_source_row), MAX(_source_row), COUNT(*) FROM t",
        ),
        0,
    );
    let all = floats(
        &query(
            lake.path(),
            ECO2MIX_BRONZE,
            "SELECT MIN(_source_row), MAX(_source_row), COUNT(*) FROM t",
        ),
        1,
    );
    let n = count(lake.path(), ECO2MIX_BRONZE) as f64;
    assert_eq!(rows, [Some(2.0)]);
    assert_eq!(all, [Some(n + 1.0)]);
}

#[test]
fn globs_expand_and_a_pattern_matching_nothing_is_an_error() {
    let lake = tempfile::tempdir().unwrap();
    let data = repo_root().join("data");
    let pattern = format!("{}/eCO2mix_RTE_*.xls", data.display());
    let output = run(lake.path(), &["--json", "ingest", &pattern]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut ingested: Vec<String> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            f["source_file"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    ingested.sort();
    let mut expected: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("eCO2mix_RTE_") && n.ends_with(".xls"))
        .collect();
    expected.sort();
    assert_eq!(ingested, expected);

    let nothing = format!("{}/*.nothing", data.display());
    let output = run(lake.path(), &["ingest", &nothing]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("no file matches"));
}

/// Inputs are ingested year by year (the year their names give, names without one last),
/// whatever the order they are given in. Four different files given newest first are read two
/// at a time, each pair written to a bronze file of its own in the order read: the pairs are
/// the two oldest, then the two newest.
#[test]
fn inputs_are_ingested_year_by_year() {
    let lake = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    let data = repo_root().join("data");
    let copies = [
        ("eCO2mix_RTE_En-cours-TR.xls", "current.xls"),
        ("eCO2mix_RTE_Annuel-Definitif_2024.xls", "national_2019.xls"),
        (
            "eCO2mix_RTE_Bretagne_En-cours-Consolide.xls",
            "region_2015.xls",
        ),
        ("eco2mix-national-tr.csv", "portal_2017.csv"),
    ];
    let mut args = vec!["ingest".to_string()];
    for (source, name) in copies {
        let path = inputs.path().join(name);
        std::fs::copy(data.join(source), &path).unwrap();
        args.push(path.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run(lake.path(), &args);
    assert!(output.status.success(), "{}", text(&output.stderr));

    let mut written: Vec<Vec<String>> = parquet_files(&lake.path().join("bronze/eco2mix_bronze"))
        .iter()
        .map(|file| {
            let mut names: Vec<String> = Vec::new();
            for name in column_in_order(file, "_source_file") {
                let name = name.rsplit('/').next().unwrap().to_string();
                if names.last() != Some(&name) {
                    names.push(name);
                }
            }
            names
        })
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            ["national_2019.xls", "current.xls"],
            ["region_2015.xls", "portal_2017.csv"],
        ]
    );
}

/// The same content given three times in one run is ingested once, under the name of the first
/// given in year order, and the other two are reported as duplicates of this run: on every run,
/// whichever of its chunks is hashed first.
#[test]
fn the_same_content_twice_in_a_run_lands_under_the_first_name() {
    let inputs = tempfile::tempdir().unwrap();
    let source = repo_root()
        .join("data")
        .join("eCO2mix_RTE_Annuel-Definitif_2024.xls");
    let mut args = vec!["--json".to_string(), "ingest".to_string()];
    for name in ["copy.xls", "copy_2017.xls", "copy_2015.xls"] {
        let path = inputs.path().join(name);
        std::fs::copy(&source, &path).unwrap();
        args.push(path.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for _ in 0..3 {
        let lake = tempfile::tempdir().unwrap();
        let output = run(lake.path(), &args);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let mut statuses: Vec<(String, String)> = report["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let name = f["source_file"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap();
                (name.to_string(), f["status"].as_str().unwrap().to_string())
            })
            .collect();
        statuses.sort();
        let expected = [
            ("copy.xls", "duplicate_in_run"),
            ("copy_2015.xls", "ingested"),
            ("copy_2017.xls", "duplicate_in_run"),
        ]
        .map(|(n, s)| (n.to_string(), s.to_string()));
        assert_eq!(statuses, expected);
        let sources = strings(
            &query(
                lake.path(),
                ECO2MIX_BRONZE,
                "SELECT DISTINCT _source_file FROM t",
            ),
            0,
        );
        assert_eq!(sources, [Some(args[4].to_string())]);
    }
}

/// A text column of a Parquet file, in the order of its rows.
fn column_in_order(file: &std::path::Path, column: &str) -> Vec<String> {
    use deltalake::parquet::arrow::ProjectionMask;
    use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap()).unwrap();
    let leaf = builder
        .parquet_schema()
        .columns()
        .iter()
        .position(|c| c.name() == column)
        .unwrap();
    let mask = ProjectionMask::leaves(builder.parquet_schema(), [leaf]);
    let batches: Vec<deltalake::arrow::record_batch::RecordBatch> = builder
        .with_projection(mask)
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    strings(&batches, 0)
        .into_iter()
        .map(Option::unwrap)
        .collect()
}
