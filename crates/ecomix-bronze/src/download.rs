//! `ecomix download`: RTE's catalogue of eCO2mix downloads, fetched into a local folder.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::BronzeError;
use crate::http::{self, Fetched};

pub const RTE_BASE_URL: &str = "https://eco2mix.rte-france.com/download/eco2mix/";

/// The twelve regions of metropolitan France, spelled as in RTE's file names.
pub const REGIONS: [&str; 12] = [
    "Auvergne-Rhône-Alpes",
    "Bourgogne-Franche-Comté",
    "Bretagne",
    "Centre-Val-de-Loire",
    "Grand-Est",
    "Hauts-de-France",
    "Ile-de-France",
    "Normandie",
    "Nouvelle-Aquitaine",
    "Occitanie",
    "PACA",
    "Pays-de-la-Loire",
];

/// One publication of RTE's catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publication {
    /// `En-cours-TR`: real-time data of the current period.
    RealTime,
    /// `En-cours-Consolide`: consolidated data of the current year.
    Consolidated,
    /// `Annuel-Definitif_YYYY`: definitive data of one year.
    Definitive(u16),
    /// `tempo_YYYY-YYYY`: the Tempo calendar of the season starting in September of that year.
    Tempo(u16),
}

impl Publication {
    /// Parses `tr`, `consolide`, `definitif:2023` or `tempo:2024`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let year = |y: &str| {
            y.parse::<u16>()
                .ok()
                .filter(|y| (2012..=2100).contains(y))
                .ok_or_else(|| format!("{y:?} is not a year from 2012 on"))
        };
        match text.split_once(':') {
            None if text == "tr" => Ok(Self::RealTime),
            None if text == "consolide" => Ok(Self::Consolidated),
            Some(("definitif", y)) => Ok(Self::Definitive(year(y)?)),
            Some(("tempo", y)) => Ok(Self::Tempo(year(y)?)),
            _ => Err(format!(
                "unknown publication {text:?}: expected tr, consolide, definitif:YYYY or tempo:YYYY"
            )),
        }
    }

    /// The file name under RTE's download URL, for the nation (`None`) or a region.
    pub fn file_name(&self, region: Option<&str>) -> String {
        let scope = region.map(|r| format!("{r}_")).unwrap_or_default();
        match self {
            Self::RealTime => format!("eCO2mix_RTE_{scope}En-cours-TR.zip"),
            Self::Consolidated => format!("eCO2mix_RTE_{scope}En-cours-Consolide.zip"),
            Self::Definitive(y) => format!("eCO2mix_RTE_{scope}Annuel-Definitif_{y}.zip"),
            Self::Tempo(y) => format!("eCO2mix_RTE_tempo_{y}-{}.zip", y + 1),
        }
    }
}

/// The file names to fetch: each publication nationally, or for each region given.
pub fn file_names(publications: &[Publication], regions: &[String]) -> Result<Vec<String>, String> {
    for region in regions {
        if !REGIONS.contains(&region.as_str()) {
            return Err(format!(
                "unknown region {region:?}; RTE's regions are: {}",
                REGIONS.join(", ")
            ));
        }
    }
    let mut names = Vec::new();
    for publication in publications {
        if regions.is_empty() || matches!(publication, Publication::Tempo(_)) {
            names.push(publication.file_name(None));
        } else {
            names.extend(regions.iter().map(|r| publication.file_name(Some(r))));
        }
    }
    names.dedup();
    Ok(names)
}

#[derive(Debug, Serialize)]
pub struct Downloaded {
    pub file: PathBuf,
    pub url: String,
    /// `new`, `updated` or `unchanged`.
    pub status: &'static str,
    pub bytes: u64,
}

/// Fetches each of `names` from `base_url` into `dest`. A file already there is kept as it is
/// when the server says it has not changed (ETag) or sends the same bytes.
pub async fn download(
    base_url: &str,
    names: &[String],
    dest: &Path,
    show_progress: bool,
) -> Result<Vec<Downloaded>, BronzeError> {
    let base = url::Url::parse(base_url)
        .and_then(|u| {
            if u.path().ends_with('/') {
                Ok(u)
            } else {
                url::Url::parse(&format!("{base_url}/"))
            }
        })
        .map_err(|e| BronzeError::Download(format!("invalid base URL {base_url:?}: {e}")))?;
    std::fs::create_dir_all(dest)
        .map_err(|e| BronzeError::Download(format!("cannot create {}: {e}", dest.display())))?;
    let client = http::client().map_err(BronzeError::Download)?;
    let mut results = Vec::new();
    for name in names {
        let url = base
            .join(name)
            .map_err(|e| BronzeError::Download(format!("invalid file name {name:?}: {e}")))?;
        let path = dest.join(name);
        let etag_path = dest.join(format!(".{name}.etag"));
        let known_etag = path
            .exists()
            .then(|| std::fs::read_to_string(&etag_path).ok())
            .flatten();
        let fetched = http::fetch(&client, url.as_str(), known_etag.as_deref(), show_progress)
            .await
            .map_err(BronzeError::Download)?;
        let io = |e: std::io::Error| BronzeError::Download(format!("{}: {e}", path.display()));
        let (status, bytes) = match fetched {
            Fetched::NotModified => ("unchanged", std::fs::metadata(&path).map_err(io)?.len()),
            Fetched::Body { bytes, etag } => {
                let status = match std::fs::read(&path) {
                    Ok(existing) if existing == bytes => "unchanged",
                    Ok(_) => "updated",
                    Err(_) => "new",
                };
                if status != "unchanged" {
                    let partial = dest.join(format!(".{name}.part"));
                    std::fs::write(&partial, &bytes).map_err(io)?;
                    std::fs::rename(&partial, &path).map_err(io)?;
                }
                match etag {
                    Some(etag) => std::fs::write(&etag_path, etag).map_err(io)?,
                    None => {
                        let _ = std::fs::remove_file(&etag_path);
                    }
                }
                (status, bytes.len() as u64)
            }
        };
        tracing::info!(file = %path.display(), status, bytes, "downloaded");
        results.push(Downloaded {
            file: path,
            url: url.to_string(),
            status,
            bytes,
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_follow_rte() {
        let publications = [
            Publication::parse("tr").unwrap(),
            Publication::parse("definitif:2023").unwrap(),
            Publication::parse("tempo:2024").unwrap(),
        ];
        assert_eq!(
            file_names(&publications, &[]).unwrap(),
            [
                "eCO2mix_RTE_En-cours-TR.zip",
                "eCO2mix_RTE_Annuel-Definitif_2023.zip",
                "eCO2mix_RTE_tempo_2024-2025.zip"
            ]
        );
        assert_eq!(
            file_names(&publications[..1], &["Bretagne".to_string()]).unwrap(),
            ["eCO2mix_RTE_Bretagne_En-cours-TR.zip"]
        );
        assert!(file_names(&publications, &["Bretagn".to_string()]).is_err());
        assert!(Publication::parse("definitif:99").is_err());
    }
}
