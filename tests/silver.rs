//! `ecomix transform` on real files: DST, precedence across natures and publications whatever
//! the ingestion order, values, derived columns, incremental partitions and quality levels.
//! Expected values are computed here from the files' own text.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use ecomix_silver::{ECO2MIX_QUARANTINE, ECO2MIX_SILVER};

fn national_2025(real: &Path) -> PathBuf {
    real.join("rte_xls/national/metham__inthy-project/eCO2mix_RTE_En-cours-TR.xls.gz")
}

fn regional(real: &Path, vintage: &str, name: &str) -> PathBuf {
    real.join(format!(
        "rte_xls/regional/P-Mercator__Masters_Thesis@{vintage}/{name}"
    ))
}

fn ingest(lake: &Path, files: &[&Path]) {
    let mut args = vec!["ingest"];
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let output = run(lake, &args);
    assert!(output.status.success(), "ingest: {}", text(&output.stderr));
}

fn transform(lake: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--json", "transform"];
    args.extend_from_slice(extra);
    let output = run(lake, &args);
    assert!(
        output.status.success(),
        "transform: {}",
        text(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The rows of a text file as (header, fields) from its own text.
fn text_rows(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = naive_decode(&read_plain(path));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split('\t')
        .map(str::to_string)
        .collect();
    let rows = lines
        .filter(|l| l.contains('\t'))
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    (header, rows)
}

#[test]
fn spring_forward_days_have_92_quarter_hours_and_4_quarantined_rows() {
    let Some(real) = real_data() else { return };
    for (file, perimetre, day) in [
        (national_2025(&real), "France", "2025-03-30"),
        (
            regional(
                &real,
                "60884e0",
                "eCO2mix_RTE_Bretagne_Annuel-Definitif_2014.xls.gz",
            ),
            "Bretagne",
            "2014-03-30",
        ),
        (
            regional(
                &real,
                "60884e0",
                "eCO2mix_RTE_Occitanie_Annuel-Definitif_2015.xls.gz",
            ),
            "Occitanie",
            "2015-03-29",
        ),
        (
            regional(
                &real,
                "60884e0",
                "eCO2mix_RTE_PACA_Annuel-Definitif_2013.xls.gz",
            ),
            "PACA",
            "2013-03-31",
        ),
    ] {
        let lake = tempfile::tempdir().unwrap();
        ingest(lake.path(), &[&file]);
        transform(lake.path(), &[]);
        let silver = count_where(
            lake.path(),
            ECO2MIX_SILVER,
            &format!("perimetre = '{perimetre}' AND date = DATE '{day}'"),
        );
        assert_eq!(silver, 92, "{day} {perimetre}");
        let quarantined = strings(
            &query(
                lake.path(),
                ECO2MIX_QUARANTINE,
                &format!(
                    "SELECT heure FROM t WHERE rule = 'nonexistent_local_time' AND date = DATE '{day}' ORDER BY heure"
                ),
            ),
            0,
        );
        assert_eq!(
            quarantined,
            ["02:00", "02:15", "02:30", "02:45"].map(|h| Some(h.to_string())),
            "{day}"
        );
        // The hour after the gap starts at 01:00 UTC (03:00 +02:00).
        let first_after = strings(
            &query(
                lake.path(),
                ECO2MIX_SILVER,
                &format!(
                    "SELECT CAST(MIN(horodatage) AS VARCHAR) FROM t WHERE date = DATE '{day}' AND heure = 3"
                ),
            ),
            0,
        );
        assert!(
            first_after[0].as_deref().unwrap().contains("01:00:00"),
            "{first_after:?}"
        );
    }
}

fn count_where(lake: &Path, table: ecomix_core::layout::TableRef, predicate: &str) -> i64 {
    floats(
        &query(
            lake,
            table,
            &format!("SELECT COUNT(*) FROM t WHERE {predicate}"),
        ),
        0,
    )[0]
    .unwrap() as i64
}

/// Silver's content, run ids aside, in a canonical order.
fn silver_content(lake: &Path) -> Vec<Vec<Option<String>>> {
    let batches = query(
        lake,
        ECO2MIX_SILVER,
        "SELECT perimetre, CAST(horodatage AS VARCHAR) AS instant, nature, consommation, nucleaire, thermique, \
         production_totale, _source_file, _source_row FROM t ORDER BY perimetre, instant",
    );
    let columns: Vec<Vec<Option<String>>> = (0..9).map(|c| strings(&batches, c)).collect();
    (0..columns[0].len())
        .map(|r| columns.iter().map(|c| c[r].clone()).collect())
        .collect()
}

#[test]
fn precedence_does_not_depend_on_ingestion_order_or_runs() {
    let Some(real) = real_data() else { return };
    let consolidated_2017_10 = regional(
        &real,
        "07bccef",
        "eCO2mix_RTE_Bretagne_En-cours-Consolide.xls.gz",
    );
    let consolidated_2018_01 = regional(
        &real,
        "e64302d",
        "eCO2mix_RTE_Bretagne_En-cours-Consolide.xls.gz",
    );
    let real_time = regional(&real, "60884e0", "eCO2mix_RTE_Bretagne_En-cours-TR.xls");

    let one_run = tempfile::tempdir().unwrap();
    ingest(
        one_run.path(),
        &[&consolidated_2017_10, &consolidated_2018_01, &real_time],
    );
    transform(one_run.path(), &[]);

    // The other order, one file per run, silver rebuilt incrementally after each.
    let runs = tempfile::tempdir().unwrap();
    for file in [&real_time, &consolidated_2018_01, &consolidated_2017_10] {
        ingest(runs.path(), &[file]);
        transform(runs.path(), &[]);
    }
    let content = silver_content(one_run.path());
    assert!(content.len() > 30_000);
    assert_eq!(content, silver_content(runs.path()));

    let chosen = |at: &str| {
        strings(
            &query(
                one_run.path(),
                ECO2MIX_SILVER,
                &format!("SELECT _source_file, nature FROM t WHERE horodatage = TIMESTAMP '{at}'"),
            ),
            0,
        )[0]
        .clone()
        .unwrap()
    };
    // Both consolidated vintages cover March 2017: the one measured later (to 2017-11-30) wins.
    assert!(chosen("2017-03-15T11:00:00Z").contains("@e64302d"));
    // Real time and consolidated both cover September 2017: consolidated wins.
    assert!(chosen("2017-09-15T10:00:00Z").contains("Consolide"));
    // Only the older consolidated vintage covers 2016.
    assert!(chosen("2016-06-15T10:00:00Z").contains("@07bccef"));
}

#[test]
fn a_definitive_days_mean_consumption_is_the_mean_of_its_48_half_hours() {
    let Some(real) = real_data() else { return };
    let file = regional(
        &real,
        "60884e0",
        "eCO2mix_RTE_Normandie_Annuel-Definitif_2014.xls.gz",
    );
    let lake = tempfile::tempdir().unwrap();
    ingest(lake.path(), &[&file]);
    transform(lake.path(), &[]);
    let (header, rows) = text_rows(&file);
    let consumption = header.iter().position(|h| h == "Consommation").unwrap();
    for day in ["2014-01-15", "2014-06-21", "2014-10-26"] {
        let values: Vec<f64> = rows
            .iter()
            .filter(|r| r[2] == day)
            .filter_map(|r| r[consumption].parse::<f64>().ok())
            .collect();
        assert_eq!(values.len(), 48, "{day}: half-hour values in the file");
        let expected = values.iter().sum::<f64>() / 48.0;
        let mean = floats(
            &query(
                lake.path(),
                ECO2MIX_SILVER,
                &format!("SELECT AVG(consommation), COUNT(*) FROM t WHERE date = DATE '{day}'"),
            ),
            0,
        )[0]
        .unwrap();
        assert!(
            (mean - expected).abs() < 1e-9,
            "{day}: {mean} vs {expected}"
        );
    }
}

#[test]
fn values_and_derived_columns_match_the_text() {
    let Some(real) = real_data() else { return };
    let national = national_2025(&real);
    let bretagne = regional(
        &real,
        "60884e0",
        "eCO2mix_RTE_Bretagne_Annuel-Definitif_2015.xls.gz",
    );
    let lake = tempfile::tempdir().unwrap();
    ingest(lake.path(), &[&national, &bretagne]);
    transform(lake.path(), &[]);

    let (header, rows) = text_rows(&national);
    let at = |row: &Vec<String>, label: &str| -> Option<f64> {
        row[header.iter().position(|h| h.trim() == label).unwrap()]
            .parse()
            .ok()
    };
    for (day, time) in [
        ("2025-02-10", "12:00"),
        ("2025-06-21", "13:15"),
        ("2025-03-30", "03:00"),
    ] {
        let row = rows.iter().find(|r| r[2] == day && r[3] == time).unwrap();
        let sum = |labels: &[&str]| {
            labels
                .iter()
                .map(|l| at(row, l).unwrap_or(0.0))
                .sum::<f64>()
        };
        let renewables = sum(&["Eolien", "Solaire", "Hydraulique", "Bioénergies"]);
        let fossils = sum(&["Gaz", "Charbon", "Fioul"]);
        let total = at(row, "Nucléaire").unwrap() + renewables + fossils;
        let consumption = at(row, "Consommation").unwrap();
        let exchanges = sum(&[
            "Ech. comm. Angleterre",
            "Ech. comm. Espagne",
            "Ech. comm. Italie",
            "Ech. comm. Suisse",
            "Ech. comm. Allemagne-Belgique",
        ]);
        let expected = [
            renewables,
            fossils,
            total,
            100.0 * renewables / total,
            consumption - at(row, "Prévision J-1").unwrap(),
            consumption - at(row, "Prévision J").unwrap(),
            exchanges,
        ];
        let batches = query(
            lake.path(),
            ECO2MIX_SILVER,
            &format!(
                "SELECT renouvelables_total, fossiles_total, production_totale, part_renouvelables, ecart_prevision_j1, ecart_prevision_j, solde_echanges \
                 FROM t WHERE perimetre = 'France' AND date = DATE '{day}' AND heure = {} AND minute = {}",
                &time[..2],
                &time[3..]
            ),
        );
        for (c, want) in expected.iter().enumerate() {
            let got = floats(&batches, c)[0].unwrap();
            assert!(
                (got - want).abs() < 1e-9,
                "{day} {time} column {c}: {got} vs {want}"
            );
        }
    }

    // Bretagne publishes `-` for nuclear (no plant): 0 in silver, where the row is measured.
    let batches = query(
        lake.path(),
        ECO2MIX_SILVER,
        "SELECT MIN(nucleaire), MAX(nucleaire) FROM t WHERE perimetre = 'Bretagne'",
    );
    let (nuclear, max) = (floats(&batches, 0), floats(&batches, 1));
    assert_eq!((nuclear[0], max[0]), (Some(0.0), Some(0.0)));
    // Off-grid quarter-hours of a definitive file stay null: never filled with 0.
    let quarter = floats(
        &query(
            lake.path(),
            ECO2MIX_SILVER,
            "SELECT COUNT(consommation), COUNT(*) FROM t WHERE perimetre = 'Bretagne' AND minute IN (15, 45)",
        ),
        0,
    );
    assert_eq!(quarter[0], Some(0.0));
}

#[test]
fn transform_is_incremental_and_idempotent() {
    let Some(real) = real_data() else { return };
    let lake = tempfile::tempdir().unwrap();
    let definitive_2014 = regional(
        &real,
        "60884e0",
        "eCO2mix_RTE_Grand-Est_Annuel-Definitif_2014.xls.gz",
    );
    let real_time = regional(&real, "60884e0", "eCO2mix_RTE_Grand-Est_En-cours-TR.xls");
    ingest(lake.path(), &[&definitive_2014]);
    let first = transform(lake.path(), &[]);
    assert_eq!(first["periods"].as_array().unwrap().len(), 12);
    let before = version(lake.path(), ECO2MIX_SILVER);

    let again = transform(lake.path(), &[]);
    assert_eq!(again["status"], "no_op");
    assert_eq!(version(lake.path(), ECO2MIX_SILVER), before);

    // One new file: only its months are rebuilt, in one commit that removes only their files.
    ingest(lake.path(), &[&real_time]);
    let (_, rows) = text_rows(&real_time);
    let mut months: Vec<String> = rows.iter().map(|r| r[2][..7].to_string()).collect();
    months.sort();
    months.dedup();
    let report = transform(lake.path(), &[]);
    let periods: Vec<String> = report["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert_eq!(periods, months);
    let new_version = before.unwrap() + 1;
    assert_eq!(version(lake.path(), ECO2MIX_SILVER), Some(new_version));
    let log = std::fs::read_to_string(lake.path().join(format!(
        "silver/eco2mix_silver/_delta_log/{new_version:020}.json"
    )))
    .unwrap();
    let mut touched = std::collections::BTreeSet::new();
    for line in log.lines() {
        let action: serde_json::Value = serde_json::from_str(line).unwrap();
        for kind in ["add", "remove"] {
            if let Some(mois) = action[kind]["partitionValues"]["mois"].as_str() {
                touched.insert(mois.to_string());
            }
        }
        if let Some(info) = action.get("commitInfo") {
            assert_eq!(info["operation"], "WRITE");
            assert_eq!(info["operationParameters"]["mode"], "Overwrite");
        }
    }
    assert_eq!(touched.into_iter().collect::<Vec<_>>(), months);
    // 2014 is untouched.
    assert_eq!(
        count_where(lake.path(), ECO2MIX_SILVER, "annee = 2014"),
        365 * 96 - 4
    );
}

#[test]
fn a_fail_level_rule_stops_the_run_and_changes_nothing() {
    let lake = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("odd.xls");
    let content = "Périmètre\tNature\tDate\tHeures\tConsommation\tNucléaire\n\
                France\tDonnées temps réel\t2030-01-01\t00:00\t51000\t40000\t\n\
                France\tDonnées temps réel\t2030-01-01\t00:15\t900\t40000\t\n";
    std::fs::write(
        &file,
        content.chars().map(|c| c as u32 as u8).collect::<Vec<u8>>(),
    )
    .unwrap();
    ingest(lake.path(), &[&file]);

    let output = run(
        lake.path(),
        &["transform", "--rule", "consommation_plausible=fail"],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("consommation_plausible") && stderr.contains("line 3"),
        "{stderr}"
    );
    assert_eq!(version(lake.path(), ECO2MIX_SILVER), None);
    assert_eq!(version(lake.path(), ECO2MIX_QUARANTINE), None);

    // At its declared level the rule quarantines the row, with its raw values.
    let report = transform(lake.path(), &[]);
    assert_eq!(report["rows_written"], 1);
    assert_eq!(report["quarantined_by_rule"]["consommation_plausible"], 1);
    let raw = strings(
        &query(lake.path(), ECO2MIX_QUARANTINE, "SELECT raw_values FROM t"),
        0,
    );
    let raw: serde_json::Value = serde_json::from_str(raw[0].as_deref().unwrap()).unwrap();
    assert_eq!(raw["consommation"], 900.0);
}

#[test]
fn partitioning_by_year_or_day_gives_the_same_rows() {
    let data = repo_root().join("data");
    let reference = tempfile::tempdir().unwrap();
    ingest(reference.path(), &[&data]);
    transform(reference.path(), &[]);
    let expected = silver_content(reference.path());
    for (partitioning, directory) in [("annee", "annee=2025"), ("date", "date=2025-03-30")] {
        let lake = tempfile::tempdir().unwrap();
        ingest(lake.path(), &[&data]);
        transform(lake.path(), &["--partition-by", partitioning]);
        assert!(
            lake.path()
                .join("silver/eco2mix_silver")
                .join(directory)
                .is_dir(),
            "{partitioning}"
        );
        assert_eq!(silver_content(lake.path()), expected, "{partitioning}");
        // An incremental run replaces only its own partitions under this partitioning too.
        let file = data.join("eCO2mix_RTE_Annuel-Definitif_2024.xls");
        let output = run(lake.path(), &["ingest", "--force", file.to_str().unwrap()]);
        assert!(output.status.success());
        // Without the option, the table keeps its partitioning.
        let report = transform(lake.path(), &[]);
        let periods = report["periods"].as_array().unwrap().len();
        assert_eq!(
            periods,
            if partitioning == "annee" { 1 } else { 7 },
            "{partitioning}"
        );
        assert_eq!(
            silver_content(lake.path()).len(),
            expected.len(),
            "{partitioning}"
        );
    }
    // Changing the partitioning of an existing table is refused with the way out, even when
    // there is nothing new to transform.
    let output = run(reference.path(), &["transform", "--partition-by", "date"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("partitioned by \"mois\"") && stderr.contains("--partition-by date"),
        "{stderr}"
    );
}

/// A synthetic history (3 perimeters, a winter and a spring-forward day, consolidated and
/// real-time files overlapping) rebuilt a month at a time gives the same tables as in one go,
/// and the rows expected from its calendar.
#[test]
fn rebuilding_in_small_batches_gives_the_same_tables() {
    let files = tempfile::tempdir().unwrap();
    let output = ecomix(files.path())
        .args(["synth", "--out", files.path().to_str().unwrap()])
        .args([
            "--from",
            "2023-12-20",
            "--to",
            "2024-04-02",
            "--perimeters",
            "3",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));

    let whole = tempfile::tempdir().unwrap();
    ingest(whole.path(), &[files.path()]);
    let report = transform(whole.path(), &[]);
    assert_eq!(report["batches"], 1);

    let batched = tempfile::tempdir().unwrap();
    let pipeline = batched.path().join("small-batches.toml");
    // A month of three perimeters is about 9,000 bronze rows: one month per batch.
    std::fs::write(&pipeline, "[transform]\nbatch_rows = 5000\n").unwrap();
    let lake = batched.path().join("lake");
    ingest(&lake, &[files.path()]);
    let output = run(
        &lake,
        &[
            "--json",
            "--pipeline",
            pipeline.to_str().unwrap(),
            "transform",
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // December 2023 to April 2024.
    assert_eq!(report["batches"], 5);
    assert_eq!(report["periods"].as_array().unwrap().len(), 5);
    assert_eq!(checksums(&lake), checksums(whole.path()));

    // Each perimeter has one row per quarter-hour that exists: 105 days of 96, less the four
    // of 2024-03-31 02:00-02:45, which are quarantined (once: only the real-time file covers
    // that day).
    let days = (chrono::NaiveDate::from_ymd_opt(2024, 4, 2).unwrap()
        - chrono::NaiveDate::from_ymd_opt(2023, 12, 20).unwrap())
    .num_days()
        + 1;
    assert_eq!(days, 105);
    assert_eq!(count(&lake, ECO2MIX_SILVER), 3 * (days * 96 - 4));
    assert_eq!(
        count_where(&lake, ECO2MIX_QUARANTINE, "rule = 'nonexistent_local_time'"),
        3 * 4
    );
}
