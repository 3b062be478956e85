//! Every real eCO2mix file of `../shared/data/real/` ingests, row for row, with the same
//! consumption total as its own text says; every label it publishes is in the catalogue.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::*;
use ecomix_core::layout::{ECO2MIX_BRONZE, TEMPO_BRONZE};

/// (data rows, sum of consumption) for a real file, computed without ecomix's parsers.
fn expectations(path: &Path) -> (usize, f64) {
    let bytes = read_plain(path);
    if bytes.starts_with(b"PAR1") {
        use deltalake::arrow::array::AsArray;
        use deltalake::arrow::datatypes::Int64Type;
        use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap();
        let rows = builder.metadata().file_metadata().num_rows() as usize;
        let mut sum = 0.0;
        for batch in builder.build().unwrap() {
            let batch = batch.unwrap();
            let column = batch
                .column_by_name("consommation")
                .unwrap()
                .as_primitive::<Int64Type>();
            sum += column.iter().flatten().map(|v| v as f64).sum::<f64>();
        }
        return (rows, sum);
    }
    if bytes.starts_with(b"PK") {
        use calamine::{Data, Reader};
        let mut workbook =
            calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes)).unwrap();
        let range = workbook.worksheet_range_at(0).unwrap().unwrap();
        let rows = range
            .rows()
            .filter(|r| {
                matches!(
                    r.first(),
                    Some(Data::DateTime(_) | Data::Float(_) | Data::Int(_))
                )
            })
            .count();
        return (rows, 0.0);
    }
    text_expectations(&bytes)
}

fn stored_name(path: &Path) -> String {
    let name = path.display().to_string();
    name.strip_suffix(".gz").map(str::to_string).unwrap_or(name)
}

#[test]
fn every_real_file_ingests_with_its_rows_and_consumption_total() {
    let Some(real) = real_data() else { return };
    let files = real_files(&real);
    assert!(
        files.len() > 90,
        "expected the whole real corpus, found {}",
        files.len()
    );
    let lake = tempfile::tempdir().unwrap();
    let mut args = vec!["--json", "ingest"];
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let output = run(lake.path(), &args);
    assert!(
        output.status.success(),
        "ingest failed: {}",
        text(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let statuses: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), files.len());
    assert!(statuses.iter().all(|s| *s == "ingested"), "{statuses:?}");

    let mut in_bronze: HashMap<String, (i64, f64)> = HashMap::new();
    for table in [ECO2MIX_BRONZE, TEMPO_BRONZE] {
        let sum = if table == ECO2MIX_BRONZE {
            "SUM(consommation)"
        } else {
            "0.0"
        };
        let batches = query(
            lake.path(),
            table,
            &format!("SELECT _source_file, COUNT(*), {sum} FROM t GROUP BY _source_file"),
        );
        let names = strings(&batches, 0);
        let counts = floats(&batches, 1);
        let sums = floats(&batches, 2);
        for ((name, count), sum) in names.into_iter().zip(counts).zip(sums) {
            in_bronze.insert(name.unwrap(), (count.unwrap() as i64, sum.unwrap_or(0.0)));
        }
    }
    for file in &files {
        let (rows, sum) = expectations(file);
        let name = stored_name(file);
        let (bronze_rows, bronze_sum) = in_bronze
            .get(&name)
            .copied()
            .unwrap_or_else(|| panic!("{name} not in bronze"));
        assert_eq!(bronze_rows as usize, rows, "{name}: rows");
        assert_eq!(bronze_sum, sum, "{name}: sum of consommation");
    }
}

#[test]
fn every_published_label_is_in_the_catalogue() {
    let Some(real) = real_data() else { return };
    for file in real_files(&real) {
        let name = file.display().to_string();
        for document in ecomix_bronze::sniff::unpack(&name, std::fs::read(&file).unwrap()).unwrap()
        {
            let grid = ecomix_bronze::grid::read(&document).unwrap();
            for label in grid.header.iter().filter(|l| !l.trim().is_empty()) {
                assert!(
                    ecomix_core::catalogue::lookup(label).is_some(),
                    "{name}: label {label:?} is not in the catalogue"
                );
            }
        }
    }
}

#[test]
fn rte_quirks_land_as_published() {
    let Some(real) = real_data() else { return };
    let lake = tempfile::tempdir().unwrap();
    let national = real.join(
        "rte_xls/national/urbain-sarr1__Prediction_Consomation_Energie/eCO2mix_RTE_En-cours-TR.xls",
    );
    let regional = real.join(
        "rte_xls/regional/P-Mercator__Masters_Thesis@60884e0/eCO2mix_RTE_Bretagne_En-cours-TR.xls",
    );
    let output = run(
        lake.path(),
        &[
            "ingest",
            national.to_str().unwrap(),
            regional.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));

    // The first data row of the national file, read straight from its text.
    let plain = naive_decode(&std::fs::read(&national).unwrap());
    let header: Vec<&str> = plain.lines().next().unwrap().split('\t').collect();
    let first: Vec<&str> = plain.lines().nth(1).unwrap().split('\t').collect();
    let at = |label: &str| first[header.iter().position(|h| *h == label).unwrap()];
    let batches = query(
        lake.path(),
        ECO2MIX_BRONZE,
        &format!(
            "SELECT perimetre, nature, CAST(date AS VARCHAR), heure, nucleaire, hydraulique_fil_eau_eclusee, _source_row \
             FROM t WHERE _source_file = '{}' ORDER BY _source_row LIMIT 1",
            national.display()
        ),
    );
    let row: Vec<Option<String>> = (0..7).map(|c| strings(&batches, c)[0].clone()).collect();
    assert_eq!(row[0].as_deref(), Some(at("Périmètre")));
    assert_eq!(row[1].as_deref(), Some(at("Nature")));
    assert_eq!(row[2].as_deref(), Some(at("Date")));
    assert_eq!(row[3].as_deref(), Some(at("Heures")));
    assert_eq!(floats(&batches, 4)[0], at("Nucléaire").parse::<f64>().ok());
    assert_eq!(
        floats(&batches, 5)[0],
        at("Hydraulique - Fil de l?eau + éclusée")
            .parse::<f64>()
            .ok()
    );
    assert_eq!(row[6].as_deref(), Some("2"));

    // `-` in the regional file is rescued, never a number; `_rescued` is null where nothing is.
    let regional_text = naive_decode(&std::fs::read(&regional).unwrap());
    let dashes = regional_text
        .lines()
        .skip(1)
        .map(|l| l.split('\t').skip(4).filter(|f| *f == "-").count())
        .sum::<usize>();
    assert!(dashes > 0);
    let batches = query(
        lake.path(),
        ECO2MIX_BRONZE,
        &format!(
            "SELECT _rescued FROM t WHERE _source_file = '{}'",
            regional.display()
        ),
    );
    let rescued_dashes: usize = strings(&batches, 0)
        .into_iter()
        .flatten()
        .map(|json| {
            let value: serde_json::Value = serde_json::from_str(&json).unwrap();
            value
                .as_object()
                .unwrap()
                .values()
                .filter(|v| v.as_str() == Some("-"))
                .count()
        })
        .sum();
    assert_eq!(rescued_dashes, dashes);
}
