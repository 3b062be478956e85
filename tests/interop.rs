//! The bronze table reads in other Delta tools: Python `deltalake` and `polars.read_delta`.
//! Skipped (visibly) when those are not installed, unless ECOMIX_REQUIRE_PYTHON=1 (as in CI).

mod common;

use std::process::Command;

use common::*;
use ecomix_core::layout::{ECO2MIX_BRONZE, TEMPO_BRONZE};

#[test]
fn python_deltalake_and_polars_read_bronze() {
    let Some(python) = python_with("deltalake, polars") else {
        return;
    };
    let lake = tempfile::tempdir().unwrap();
    let data = repo_root().join("data");
    let output = run(lake.path(), &["ingest", data.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let expected_rows = count(lake.path(), ECO2MIX_BRONZE);
    let expected_tempo = count(lake.path(), TEMPO_BRONZE);
    let expected_sum = floats(
        &query(
            lake.path(),
            ECO2MIX_BRONZE,
            "SELECT SUM(consommation) FROM t",
        ),
        0,
    )[0]
    .unwrap();

    let script = repo_root().join("tests/interop/read_bronze.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg(lake.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for reader in ["deltalake", "polars"] {
        assert_eq!(result[reader]["rows"], expected_rows, "{reader}");
        assert_eq!(
            result[reader]["consommation_sum"].as_f64().unwrap(),
            expected_sum,
            "{reader}"
        );
        assert_eq!(result[reader]["tempo_rows"], expected_tempo, "{reader}");
    }
    assert_eq!(
        result["deltalake"]["partition_columns"],
        serde_json::json!(["_ingest_date"])
    );
}
