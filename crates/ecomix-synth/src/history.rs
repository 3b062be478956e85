//! A whole published history, file by file as a user downloads it from RTE: for each perimeter,
//! one definitive file per past year, then the current year's consolidated file and the
//! real-time file of its last month (which overlap: silver's precedence has work to do).
//! Beyond France and its 12 regions, further perimeters are sites in the regional layout: the
//! same tool at per-site scale.

use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration, NaiveDate, NaiveTime};
use rayon::prelude::*;

use crate::formats::{self, Nature, Region, Scope, Variations};
use crate::{Model, Written};

/// What to generate: every day from `from` to `to`, for `perimeters` perimeters (France first,
/// then the regions, then sites).
#[derive(Debug, Clone)]
pub struct History {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub perimeters: usize,
    pub seed: u64,
}

/// The 12 regions as RTE names them in its files, with a rough share of the national values
/// and whether they have a nuclear plant and pumped storage.
const REGIONS: [(&str, f64, bool, bool); 12] = [
    ("Auvergne-Rhône-Alpes", 0.13, true, true),
    ("Bourgogne-Franche-Comté", 0.04, false, false),
    ("Bretagne", 0.045, false, false),
    ("Centre-Val de Loire", 0.04, true, false),
    ("Grand-Est", 0.09, true, true),
    ("Hauts-de-France", 0.10, true, false),
    ("Ile-de-France", 0.14, false, false),
    ("Normandie", 0.05, true, false),
    ("Nouvelle-Aquitaine", 0.08, true, false),
    ("Occitanie", 0.08, true, true),
    ("PACA", 0.08, false, true),
    ("Pays-de-la-Loire", 0.055, false, false),
];

/// The first `count` perimeters: `None` is France, then the regions, then sites.
pub fn perimeters(count: usize) -> Vec<Option<Region>> {
    let regions = REGIONS
        .iter()
        .map(|&(name, scale, nuclear, pumping)| Region::new(name, scale, nuclear, pumping));
    let sites = (1..).map(|n| Region::new(&format!("Site-{n:04}"), 0.002, false, false));
    std::iter::once(None)
        .chain(regions.chain(sites).map(Some))
        .take(count)
        .collect()
}

/// One file to write.
struct Planned {
    name: String,
    perimeter: Option<Region>,
    nature: Nature,
    from: NaiveDate,
    to: NaiveDate,
    measured_until: Option<NaiveTime>,
}

/// Days a consolidated file lags behind the real-time one.
const CONSOLIDATION_LAG_DAYS: i64 = 7;
/// Days a real-time file covers, ending on the history's last day.
const REAL_TIME_DAYS: i64 = 30;

fn plan(history: &History) -> Vec<Planned> {
    let mut files = Vec::new();
    for perimeter in perimeters(history.perimeters) {
        let prefix = match &perimeter {
            None => "eCO2mix_RTE".to_string(),
            Some(region) => format!("eCO2mix_RTE_{}", region.name),
        };
        let mut add = |name: String, nature, from: NaiveDate, to: NaiveDate, until| {
            if from <= to {
                files.push(Planned {
                    name,
                    perimeter: perimeter.clone(),
                    nature,
                    from,
                    to,
                    measured_until: until,
                });
            }
        };
        let last_year = history.to.year();
        for year in history.from.year()..last_year {
            let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("valid date");
            let last = NaiveDate::from_ymd_opt(year, 12, 31).expect("valid date");
            add(
                format!("{prefix}_Annuel-Definitif_{year}.xls"),
                Nature::Definitive,
                history.from.max(first),
                last,
                None,
            );
        }
        let january = NaiveDate::from_ymd_opt(last_year, 1, 1).expect("valid date");
        let start = history.from.max(january);
        add(
            format!("{prefix}_En-cours-Consolide.xls"),
            Nature::Consolidated,
            start,
            history.to - Duration::days(CONSOLIDATION_LAG_DAYS),
            None,
        );
        add(
            format!("{prefix}_En-cours-TR.xls"),
            Nature::RealTime,
            start.max(history.to - Duration::days(REAL_TIME_DAYS - 1)),
            history.to,
            NaiveTime::from_hms_opt(18, 0, 0),
        );
    }
    files
}

/// Writes the history into `dir`, files in parallel; the same `History` writes the same bytes.
pub fn write_history(dir: &Path, history: &History) -> std::io::Result<Vec<Written>> {
    std::fs::create_dir_all(dir)?;
    let model = Model::new(history.seed);
    plan(history)
        .into_par_iter()
        .map(|file| {
            let scope = match &file.perimeter {
                None => Scope::National,
                Some(region) => Scope::Region(region),
            };
            let variations = Variations {
                measured_until: file.measured_until,
                without_recent_columns: file.perimeter.is_none() && file.from.year() < 2020,
                occasional_nd: true,
            };
            let (bytes, rows) =
                formats::rte_text_with(&model, scope, file.nature, file.from, file.to, variations);
            let path: PathBuf = dir.join(&file.name);
            std::fs::write(&path, bytes)?;
            Ok(Written { path, rows })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn perimeters_start_with_france_then_the_regions_then_sites() {
        let list = perimeters(15);
        assert_eq!(list[0], None);
        assert_eq!(list[1].as_ref().unwrap().name, "Auvergne-Rhône-Alpes");
        assert_eq!(list[12].as_ref().unwrap().name, "Pays-de-la-Loire");
        assert_eq!(list[13].as_ref().unwrap().name, "Site-0001");
        assert_eq!(list[14].as_ref().unwrap().name, "Site-0002");
    }

    #[test]
    fn a_history_is_definitive_years_then_consolidated_then_real_time() {
        let history = History {
            from: day(2023, 6, 1),
            to: day(2025, 3, 10),
            perimeters: 2,
            seed: 1,
        };
        let files = plan(&history);
        let listed: Vec<(&str, Nature, NaiveDate, NaiveDate)> = files
            .iter()
            .map(|f| (f.name.as_str(), f.nature, f.from, f.to))
            .collect();
        assert_eq!(
            listed[..4],
            [
                (
                    "eCO2mix_RTE_Annuel-Definitif_2023.xls",
                    Nature::Definitive,
                    day(2023, 6, 1),
                    day(2023, 12, 31)
                ),
                (
                    "eCO2mix_RTE_Annuel-Definitif_2024.xls",
                    Nature::Definitive,
                    day(2024, 1, 1),
                    day(2024, 12, 31)
                ),
                (
                    "eCO2mix_RTE_En-cours-Consolide.xls",
                    Nature::Consolidated,
                    day(2025, 1, 1),
                    day(2025, 3, 3)
                ),
                (
                    "eCO2mix_RTE_En-cours-TR.xls",
                    Nature::RealTime,
                    day(2025, 2, 9),
                    day(2025, 3, 10)
                ),
            ]
        );
        assert_eq!(files.len(), 8);
        assert_eq!(
            files[4].name,
            "eCO2mix_RTE_Auvergne-Rhône-Alpes_Annuel-Definitif_2023.xls"
        );
        // A one-day history is that day's real-time file alone: the daily update.
        let daily = plan(&History {
            from: day(2025, 3, 11),
            to: day(2025, 3, 11),
            perimeters: 1,
            seed: 1,
        });
        assert_eq!(daily.len(), 1);
        assert_eq!(daily[0].nature, Nature::RealTime);
    }

    #[test]
    fn every_day_has_96_rows_and_the_files_are_the_same_for_the_same_seed() {
        let history = History {
            from: day(2019, 12, 30),
            to: day(2020, 1, 2),
            perimeters: 3,
            seed: 5,
        };
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let written = write_history(a.path(), &history).unwrap();
        write_history(b.path(), &history).unwrap();
        let rows: usize = written.iter().map(|w| w.rows).sum();
        // 3 perimeters; 2019: 2 days definitive; 2020: 2 days, all in the real-time file.
        assert_eq!(rows, 3 * 4 * 96);
        for file in &written {
            let bytes = std::fs::read(&file.path).unwrap();
            let name = file.path.file_name().unwrap();
            assert_eq!(bytes, std::fs::read(b.path().join(name)).unwrap());
            let text: String = bytes.iter().map(|&b| b as char).collect();
            let header = text.lines().next().unwrap();
            let national = !name.to_string_lossy().contains("Auvergne")
                && !name.to_string_lossy().contains("Bourgogne");
            let columns = header.split('\t').count();
            let expected = match (national, name.to_string_lossy().contains("2019")) {
                (true, true) => 36,
                (true, false) => 40,
                (false, _) => 13,
            };
            assert_eq!(columns, expected, "{name:?}");
            // Bourgogne-Franche-Comté has no nuclear plant: `-` in measured rows.
            if name.to_string_lossy().contains("Bourgogne") && file.rows > 0 {
                let row = text.lines().nth(1).unwrap();
                assert_eq!(row.split('\t').nth(6), Some("-"));
            }
        }
    }
}
