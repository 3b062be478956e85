//! Reading tables back with DataFusion SQL.

use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;
use ecomix_core::layout::TableRef;

use crate::{Lake, LakeError};

/// Runs `sql` against `table`, registered under the name `t`. Returns no batches when the
/// table does not exist yet.
pub async fn query(lake: &Lake, table: TableRef, sql: &str) -> Result<Vec<RecordBatch>, LakeError> {
    let Some(delta) = lake.open(table).await? else {
        return Ok(Vec::new());
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
    let frame = ctx.sql(sql).await.map_err(|e| LakeError::query(table, e))?;
    frame
        .collect()
        .await
        .map_err(|e| LakeError::query(table, e))
}
