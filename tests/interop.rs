//! The bronze table reads in other Delta tools: Python `deltalake` and `polars.read_delta`.
//! Skipped (visibly) when those are not installed, unless ECOMIX_REQUIRE_PYTHON=1 (as in CI).

mod common;

use std::process::Command;

use common::*;
use ecomix_core::layout::{ECO2MIX_BRONZE, TEMPO_BRONZE};
use ecomix_silver::ECO2MIX_SILVER;

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

/// Every table of a lake after the whole job (bronze, silver, quarantine, gold, run log) reads
/// in both Python readers with the rows ecomix counts, the documented partition columns and
/// column types, and the same column order as ecomix wrote.
#[test]
fn python_reads_every_table_of_the_lake() {
    let Some(python) = python_with("deltalake, polars") else {
        return;
    };
    let lake = tempfile::tempdir().unwrap();
    let data = repo_root().join("data");
    for args in [
        vec!["ingest", data.to_str().unwrap()],
        vec!["transform"],
        vec!["gold"],
        vec!["optimize"],
    ] {
        let output = run(lake.path(), &args);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
    let output = Command::new(&python)
        .arg(repo_root().join("tests/interop/read_tables.py"))
        .arg(lake.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    let mut tables = vec![
        (ECO2MIX_BRONZE, "_ingest_date"),
        (TEMPO_BRONZE, "_ingest_date"),
        (ecomix_silver::ECO2MIX_SILVER, "mois"),
        (ecomix_silver::ECO2MIX_QUARANTINE, "mois"),
    ];
    tables.extend(
        ecomix_gold::tables::TABLES
            .iter()
            .map(|t| (t.table, t.partition)),
    );
    for (table, partition) in &tables {
        let seen = &report[table.to_string()];
        assert!(seen.is_object(), "{table} not read: {report}");
        let rows = count(lake.path(), *table);
        assert!(rows > 0, "{table} is empty");
        assert_eq!(seen["rows_deltalake"], rows, "{table}");
        assert_eq!(seen["rows_polars"], rows, "{table}");
        assert_eq!(
            seen["partition_columns"],
            serde_json::json!([partition]),
            "{table}"
        );
        assert_eq!(seen["columns"], seen["columns_deltalake"], "{table}");
    }
    for table in ecomix_gold::tables::TABLES {
        let seen = &report[table.table.to_string()];
        let columns: Vec<String> = seen["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            columns,
            table.column_names(),
            "{}: the brief's columns in its order",
            table.name()
        );
    }
    let types = |table: &str, column: &str| report[table]["types"][column].clone();
    let silver = "silver.eco2mix_silver";
    assert_eq!(
        types(silver, "horodatage"),
        "Datetime(time_unit='us', time_zone='UTC')"
    );
    assert_eq!(types(silver, "date"), "Date");
    assert_eq!(types(silver, "heure"), "Int32");
    assert_eq!(types(silver, "mois"), "String");
    assert_eq!(types(silver, "consommation"), "Float64");
    assert_eq!(types(silver, "solde_echanges"), "Float64");
    assert_eq!(types("silver.eco2mix_quarantine", "rule"), "String");
    assert_eq!(
        types("gold.consommation_previsions", "timestamp"),
        "Datetime(time_unit='us', time_zone='UTC')"
    );
    assert_eq!(
        types("gold.production_par_source_horaire", "heure"),
        "Int32"
    );
    assert_eq!(
        types("gold.production_par_source_horaire", "annee"),
        "Int32"
    );
    assert_eq!(
        types("gold.statistiques_hebdomadaires", "debut_semaine"),
        "Date"
    );
    assert_eq!(
        types("gold.statistiques_hebdomadaires", "nb_jours"),
        "Int32"
    );
    assert!(report["system._ecomix_runs"].is_object(), "{report}");
}

/// A bronze table another Delta tool upgraded to deletion vectors (reader version 3) is read
/// through DataFusion, not by transform's own row-group reader, and gives the same silver and
/// quarantine as the table that reader reads.
#[test]
fn a_bronze_table_upgraded_by_another_tool_gives_the_same_silver() {
    let Some(python) = python_with("deltalake") else {
        return;
    };
    let own = tempfile::tempdir().unwrap();
    let data = repo_root().join("data");
    succeeded(run(own.path(), &["ingest", data.to_str().unwrap()]));
    let upgraded = tempfile::tempdir().unwrap();
    copy_dir(own.path(), upgraded.path());
    let script = "import sys\n\
        from deltalake import DeltaTable\n\
        from deltalake.table import TableFeatures\n\
        DeltaTable(sys.argv[1]).alter.add_feature(\n\
            TableFeatures.DeletionVectors, allow_protocol_versions_increase=True)\n\
        print(DeltaTable(sys.argv[1]).protocol().min_reader_version)\n";
    let output = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(upgraded.path().join("bronze/eco2mix_bronze"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).trim(), "3");

    // Both passes: pass 1 reads the keys, pass 2 the rows.
    let fallback = "bronze uses a Delta feature the row-group reader leaves to DataFusion";
    for (lake, read_by_datafusion) in [(own.path(), false), (upgraded.path(), true)] {
        let output = succeeded(
            ecomix(lake)
                .env("ECOMIX_LOG", "ecomix_silver=debug")
                .args(["transform"])
                .output()
                .unwrap(),
        );
        let log = text(&output.stderr);
        for pass in ["pass 1", "pass 2"] {
            assert_eq!(
                log.contains(&format!("{pass}: {fallback}")),
                read_by_datafusion,
                "{log}"
            );
        }
    }
    assert!(count(own.path(), ECO2MIX_SILVER) > 0);
    assert_eq!(checksums(own.path()), checksums(upgraded.path()));
}
