//! RTE changes its files now and then (the battery columns of 2024): a file with a column the
//! catalogue does not know lands whole, the column added to the bronze table's schema and kept
//! in `_rescued`; a file without a column silver needs goes through with nulls.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use ecomix_core::layout::ECO2MIX_BRONZE;
use ecomix_silver::ECO2MIX_SILVER;

/// The national sample file's lines (Latin-1 text, tab-separated).
fn sample_lines() -> Vec<Vec<Vec<u8>>> {
    let bytes = std::fs::read(repo_root().join("data/eCO2mix_RTE_En-cours-TR.xls")).unwrap();
    bytes
        .split(|&b| b == b'\n')
        .map(|l| l.split(|&b| b == b'\t').map(<[u8]>::to_vec).collect())
        .collect()
}

fn write_lines(path: &Path, lines: &[Vec<Vec<u8>>]) {
    let text: Vec<Vec<u8>> = lines.iter().map(|f| f.join(&b'\t')).collect();
    std::fs::write(path, text.join(&b'\n')).unwrap();
}

fn is_data(fields: &[Vec<u8>]) -> bool {
    fields.len() > 5 && fields[2].len() == 10 && fields[2][4] == b'-'
}

#[test]
fn a_new_column_lands_in_bronze_and_a_missing_one_gives_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");

    // A column RTE might add, after the consumption columns; some rows leave it empty.
    let mut with_new = sample_lines();
    let mut expected = Vec::new();
    for (i, fields) in with_new.iter_mut().enumerate() {
        if i == 0 {
            fields.insert(5, b"Hydrog\xe8ne - \xc9lectrolyse (MW)".to_vec());
        } else if is_data(fields) {
            let value = if i % 3 == 0 {
                String::new()
            } else {
                format!("{}", i % 7)
            };
            let date = String::from_utf8_lossy(&fields[2]).into_owned();
            let time = String::from_utf8_lossy(&fields[3]).into_owned();
            expected.push((format!("{date} {time}"), value.clone()));
            fields.insert(5, value.into_bytes());
        }
    }
    let new_column = dir.path().join("eCO2mix_RTE_En-cours-TR_new-column.xls");
    write_lines(&new_column, &with_new);

    // The same file without its consumption column.
    let mut without = sample_lines();
    let consumption = without[0]
        .iter()
        .position(|f| f.as_slice() == b"Consommation")
        .expect("the sample has a consumption column");
    for fields in &mut without {
        if fields.len() > consumption {
            fields.remove(consumption);
        }
    }
    let missing = dir
        .path()
        .join("eCO2mix_RTE_En-cours-TR_no-consumption.xls");
    write_lines(&missing, &without);

    let data = repo_root().join("data/eco2mix-national-tr.csv");
    for input in [&data, &new_column, &missing] {
        let output = run(&lake, &["ingest", input.to_str().unwrap()]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }

    // The new column, typed as text, holds what the file says, row by row; `_rescued` too.
    let file = new_column.to_str().unwrap();
    let batches = query(
        &lake,
        ECO2MIX_BRONZE,
        &format!(
            "SELECT CAST(date AS VARCHAR) || ' ' || heure, hydrogene_electrolyse, _rescued FROM t \
             WHERE _source_file = '{file}' ORDER BY _source_row"
        ),
    );
    let got: Vec<(String, String)> = strings(&batches, 0)
        .into_iter()
        .zip(strings(&batches, 1))
        .map(|(instant, value)| (instant.unwrap(), value.unwrap_or_default()))
        .collect();
    assert_eq!(got, expected);
    for (rescued, value) in strings(&batches, 2).iter().zip(strings(&batches, 1)) {
        let rescued: serde_json::Value = rescued.as_deref().map_or(serde_json::Value::Null, |r| {
            serde_json::from_str(r).unwrap()
        });
        let kept = rescued["Hydrog\u{e8}ne - \u{c9}lectrolyse (MW)"].as_str();
        assert_eq!(kept, value.as_deref(), "{rescued}");
    }
    // Rows of the other files have no value there.
    let others = query(
        &lake,
        ECO2MIX_BRONZE,
        &format!(
            "SELECT COUNT(hydrogene_electrolyse), COUNT(*) FROM t WHERE _source_file <> '{file}'"
        ),
    );
    assert_eq!(floats(&others, 0)[0], Some(0.0));
    assert!(floats(&others, 1)[0].unwrap() > 900.0);

    // Without its consumption column the file is in bronze, consumption null.
    let nulls = query(
        &lake,
        ECO2MIX_BRONZE,
        &format!(
            "SELECT COUNT(consommation), COUNT(*) FROM t WHERE _source_file = '{}'",
            missing.to_str().unwrap()
        ),
    );
    assert_eq!(floats(&nulls, 0)[0], Some(0.0));
    assert!(floats(&nulls, 1)[0].unwrap() > 600.0);

    // Silver and gold go through; silver's rows from that file have no consumption.
    for step in ["transform", "gold"] {
        let output = run(&lake, &[step]);
        assert!(output.status.success(), "{step}: {}", text(&output.stderr));
    }
    let silver = query(
        &lake,
        ECO2MIX_SILVER,
        &format!(
            "SELECT COUNT(consommation), COUNT(*) FROM t WHERE _source_file = '{}'",
            missing.to_str().unwrap()
        ),
    );
    assert_eq!(floats(&silver, 0)[0], Some(0.0));

    // Other Delta readers see the grown schema.
    if let Some(python) = python_with("deltalake, polars") {
        let script = "import sys, deltalake, polars as pl\n\
                      t = deltalake.DeltaTable(sys.argv[1])\n\
                      f = pl.read_delta(sys.argv[1])\n\
                      print(t.schema().to_arrow().field('hydrogene_electrolyse').type, \
                      f['hydrogene_electrolyse'].count(), f.height)";
        let output = Command::new(python)
            .args(["-c", script])
            .arg(lake.join("bronze/eco2mix_bronze"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        let non_empty = expected.iter().filter(|(_, v)| !v.is_empty()).count();
        let total = count(&lake, ECO2MIX_BRONZE);
        let printed = text(&output.stdout);
        let words: Vec<&str> = printed.split_whitespace().collect();
        let kind = words[0].to_lowercase();
        assert!(
            kind.contains("string") || kind.contains("utf8"),
            "{printed}"
        );
        assert_eq!(words[1].parse::<usize>().unwrap(), non_empty, "{printed}");
        assert_eq!(words[2].parse::<i64>().unwrap(), total, "{printed}");
    }
}
