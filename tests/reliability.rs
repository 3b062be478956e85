//! A run killed at any moment, or two runs at once, never leave a table half-written: every
//! table reads at a committed version, a file is in bronze whole or not at all, and running the
//! job again gives exactly the tables of an uninterrupted run.
//!
//! CI runs reduced counts; `make stress` (ECOMIX_STRESS=1) the full ones.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use ecomix_core::layout::ECO2MIX_BRONZE;

fn stress() -> bool {
    std::env::var_os("ECOMIX_STRESS").is_some()
}

/// A lake that already holds the bundled sample, the run under test (the four national
/// real-time files, on top of it) and what that run gives when nothing interrupts it.
struct Scenario {
    _dir: tempfile::TempDir,
    base: PathBuf,
    national: PathBuf,
    expected: Vec<(String, Option<(usize, String)>)>,
    bronze_files: BTreeMap<String, i64>,
    duration: Duration,
}

fn scenario() -> Option<&'static Scenario> {
    static SCENARIO: OnceLock<Option<Scenario>> = OnceLock::new();
    SCENARIO
        .get_or_init(|| {
            let national = real_data()?.join("rte_xls/national");
            let dir = tempfile::tempdir().unwrap();
            let base = dir.path().join("base");
            finished(job(&base, &["run", "data/"]));
            let reference = dir.path().join("reference");
            copy_dir(&base, &reference);
            let started = Instant::now();
            finished(job(&reference, &["run", national.to_str().unwrap()]));
            let duration = started.elapsed();
            Some(Scenario {
                expected: checksums(&reference),
                bronze_files: rows_per_file(&reference),
                _dir: dir,
                base,
                national,
                duration,
            })
        })
        .as_ref()
}

fn job(lake: &Path, args: &[&str]) -> Command {
    let mut command = ecomix(lake);
    command
        .args(args)
        .current_dir(repo_root())
        .env_remove("ECOMIX_PIPELINE")
        .env_remove("ECOMIX_CRASH_AT");
    command
}

fn finished(mut command: Command) -> Output {
    succeeded(command.output().unwrap())
}

/// Bronze rows per source file.
fn rows_per_file(lake: &Path) -> BTreeMap<String, i64> {
    let batches = query(
        lake,
        ECO2MIX_BRONZE,
        "SELECT _source_file, COUNT(*) FROM t GROUP BY _source_file",
    );
    strings(&batches, 0)
        .into_iter()
        .zip(floats(&batches, 1))
        .map(|(f, n)| (f.unwrap(), n.unwrap() as i64))
        .collect()
}

/// What must hold after any interruption: every table opens and reads at a committed version,
/// and each file is in bronze with all its rows or not at all. Then the job run again gives
/// the tables of the uninterrupted run.
fn check_then_converge(lake: &Path, scenario: &Scenario, what: &str) {
    let status = job(lake, &["--json", "status"]).output().unwrap();
    assert!(
        status.status.success(),
        "{what}: status fails: {}",
        text(&status.stderr)
    );
    for (file, rows) in rows_per_file(lake) {
        let whole = scenario.bronze_files.get(&file);
        assert_eq!(Some(&rows), whole, "{what}: {file} is partly in bronze");
    }
    let national = scenario.national.to_str().unwrap();
    finished(job(lake, &["run", national]));
    assert_eq!(
        checksums(lake),
        scenario.expected,
        "{what}: the re-run does not give the uninterrupted run's tables"
    );
}

#[test]
fn a_run_killed_at_any_moment_converges_on_rerun() {
    let Some(scenario) = scenario() else {
        return;
    };
    let points = if stress() { 100 } else { 20 };
    let national = scenario.national.to_str().unwrap();
    let mut killed = 0;
    for i in 0..points {
        // Spread over the run, from start-up to its last commit.
        let at = scenario.duration.mul_f64((i as f64 + 0.5) / points as f64);
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        copy_dir(&scenario.base, &lake);
        let mut child = job(&lake, &["-q", "run", national])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
        check_then_converge(&lake, scenario, &format!("killed after {at:?}"));
    }
    eprintln!(
        "{killed} of {points} runs killed (SIGKILL) between 0 and {:?}",
        scenario.duration
    );
    assert!(killed * 10 >= points * 8, "too few runs were still going");
}

/// The moments a kill at random may miss: right after a batch went to the Parquet writer,
/// between the data files and the commit, and right after the commit.
#[test]
fn a_run_aborted_at_each_commit_converges_on_rerun() {
    let Some(scenario) = scenario() else {
        return;
    };
    let national = scenario.national.to_str().unwrap();
    let step = if stress() { 1 } else { 3 };
    let mut aborted = 0;
    for (point, first) in [
        ("before-commit", 1),
        ("after-commit", 2),
        ("batch-written", 1),
    ] {
        let mut nth = first;
        loop {
            let dir = tempfile::tempdir().unwrap();
            let lake = dir.path().join("lake");
            copy_dir(&scenario.base, &lake);
            let output = job(&lake, &["-q", "run", national])
                .env("ECOMIX_CRASH_AT", format!("{point}:{nth}"))
                .output()
                .unwrap();
            if output.status.success() {
                // The run passes this point fewer than `nth` times.
                break;
            }
            assert!(
                text(&output.stderr).contains("ECOMIX_CRASH_AT: aborting"),
                "{point}:{nth}: {}",
                text(&output.stderr)
            );
            aborted += 1;
            check_then_converge(&lake, scenario, &format!("aborted at {point} #{nth}"));
            nth += step;
        }
        assert!(nth > first, "{point} was never reached");
    }
    eprintln!("{aborted} runs aborted at crash points");
}

/// Two runs at once on the same lake: one writes, the other says the lake is busy (exit 3)
/// unless it starts after the first ended; the tables are those of one run, no file twice.
#[test]
fn concurrent_runs_write_once() {
    let Some(scenario) = scenario() else {
        return;
    };
    let national = scenario.national.to_str().unwrap();
    let rounds = if stress() { 10 } else { 3 };
    let mut busy = 0;
    for round in 0..rounds {
        for args in [vec!["run", national], vec!["ingest", national]] {
            let dir = tempfile::tempdir().unwrap();
            let lake = dir.path().join("lake");
            copy_dir(&scenario.base, &lake);
            let children: Vec<_> = (0..2)
                .map(|_| {
                    job(&lake, &args)
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap()
                })
                .collect();
            let outputs: Vec<Output> = children
                .into_iter()
                .map(|c| c.wait_with_output().unwrap())
                .collect();
            let codes: Vec<Option<i32>> = outputs.iter().map(|o| o.status.code()).collect();
            assert!(
                codes.contains(&Some(0)),
                "round {round} {args:?}: {codes:?}"
            );
            for output in &outputs {
                match output.status.code() {
                    Some(0) => {}
                    Some(3) => {
                        busy += 1;
                        let stderr = text(&output.stderr);
                        assert!(
                            stderr.contains("another ecomix run is writing to")
                                && stderr.contains("pid"),
                            "{stderr}"
                        );
                    }
                    other => panic!("{args:?}: exit {other:?}: {}", text(&output.stderr)),
                }
            }
            assert_eq!(rows_per_file(&lake), scenario.bronze_files, "{args:?}");
            if args[0] == "run" {
                // The busy run did nothing; one more run finds nothing to do.
                finished(job(&lake, &["run", national]));
                assert_eq!(checksums(&lake), scenario.expected);
            }
        }
    }
    eprintln!(
        "{busy} of {} concurrent commands found the lake busy",
        rounds * 4
    );
    assert!(busy > 0, "the two runs never overlapped");
}
