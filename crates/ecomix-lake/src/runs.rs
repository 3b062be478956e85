//! `_ecomix_runs`: one row per command run, succeeded or not, so that a lake says what was done
//! to it, when, with what inputs, and what came of it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::arrow::array::{ArrayRef, StringArray, TimestampMicrosecondArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::arrow::record_batch::RecordBatch;
use ecomix_core::layout::RUNS;
use ecomix_core::secrets::redact;
use serde::Serialize;

use crate::{Appender, Lake, LakeError};

#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub run_id: String,
    /// `ingest`, `transform`, …
    pub command: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// `succeeded`, `no_op` or `failed`.
    pub status: String,
    /// Rows written, by table.
    pub rows: BTreeMap<String, u64>,
    pub input_files: Vec<String>,
    /// What the command reports beyond that (periods rebuilt, rules triggered, …).
    pub details: serde_json::Value,
    /// The error, for a failed run.
    pub message: Option<String>,
}

fn schema() -> SchemaRef {
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("command", DataType::Utf8, false),
        Field::new("started_at", utc.clone(), false),
        Field::new("ended_at", utc, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("rows", DataType::Utf8, false),
        Field::new("input_files", DataType::Utf8, false),
        Field::new("details", DataType::Utf8, true),
        Field::new("message", DataType::Utf8, true),
        Field::new("ecomix_version", DataType::Utf8, false),
    ]))
}

/// Appends `run` to the lake's run log. Inputs and messages may quote a URL with a SAS token or
/// an error with a credential: what is recorded is redacted.
pub async fn record_run(lake: &Lake, run: &RunRecord) -> Result<Option<u64>, LakeError> {
    let text = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![redact(v)])) };
    let time = |t: DateTime<Utc>| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(vec![t.timestamp_micros()]).with_timezone("UTC"))
    };
    let columns: Vec<ArrayRef> = vec![
        text(&run.run_id),
        text(&run.command),
        time(run.started_at),
        time(run.ended_at),
        text(&run.status),
        text(&serde_json::to_string(&run.rows).unwrap_or_default()),
        text(&serde_json::to_string(&run.input_files).unwrap_or_default()),
        Arc::new(StringArray::from(vec![
            (!run.details.is_null()).then(|| redact(&run.details.to_string())),
        ])),
        Arc::new(StringArray::from(vec![run.message.as_deref().map(redact)])),
        text(env!("CARGO_PKG_VERSION")),
    ];
    let batch = RecordBatch::try_new(schema(), columns).expect("run columns match the schema");
    let mut appender = Appender::start(lake, RUNS, schema(), &[]).await?;
    appender.write(batch).await?;
    appender
        .commit(HashMap::from([(
            "ecomix".to_string(),
            serde_json::json!({ "command": run.command, "run_id": run.run_id }),
        )]))
        .await
}
