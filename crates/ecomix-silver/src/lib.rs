//! The silver layer: bronze rows typed into one trustworthy row per perimeter and instant.
//! See the README's data contract for every rule applied here.

pub mod instant;
pub mod rules;
pub mod schema;
mod transform;

pub use transform::{
    DEFAULT_BATCH_ROWS, ECO2MIX_QUARANTINE, ECO2MIX_SILVER, Partitioning, Progress, SilverError,
    TransformOptions, TransformReport, scan_bronze, transform,
};
