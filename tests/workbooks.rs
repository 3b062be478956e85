//! Excel workbooks, BIFF `.xls` and `.xlsx`, land like the text files: the same header mapping,
//! date and time cells as published dates and `HH:MM`, tokens rescued, the disclaimer dropped.
//! The workbooks are written by Python's xlwt and openpyxl (skipped, visibly, when those are not
//! installed, unless ECOMIX_REQUIRE_PYTHON=1 as in CI).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;
use ecomix_core::layout::ECO2MIX_BRONZE;

#[test]
fn biff_and_xlsx_workbooks_ingest_cell_for_cell() {
    let Some(python) = python_with("xlwt, openpyxl") else {
        return;
    };
    let header = [
        "Périmètre",
        "Nature",
        "Date",
        "Heures",
        "Consommation",
        "Nucléaire",
        "Taux de Co2",
    ];
    let rows = serde_json::json!([
        [
            "France",
            "Données temps réel",
            "2025-03-30",
            "01:45",
            51234,
            40100,
            21
        ],
        [
            "France",
            "Données temps réel",
            "2025-03-30",
            "02:00",
            51002,
            40090,
            20
        ],
        [
            "France",
            "Données temps réel",
            "2025-03-30",
            "02:15",
            "ND",
            "-",
            19
        ],
    ]);
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(&python)
        .arg(repo_root().join("tests/interop/write_workbooks.py"))
        .arg(dir.path())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let spec = serde_json::json!({
        "header": header,
        "rows": rows,
        "disclaimer": "RTE ne pourra être tenu responsable de l'usage qui pourrait être fait des données.",
    });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());

    let lake = tempfile::tempdir().unwrap();
    for name in [
        "eCO2mix_RTE_En-cours-TR_biff.xls",
        "eCO2mix_RTE_En-cours-TR.xlsx",
    ] {
        let path = dir.path().join(name);
        let bytes = std::fs::read(&path).unwrap();
        let magic: &[u8] = if name.ends_with(".xls") {
            &[0xd0, 0xcf, 0x11, 0xe0]
        } else {
            b"PK\x03\x04"
        };
        assert!(
            bytes.starts_with(magic),
            "{name} is not the workbook format it should be"
        );
        let output = run(lake.path(), &["--json", "ingest", path.to_str().unwrap()]);
        assert!(output.status.success(), "{name}: {}", text(&output.stderr));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["files"][0]["format"], "workbook");

        let batches = query(
            lake.path(),
            ECO2MIX_BRONZE,
            &format!(
                "SELECT perimetre, nature, CAST(date AS VARCHAR), heure, consommation, nucleaire, taux_co2, _rescued, _source_row \
                 FROM t WHERE _source_file = '{}' ORDER BY _source_row",
                path.display()
            ),
        );
        let expected = rows.as_array().unwrap();
        assert_eq!(strings(&batches, 0).len(), expected.len(), "{name}: rows");
        for (i, row) in expected.iter().enumerate() {
            let row = row.as_array().unwrap();
            let text_at = |c: usize| strings(&batches, c)[i].clone();
            let number = |v: &serde_json::Value| v.as_f64();
            assert_eq!(text_at(0).as_deref(), row[0].as_str(), "{name} row {i}");
            assert_eq!(text_at(1).as_deref(), row[1].as_str());
            assert_eq!(text_at(2).as_deref(), row[2].as_str());
            assert_eq!(text_at(3).as_deref(), row[3].as_str());
            assert_eq!(floats(&batches, 4)[i], number(&row[4]));
            assert_eq!(floats(&batches, 5)[i], number(&row[5]));
            assert_eq!(floats(&batches, 6)[i], number(&row[6]));
            // Sheet rows: the header is row 1.
            assert_eq!(floats(&batches, 8)[i], Some(i as f64 + 2.0));
        }
        assert_eq!(
            strings(&batches, 7)[2].as_deref(),
            Some(r#"{"consommation":"ND","nucleaire":"-"}"#)
        );
    }
}
