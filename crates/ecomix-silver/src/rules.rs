//! Data-quality rules, declared in one list in the style of Delta Live Tables expectations:
//! a name, what it checks, and a level. *warn*: the row is kept and counted; *quarantine*: the
//! row goes to `eco2mix_quarantine` with the rule's name and its raw values instead of silver;
//! *fail*: the run stops and no table changes. Levels can be overridden per run.

use std::collections::HashMap;
use std::sync::LazyLock;

use deltalake::arrow::array::{Array, Float64Array, StringArray};
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

/// Silver rows as the rules see them, a batch at a time: their perimeters and their measures
/// (catalogue order), the measures a `-` set to 0 already 0. Rules read columns, not rows: a
/// rule over forty source columns then skips those a batch does not have.
pub struct Rows<'a> {
    pub perimetre: &'a StringArray,
    pub measures: &'a [Float64Array],
}

impl Rows<'_> {
    pub fn len(&self) -> usize {
        self.perimetre.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn perimetre(&self, row: usize) -> &str {
        if self.perimetre.is_valid(row) {
            self.perimetre.value(row)
        } else {
            ""
        }
    }
}

/// Per row, whether the measure is absent or satisfies `ok`. The values are tested as a plain
/// slice (a null's slot holds some number, whose verdict the validity then overrides), which the
/// compiler vectorises, where an `Option` per row was not.
fn each(column: &Float64Array, ok: impl Fn(f64) -> bool) -> Vec<bool> {
    let mut pass: Vec<bool> = column.values().iter().map(|&v| ok(v)).collect();
    pass_nulls(&mut pass, column);
    pass
}

/// Makes the rows where `column` is null pass.
fn pass_nulls(pass: &mut [bool], column: &Float64Array) {
    if let Some(nulls) = column.nulls() {
        for (pass, valid) in pass.iter_mut().zip(nulls.iter()) {
            *pass |= !valid;
        }
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
    /// For each row, whether it satisfies the rule.
    pub check: fn(&Rows) -> Vec<bool>,
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
fn consumption_plausible(rows: &Rows) -> Vec<bool> {
    let national = each(&rows.measures[CHECKED.consommation], |v| {
        (15_000.0..=110_000.0).contains(&v)
    });
    let regional = each(&rows.measures[CHECKED.consommation], |v| {
        (0.0..=25_000.0).contains(&v)
    });
    (0..rows.len())
        .map(|row| {
            if rows.perimetre(row) == "France" {
                national[row]
            } else {
                regional[row]
            }
        })
        .collect()
}

fn co2_rate_in_range(rows: &Rows) -> Vec<bool> {
    each(&rows.measures[CHECKED.taux_co2], |v| {
        (0.0..=2_000.0).contains(&v)
    })
}

/// Sources produce (≥ 0); pumping and battery charging consume (≤ 0).
fn production_signs(rows: &Rows) -> Vec<bool> {
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
    let mut pass = vec![true; rows.len()];
    for &(i, consumes) in SIGNED.iter() {
        let column = &rows.measures[i];
        if column.null_count() == column.len() {
            continue;
        }
        let signed = if consumes {
            each(column, |v| v <= 0.0)
        } else {
            each(column, |v| v >= 0.0)
        };
        for (pass, ok) in pass.iter_mut().zip(signed) {
            *pass &= ok;
        }
    }
    pass
}

/// Onshore plus offshore wind equals total wind, within 2 % or 10 MW.
fn wind_breakdown_consistent(rows: &Rows) -> Vec<bool> {
    let columns = &*CHECKED;
    let (total, onshore, offshore) = (
        &rows.measures[columns.eolien],
        &rows.measures[columns.eolien_terrestre],
        &rows.measures[columns.eolien_offshore],
    );
    // Rows without the breakdown pass: most regions publish none.
    if onshore.null_count() == onshore.len() || offshore.null_count() == offshore.len() {
        return vec![true; rows.len()];
    }
    let mut pass: Vec<bool> = total
        .values()
        .iter()
        .zip(onshore.values().iter())
        .zip(offshore.values().iter())
        .map(|((total, onshore), offshore)| {
            (total - onshore - offshore).abs() <= (0.02 * total.abs()).max(10.0)
        })
        .collect();
    for column in [total, onshore, offshore] {
        pass_nulls(&mut pass, column);
    }
    pass
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

/// All the catalogue's measure columns over `N` rows, null but for `set`.
#[cfg(test)]
pub(crate) fn measures_of<const N: usize>(set: &[(&str, [Option<f64>; N])]) -> Vec<Float64Array> {
    let mut measures: Vec<Float64Array> = (0..catalogue::MEASURES.len())
        .map(|_| Float64Array::from(vec![None::<f64>; N]))
        .collect();
    for (name, values) in set {
        measures[measure_index(name)] = Float64Array::from(values.to_vec());
    }
    measures
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passes(rule: &str, perimetre: &str, set: &[(&str, f64)]) -> bool {
        let set: Vec<(&str, [Option<f64>; 1])> =
            set.iter().map(|&(name, v)| (name, [Some(v)])).collect();
        let measures = measures_of(&set);
        let rule = RULES.iter().find(|r| r.name == rule).unwrap();
        let perimetre = StringArray::from(vec![perimetre]);
        let pass = (rule.check)(&Rows {
            perimetre: &perimetre,
            measures: &measures,
        });
        assert_eq!(pass.len(), 1);
        pass[0]
    }

    /// Rules read whole columns: each row gets its own verdict, whatever the other rows hold,
    /// and a column absent from every row (skipped) changes nothing.
    #[test]
    fn rules_judge_each_row_of_a_batch() {
        let measures = measures_of(&[
            ("solaire", [Some(1.0), Some(-2.0), None, Some(0.0)]),
            ("pompage", [Some(-5.0), None, Some(3.0), Some(-1.0)]),
            (
                "consommation",
                [Some(5_000.0), Some(5_000.0), None, Some(30_000.0)],
            ),
            ("eolien", [Some(1000.0), Some(1000.0), Some(1000.0), None]),
            (
                "eolien_terrestre",
                [Some(990.0), Some(500.0), None, Some(1.0)],
            ),
            (
                "eolien_offshore",
                [Some(0.0), Some(0.0), Some(0.0), Some(1.0)],
            ),
        ]);
        let perimetre = StringArray::from(vec!["France", "Bretagne", "France", "Bretagne"]);
        let rows = Rows {
            perimetre: &perimetre,
            measures: &measures,
        };
        let verdicts = |name: &str| (RULES.iter().find(|r| r.name == name).unwrap().check)(&rows);
        assert_eq!(verdicts("production_signs"), [true, false, false, true]);
        assert_eq!(
            verdicts("consommation_plausible"),
            [false, true, true, false]
        );
        assert_eq!(
            verdicts("wind_breakdown_consistent"),
            [true, false, true, true]
        );
        assert_eq!(verdicts("taux_co2_range"), [true; 4]);
    }

    /// The rules test values as a slice: a null row passes whatever number its slot holds
    /// (Arrow leaves that slot unspecified; here it holds one that fails every rule).
    #[test]
    fn a_null_passes_whatever_its_slot_holds() {
        use deltalake::arrow::buffer::NullBuffer;
        let failing = |value: f64| {
            Float64Array::new(
                vec![value, value].into(),
                Some(NullBuffer::from(vec![false, true])),
            )
        };
        let mut measures = measures_of::<2>(&[]);
        for (name, value) in [
            ("consommation", -1.0),
            ("taux_co2", 5_000.0),
            ("solaire", -3.0),
            ("pompage", 900.0),
            ("eolien", 1_000.0),
            ("eolien_terrestre", 1.0),
            ("eolien_offshore", 1.0),
        ] {
            measures[measure_index(name)] = failing(value);
        }
        let perimetre = StringArray::from(vec!["France", "France"]);
        let rows = Rows {
            perimetre: &perimetre,
            measures: &measures,
        };
        for rule in RULES {
            assert_eq!((rule.check)(&rows), [true, false], "{}", rule.name);
        }
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
