//! The job definitions of `pipelines/`: the Databricks-style job runs the same steps as
//! `ecomix run` and gives the same tables; the cron example calls commands that exist.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::*;
use ecomix_gold::tables::TABLES;

fn ecomix_in_repo(lake: &Path, args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ecomix"))
        .current_dir(repo_root())
        .env("ECOMIX_LAKE", lake)
        .env(
            "ECOMIX_PIPELINE",
            repo_root().join("pipelines/eco2mix.toml"),
        )
        .args(args)
        .output()
        .unwrap()
}

/// Row count and a checksum of every numeric column, per gold table.
fn gold_fingerprint(lake: &Path) -> BTreeMap<String, (i64, Vec<Option<f64>>)> {
    TABLES
        .iter()
        .map(|table| {
            let sums: Vec<String> = table
                .schema()
                .fields()
                .iter()
                .filter(|f| f.data_type().is_numeric())
                .map(|f| format!("SUM(CAST(\"{}\" AS DOUBLE))", f.name()))
                .collect();
            let batches = query(
                lake,
                table.table,
                &format!("SELECT {} FROM t", sums.join(", ")),
            );
            let values = (0..sums.len())
                .map(|i| floats(&batches, i)[0].map(|v| (v * 1e6).round() / 1e6))
                .collect();
            (table.name().to_string(), (count(lake, table.table), values))
        })
        .collect()
}

#[test]
fn the_databricks_job_runs_the_steps_of_ecomix_run_in_dependency_order() {
    let job: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("pipelines/databricks-job.json")).unwrap(),
    )
    .unwrap();
    let tasks = job["tasks"].as_array().unwrap();
    // Topological order of the tasks by `depends_on`.
    let mut done: Vec<String> = Vec::new();
    while done.len() < tasks.len() {
        let before = done.len();
        for task in tasks {
            let key = task["task_key"].as_str().unwrap().to_string();
            let ready = task["depends_on"].as_array().is_none_or(|deps| {
                deps.iter()
                    .all(|d| done.contains(&d["task_key"].as_str().unwrap().to_string()))
            });
            if ready && !done.contains(&key) {
                done.push(key);
            }
        }
        assert!(done.len() > before, "the tasks' dependencies form a cycle");
    }
    assert_eq!(done, ["ingest", "transform", "gold", "optimize"]);

    let dir = tempfile::tempdir().unwrap();
    let databricks = dir.path().join("databricks");
    for key in &done {
        let task = tasks
            .iter()
            .find(|t| t["task_key"] == key.as_str())
            .unwrap();
        assert!(
            repo_root()
                .join(task["spark_python_task"]["python_file"].as_str().unwrap())
                .is_file()
        );
        let args: Vec<String> = task["spark_python_task"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect();
        let output = ecomix_in_repo(&databricks, &args);
        assert!(output.status.success(), "{key}: {}", text(&output.stderr));
    }
    let whole = dir.path().join("run");
    let output = ecomix_in_repo(&whole, &["run".to_string()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let expected = gold_fingerprint(&whole);
    assert!(expected.values().all(|(rows, _)| *rows > 0));
    assert_eq!(gold_fingerprint(&databricks), expected);
}

#[test]
fn the_cron_example_calls_existing_commands() {
    let cron = std::fs::read_to_string(repo_root().join("pipelines/ecomix.cron")).unwrap();
    let mut calls = 0;
    for line in cron
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("ecomix "))
    {
        for call in line.split("ecomix ").skip(1) {
            // The arguments up to the end of the shell command.
            let words: Vec<String> = call
                .split(['&', '>', '\''])
                .next()
                .unwrap()
                .split_whitespace()
                .map(String::from)
                .collect();
            let mut args = words.clone();
            args.push("--help".into());
            let output = Command::new(env!("CARGO_BIN_EXE_ecomix"))
                .current_dir(repo_root())
                .args(&args)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "ecomix {}: {}",
                words.join(" "),
                text(&output.stderr)
            );
            calls += 1;
        }
    }
    assert!(calls >= 3, "{cron}");
}
