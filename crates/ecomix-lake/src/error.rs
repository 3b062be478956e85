use ecomix_core::layout::TableRef;

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
}

impl LakeError {
    pub(crate) fn delta(table: TableRef, source: deltalake::DeltaTableError) -> Self {
        Self::Delta {
            table: table.to_string(),
            source,
        }
    }

    pub(crate) fn query(table: TableRef, message: impl ToString) -> Self {
        Self::Query {
            table: table.to_string(),
            message: message.to_string(),
        }
    }
}
