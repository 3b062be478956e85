//! Delta Lake I/O for ecomix, over `object_store`: open tables by their place in the lake,
//! append record batches in one commit, and query them with DataFusion.
//!
//! The lake root is either a local folder or an object-store URI; tables live at
//! `<root>/<layer>/<table>`.

mod append;
mod arrays;
mod crash;
mod error;
mod lock;
mod maintenance;
mod query;
mod runs;
mod sort;
mod storage;

pub use append::{Appender, BackgroundAppender};
pub use arrays::repeated_text;
pub use error::LakeError;
pub use lock::{Holder, WriteLock};
pub use maintenance::{OptimizeReport, TableFacts, VacuumReport};
pub use query::{Snapshot, query};
pub use runs::{RunRecord, record_run};
pub use storage::{StorageProblem, is_object_url};

pub use deltalake::arrow;
pub use deltalake::datafusion;
pub use deltalake::parquet;

use std::collections::HashMap;

use deltalake::{DeltaTable, DeltaTableError};
use ecomix_core::layout::TableRef;
use url::Url;

/// A lake root and the storage options used to reach it.
#[derive(Clone)]
pub struct Lake {
    root: Url,
    storage_options: HashMap<String, String>,
    /// Tables already loaded by this process, brought up to date on each open by reading only
    /// the commits since: a full load re-reads the log from its last checkpoint, a few dozen
    /// requests per table on an object store, and a run opens each table several times.
    loaded: std::sync::Arc<std::sync::Mutex<HashMap<String, DeltaTable>>>,
}

impl std::fmt::Debug for Lake {
    // Storage options may hold secrets: only their names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("root", &self.root.as_str())
            .field("storage_options", &self.storage_options.keys())
            .finish()
    }
}

impl Lake {
    /// A lake at `location`: a local path (created if missing) or a URI such as `file://…`.
    pub fn new(location: &str) -> Result<Self, LakeError> {
        Self::with_storage_options(location, HashMap::new())
    }

    pub fn with_storage_options(
        location: &str,
        mut storage_options: HashMap<String, String>,
    ) -> Result<Self, LakeError> {
        deltalake::azure::register_handlers(None);
        // A "SAS URL" (`az://container/path?sv=…&sig=…`, as Azure's tools hand them out):
        // the query is the SAS token.
        let location = match location.split_once('?') {
            Some((path, query)) if storage::is_object_url(path) && query.contains("sig=") => {
                ecomix_core::secrets::register_options([(
                    &"sas_key".to_string(),
                    &query.to_string(),
                )]);
                storage_options.insert("sas_key".into(), query.to_string());
                path
            }
            _ => location,
        };
        let mut root =
            deltalake::ensure_table_uri(location).map_err(|source| LakeError::Location {
                location: location.to_string(),
                reason: source.to_string(),
            })?;
        if !root.path().ends_with('/') {
            root.set_path(&format!("{}/", root.path()));
        }
        if storage::is_object_url(root.as_str()) {
            storage::check_options(location, &storage_options)?;
        }
        Ok(Self {
            root,
            storage_options,
            loaded: Default::default(),
        })
    }

    pub fn root(&self) -> &Url {
        &self.root
    }

    /// The URL of a table of this lake.
    pub fn table_url(&self, table: TableRef) -> Url {
        self.root
            .join(&format!("{}/", table.relative_path()))
            .expect("a table's relative path is a valid URL path")
    }

    /// The table if it exists, at its latest version.
    pub async fn open(&self, table: TableRef) -> Result<Option<DeltaTable>, LakeError> {
        let key = table.to_string();
        let cached = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        if let Some(mut cached) = cached {
            match cached.update_incremental(None).await {
                Ok(()) => {
                    self.remember(&key, &cached);
                    return Ok(Some(cached));
                }
                // Rewritten or deleted behind our back: load it afresh.
                Err(e) => tracing::debug!(%table, "reloading the table: {e}"),
            }
        }
        let opened = self.load(table).await?;
        if let Some(t) = &opened {
            self.remember(&key, t);
        }
        Ok(opened)
    }

    fn remember(&self, key: &str, table: &DeltaTable) {
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), table.clone());
    }

    async fn load(&self, table: TableRef) -> Result<Option<DeltaTable>, LakeError> {
        let url = self.table_url(table);
        if url.scheme() == "file"
            && let Ok(path) = url.to_file_path()
            && !path.join("_delta_log").exists()
        {
            return Ok(None);
        }
        let builder = deltalake::DeltaTableBuilder::from_url(url)
            .map_err(|e| LakeError::delta(table, e))?
            .with_storage_options(self.storage_options.clone());
        if self.is_remote() {
            // Loading a missing table on an object store fails inside deltalake, which logs that
            // as an error; one listing of `_delta_log` says the same quietly.
            let store = builder
                .build_storage()
                .map_err(|e| LakeError::delta(table, e))?;
            if !store
                .is_delta_table_location()
                .await
                .map_err(|e| LakeError::delta(table, e))?
            {
                return Ok(None);
            }
        }
        match builder.load().await {
            Ok(t) => Ok(Some(t)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(source) => Err(LakeError::delta(table, source)),
        }
    }

    /// The partition columns of a table, `None` when the table does not exist yet.
    pub async fn partition_columns(
        &self,
        table: TableRef,
    ) -> Result<Option<Vec<String>>, LakeError> {
        match self.open(table).await? {
            Some(t) => Ok(Some(
                t.snapshot()
                    .map_err(|e| LakeError::delta(table, e))?
                    .metadata()
                    .partition_columns()
                    .to_vec(),
            )),
            None => Ok(None),
        }
    }

    /// The latest version of a table, `None` when the table does not exist yet.
    pub async fn version(&self, table: TableRef) -> Result<Option<u64>, LakeError> {
        Ok(self.open(table).await?.and_then(|t| t.version()))
    }

    pub(crate) fn storage_options(&self) -> &HashMap<String, String> {
        &self.storage_options
    }
}
