use ecomix_core::layout::TableRef;

use crate::storage::{StorageProblem, error_chain_text};

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("cannot use {location:?} as a lake: {reason}")]
    Location { location: String, reason: String },
    #[error("table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: deltalake::DeltaTableError,
    },
    #[error("table {table}: {message}")]
    Query { table: String, message: String },
    /// Another run holds the lake's write lock.
    #[error("another ecomix run is writing to {lake}: {holder}; try again when it ends")]
    Busy { lake: String, holder: String },
    /// A storage failure the user can act on, told in one sentence instead of the stack of
    /// wrapped HTTP errors under it.
    #[error("{what}: {problem}")]
    Storage {
        what: String,
        problem: StorageProblem,
    },
}

impl LakeError {
    pub(crate) fn delta(table: TableRef, source: deltalake::DeltaTableError) -> Self {
        Self::storage(table, &error_chain_text(&source)).unwrap_or_else(|| Self::Delta {
            table: table.to_string(),
            source,
        })
    }

    pub(crate) fn query(table: TableRef, message: impl ToString) -> Self {
        let message = message.to_string();
        Self::storage(table, &message).unwrap_or_else(|| Self::Query {
            table: table.to_string(),
            message,
        })
    }

    /// A storage problem told in one sentence, when `text` shows one.
    fn storage(table: TableRef, text: &str) -> Option<Self> {
        StorageProblem::find(text).map(|problem| Self::Storage {
            what: format!("table {table}"),
            problem,
        })
    }

    /// The storage problem behind this error, if that is what it is.
    pub fn storage_problem(&self) -> Option<&StorageProblem> {
        match self {
            Self::Storage { problem, .. } => Some(problem),
            _ => None,
        }
    }
}
