//! Reading tables back with DataFusion SQL.

use deltalake::DeltaTable;
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

async fn frame(lake: &Lake, table: TableRef, sql: &str) -> Result<Option<DataFrame>, LakeError> {
    let Some(delta) = lake.open(table).await? else {
        return Ok(None);
    };
    frame_of(&delta, table, sql, None).await.map(Some)
}

/// `sql` over `delta` at the version it holds, registered as `t`, optionally over some of its
/// files only.
async fn frame_of(
    delta: &DeltaTable,
    table: TableRef,
    sql: &str,
    only: Option<Vec<String>>,
) -> Result<DataFrame, LakeError> {
    let ctx = SessionContext::new();
    delta
        .update_datafusion_session(&ctx.state())
        .map_err(|e| LakeError::delta(table, e))?;
    let mut provider = delta.table_provider();
    if let Some(paths) = only {
        provider = provider.with_file_paths(paths);
    }
    let provider = provider.await.map_err(|e| LakeError::query(table, e))?;
    ctx.register_table("t", provider)
        .map_err(|e| LakeError::query(table, e))?;
    ctx.sql(sql).await.map_err(|e| LakeError::query(table, e))
}

/// A table held at one version, so that the several queries of one run all read the same data
/// even while other processes append to it.
#[derive(Clone)]
pub struct Snapshot {
    table: DeltaTable,
    table_ref: TableRef,
}

impl Lake {
    /// The table at its latest version, held; `None` when it does not exist yet.
    pub async fn snapshot(&self, table: TableRef) -> Result<Option<Snapshot>, LakeError> {
        Ok(self.open(table).await?.map(|t| Snapshot {
            table: t,
            table_ref: table,
        }))
    }
}

impl Snapshot {
    pub fn version(&self) -> Option<u64> {
        self.table.version()
    }

    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, LakeError> {
        frame_of(&self.table, self.table_ref, sql, None)
            .await?
            .collect()
            .await
            .map_err(|e| LakeError::query(self.table_ref, e))
    }

    /// `sql` over only the files added since `version`; `None` when that version can no
    /// longer be read (its log was cleaned up), so the caller falls back to the whole table.
    pub async fn query_added_since(
        &self,
        version: u64,
        sql: &str,
    ) -> Result<Option<Vec<RecordBatch>>, LakeError> {
        let added = crate::maintenance::files_added_since(&self.table, version)
            .await
            .map_err(|e| LakeError::delta(self.table_ref, e))?;
        let Some(added) = added else {
            return Ok(None);
        };
        if added.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let paths = added.into_iter().map(|(path, _)| path).collect();
        frame_of(&self.table, self.table_ref, sql, Some(paths))
            .await?
            .collect()
            .await
            .map(Some)
            .map_err(|e| LakeError::query(self.table_ref, e))
    }

    /// A DataFusion session with this snapshot registered as `name`, for work that joins it
    /// with other (in-memory) tables.
    pub async fn session(&self, name: &str) -> Result<SessionContext, LakeError> {
        let ctx = SessionContext::new();
        self.table
            .update_datafusion_session(&ctx.state())
            .map_err(|e| LakeError::delta(self.table_ref, e))?;
        let provider = self
            .table
            .table_provider()
            .await
            .map_err(|e| LakeError::query(self.table_ref, e))?;
        ctx.register_table(name, provider)
            .map_err(|e| LakeError::query(self.table_ref, e))?;
        Ok(ctx)
    }

    pub async fn query_stream(&self, sql: &str) -> Result<SendableRecordBatchStream, LakeError> {
        frame_of(&self.table, self.table_ref, sql, None)
            .await?
            .execute_stream()
            .await
            .map_err(|e| LakeError::query(self.table_ref, e))
    }
}
