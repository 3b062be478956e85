//! The bronze layer: every published eCO2mix format, sniffed from its bytes, decoded, parsed and
//! landed losslessly in the `eco2mix_bronze` and `tempo_bronze` Delta tables.

pub mod decode;
pub mod download;
pub mod error;
pub mod frame;
pub mod grid;
mod guard;
mod http;
pub mod ingest;
pub mod sniff;

pub use error::{BronzeError, InputError};
pub use guard::reading_untrusted_input;
pub use ingest::{IngestOptions, IngestReport, ingest, parse_input};
