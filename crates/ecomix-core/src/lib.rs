//! Shared vocabulary of ecomix: the column catalogue, the lake's layout and time zone.

pub mod catalogue;
pub mod config;
pub mod layout;
pub mod secrets;

/// eCO2mix publishes French wall-clock times.
pub const TIME_ZONE: chrono_tz::Tz = chrono_tz::Europe::Paris;
