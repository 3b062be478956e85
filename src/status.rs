//! `ecomix status`: what the lake holds.

use std::process::ExitCode;

use deltalake::arrow::array::AsArray;
use deltalake::arrow::datatypes::Int64Type;
use ecomix_core::layout::{ECO2MIX_BRONZE, RUNS, TEMPO_BRONZE, TableRef};
use ecomix_lake::Lake;
use serde::Serialize;

const TABLES: [TableRef; 5] = [
    ECO2MIX_BRONZE,
    TEMPO_BRONZE,
    ecomix_silver::ECO2MIX_SILVER,
    ecomix_silver::ECO2MIX_QUARANTINE,
    RUNS,
];

#[derive(Serialize)]
struct TableStatus {
    table: String,
    location: String,
    version: Option<u64>,
    rows: Option<i64>,
    files: Option<usize>,
}

/// Prints each table's version, row count and file count.
pub async fn status(lake: &Lake, json: bool) -> anyhow::Result<ExitCode> {
    let mut statuses = Vec::new();
    for table in TABLES {
        let opened = lake.open(table).await?;
        let (version, files) = match &opened {
            Some(t) => (t.version(), Some(t.get_file_uris()?.count())),
            None => (None, None),
        };
        let rows = if opened.is_some() {
            let batches = ecomix_lake::query(lake, table, "SELECT COUNT(*) FROM t").await?;
            batches
                .first()
                .map(|b| b.column(0).as_primitive::<Int64Type>().value(0))
        } else {
            None
        };
        statuses.push(TableStatus {
            table: table.to_string(),
            location: lake.table_url(table).to_string(),
            version,
            rows,
            files,
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
    } else {
        println!("lake {}", lake.root());
        for s in &statuses {
            match s.version {
                Some(v) => println!(
                    "  {:<24} version {:>4}  {:>10} rows  {:>5} files",
                    s.table,
                    v,
                    s.rows.unwrap_or(0),
                    s.files.unwrap_or(0)
                ),
                None => println!("  {:<24} (not created yet)", s.table),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
