//! The column catalogue: every label eCO2mix has ever published, mapped to one canonical
//! snake_case name (the open-data portal's field names), with its unit and family.
//!
//! Matching is done on a *compact key*: lower case, accents folded, a trailing unit in
//! parentheses removed, and every character that is not a letter or a digit dropped. That one
//! rule absorbs the variants the real files show (`" Stockage batterie"` with its leading space,
//! `Fil de l?eau` with a literal `?`, `Cogén.` against `Cogénération`, `Heure (MW)`-style units,
//! the field names of the portal exports), so that aliases are only needed where RTE and the
//! portal use different words for the same column.

use std::collections::HashMap;
use std::sync::OnceLock;

/// How a column's text is typed in bronze.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text kept as published (`perimetre`, `nature`).
    Text,
    /// A calendar date (`YYYY-MM-DD`, or `DD/MM/YYYY` as the 2012 specification says).
    Date,
    /// A wall-clock time `HH:MM`, kept as published.
    Time,
    /// An instant with its UTC offset (`2022-01-01T18:15:00+01:00`), stored in UTC.
    Timestamp,
    /// A nullable measure (MW, g/kWh or %).
    Measure,
}

/// What a column measures, for grouping in silver and gold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Key,
    Consumption,
    Forecast,
    ProductionSource,
    SubType,
    Storage,
    Exchange,
    RegionalFlow,
    Co2,
    CoverageRate,
    Tempo,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Unit {
    #[serde(rename = "")]
    None,
    #[serde(rename = "MW")]
    Megawatt,
    #[serde(rename = "g/kWh")]
    GramPerKwh,
    #[serde(rename = "%")]
    Percent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub unit: Unit,
    pub family: Family,
    /// Published labels whose compact key differs from the name's.
    pub aliases: &'static [&'static str],
}

const fn col(
    name: &'static str,
    kind: Kind,
    unit: Unit,
    family: Family,
    aliases: &'static [&'static str],
) -> Column {
    Column {
        name,
        kind,
        unit,
        family,
        aliases,
    }
}

const fn mw(name: &'static str, family: Family, aliases: &'static [&'static str]) -> Column {
    col(name, Kind::Measure, Unit::Megawatt, family, aliases)
}

const fn pct(name: &'static str) -> Column {
    col(
        name,
        Kind::Measure,
        Unit::Percent,
        Family::CoverageRate,
        &[],
    )
}

use Family::*;

/// Key columns of the eCO2mix power files, in bronze order.
pub const KEYS: &[Column] = &[
    col(
        "perimetre",
        Kind::Text,
        Unit::None,
        Key,
        &["Région", "libelle_region"],
    ),
    col("nature", Kind::Text, Unit::None, Key, &[]),
    col("date", Kind::Date, Unit::None, Key, &[]),
    col("heure", Kind::Time, Unit::None, Key, &["Heures"]),
    col("date_heure", Kind::Timestamp, Unit::None, Key, &[]),
    col("code_insee_region", Kind::Text, Unit::None, Key, &[]),
];

/// Measure columns of the eCO2mix power files, in bronze order.
pub const MEASURES: &[Column] = &[
    mw("consommation", Consumption, &[]),
    mw("consommation_corrigee", Consumption, &[]),
    mw("prevision_j1", Forecast, &[]),
    mw("prevision_j", Forecast, &[]),
    mw("fioul", ProductionSource, &[]),
    mw("charbon", ProductionSource, &[]),
    mw("gaz", ProductionSource, &[]),
    mw("nucleaire", ProductionSource, &[]),
    mw("eolien", ProductionSource, &[]),
    mw("solaire", ProductionSource, &[]),
    mw("hydraulique", ProductionSource, &[]),
    mw("pompage", ProductionSource, &[]),
    // The v5 specification calls the regional column "EnR thermique"; the files say Bioénergies.
    mw("bioenergies", ProductionSource, &["EnR thermique"]),
    // Regional files publish one thermal column instead of fioul, charbon and gaz.
    mw("thermique", ProductionSource, &[]),
    // Daily files of 2012 and before lump the small sources together.
    mw("autres", ProductionSource, &[]),
    mw("ech_physiques", Exchange, &[]),
    col(
        "taux_co2",
        Kind::Measure,
        Unit::GramPerKwh,
        Co2,
        &["Taux de Co2"],
    ),
    mw("ech_comm_angleterre", Exchange, &[]),
    mw("ech_comm_espagne", Exchange, &[]),
    mw("ech_comm_italie", Exchange, &[]),
    mw("ech_comm_suisse", Exchange, &[]),
    mw("ech_comm_allemagne_belgique", Exchange, &[]),
    // Before 2013 Germany and Belgium were published separately.
    mw("ech_comm_allemagne", Exchange, &[]),
    mw("ech_comm_belgique", Exchange, &[]),
    mw("fioul_tac", SubType, &[]),
    mw("fioul_cogen", SubType, &["Fioul - Cogénération"]),
    mw("fioul_autres", SubType, &[]),
    mw("gaz_tac", SubType, &[]),
    mw("gaz_cogen", SubType, &["Gaz - Cogénération"]),
    mw("gaz_ccg", SubType, &[]),
    mw("gaz_autres", SubType, &[]),
    mw(
        "hydraulique_fil_eau_eclusee",
        SubType,
        &["Hydraulique - Fil de l'eau + éclusée"],
    ),
    mw("hydraulique_lacs", SubType, &[]),
    mw("hydraulique_step_turbinage", SubType, &[]),
    mw("bioenergies_dechets", SubType, &[]),
    mw("bioenergies_biomasse", SubType, &[]),
    mw("bioenergies_biogaz", SubType, &[]),
    mw("stockage_batterie", Storage, &[]),
    mw("destockage_batterie", Storage, &[]),
    mw("eolien_terrestre", SubType, &[]),
    mw("eolien_offshore", SubType, &[]),
    mw("import_grand_est", RegionalFlow, &[]),
    mw("import_auvergne_rhone_alpes", RegionalFlow, &[]),
    mw("import_nouvelle_aquitaine", RegionalFlow, &[]),
    mw("import_bourgogne_franche_comte", RegionalFlow, &[]),
    mw("import_bretagne", RegionalFlow, &[]),
    mw("import_centre_val_de_loire", RegionalFlow, &[]),
    mw("import_ile_de_france", RegionalFlow, &[]),
    mw("import_occitanie", RegionalFlow, &[]),
    mw("import_hauts_de_france", RegionalFlow, &[]),
    mw("import_normandie", RegionalFlow, &[]),
    mw("import_pays_de_la_loire", RegionalFlow, &[]),
    mw("import_paca", RegionalFlow, &[]),
    mw("import_espagne", RegionalFlow, &[]),
    mw("import_suisse", RegionalFlow, &[]),
    mw("import_royaume_uni", RegionalFlow, &[]),
    mw("import_italie", RegionalFlow, &[]),
    mw("import_allemagne", RegionalFlow, &[]),
    mw("import_belgique", RegionalFlow, &[]),
    mw("import_luxembourg", RegionalFlow, &[]),
    mw("export_grand_est", RegionalFlow, &[]),
    mw("export_auvergne_rhone_alpes", RegionalFlow, &[]),
    mw("export_nouvelle_aquitaine", RegionalFlow, &[]),
    mw("export_bourgogne_franche_comte", RegionalFlow, &[]),
    mw("export_bretagne", RegionalFlow, &[]),
    mw("export_centre_val_de_loire", RegionalFlow, &[]),
    mw("export_ile_de_france", RegionalFlow, &[]),
    mw("export_occitanie", RegionalFlow, &[]),
    mw("export_hauts_de_france", RegionalFlow, &[]),
    mw("export_normandie", RegionalFlow, &[]),
    mw("export_pays_de_la_loire", RegionalFlow, &[]),
    mw("export_paca", RegionalFlow, &[]),
    mw("export_espagne", RegionalFlow, &[]),
    mw("export_suisse", RegionalFlow, &[]),
    mw("export_royaume_uni", RegionalFlow, &[]),
    mw("export_italie", RegionalFlow, &[]),
    mw("export_allemagne", RegionalFlow, &[]),
    mw("export_belgique", RegionalFlow, &[]),
    mw("export_luxembourg", RegionalFlow, &[]),
    pct("tco_thermique"),
    pct("tch_thermique"),
    pct("tco_nucleaire"),
    pct("tch_nucleaire"),
    pct("tco_eolien"),
    pct("tch_eolien"),
    pct("tco_solaire"),
    pct("tch_solaire"),
    pct("tco_hydraulique"),
    pct("tch_hydraulique"),
    pct("tco_bioenergies"),
    pct("tch_bioenergies"),
];

/// Columns of the Tempo calendar files.
pub const TEMPO: &[Column] = &[
    col("date", Kind::Date, Unit::None, Key, &[]),
    col(
        "couleur",
        Kind::Text,
        Unit::None,
        Tempo,
        &["Type de jour TEMPO", "type_jour_tempo"],
    ),
];

/// Columns that are published but carry nothing (the regional export's padding column).
pub const IGNORED: &[Column] = &[col("column_64", Kind::Text, Unit::None, Other, &[])];

/// Every catalogue column, Tempo's `date` being the same column as the power files'.
pub fn all() -> impl Iterator<Item = &'static Column> {
    KEYS.iter()
        .chain(MEASURES)
        .chain(TEMPO.iter().filter(|c| c.name != "date"))
        .chain(IGNORED)
}

/// A French letter without its accent.
fn unaccented(ch: char) -> char {
    match ch {
        'à' | 'á' | 'â' | 'ä' | 'À' | 'Â' | 'Ä' => 'a',
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
        'î' | 'ï' | 'Î' | 'Ï' => 'i',
        'ô' | 'ö' | 'Ô' | 'Ö' => 'o',
        'ù' | 'û' | 'ü' | 'Ù' | 'Û' | 'Ü' => 'u',
        'ç' | 'Ç' => 'c',
        c => c,
    }
}

/// The compact key a label is matched on (see the module documentation).
pub fn compact_key(label: &str) -> String {
    strip_unit(label)
        .chars()
        .map(unaccented)
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The column name a label the catalogue does not know gets in bronze: snake_case ASCII
/// without the unit (`Hydrogène - Électrolyse (MW)` is `hydrogene_electrolyse`).
pub fn snake_case(label: &str) -> String {
    let mut name = String::with_capacity(label.len());
    for c in strip_unit(label).chars().map(unaccented) {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('_') && !name.is_empty() {
            name.push('_');
        }
    }
    let name = name.trim_end_matches('_').to_string();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("column_{name}")
    } else {
        name
    }
}

/// The unit a label carries in parentheses at its end, as in `Consommation (MW)`.
pub fn label_unit(label: &str) -> Option<&str> {
    let trimmed = label.trim_end();
    let open = trimmed.rfind('(')?;
    trimmed
        .ends_with(')')
        .then(|| trimmed[open + 1..trimmed.len() - 1].trim())
}

fn strip_unit(label: &str) -> &str {
    match label_unit(label) {
        Some(_) => &label[..label.trim_end().rfind('(').unwrap_or(label.len())],
        None => label,
    }
}

fn index() -> &'static HashMap<String, &'static Column> {
    static INDEX: OnceLock<HashMap<String, &'static Column>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut map = HashMap::new();
        for column in all() {
            for label in std::iter::once(&column.name).chain(column.aliases) {
                let previous = map.insert(compact_key(label), column);
                assert!(
                    previous.is_none_or(|p| p.name == column.name),
                    "catalogue labels collide on {label:?}"
                );
            }
        }
        map
    })
}

/// The catalogue column a published label stands for, if the catalogue knows it.
pub fn lookup(label: &str) -> Option<&'static Column> {
    index().get(&compact_key(label)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(label: &str) -> Option<&'static str> {
        lookup(label).map(|c| c.name)
    }

    #[test]
    fn unknown_labels_become_snake_case_names() {
        assert_eq!(
            snake_case("Hydrogène - Électrolyse (MW)"),
            "hydrogene_electrolyse"
        );
        assert_eq!(snake_case(" Stockage  hydrogène"), "stockage_hydrogene");
        assert_eq!(snake_case("2030 scénario"), "column_2030_scenario");
        assert_eq!(snake_case("(MW)"), "column_");
    }

    #[test]
    fn rte_labels_with_their_quirks_map_to_field_names() {
        assert_eq!(name_of(" Stockage batterie"), Some("stockage_batterie"));
        assert_eq!(
            name_of("Hydraulique - Fil de l?eau + éclusée"),
            Some("hydraulique_fil_eau_eclusee")
        );
        assert_eq!(name_of("Fioul - Cogén."), Some("fioul_cogen"));
        assert_eq!(name_of("Fioul - Cogénération (MW)"), Some("fioul_cogen"));
        assert_eq!(name_of("Taux de CO2 (g/kWh)"), Some("taux_co2"));
        assert_eq!(name_of("PrévisionJ-1"), Some("prevision_j1"));
        assert_eq!(name_of("Prévision J"), Some("prevision_j"));
        assert_eq!(name_of("Heures"), Some("heure"));
        assert_eq!(name_of("Date - Heure"), Some("date_heure"));
        assert_eq!(
            name_of("Import Centre-Val de Loire"),
            Some("import_centre_val_de_loire")
        );
        assert_eq!(name_of("TCH Bioénergies (%)"), Some("tch_bioenergies"));
        assert_eq!(name_of("Column 64"), Some("column_64"));
        assert_eq!(name_of("Type de jour TEMPO"), Some("couleur"));
        assert_eq!(name_of("Périmètre"), Some("perimetre"));
        assert_eq!(name_of("Puissance fantôme"), None);
    }

    #[test]
    fn every_canonical_name_is_its_own_label_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for column in all() {
            assert!(seen.insert(column.name), "{} listed twice", column.name);
            assert_eq!(name_of(column.name), Some(column.name));
        }
    }

    #[test]
    fn units_are_read_from_labels() {
        assert_eq!(label_unit("Consommation (MW)"), Some("MW"));
        assert_eq!(label_unit("Taux de CO2 (g/kWh)"), Some("g/kWh"));
        assert_eq!(label_unit("Consommation"), None);
    }
}
