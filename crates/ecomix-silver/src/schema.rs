//! The silver table's and the quarantine table's columns.

use std::sync::{Arc, LazyLock};

use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use ecomix_core::catalogue;

/// Columns computed in silver, after the measures.
pub const DERIVED: [&str; 7] = [
    "renouvelables_total",
    "fossiles_total",
    "production_totale",
    "part_renouvelables",
    "ecart_prevision_j1",
    "ecart_prevision_j",
    "solde_echanges",
];

fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

pub fn silver() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields = vec![
            Field::new("perimetre", DataType::Utf8, false),
            Field::new("nature", DataType::Utf8, true),
            Field::new("horodatage", utc(), false),
            Field::new("date", DataType::Date32, false),
            Field::new("heure", DataType::Int32, false),
            Field::new("minute", DataType::Int32, false),
            Field::new("mois", DataType::Utf8, false),
            Field::new("annee", DataType::Int32, false),
        ];
        fields.extend(
            catalogue::MEASURES
                .iter()
                .map(|c| Field::new(c.name, DataType::Float64, true)),
        );
        fields.extend(
            DERIVED
                .iter()
                .map(|n| Field::new(*n, DataType::Float64, true)),
        );
        fields.push(Field::new("_source_file", DataType::Utf8, true));
        fields.push(Field::new("_source_row", DataType::Int64, true));
        fields.push(Field::new("_run_id", DataType::Utf8, true));
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

pub fn quarantine() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("rule", DataType::Utf8, false),
            Field::new("reason", DataType::Utf8, false),
            Field::new("perimetre", DataType::Utf8, true),
            Field::new("nature", DataType::Utf8, true),
            Field::new("date", DataType::Date32, true),
            Field::new("heure", DataType::Utf8, true),
            Field::new("mois", DataType::Utf8, false),
            Field::new("annee", DataType::Int32, false),
            Field::new("raw_values", DataType::Utf8, true),
            Field::new("_source_file", DataType::Utf8, true),
            Field::new("_source_row", DataType::Int64, true),
            Field::new("_run_id", DataType::Utf8, true),
        ]))
    });
    SCHEMA.clone()
}
