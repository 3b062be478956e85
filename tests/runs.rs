//! Every command leaves a row in `system/_ecomix_runs`: what ran, when, on what, with what result.

mod common;

use common::*;
use ecomix_core::layout::{ECO2MIX_BRONZE, RUNS};

#[test]
fn each_run_is_logged_with_its_status_rows_and_inputs() {
    let lake = tempfile::tempdir().unwrap();
    let data = repo_root().join("data");
    let bad = tempfile::tempdir().unwrap();
    let page = bad.path().join("eCO2mix_RTE_En-cours-TR.xls");
    std::fs::write(&page, "<html><body>503</body></html>").unwrap();

    assert!(
        run(lake.path(), &["-q", "ingest", data.to_str().unwrap()])
            .status
            .success()
    );
    assert!(run(lake.path(), &["-q", "transform"]).status.success());
    assert!(run(lake.path(), &["-q", "transform"]).status.success());
    assert!(
        !run(lake.path(), &["-q", "ingest", page.to_str().unwrap()])
            .status
            .success()
    );

    let batches = query(
        lake.path(),
        RUNS,
        "SELECT command, status, rows, input_files, message, CAST(started_at <= ended_at AS VARCHAR) FROM t ORDER BY started_at",
    );
    let commands: Vec<(String, String)> = strings(&batches, 0)
        .into_iter()
        .zip(strings(&batches, 1))
        .map(|(c, s)| (c.unwrap(), s.unwrap()))
        .collect();
    let expected = [
        ("ingest", "succeeded"),
        ("transform", "succeeded"),
        ("transform", "no_op"),
        ("ingest", "failed"),
    ];
    assert_eq!(
        commands,
        expected.map(|(c, s)| (c.to_string(), s.to_string()))
    );

    let rows: serde_json::Value =
        serde_json::from_str(strings(&batches, 2)[0].as_deref().unwrap()).unwrap();
    assert_eq!(
        rows["bronze.eco2mix_bronze"],
        count(lake.path(), ECO2MIX_BRONZE)
    );
    let inputs: Vec<String> =
        serde_json::from_str(strings(&batches, 3)[0].as_deref().unwrap()).unwrap();
    assert_eq!(inputs.len(), 6, "{inputs:?}");
    let silver_rows: serde_json::Value =
        serde_json::from_str(strings(&batches, 2)[1].as_deref().unwrap()).unwrap();
    assert_eq!(
        silver_rows["silver.eco2mix_silver"],
        count(lake.path(), ecomix_silver::ECO2MIX_SILVER)
    );
    let message = strings(&batches, 4)[3].clone().unwrap();
    assert!(
        message.contains(&page.display().to_string()) && message.contains("HTML"),
        "{message}"
    );
    assert!(
        strings(&batches, 5)
            .iter()
            .all(|v| v.as_deref() == Some("true"))
    );
}
