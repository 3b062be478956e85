//! Reading tables back with DataFusion SQL.

use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::prelude::{DataFrame, SessionContext};
use ecomix_core::layout::TableRef;

use crate::{Lake, LakeError};

/// Runs `sql` against `table`, registered under the name `t`. Returns no batches when the
/// table does not exist yet.
pub async fn query(lake: &Lake, table: TableRef, sql: &str) -> Result<Vec<RecordBatch>, LakeError> {
    let Some(frame) = frame(lake, table, sql).await? else {
        return Ok(Vec::new());
    };
    frame
        .collect()
        .await
        .map_err(|e| LakeError::query(table, e))
}

/// Runs `sql` against `table` (registered as `t`) as a stream of batches, so that a large
/// result is never held whole. `None` when the table does not exist yet.
pub async fn query_stream(
    lake: &Lake,
    table: TableRef,
    sql: &str,
) -> Result<Option<SendableRecordBatchStream>, LakeError> {
    let Some(frame) = frame(lake, table, sql).await? else {
        return Ok(None);
    };
    frame
        .execute_stream()
        .await
        .map(Some)
        .map_err(|e| LakeError::query(table, e))
}

async fn frame(lake: &Lake, table: TableRef, sql: &str) -> Result<Option<DataFrame>, LakeError> {
    let Some(delta) = lake.open(table).await? else {
        return Ok(None);
    };
    let ctx = SessionContext::new();
    delta
        .update_datafusion_session(&ctx.state())
        .map_err(|e| LakeError::delta(table, e))?;
    let provider = delta
        .table_provider()
        .await
        .map_err(|e| LakeError::query(table, e))?;
    ctx.register_table("t", provider)
        .map_err(|e| LakeError::query(table, e))?;
    ctx.sql(sql)
        .await
        .map(Some)
        .map_err(|e| LakeError::query(table, e))
}
