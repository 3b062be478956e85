//! The six gold tables of the brief: their exact names, columns and the SQL that computes each
//! from the national silver rows. The energy conventions are the README's ("Gold tables").
//!
//! The SQL runs over two in-memory tables that [`crate::build`] registers:
//! - `s`: silver rows of perimeter `France` in the dates being rebuilt, with the eight sources,
//!   consumption, forecasts, CO2 rate, totals, and the five exchange countries as columns
//!   `uk`, `espagne`, `italie`, `suisse`, `de_be`;
//! - `jours`: one row per local date: `date`, `h` (its length in hours, 23, 24 or 25), `annee`,
//!   `annee_iso`, `semaine_iso`, `debut_semaine`.

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use ecomix_core::layout::{Layer, TableRef};

/// The eight production sources of the national files, in the brief's order.
pub const SOURCES: [&str; 8] = [
    "nucleaire",
    "eolien",
    "solaire",
    "hydraulique",
    "bioenergies",
    "gaz",
    "charbon",
    "fioul",
];
pub const RENEWABLES: [&str; 4] = ["eolien", "solaire", "hydraulique", "bioenergies"];
pub const FOSSILS: [&str; 3] = ["gaz", "charbon", "fioul"];

/// The exchange countries: the name gold gives them, and their column in `s`.
pub const COUNTRIES: [(&str, &str); 5] = [
    ("UK", "uk"),
    ("Espagne", "espagne"),
    ("Italie", "italie"),
    ("Suisse", "suisse"),
    ("DE-BE", "de_be"),
];

/// The perimeter gold describes.
pub const PERIMETER: &str = "France";

/// A gold table: where it lives, its columns, how it is partitioned and computed.
pub struct GoldTable {
    pub table: TableRef,
    /// The partition column; calendar years for the daily tables, ISO years for the weekly one.
    pub partition: &'static str,
    /// Columns Z-order puts close together by default (`ecomix optimize`).
    pub zorder: &'static [&'static str],
    columns: &'static [(&'static str, Kind)],
    pub sql: fn() -> String,
}

#[derive(Clone, Copy)]
enum Kind {
    Date,
    Int,
    Text,
    Mw,
    Utc,
}

impl GoldTable {
    pub fn name(&self) -> &'static str {
        self.table.name
    }

    /// The table's schema: the brief's columns in its order, then the partition column.
    pub fn schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|(name, kind)| {
                let (data_type, nullable) = match kind {
                    Kind::Date => (DataType::Date32, false),
                    Kind::Int => (DataType::Int32, false),
                    Kind::Text => (DataType::Utf8, false),
                    Kind::Mw => (DataType::Float64, true),
                    Kind::Utc => (
                        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                        false,
                    ),
                };
                Field::new(*name, data_type, nullable)
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The text columns: the only ones worth a Parquet dictionary (the measures are floats).
    pub fn text_columns(&self) -> Vec<&'static str> {
        self.columns
            .iter()
            .filter(|(_, kind)| matches!(kind, Kind::Text))
            .map(|(name, _)| *name)
            .collect()
    }

    pub fn column_names(&self) -> Vec<&'static str> {
        self.columns.iter().map(|(name, _)| *name).collect()
    }
}

const fn gold(name: &'static str) -> TableRef {
    TableRef::new(Layer::Gold, name)
}

use Kind::{Date, Int, Mw, Text, Utc};

pub const PRODUCTION_PAR_SOURCE_HORAIRE: GoldTable = GoldTable {
    table: gold("production_par_source_horaire"),
    partition: "annee",
    zorder: &["date", "source_energie"],
    columns: &[
        ("date", Date),
        ("heure", Int),
        ("source_energie", Text),
        ("production_moyenne_mw", Mw),
        ("production_min_mw", Mw),
        ("production_max_mw", Mw),
        ("ecart_type", Mw),
        ("annee", Int),
    ],
    sql: production_par_source_horaire,
};

pub const MIX_ENERGETIQUE_QUOTIDIEN: GoldTable = GoldTable {
    table: gold("mix_energetique_quotidien"),
    partition: "annee",
    zorder: &["date"],
    columns: &[
        ("date", Date),
        ("nucleaire_total_mwh", Mw),
        ("renouvelables_total_mwh", Mw),
        ("fossiles_total_mwh", Mw),
        ("part_nucleaire_pct", Mw),
        ("part_renouvelables_pct", Mw),
        ("part_fossiles_pct", Mw),
        ("annee", Int),
    ],
    sql: mix_energetique_quotidien,
};

pub const CONSOMMATION_PREVISIONS: GoldTable = GoldTable {
    table: gold("consommation_previsions"),
    partition: "annee",
    zorder: &["timestamp"],
    columns: &[
        ("timestamp", Utc),
        ("consommation_reelle", Mw),
        ("prevision_j1", Mw),
        ("prevision_j", Mw),
        ("ecart_j1_mw", Mw),
        ("ecart_j_mw", Mw),
        ("erreur_j1_pct", Mw),
        ("erreur_j_pct", Mw),
        ("date", Date),
        ("annee", Int),
    ],
    sql: consommation_previsions,
};

pub const ECHANGES_INTERNATIONAUX: GoldTable = GoldTable {
    table: gold("echanges_internationaux"),
    partition: "annee",
    zorder: &["date", "pays"],
    columns: &[
        ("date", Date),
        ("pays", Text),
        ("import_total_mwh", Mw),
        ("export_total_mwh", Mw),
        ("solde_net_mwh", Mw),
        ("annee", Int),
    ],
    sql: echanges_internationaux,
};

pub const EMPREINTE_CARBONE: GoldTable = GoldTable {
    table: gold("empreinte_carbone"),
    partition: "annee",
    zorder: &["date"],
    columns: &[
        ("date", Date),
        ("heure", Int),
        ("taux_co2_gkwh", Mw),
        ("co2_total_tonnes", Mw),
        ("part_sources_bas_carbone_pct", Mw),
        ("annee", Int),
    ],
    sql: empreinte_carbone,
};

pub const STATISTIQUES_HEBDOMADAIRES: GoldTable = GoldTable {
    table: gold("statistiques_hebdomadaires"),
    partition: "annee_iso",
    zorder: &["debut_semaine"],
    columns: &[
        ("annee_iso", Int),
        ("semaine_iso", Int),
        ("debut_semaine", Date),
        ("nb_jours", Int),
        ("consommation_moyenne_mw", Mw),
        ("consommation_min_mw", Mw),
        ("consommation_max_mw", Mw),
        ("energie_consommee_mwh", Mw),
        ("production_totale_mwh", Mw),
        ("part_renouvelables_pct", Mw),
        ("part_nucleaire_pct", Mw),
        ("taux_co2_moyen_gkwh", Mw),
        ("solde_echanges_mwh", Mw),
        ("mape_prevision_j1_pct", Mw),
    ],
    sql: statistiques_hebdomadaires,
};

/// The six tables, in the brief's order.
pub const TABLES: [&GoldTable; 6] = [
    &PRODUCTION_PAR_SOURCE_HORAIRE,
    &MIX_ENERGETIQUE_QUOTIDIEN,
    &CONSOMMATION_PREVISIONS,
    &ECHANGES_INTERNATIONAUX,
    &EMPREINTE_CARBONE,
    &STATISTIQUES_HEBDOMADAIRES,
];

/// `a + b + …` over nullable columns: null when all are null, missing terms counting 0.
fn sum_of(columns: &[String]) -> String {
    format!(
        "CASE WHEN COALESCE({}) IS NULL THEN NULL ELSE {} END",
        columns.join(", "),
        columns
            .iter()
            .map(|c| format!("COALESCE({c}, 0)"))
            .collect::<Vec<_>>()
            .join(" + ")
    )
}

fn energies(columns: &[&str]) -> Vec<String> {
    columns.iter().map(|c| format!("{c}_mwh")).collect()
}

/// `100 * part / whole`, null when the whole is zero or unknown.
fn percent(part: &str, whole: &str) -> String {
    format!("100.0 * ({part}) / NULLIF({whole}, 0)")
}

/// The calendar year of `date`: gold's partition, computed on the aggregated rows rather than
/// joined from the calendar on every instant.
const YEAR: &str = "CAST(date_part('year', date) AS INT)";

/// The positive part of `x` (an import), 0 for an export, null when `x` is: exact in floating
/// point (`x + |x|` is `2x` or 0) and vectorised, where a `CASE` per row was not.
fn positive_part(x: &str) -> String {
    format!("({x} + ABS({x})) / 2")
}

/// The negative part of `x` (an export), 0 for an import, null when `x` is.
fn negative_part(x: &str) -> String {
    format!("({x} - ABS({x})) / 2")
}

/// Daily energies (MWh): each column's mean power over its non-null values times `H(d)`;
/// exchanges split into their imports (positive values) and exports (negative ones). The means
/// are aggregated over the instants by date alone; the calendar's few thousand rows (the day's
/// length, its year and ISO week) are joined to the days afterwards. In date order: the weekly
/// table sums these days, and its sums must not depend on the order a join gave them in.
pub(crate) fn daily_energies() -> String {
    let mut means = vec!["AVG(consommation) AS consommation".to_string()];
    let mut energies = vec!["a.consommation * j.h AS consommation_mwh".to_string()];
    for source in SOURCES {
        means.push(format!("AVG({source}) AS {source}"));
        energies.push(format!("a.{source} * j.h AS {source}_mwh"));
    }
    for (_, country) in COUNTRIES {
        means.push(format!(
            "AVG({}) AS {country}_import",
            positive_part(country)
        ));
        means.push(format!(
            "AVG({}) AS {country}_export",
            negative_part(country)
        ));
        energies.push(format!("a.{country}_import * j.h AS {country}_import_mwh"));
        energies.push(format!("a.{country}_export * j.h AS {country}_export_mwh"));
    }
    format!(
        "WITH a AS (SELECT date, {} FROM s GROUP BY date) \
         SELECT a.date, j.annee, j.annee_iso, j.semaine_iso, j.debut_semaine, {} \
         FROM a JOIN jours j ON a.date = j.date ORDER BY a.date",
        means.join(", "),
        energies.join(", ")
    )
}

/// Per day, the energies of `jour` summed into the brief's groups.
pub(crate) fn daily_totals() -> String {
    let balances: Vec<String> = COUNTRIES
        .iter()
        .map(|(_, c)| format!("({c}_import_mwh + {c}_export_mwh)"))
        .collect();
    format!(
        "SELECT *, {renouvelables} AS renouvelables_mwh, {fossiles} AS fossiles_mwh, \
         {total} AS production_mwh, {solde} AS solde_echanges_mwh FROM jour",
        renouvelables = sum_of(&energies(&RENEWABLES)),
        fossiles = sum_of(&energies(&FOSSILS)),
        total = sum_of(&energies(&SOURCES)),
        solde = sum_of(&balances),
    )
}

/// Aggregated per hour with one column per source first, then unpivoted: grouping the hours
/// once is eight times fewer rows to hash than grouping a long (hour, source) table.
fn production_par_source_horaire() -> String {
    let aggregates: Vec<String> = SOURCES
        .iter()
        .map(|source| {
            format!(
                "AVG({source}) AS {source}_avg, MIN({source}) AS {source}_min, \
                 MAX({source}) AS {source}_max, STDDEV_SAMP({source}) AS {source}_std"
            )
        })
        .collect();
    let long: Vec<String> = SOURCES
        .iter()
        .enumerate()
        .map(|(rank, source)| {
            format!(
                "SELECT date, heure, '{source}' AS source_energie, {rank} AS rang, \
                 {source}_avg AS production_moyenne_mw, {source}_min AS production_min_mw, \
                 {source}_max AS production_max_mw, {source}_std AS ecart_type \
                 FROM heures WHERE {source}_avg IS NOT NULL"
            )
        })
        .collect();
    format!(
        "WITH heures AS (SELECT date, heure, {} FROM s GROUP BY date, heure) \
         SELECT date, heure, source_energie, production_moyenne_mw, production_min_mw, \
           production_max_mw, ecart_type, {YEAR} AS annee \
         FROM ({}) ORDER BY date, heure, rang",
        aggregates.join(", "),
        long.join(" UNION ALL ")
    )
}

fn mix_energetique_quotidien() -> String {
    format!(
        "SELECT date, nucleaire_mwh AS nucleaire_total_mwh, \
         renouvelables_mwh AS renouvelables_total_mwh, fossiles_mwh AS fossiles_total_mwh, \
         {} AS part_nucleaire_pct, {} AS part_renouvelables_pct, {} AS part_fossiles_pct, annee \
         FROM jour_totaux WHERE production_mwh IS NOT NULL ORDER BY date",
        percent("nucleaire_mwh", "production_mwh"),
        percent("renouvelables_mwh", "production_mwh"),
        percent("fossiles_mwh", "production_mwh"),
    )
}

fn consommation_previsions() -> String {
    format!(
        "SELECT horodatage AS \"timestamp\", consommation AS consommation_reelle, \
         prevision_j1, prevision_j, \
         consommation - prevision_j1 AS ecart_j1_mw, \
         consommation - prevision_j AS ecart_j_mw, \
         {} AS erreur_j1_pct, {} AS erreur_j_pct, date, {YEAR} AS annee \
         FROM s WHERE consommation IS NOT NULL ORDER BY horodatage",
        percent("consommation - prevision_j1", "consommation"),
        percent("consommation - prevision_j", "consommation"),
    )
}

fn echanges_internationaux() -> String {
    let rows: Vec<String> = COUNTRIES
        .iter()
        .enumerate()
        .map(|(rank, (pays, c))| {
            format!(
                "SELECT date, '{pays}' AS pays, {rank} AS rang, {c}_import_mwh AS import_total_mwh, \
                 {c}_export_mwh AS export_total_mwh, \
                 {c}_import_mwh + {c}_export_mwh AS solde_net_mwh, annee \
                 FROM jour WHERE {c}_import_mwh IS NOT NULL"
            )
        })
        .collect();
    format!(
        "SELECT date, pays, import_total_mwh, export_total_mwh, solde_net_mwh, annee \
         FROM ({}) ORDER BY date, rang",
        rows.join(" UNION ALL ")
    )
}

fn empreinte_carbone() -> String {
    format!(
        "SELECT date, heure, taux_co2_gkwh, co2_total_tonnes, part_sources_bas_carbone_pct, \
           {YEAR} AS annee \
         FROM (SELECT date, heure, AVG(taux_co2) AS taux_co2_gkwh, \
           AVG(taux_co2 * production_totale) / 1000.0 AS co2_total_tonnes, \
           {} AS part_sources_bas_carbone_pct \
           FROM s WHERE taux_co2 IS NOT NULL AND production_totale IS NOT NULL \
           GROUP BY date, heure) \
         ORDER BY date, heure",
        percent(
            "SUM(COALESCE(nucleaire, 0) + COALESCE(renouvelables_total, 0))",
            "SUM(production_totale)"
        ),
    )
}

fn statistiques_hebdomadaires() -> String {
    format!(
        "WITH instants AS ( \
           SELECT {monday} AS debut_semaine, \
             AVG(consommation) AS consommation_moyenne_mw, \
             MIN(consommation) AS consommation_min_mw, \
             MAX(consommation) AS consommation_max_mw, \
             AVG(taux_co2) AS taux_co2_moyen_gkwh, \
             AVG(ABS({erreur})) AS mape_prevision_j1_pct \
           FROM s GROUP BY {monday}), \
         semaines AS (SELECT DISTINCT annee_iso, semaine_iso, debut_semaine FROM jours), \
         jours_semaine AS ( \
           SELECT annee_iso, semaine_iso, \
             CAST(COUNT(consommation_mwh) AS INT) AS nb_jours, \
             SUM(consommation_mwh) AS energie_consommee_mwh, \
             SUM(production_mwh) AS production_totale_mwh, \
             SUM(renouvelables_mwh) AS renouvelables_mwh, \
             SUM(nucleaire_mwh) AS nucleaire_mwh, \
             SUM(solde_echanges_mwh) AS solde_echanges_mwh \
           FROM jour_totaux GROUP BY annee_iso, semaine_iso) \
         SELECT w.annee_iso, w.semaine_iso, i.debut_semaine, d.nb_jours, \
           i.consommation_moyenne_mw, i.consommation_min_mw, i.consommation_max_mw, \
           d.energie_consommee_mwh, d.production_totale_mwh, \
           {renouvelables} AS part_renouvelables_pct, {nucleaire} AS part_nucleaire_pct, \
           i.taux_co2_moyen_gkwh, d.solde_echanges_mwh, i.mape_prevision_j1_pct \
         FROM instants i JOIN semaines w ON i.debut_semaine = w.debut_semaine \
           JOIN jours_semaine d ON w.annee_iso = d.annee_iso AND w.semaine_iso = d.semaine_iso \
         ORDER BY w.annee_iso, w.semaine_iso",
        monday = "CAST(date_trunc('week', date) AS DATE)",
        erreur = percent("consommation - prevision_j1", "consommation"),
        renouvelables = percent("d.renouvelables_mwh", "d.production_totale_mwh"),
        nucleaire = percent("d.nucleaire_mwh", "d.production_totale_mwh"),
    )
}
