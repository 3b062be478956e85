//! `ecomix status`: what the lake holds.

use std::process::ExitCode;

use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::datatypes::Int64Type;
use ecomix_core::layout::RUNS;
use ecomix_lake::TableFacts;
use serde::Serialize;
use serde_json::Value;

use crate::commands::{Context, all_tables};

#[derive(Serialize)]
struct TableStatus {
    #[serde(flatten)]
    facts: TableFacts,
    location: String,
    rows: Option<i64>,
}

#[derive(Serialize)]
struct LastRun {
    run_id: String,
    command: String,
    status: String,
    ended_at: String,
}

/// Prints each table's version, rows, files, size, partitions and last commit, and the last run.
pub async fn status(ctx: &Context) -> anyhow::Result<(ExitCode, Value)> {
    let lake = &ctx.lake;
    let mut tables = Vec::new();
    for table in all_tables() {
        let facts = lake.facts(table).await?;
        let rows = match facts.version {
            Some(_) => {
                let batches = ecomix_lake::query(lake, table, "SELECT COUNT(*) FROM t").await?;
                batches
                    .first()
                    .map(|b| b.column(0).as_primitive::<Int64Type>().value(0))
            }
            None => None,
        };
        tables.push(TableStatus {
            facts,
            location: lake.table_url(table).to_string(),
            rows,
        });
    }
    let last_run = last_run(ctx).await?;
    if ctx.says() {
        say!("lake {}", lake.root());
        say!(
            "  {:<42} {:>7} {:>10} {:>6} {:>9} {:>10}  last commit",
            "table",
            "version",
            "rows",
            "files",
            "size",
            "partitions"
        );
        for s in &tables {
            let f = &s.facts;
            match f.version {
                Some(v) => say!(
                    "  {:<42} {:>7} {:>10} {:>6} {:>9} {:>10}  {} {}",
                    f.table,
                    v,
                    s.rows.unwrap_or(0),
                    f.files,
                    human_size(f.bytes),
                    if f.partition_columns.is_empty() {
                        "-".to_string()
                    } else {
                        format!("{} {}", f.partitions, f.partition_columns.join(","))
                    },
                    f.last_commit.as_deref().unwrap_or("-"),
                    f.last_operation.as_deref().unwrap_or("")
                ),
                None => say!("  {:<42} (not created yet)", f.table),
            }
        }
        match &last_run {
            Some(r) => say!(
                "last run: {} {} ({}) ended {}",
                r.command,
                r.status,
                r.run_id,
                r.ended_at
            ),
            None => say!("last run: none yet"),
        }
    }
    Ok((
        ExitCode::SUCCESS,
        serde_json::json!({ "lake": lake.root().as_str(), "tables": tables, "last_run": last_run }),
    ))
}

async fn last_run(ctx: &Context) -> anyhow::Result<Option<LastRun>> {
    let batches = ecomix_lake::query(
        &ctx.lake,
        RUNS,
        "SELECT run_id, command, status, CAST(ended_at AS VARCHAR) AS ended FROM t \
         ORDER BY ended_at DESC LIMIT 1",
    )
    .await?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let text = |i: usize| -> String {
        let column = deltalake::arrow::compute::cast(
            batch.column(i),
            &deltalake::arrow::datatypes::DataType::Utf8,
        )
        .expect("text casts to text");
        let strings = column.as_string::<i32>();
        if strings.is_null(0) {
            String::new()
        } else {
            strings.value(0).to_string()
        }
    };
    Ok(Some(LastRun {
        run_id: text(0),
        command: text(1),
        status: text(2),
        ended_at: text(3),
    }))
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
