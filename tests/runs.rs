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

/// A URL with a SAS token (as shared links to Azure blobs carry) is an input like any other,
/// but its signature never reaches the output, the JSON summary, the logs or the run log.
#[test]
fn a_sas_signature_in_an_input_url_is_never_recorded_or_printed() {
    let served = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo_root().join("data/eCO2mix_RTE_En-cours-TR.xls"),
        served.path().join("eCO2mix_RTE_En-cours-TR.xls"),
    )
    .unwrap();
    let server = common::http::serve(served.path().to_path_buf());
    let signature = "dGhpcy1pcy1hLXNpZ25hdHVyZQ%3D%3D";
    let sas = format!("sv=2024-11-04&ss=b&sp=r&se=2030-01-01T00%3A00%3A00Z&sig={signature}");
    let good = format!("{}eCO2mix_RTE_En-cours-TR.xls?{sas}", server.base);
    let missing = format!("{}missing.xls?{sas}", server.base);
    let lake = tempfile::tempdir().unwrap();

    let output = run(
        lake.path(),
        &["-vv", "--json", "ingest", "--keep-going", &good, &missing],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(stdout.contains("sig=***"), "{stdout}");
    assert!(
        !stdout.contains(signature) && !stderr.contains(signature),
        "{stdout}\n{stderr}"
    );

    let batches = query(
        lake.path(),
        RUNS,
        "SELECT input_files, details, message FROM t",
    );
    let recorded: Vec<String> = (0..3)
        .flat_map(|c| strings(&batches, c))
        .flatten()
        .collect();
    let recorded = recorded.join("\n");
    assert!(recorded.contains("sig=***"), "{recorded}");
    assert!(!recorded.contains(signature), "{recorded}");
    // The file was fetched with its full URL: the signature is masked, not dropped.
    assert!(
        server
            .requests
            .lock()
            .unwrap()
            .iter()
            .any(|path| path.contains(signature))
    );
    assert_eq!(count(lake.path(), ECO2MIX_BRONZE), 672);
    // Nor in bronze's lineage.
    let files = strings(
        &query(
            lake.path(),
            ECO2MIX_BRONZE,
            "SELECT DISTINCT _source_file FROM t",
        ),
        0,
    );
    assert_eq!(files.len(), 1);
    let file = files[0].clone().unwrap();
    assert!(
        file.contains("sig=***") && !file.contains(signature),
        "{file}"
    );
}
