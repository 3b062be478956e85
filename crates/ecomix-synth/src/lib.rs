//! Synthetic eCO2mix files, byte for byte in the formats RTE and the open-data portal publish:
//! RTE's ISO-8859-1 tab-separated ".xls" (trailing tab, disclaimer, 96 rows a day whatever the
//! DST, phantom spring-forward rows copying their neighbours, :15/:45 rows empty in consolidated
//! and definitive files), the same zipped, the portal's semicolon CSV (CRLF, unsorted), and the
//! UTF-8 Tempo calendar. Deterministic from a seed.

mod formats;
mod history;
mod model;

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
pub use formats::{Nature, Region, Scope, Variations};
pub use history::{History, perimeters, write_history};
pub use model::Model;

/// A file written by the generator.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    pub path: PathBuf,
    /// Data rows (disclaimer and header excluded).
    pub rows: usize,
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid sample date")
}

/// Writes the bundled sample into `dir`: one file of each published format.
pub fn write_sample(dir: &Path, seed: u64) -> std::io::Result<Vec<Written>> {
    std::fs::create_dir_all(dir)?;
    let model = Model::new(seed);
    // No nuclear plant and no pumped storage in Bretagne: `-` in those columns.
    let bretagne = Region::new("Bretagne", 0.045, false, false);
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: Vec<u8>, rows: usize| -> std::io::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, bytes)?;
        written.push(Written { path, rows });
        Ok(())
    };

    // National real-time, spanning the spring-forward Sunday of 2025 (March 30).
    let (bytes, rows) = formats::rte_text(
        &model,
        Scope::National,
        Nature::RealTime,
        day(2025, 3, 27),
        day(2025, 4, 2),
        Some(chrono::NaiveTime::from_hms_opt(18, 0, 0).expect("valid time")),
    );
    put("eCO2mix_RTE_En-cours-TR.xls", bytes, rows)?;

    // National definitive, spanning the fall-back Sunday of 2024 (October 27).
    let (bytes, rows) = formats::rte_text(
        &model,
        Scope::National,
        Nature::Definitive,
        day(2024, 10, 24),
        day(2024, 10, 30),
        None,
    );
    put("eCO2mix_RTE_Annuel-Definitif_2024.xls", bytes, rows)?;

    // Regional consolidated (Bretagne has no nuclear plant: `-` in that column).
    let (bytes, rows) = formats::rte_text(
        &model,
        Scope::Region(&bretagne),
        Nature::Consolidated,
        day(2025, 3, 27),
        day(2025, 4, 2),
        None,
    );
    put("eCO2mix_RTE_Bretagne_En-cours-Consolide.xls", bytes, rows)?;

    // Regional real-time, zipped as RTE serves it.
    let (bytes, rows) = formats::rte_text(
        &model,
        Scope::Region(&bretagne),
        Nature::RealTime,
        day(2025, 3, 31),
        day(2025, 4, 2),
        Some(chrono::NaiveTime::from_hms_opt(12, 0, 0).expect("valid time")),
    );
    put(
        "eCO2mix_RTE_Bretagne_En-cours-TR.zip",
        zipped("eCO2mix_RTE_Bretagne_En-cours-TR.xls", &bytes)?,
        rows,
    )?;

    // The open-data portal's national real-time export, field-name header.
    let (bytes, rows) = formats::portal_csv(&model, day(2025, 4, 3), day(2025, 4, 5));
    put("eco2mix-national-tr.csv", bytes, rows)?;

    // The Tempo calendar of the 2024-2025 season.
    let (bytes, rows) = formats::tempo(&model, 2024);
    put("eCO2mix_RTE_tempo_2024-2025.xls", bytes, rows)?;

    Ok(written)
}

fn zipped(name: &str, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    writer
        .start_file(name, options)
        .map_err(std::io::Error::other)?;
    writer.write_all(bytes)?;
    Ok(writer.finish().map_err(std::io::Error::other)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::rte_text;

    fn data_rows(bytes: &[u8]) -> Vec<Vec<String>> {
        let text: String = bytes.iter().map(|&b| b as char).collect();
        text.lines()
            .skip(1)
            .filter(|l| l.contains('\t'))
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_values() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let c = tempfile::tempdir().unwrap();
        let written = write_sample(a.path(), 7).unwrap();
        write_sample(b.path(), 7).unwrap();
        write_sample(c.path(), 8).unwrap();
        for file in &written {
            let name = file.path.file_name().unwrap();
            let bytes = std::fs::read(&file.path).unwrap();
            assert_eq!(bytes, std::fs::read(b.path().join(name)).unwrap());
            if !name.to_string_lossy().contains("tempo") {
                assert_ne!(bytes, std::fs::read(c.path().join(name)).unwrap());
            }
        }
    }

    #[test]
    fn spring_forward_rows_copy_the_hour_before_and_consolidated_skips_quarters() {
        let model = Model::new(1);
        let (bytes, count) = rte_text(
            &model,
            Scope::National,
            Nature::RealTime,
            day(2025, 3, 30),
            day(2025, 3, 30),
            None,
        );
        let rows = data_rows(&bytes);
        assert_eq!((rows.len(), count), (96, 96));
        let at = |time: &str| rows.iter().find(|r| r[3] == time).unwrap();
        for (phantom, source) in [("02:00", "01:00"), ("02:45", "01:45")] {
            // Realised columns (consumption, then the sources) copy the hour before.
            assert_eq!(at(phantom)[4], at(source)[4]);
            assert_eq!(at(phantom)[7..17], at(source)[7..17]);
        }
        assert_ne!(at("03:00")[4], at("01:00")[4]);

        let (bytes, _) = rte_text(
            &model,
            Scope::National,
            Nature::Consolidated,
            day(2025, 1, 6),
            day(2025, 1, 6),
            None,
        );
        let rows = data_rows(&bytes);
        let quarter = rows.iter().find(|r| r[3] == "00:15").unwrap();
        let half = rows.iter().find(|r| r[3] == "00:30").unwrap();
        assert_eq!(quarter[4], "");
        assert!(
            !quarter[5].is_empty(),
            "forecasts are published every 15 minutes"
        );
        assert!(half[4].parse::<i64>().is_ok());
    }
}
