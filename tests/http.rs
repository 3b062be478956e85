//! URL ingest and `ecomix download`, against a server on 127.0.0.1.

mod common;

use common::*;
use ecomix_core::layout::ECO2MIX_BRONZE;

#[test]
fn ingest_from_a_url_with_a_retry() {
    let served = tempfile::tempdir().unwrap();
    let sample = repo_root().join("data/eCO2mix_RTE_En-cours-TR.xls");
    std::fs::copy(&sample, served.path().join("eCO2mix_RTE_En-cours-TR.xls")).unwrap();
    let server = http::serve(served.path().to_path_buf());
    let lake = tempfile::tempdir().unwrap();

    // The first request under /flaky/ gets a 503: the ingest retries and succeeds.
    let url = format!("{}flaky/eCO2mix_RTE_En-cours-TR.xls", server.base);
    let output = run(lake.path(), &["--json", "ingest", &url]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(server.requests.lock().unwrap().len(), 2);
    let (rows, sum) = text_expectations(&std::fs::read(&sample).unwrap());
    assert_eq!(count(lake.path(), ECO2MIX_BRONZE) as usize, rows);
    let batches = query(
        lake.path(),
        ECO2MIX_BRONZE,
        "SELECT SUM(consommation), MIN(_source_file) FROM t",
    );
    assert_eq!(floats(&batches, 0), [Some(sum)]);
    assert_eq!(strings(&batches, 1), [Some(url.clone())]);

    // A missing file is a clear error, not a retry loop.
    let missing = format!("{}nowhere.xls", server.base);
    let output = run(lake.path(), &["ingest", &missing]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&missing) && stderr.contains("404"),
        "{stderr}"
    );
}

#[test]
fn download_fetches_the_catalogue_and_skips_what_is_unchanged() {
    let served = tempfile::tempdir().unwrap();
    let data = repo_root().join("data");
    // The server plays RTE: the national real-time zip and a regional one.
    let national = std::fs::read(data.join("eCO2mix_RTE_Bretagne_En-cours-TR.zip")).unwrap();
    std::fs::write(served.path().join("eCO2mix_RTE_En-cours-TR.zip"), &national).unwrap();
    std::fs::write(
        served.path().join("eCO2mix_RTE_Bretagne_En-cours-TR.zip"),
        &national,
    )
    .unwrap();
    std::fs::write(
        served.path().join("eCO2mix_RTE_tempo_2024-2025.zip"),
        b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
    )
    .unwrap();
    let server = http::serve(served.path().to_path_buf());
    let dest = tempfile::tempdir().unwrap();
    let lake = tempfile::tempdir().unwrap();
    let download = |args: &[&str]| {
        let mut all = vec![
            "--json",
            "download",
            "--base-url",
            &server.base,
            "--dest",
            dest.path().to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        let output = run(lake.path(), &all);
        assert!(output.status.success(), "{}", text(&output.stderr));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };

    let first = download(&["tr", "tempo:2024"]);
    assert_eq!(first[0]["status"], "new");
    assert_eq!(first[1]["status"], "new");
    assert_eq!(
        std::fs::read(dest.path().join("eCO2mix_RTE_En-cours-TR.zip")).unwrap(),
        national
    );

    let again = download(&["tr"]);
    assert_eq!(again[0]["status"], "unchanged");

    let regional = download(&["tr", "--region", "Bretagne"]);
    assert_eq!(
        regional[0]["file"],
        dest.path()
            .join("eCO2mix_RTE_Bretagne_En-cours-TR.zip")
            .display()
            .to_string()
    );

    let output = run(
        lake.path(),
        &[
            "download",
            "--base-url",
            &server.base,
            "--dest",
            dest.path().to_str().unwrap(),
            "definitif:2019",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("404"));
}
