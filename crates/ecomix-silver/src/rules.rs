//! Data-quality rules, declared in one list in the style of Delta Live Tables expectations:
//! a name, what it checks, and a level. *warn*: the row is kept and counted; *quarantine*: the
//! row goes to `eco2mix_quarantine` with the rule's name and its raw values instead of silver;
//! *fail*: the run stops and no table changes. Levels can be overridden per run.

use std::collections::HashMap;
use std::sync::LazyLock;

use deltalake::arrow::array::{Array, Float64Array};
use ecomix_core::catalogue::{self, Family};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warn,
    Quarantine,
    Fail,
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "warn" => Ok(Level::Warn),
            "quarantine" => Ok(Level::Quarantine),
            "fail" => Ok(Level::Fail),
            _ => Err(format!(
                "unknown level {text:?}: expected warn, quarantine or fail"
            )),
        }
    }
}

/// A silver row as the rules see it, read in place: its perimeter, the measure columns of its
/// batch (catalogue order) and its row, and the measures a `-` set to 0.
pub struct RowView<'a> {
    pub perimetre: &'a str,
    pub measures: &'a [Float64Array],
    pub row: usize,
    pub zeroed: &'a [usize],
}

impl RowView<'_> {
    /// The measure at catalogue position `column`.
    pub fn value(&self, column: usize) -> Option<f64> {
        if self.zeroed.contains(&column) {
            return Some(0.0);
        }
        let array = &self.measures[column];
        array.is_valid(self.row).then(|| array.value(self.row))
    }
}

/// The position of a measure column in the catalogue's list.
pub fn measure_index(name: &str) -> usize {
    static INDEX: LazyLock<HashMap<&'static str, usize>> = LazyLock::new(|| {
        catalogue::MEASURES
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name, i))
            .collect()
    });
    *INDEX
        .get(name)
        .unwrap_or_else(|| panic!("{name} is not a catalogue measure"))
}

pub struct Rule {
    pub name: &'static str,
    pub level: Level,
    pub description: &'static str,
    /// True when the row satisfies the rule.
    pub check: fn(&RowView) -> bool,
}

/// Catalogue positions of the measures the rules read, looked up once: by name per row, the
/// lookups were a twentieth of a transform.
struct Checked {
    consommation: usize,
    taux_co2: usize,
    eolien: usize,
    eolien_terrestre: usize,
    eolien_offshore: usize,
}

static CHECKED: LazyLock<Checked> = LazyLock::new(|| Checked {
    consommation: measure_index("consommation"),
    taux_co2: measure_index("taux_co2"),
    eolien: measure_index("eolien"),
    eolien_terrestre: measure_index("eolien_terrestre"),
    eolien_offshore: measure_index("eolien_offshore"),
});

/// Plausible consumption: France between 15 and 110 GW (the record is 102 GW, February 2012),
/// a region between 0 and 25 GW.
fn consumption_plausible(row: &RowView) -> bool {
    let bounds = if row.perimetre == "France" {
        15_000.0..=110_000.0
    } else {
        0.0..=25_000.0
    };
    row.value(CHECKED.consommation)
        .is_none_or(|v| bounds.contains(&v))
}

fn co2_rate_in_range(row: &RowView) -> bool {
    row.value(CHECKED.taux_co2)
        .is_none_or(|v| (0.0..=2_000.0).contains(&v))
}

/// Sources produce (≥ 0); pumping and battery charging consume (≤ 0).
fn production_signs(row: &RowView) -> bool {
    static SIGNED: LazyLock<Vec<(usize, bool)>> = LazyLock::new(|| {
        catalogue::MEASURES
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                matches!(
                    c.family,
                    Family::ProductionSource | Family::SubType | Family::Storage
                )
            })
            .map(|(i, c)| (i, matches!(c.name, "pompage" | "stockage_batterie")))
            .collect()
    });
    SIGNED.iter().all(|&(i, consumes)| match row.value(i) {
        None => true,
        Some(v) if consumes => v <= 0.0,
        Some(v) => v >= 0.0,
    })
}

/// Onshore plus offshore wind equals total wind, within 2 % or 10 MW.
fn wind_breakdown_consistent(row: &RowView) -> bool {
    let columns = &*CHECKED;
    match (
        row.value(columns.eolien),
        row.value(columns.eolien_terrestre),
        row.value(columns.eolien_offshore),
    ) {
        (Some(total), Some(onshore), Some(offshore)) => {
            (total - onshore - offshore).abs() <= (0.02 * total.abs()).max(10.0)
        }
        _ => true,
    }
}

pub const RULES: &[Rule] = &[
    Rule {
        name: "consommation_plausible",
        level: Level::Quarantine,
        description: "consumption within 15-110 GW (France) or 0-25 GW (a region)",
        check: consumption_plausible,
    },
    Rule {
        name: "taux_co2_range",
        level: Level::Quarantine,
        description: "CO2 rate within 0-2000 g/kWh",
        check: co2_rate_in_range,
    },
    Rule {
        name: "production_signs",
        level: Level::Warn,
        description: "sources >= 0, pompage and stockage_batterie <= 0",
        check: production_signs,
    },
    Rule {
        name: "wind_breakdown_consistent",
        level: Level::Warn,
        description: "eolien = eolien_terrestre + eolien_offshore within 2% or 10 MW",
        check: wind_breakdown_consistent,
    },
];

/// Rows whose local time does not exist (spring forward) never reach the rules: they are
/// quarantined under this name.
pub const NONEXISTENT_TIME: &str = "nonexistent_local_time";
/// Rows without a perimeter or a time.
pub const MISSING_KEY: &str = "missing_key";

#[cfg(test)]
mod tests {
    use super::*;

    fn passes(rule: &str, perimetre: &str, set: &[(&str, f64)]) -> bool {
        let mut values = vec![None; catalogue::MEASURES.len()];
        for (name, v) in set {
            values[measure_index(name)] = Some(*v);
        }
        let measures: Vec<Float64Array> = values
            .iter()
            .map(|v| Float64Array::from(vec![*v]))
            .collect();
        let rule = RULES.iter().find(|r| r.name == rule).unwrap();
        (rule.check)(&RowView {
            perimetre,
            measures: &measures,
            row: 0,
            zeroed: &[],
        })
    }

    #[test]
    fn each_rule_accepts_and_rejects() {
        assert!(passes(
            "consommation_plausible",
            "France",
            &[("consommation", 51_000.0)]
        ));
        assert!(!passes(
            "consommation_plausible",
            "France",
            &[("consommation", 5_000.0)]
        ));
        assert!(passes(
            "consommation_plausible",
            "Bretagne",
            &[("consommation", 5_000.0)]
        ));
        assert!(passes("consommation_plausible", "France", &[]));
        assert!(!passes("taux_co2_range", "France", &[("taux_co2", -1.0)]));
        assert!(passes(
            "production_signs",
            "France",
            &[("pompage", -900.0), ("nucleaire", 40_000.0)]
        ));
        assert!(!passes("production_signs", "France", &[("pompage", 900.0)]));
        assert!(!passes("production_signs", "France", &[("solaire", -3.0)]));
        assert!(passes(
            "wind_breakdown_consistent",
            "France",
            &[
                ("eolien", 1000.0),
                ("eolien_terrestre", 900.0),
                ("eolien_offshore", 95.0)
            ]
        ));
        assert!(!passes(
            "wind_breakdown_consistent",
            "France",
            &[
                ("eolien", 1000.0),
                ("eolien_terrestre", 500.0),
                ("eolien_offshore", 100.0)
            ]
        ));
    }
}
