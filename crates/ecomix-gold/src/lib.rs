//! The gold layer: the six analytical tables of the brief, built from silver's national rows.
//! See the README's "Gold tables" for the energy conventions.

mod build;
pub mod tables;

pub use build::{GoldError, GoldOptions, GoldReport, TableOutcome, build, calendar, day_hours};
