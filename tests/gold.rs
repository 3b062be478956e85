//! The gold tables: a hand-checked case for each, real national files against an independent
//! Polars computation, incremental rebuilds, and the maintenance commands.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use ecomix_core::layout::TableRef;
use ecomix_gold::tables::{
    CONSOMMATION_PREVISIONS, ECHANGES_INTERNATIONAUX, EMPREINTE_CARBONE, MIX_ENERGETIQUE_QUOTIDIEN,
    PRODUCTION_PAR_SOURCE_HORAIRE, STATISTIQUES_HEBDOMADAIRES, TABLES,
};

/// The header of RTE's national real-time file, from our own sample (same bytes as RTE's).
fn national_header() -> String {
    let bytes = std::fs::read(repo_root().join("data/eCO2mix_RTE_En-cours-TR.xls")).unwrap();
    let text: String = bytes.iter().map(|&b| b as char).collect();
    text.lines().next().unwrap().to_string()
}

/// A national real-time file in RTE's format (tab-separated Latin-1 text with the trailing
/// disclaimer), with the given values by column label; other cells empty.
/// A row of a national file: date, time, and the non-empty cells by column label.
type Row<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

fn write_national(path: &Path, rows: &[Row]) {
    let header = national_header();
    let labels: Vec<String> = header.split('\t').map(|l| l.to_string()).collect();
    let mut out = header.clone();
    out.push('\n');
    for (date, time, values) in rows {
        let mut cells = vec![String::new(); labels.len()];
        cells[0] = "France".into();
        cells[1] = "Donn\u{e9}es temps r\u{e9}el".into();
        cells[2] = date.to_string();
        cells[3] = time.to_string();
        for (label, value) in *values {
            let i = labels
                .iter()
                .position(|l| l.trim() == *label)
                .unwrap_or_else(|| panic!("no column {label}"));
            cells[i] = value.to_string();
        }
        out.push_str(&cells.join("\t"));
        out.push('\n');
    }
    out.push_str("RTE ne pourra \u{ea}tre tenu responsable de l'usage qui pourrait \u{ea}tre fait des donn\u{e9}es mises \u{e0} disposition, ni en cas de pr\u{e9}visions qui se r\u{e9}v\u{e8}leraient impr\u{e9}cises.\n");
    let latin1: Vec<u8> = out.chars().map(|c| c as u32 as u8).collect();
    std::fs::write(path, latin1).unwrap();
}

const CONSO: &str = "Consommation";
const J1: &str = "Pr\u{e9}vision J-1";
const J: &str = "Pr\u{e9}vision J";
const NUC: &str = "Nucl\u{e9}aire";
const EOL: &str = "Eolien";
const SOL: &str = "Solaire";
const HYD: &str = "Hydraulique";
const BIO: &str = "Bio\u{e9}nergies";
const GAZ: &str = "Gaz";
const CHA: &str = "Charbon";
const FIO: &str = "Fioul";
const CO2: &str = "Taux de Co2";
const UK: &str = "Ech. comm. Angleterre";
const ES: &str = "Ech. comm. Espagne";
const IT: &str = "Ech. comm. Italie";
const CH: &str = "Ech. comm. Suisse";
const DEBE: &str = "Ech. comm. Allemagne-Belgique";

/// Four instants of Sunday 30 March 2025 (a 23-hour day; 02:00 does not exist and is
/// quarantined) and one of Monday 31 March (the next ISO week), with round values.
fn write_hand_case(path: &Path) {
    write_national(
        path,
        &[
            (
                "2025-03-30",
                "00:00",
                &[
                    (CONSO, "50000"),
                    (J1, "49000"),
                    (J, "50500"),
                    (NUC, "40000"),
                    (EOL, "1000"),
                    (SOL, "0"),
                    (HYD, "5000"),
                    (BIO, "1000"),
                    (GAZ, "2000"),
                    (CHA, "0"),
                    (FIO, "100"),
                    (CO2, "20"),
                    (UK, "1000"),
                    (ES, "-2000"),
                    (IT, "-1000"),
                    (CH, "0"),
                    (DEBE, "500"),
                ],
            ),
            (
                "2025-03-30",
                "00:15",
                &[
                    (CONSO, "48000"),
                    (J1, "50000"),
                    (J, "48000"),
                    (NUC, "42000"),
                    (EOL, "2000"),
                    (SOL, "0"),
                    (HYD, "5000"),
                    (BIO, "1000"),
                    (GAZ, "1000"),
                    (CHA, "0"),
                    (FIO, "100"),
                    (CO2, "30"),
                    (UK, "-1000"),
                    (ES, "-2000"),
                    (IT, "-1000"),
                    (CH, "200"),
                ],
            ),
            (
                "2025-03-30",
                "02:00",
                &[(CONSO, "99999"), (NUC, "99999"), (CO2, "999"), (UK, "9999")],
            ),
            (
                "2025-03-30",
                "03:00",
                &[
                    (CONSO, "46000"),
                    (J1, "46000"),
                    (J, "47000"),
                    (NUC, "40000"),
                    (EOL, "3000"),
                ],
            ),
            ("2025-03-31", "12:00", &[(CONSO, "60000")]),
        ],
    );
}

fn rows(lake: &Path, table: TableRef, sql: &str, columns: usize) -> Vec<Vec<Option<f64>>> {
    let batches = query(lake, table, sql);
    let values: Vec<Vec<Option<f64>>> = (0..columns).map(|c| floats(&batches, c)).collect();
    let n = values.first().map_or(0, Vec::len);
    (0..n)
        .map(|r| values.iter().map(|c| c[r]).collect())
        .collect()
}

fn assert_close(got: Option<f64>, want: Option<f64>, what: &str) {
    match (got, want) {
        (Some(g), Some(w)) => assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{what}: got {g}, want {w}"
        ),
        _ => assert_eq!(got, want, "{what}"),
    }
}

fn assert_row(got: &[Option<f64>], want: &[Option<f64>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_close(*g, *w, &format!("{what}, column {i}"));
    }
}

fn ok(output: std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

#[test]
fn every_gold_table_matches_a_hand_computed_case() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("eCO2mix_RTE_En-cours-TR.xls");
    write_hand_case(&file);
    let lake = dir.path().join("lake");
    ok(run(&lake, &["ingest", file.to_str().unwrap()]));
    ok(run(&lake, &["transform"]));
    ok(run(&lake, &["gold"]));
    let h = 23.0; // hours of 2025-03-30

    // 1. Per source and local hour: hour 0 has all eight sources, hour 3 two; nothing else.
    let got = rows(
        &lake,
        PRODUCTION_PAR_SOURCE_HORAIRE.table,
        "SELECT heure, production_moyenne_mw, production_min_mw, production_max_mw, ecart_type \
         FROM t WHERE source_energie = 'nucleaire' ORDER BY heure",
        5,
    );
    let sd = (2.0f64 * 1000.0 * 1000.0).sqrt(); // sample stddev of 40000 and 42000
    assert_row(
        &got[0],
        &[
            Some(0.0),
            Some(41000.0),
            Some(40000.0),
            Some(42000.0),
            Some(sd),
        ],
        "nucleaire 0h",
    );
    assert_row(
        &got[1],
        &[Some(3.0), Some(40000.0), Some(40000.0), Some(40000.0), None],
        "nucleaire 3h",
    );
    assert_eq!(got.len(), 2, "no row for the nonexistent 02:00");
    assert_eq!(count(&lake, PRODUCTION_PAR_SOURCE_HORAIRE.table), 8 + 2);
    let sources = strings(
        &query(
            &lake,
            PRODUCTION_PAR_SOURCE_HORAIRE.table,
            "SELECT source_energie FROM t WHERE heure = 3 ORDER BY source_energie",
        ),
        0,
    );
    assert_eq!(sources, [Some("eolien".into()), Some("nucleaire".into())]);

    // 2. Daily mix: each source's mean power over its values times 23 h; no row on the 31st.
    let nucleaire = (40000.0 + 42000.0 + 40000.0) / 3.0 * h;
    let renouvelables = (1000.0 + 2000.0 + 3000.0) / 3.0 * h + 0.0 + 5000.0 * h + 1000.0 * h;
    let fossiles = 1500.0 * h + 0.0 + 100.0 * h;
    let total = nucleaire + renouvelables + fossiles;
    let got = rows(
        &lake,
        MIX_ENERGETIQUE_QUOTIDIEN.table,
        "SELECT nucleaire_total_mwh, renouvelables_total_mwh, fossiles_total_mwh, \
         part_nucleaire_pct, part_renouvelables_pct, part_fossiles_pct FROM t ORDER BY date",
        6,
    );
    assert_eq!(got.len(), 1);
    assert_row(
        &got[0],
        &[
            Some(nucleaire),
            Some(renouvelables),
            Some(fossiles),
            Some(100.0 * nucleaire / total),
            Some(100.0 * renouvelables / total),
            Some(100.0 * fossiles / total),
        ],
        "mix",
    );

    // 3. Consumption and forecasts, one row per instant with a consumption, in UTC.
    let batches = query(
        &lake,
        CONSOMMATION_PREVISIONS.table,
        "SELECT CAST(\"timestamp\" AS VARCHAR) AS utc, consommation_reelle, ecart_j1_mw, ecart_j_mw, \
         erreur_j1_pct, erreur_j_pct FROM t ORDER BY \"timestamp\"",
    );
    let stamps: Vec<String> = strings(&batches, 0)
        .into_iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(stamps.len(), 4);
    for (stamp, want) in stamps.iter().zip([
        "2025-03-29T23:00:00",
        "2025-03-29T23:15:00",
        "2025-03-30T01:00:00",
        "2025-03-31T10:00:00",
    ]) {
        assert!(stamp.starts_with(want), "{stamp} is not {want}Z");
    }
    let values: Vec<Vec<Option<f64>>> = (1..6).map(|c| floats(&batches, c)).collect();
    assert_row(
        &values.iter().map(|c| c[1]).collect::<Vec<_>>(),
        &[
            Some(48000.0),
            Some(-2000.0),
            Some(0.0),
            Some(-2000.0 / 480.0),
            Some(0.0),
        ],
        "00:15",
    );
    assert_row(
        &values.iter().map(|c| c[3]).collect::<Vec<_>>(),
        &[Some(60000.0), None, None, None, None],
        "no forecast on the 31st",
    );

    // 4. Exchanges: each value weighs 23/n hours, n the country's values that day.
    let got = rows(
        &lake,
        ECHANGES_INTERNATIONAUX.table,
        "SELECT import_total_mwh, export_total_mwh, solde_net_mwh FROM t ORDER BY pays",
        3,
    );
    let pays = strings(
        &query(
            &lake,
            ECHANGES_INTERNATIONAUX.table,
            "SELECT pays FROM t ORDER BY pays",
        ),
        0,
    );
    let pays: Vec<&str> = pays.iter().map(|p| p.as_deref().unwrap()).collect();
    assert_eq!(pays, ["DE-BE", "Espagne", "Italie", "Suisse", "UK"]);
    assert_row(
        &got[0],
        &[Some(500.0 * h), Some(0.0), Some(500.0 * h)],
        "DE-BE",
    );
    assert_row(
        &got[1],
        &[Some(0.0), Some(-2000.0 * h), Some(-2000.0 * h)],
        "Espagne",
    );
    assert_row(
        &got[2],
        &[Some(0.0), Some(-1000.0 * h), Some(-1000.0 * h)],
        "Italie",
    );
    assert_row(
        &got[3],
        &[Some(200.0 * h / 2.0), Some(0.0), Some(100.0 * h)],
        "Suisse",
    );
    assert_row(
        &got[4],
        &[Some(1000.0 * h / 2.0), Some(-1000.0 * h / 2.0), Some(0.0)],
        "UK",
    );

    // 5. Carbon: hour 0 only (hour 3 has no CO2 rate).
    let p0 = 40000.0 + 1000.0 + 5000.0 + 1000.0 + 2000.0 + 100.0;
    let p1 = 42000.0 + 2000.0 + 5000.0 + 1000.0 + 1000.0 + 100.0;
    let got = rows(
        &lake,
        EMPREINTE_CARBONE.table,
        "SELECT heure, taux_co2_gkwh, co2_total_tonnes, part_sources_bas_carbone_pct FROM t",
        4,
    );
    assert_eq!(got.len(), 1);
    assert_row(
        &got[0],
        &[
            Some(0.0),
            Some(25.0),
            Some((20.0 * p0 + 30.0 * p1) / 2.0 / 1000.0),
            Some(100.0 * (47000.0 + 50000.0) / (p0 + p1)),
        ],
        "carbon",
    );

    // 6. Weekly: Sunday the 30th closes ISO week 13, Monday the 31st opens week 14.
    let got = rows(
        &lake,
        STATISTIQUES_HEBDOMADAIRES.table,
        "SELECT annee_iso, semaine_iso, nb_jours, consommation_moyenne_mw, consommation_min_mw, \
         consommation_max_mw, energie_consommee_mwh, production_totale_mwh, \
         part_renouvelables_pct, part_nucleaire_pct, taux_co2_moyen_gkwh, solde_echanges_mwh, \
         mape_prevision_j1_pct FROM t ORDER BY semaine_iso",
        13,
    );
    let solde = 500.0 * h - 2000.0 * h - 1000.0 * h + 100.0 * h + 0.0;
    assert_row(
        &got[0],
        &[
            Some(2025.0),
            Some(13.0),
            Some(1.0),
            Some(48000.0),
            Some(46000.0),
            Some(50000.0),
            Some(48000.0 * h),
            Some(total),
            Some(100.0 * renouvelables / total),
            Some(100.0 * nucleaire / total),
            Some(25.0),
            Some(solde),
            Some((2.0 + 2000.0 / 480.0 + 0.0) / 3.0),
        ],
        "week 13",
    );
    assert_row(
        &got[1],
        &[
            Some(2025.0),
            Some(14.0),
            Some(1.0),
            Some(60000.0),
            Some(60000.0),
            Some(60000.0),
            Some(60000.0 * 24.0),
            None,
            None,
            None,
            None,
            None,
            None,
        ],
        "week 14",
    );
    let mondays = strings(
        &query(
            &lake,
            STATISTIQUES_HEBDOMADAIRES.table,
            "SELECT CAST(debut_semaine AS VARCHAR) AS monday FROM t ORDER BY debut_semaine",
        ),
        0,
    );
    assert_eq!(
        mondays,
        [Some("2025-03-24".into()), Some("2025-03-31".into())]
    );
}

/// The national real-time files of `../shared/data/real/` (2016 to 2026, with the
/// spring-forward day of 2025), through the whole job.
fn national_lake(dir: &Path) -> Option<std::path::PathBuf> {
    let real = real_data()?;
    let lake = dir.join("lake");
    let national = real.join("rte_xls/national");
    ok(run(&lake, &["ingest", national.to_str().unwrap()]));
    ok(run(&lake, &["transform"]));
    ok(run(&lake, &["gold"]));
    Some(lake)
}

#[test]
fn gold_on_real_national_files_equals_an_independent_polars_computation() {
    let Some(python) = python_with("deltalake, polars") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(lake) = national_lake(dir.path()) else {
        return;
    };
    // The spring-forward day is a 23-hour day in the mix: its nuclear energy is the mean of
    // its silver values times 23.
    let mean = floats(
        &query(
            &lake,
            ecomix_silver::ECO2MIX_SILVER,
            "SELECT AVG(nucleaire), COUNT(*) FROM t WHERE perimetre = 'France' AND date = DATE '2025-03-30'",
        ),
        0,
    )[0]
    .unwrap();
    let mix = floats(
        &query(
            &lake,
            MIX_ENERGETIQUE_QUOTIDIEN.table,
            "SELECT nucleaire_total_mwh FROM t WHERE date = DATE '2025-03-30'",
        ),
        0,
    );
    assert_close(mix[0], Some(mean * 23.0), "nuclear energy of 2025-03-30");

    let output = Command::new(&python)
        .arg(repo_root().join("tests/interop/gold_reference.py"))
        .arg(&lake)
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    for table in TABLES {
        assert!(
            stdout.contains(&format!("{}: ", table.name())),
            "{} not checked: {stdout}",
            table.name()
        );
        assert!(count(&lake, table.table) > 0, "{} is empty", table.name());
    }
}

/// The bundled sample through ingest, transform and gold, in `dir/lake`.
fn sample_lake(dir: &Path) -> std::path::PathBuf {
    let lake = dir.join("lake");
    let data = repo_root().join("data");
    ok(run(&lake, &["ingest", data.to_str().unwrap()]));
    ok(run(&lake, &["transform"]));
    ok(run(&lake, &["gold"]));
    lake
}

#[test]
fn gold_is_rebuilt_only_for_the_years_silver_changed() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path());
    let before: Vec<Option<u64>> = TABLES.iter().map(|t| version(&lake, t.table)).collect();
    let stdout = ok(run(&lake, &["gold"]));
    assert!(stdout.contains("nothing to do"), "{stdout}");
    let again: Vec<Option<u64>> = TABLES.iter().map(|t| version(&lake, t.table)).collect();
    assert_eq!(before, again, "a second gold changes nothing");
    let files_2024 = annee_files(&lake, MIX_ENERGETIQUE_QUOTIDIEN.table, "annee=2024");

    // One new day in 2023: only 2023 is rebuilt (and ISO years 2022, 2023 for the weekly
    // table, since 1 January 2023 is in week 52 of 2022).
    let file = dir.path().join("eCO2mix_RTE_En-cours-TR.xls");
    write_national(
        &file,
        &[("2023-01-01", "00:00", &[(CONSO, "70000"), (NUC, "50000")])],
    );
    ok(run(&lake, &["ingest", file.to_str().unwrap()]));
    ok(run(&lake, &["transform"]));
    let out = ok(run(&lake, &["--json", "gold"]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["years"], serde_json::json!([2023]));
    assert_eq!(
        annee_files(&lake, MIX_ENERGETIQUE_QUOTIDIEN.table, "annee=2024"),
        files_2024,
        "the 2024 partition was not rewritten"
    );
    let weeks = strings(
        &query(
            &lake,
            STATISTIQUES_HEBDOMADAIRES.table,
            "SELECT CAST(annee_iso AS VARCHAR) || '-' || CAST(semaine_iso AS VARCHAR) FROM t \
             WHERE annee_iso < 2024",
        ),
        0,
    );
    assert_eq!(weeks, [Some("2022-52".into())]);
    let energy = floats(
        &query(
            &lake,
            MIX_ENERGETIQUE_QUOTIDIEN.table,
            "SELECT nucleaire_total_mwh FROM t WHERE date = DATE '2023-01-01'",
        ),
        0,
    );
    assert_eq!(energy, [Some(50000.0 * 24.0)]);
}

/// The data files of one partition of a table, as the Delta log lists them.
fn annee_files(lake: &Path, table: TableRef, partition: &str) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let lake = ecomix_lake::Lake::new(lake.to_str().unwrap()).unwrap();
        let table = lake.open(table).await.unwrap().unwrap();
        let mut files: Vec<String> = table
            .get_file_uris()
            .unwrap()
            .filter(|f| f.contains(partition))
            .collect();
        files.sort();
        files
    })
}

#[test]
fn optimize_zorders_and_vacuum_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path());
    let tables: Vec<TableRef> = std::iter::once(ecomix_silver::ECO2MIX_SILVER)
        .chain(TABLES.iter().map(|t| t.table))
        .collect();
    let counts: Vec<i64> = tables.iter().map(|t| count(&lake, *t)).collect();
    ok(run(&lake, &["optimize"]));
    for table in &tables {
        let history = last_operation(&lake, *table);
        assert_eq!(history.0, "OPTIMIZE", "{table}");
        assert!(
            history.1.contains("zOrderBy"),
            "{table}: no Z-order in {}",
            history.1
        );
    }
    let silver = last_operation(&lake, ecomix_silver::ECO2MIX_SILVER).1;
    assert!(silver.contains("horodatage"), "{silver}");
    let weekly = last_operation(&lake, STATISTIQUES_HEBDOMADAIRES.table).1;
    assert!(weekly.contains("debut_semaine"), "{weekly}");
    // A second optimize has nothing to do.
    let versions: Vec<Option<u64>> = tables.iter().map(|t| version(&lake, *t)).collect();
    let stdout = ok(run(&lake, &["optimize", "--table", "eco2mix_silver"]));
    assert!(stdout.contains("nothing to do"), "{stdout}");
    assert_eq!(versions[0], version(&lake, tables[0]));

    // The optimize left replaced files behind; a vacuum with zero retention deletes them
    // (a dry run first lists and keeps them).
    let dry = ok(run(
        &lake,
        &["vacuum", "--retention-hours", "0", "--dry-run"],
    ));
    assert!(dry.contains("would delete"), "{dry}");
    let listed = dry.lines().filter(|l| l.ends_with(".parquet")).count();
    assert!(listed >= tables.len(), "{dry}");
    let parquet_before = parquet_files(&lake).len();
    let out = ok(run(&lake, &["vacuum", "--retention-hours", "0"]));
    assert!(out.contains("deleted"), "{out}");
    assert_eq!(parquet_files(&lake).len(), parquet_before - listed, "{out}");
    for (table, rows) in tables.iter().zip(&counts) {
        assert_eq!(
            count(&lake, *table),
            *rows,
            "{table} after optimize and vacuum"
        );
        assert_eq!(last_operation(&lake, *table).0, "VACUUM END", "{table}");
    }
    // Maintenance commits are not new data: nothing to transform or rebuild.
    assert!(ok(run(&lake, &["transform"])).contains("nothing to do"));
    assert!(ok(run(&lake, &["gold"])).contains("nothing to do"));
}

/// The operation and the whole commit information (as JSON text) of a table's latest commit.
fn last_operation(lake: &Path, table: TableRef) -> (String, String) {
    use futures::StreamExt;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let lake = ecomix_lake::Lake::new(lake.to_str().unwrap()).unwrap();
        let table = lake.open(table).await.unwrap().unwrap();
        let commit = table.history(Some(1)).next().await.unwrap().unwrap();
        (
            commit.operation.clone().unwrap_or_default(),
            serde_json::to_string(&commit).unwrap(),
        )
    })
}

#[test]
fn run_follows_the_pipeline_file_and_a_second_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let pipeline = dir.path().join("job.toml");
    let data = repo_root().join("data");
    std::fs::write(
        &pipeline,
        format!(
            "lake = {lake:?}\n[ingest]\ninputs = [{data:?}]\n[transform]\npartition_by = \"annee\"\n\
             [optimize.zorder]\nmix_energetique_quotidien = []\n",
            lake = lake.to_str().unwrap(),
            data = data.to_str().unwrap()
        ),
    )
    .unwrap();
    let job = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_ecomix"))
            .env_remove("ECOMIX_LAKE")
            .arg("--pipeline")
            .arg(&pipeline)
            .args(args)
            .output()
            .unwrap();
        ok(output)
    };
    let out = job(&["--json", "run"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    for step in ["ingest", "transform", "gold", "optimize"] {
        assert!(report["steps"].get(step).is_some(), "{step} missing: {out}");
    }
    // Timings in the order the steps ran; the memory high-water mark never goes down.
    let timings = report["timings"].as_array().expect("timings");
    let order: Vec<&str> = timings
        .iter()
        .map(|t| t["step"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["ingest", "transform", "gold", "optimize"]);
    let peaks: Vec<u64> = timings
        .iter()
        .map(|t| t["peak_rss_mib"].as_u64().unwrap())
        .collect();
    assert!(peaks[0] > 0 && peaks.is_sorted(), "{peaks:?}");
    assert!(timings.iter().all(|t| t["seconds"].as_f64().unwrap() > 0.0));
    let silver_partitions = {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let lake = ecomix_lake::Lake::new(lake.to_str().unwrap()).unwrap();
            lake.partition_columns(ecomix_silver::ECO2MIX_SILVER)
                .await
                .unwrap()
        })
    };
    assert_eq!(silver_partitions, Some(vec!["annee".to_string()]));
    let (_, parameters) = last_operation(&lake, MIX_ENERGETIQUE_QUOTIDIEN.table);
    assert!(
        !parameters.contains("zOrderBy"),
        "an empty Z-order list only compacts: {parameters}"
    );
    let versions: Vec<Option<u64>> = TABLES
        .iter()
        .map(|t| t.table)
        .chain([ecomix_silver::ECO2MIX_SILVER])
        .map(|t| version(&lake, t))
        .collect();
    assert!(versions.iter().all(Option::is_some));
    job(&["run"]);
    let again: Vec<Option<u64>> = TABLES
        .iter()
        .map(|t| t.table)
        .chain([ecomix_silver::ECO2MIX_SILVER])
        .map(|t| version(&lake, t))
        .collect();
    assert_eq!(
        versions, again,
        "a second run of the same input changes no table"
    );
    let status = job(&["--json", "status"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["last_run"]["command"], "run");
    assert_eq!(status["last_run"]["status"], "succeeded");
    let tables = status["tables"].as_array().unwrap();
    let gold = tables
        .iter()
        .find(|t| t["table"] == "gold.mix_energetique_quotidien")
        .unwrap();
    assert!(gold["bytes"].as_u64().unwrap() > 0);
    assert_eq!(gold["partition_columns"], serde_json::json!(["annee"]));
    assert_eq!(
        gold["rows"].as_i64().unwrap(),
        count(&lake, MIX_ENERGETIQUE_QUOTIDIEN.table)
    );
}

#[test]
fn a_bad_pipeline_file_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("job.toml");
    std::fs::write(
        &pipeline,
        "[ingest]\ninputs = [\"data/\"]\nkeep_goin = true\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ecomix"))
        .arg("--pipeline")
        .arg(&pipeline)
        .arg("run")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("job.toml"), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(stderr.contains("keep_goin"), "{stderr}");
}
