//! The pipeline file (`pipelines/eco2mix.toml`): what `ecomix run` reads, and the defaults
//! every other command takes from it when given `--pipeline`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Lake root: a local folder or an object-store URI. `--lake` and `ECOMIX_LAKE` win.
    pub lake: Option<String>,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub transform: TransformConfig,
    #[serde(default)]
    pub optimize: OptimizeConfig,
    #[serde(default)]
    pub vacuum: VacuumConfig,
    /// Object-store options (for Azure: account, key, SAS…); `${NAME}` reads the environment.
    /// Nested keys (`backoff_config.init_backoff = "1s"`) are joined with dots, numbers and
    /// booleans are taken as their text, as the storage layer wants strings.
    #[serde(default, deserialize_with = "flat_options")]
    pub storage: BTreeMap<String, String>,
}

fn flat_options<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    fn flatten(
        prefix: &str,
        table: toml::Table,
        out: &mut BTreeMap<String, String>,
    ) -> Result<(), String> {
        for (key, value) in table {
            let key = if prefix.is_empty() {
                key
            } else {
                format!("{prefix}.{key}")
            };
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Table(t) => {
                    flatten(&key, t, out)?;
                    continue;
                }
                other => {
                    return Err(format!(
                        "{key}: expected a string, got {}",
                        other.type_str()
                    ));
                }
            };
            out.insert(key, text);
        }
        Ok(())
    }
    let table = toml::Table::deserialize(deserializer)?;
    let mut out = BTreeMap::new();
    flatten("", table, &mut out).map_err(serde::de::Error::custom)?;
    Ok(out)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Files, folders, glob patterns or URLs, relative to the working directory.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Ingest the good inputs and report the bad ones, instead of committing nothing.
    #[serde(default)]
    pub keep_going: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformConfig {
    /// Silver's partition column for new tables: `mois`, `date` or `annee`.
    pub partition_by: Option<String>,
    /// Quality rule levels by rule name: `warn`, `quarantine` or `fail`.
    #[serde(default)]
    pub rules: BTreeMap<String, String>,
    /// Bronze rows rebuilt per batch of periods (memory is bounded by it); default 1,000,000.
    pub batch_rows: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizeConfig {
    /// Whether `ecomix run` ends with an optimize.
    #[serde(default = "yes")]
    pub after_run: bool,
    /// Z-order columns by table name, replacing the defaults; an empty list only compacts.
    #[serde(default)]
    pub zorder: BTreeMap<String, Vec<String>>,
}

impl Default for OptimizeConfig {
    fn default() -> Self {
        Self {
            after_run: true,
            zorder: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VacuumConfig {
    /// Files no version younger than this references are deleted.
    #[serde(default = "week")]
    pub retention_hours: u64,
    /// Whether `ecomix run` ends with a vacuum.
    #[serde(default)]
    pub after_run: bool,
}

impl Default for VacuumConfig {
    fn default() -> Self {
        Self {
            retention_hours: week(),
            after_run: false,
        }
    }
}

fn yes() -> bool {
    true
}

fn week() -> u64 {
    7 * 24
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: [storage] {key} refers to ${{{variable}}}, which is not set")]
    MissingVariable {
        path: String,
        key: String,
        variable: String,
    },
}

impl Pipeline {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a pipeline file's text; `origin` names it in errors. TOML errors carry the line
    /// and column.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let mut pipeline: Pipeline = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        for (key, value) in pipeline.storage.iter_mut() {
            *value = expand(value, |name| std::env::var(name).ok()).map_err(|variable| {
                ConfigError::MissingVariable {
                    path: origin.to_string(),
                    key: key.clone(),
                    variable,
                }
            })?;
        }
        Ok(pipeline)
    }
}

/// `text` with every `${NAME}` replaced by `lookup(NAME)`; the first unknown name is the error.
fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        out.push_str(&lookup(name).ok_or_else(|| name.to_string())?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_pipeline_file_parses() {
        let text = r#"
lake = "lakehouse"
[ingest]
inputs = ["data/", "https://example.invalid/x.zip"]
[transform]
partition_by = "annee"
rules = { taux_co2_range = "fail" }
[optimize.zorder]
eco2mix_silver = ["horodatage"]
[vacuum]
retention_hours = 24
"#;
        let p = Pipeline::parse(text, "p.toml").unwrap();
        assert_eq!(p.lake.as_deref(), Some("lakehouse"));
        assert_eq!(p.ingest.inputs.len(), 2);
        assert_eq!(p.transform.partition_by.as_deref(), Some("annee"));
        assert_eq!(p.transform.rules["taux_co2_range"], "fail");
        assert_eq!(p.optimize.zorder["eco2mix_silver"], ["horodatage"]);
        assert!(p.optimize.after_run);
        assert_eq!(p.vacuum.retention_hours, 24);
    }

    #[test]
    fn unknown_keys_are_errors_with_their_line() {
        let err = Pipeline::parse("[ingest]\ninput = []\n", "p.toml").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("p.toml: "), "{text}");
        assert!(text.contains("line 2"), "{text}");
        assert!(text.contains("input"), "{text}");
    }

    #[test]
    fn storage_options_flatten_nested_keys_and_take_numbers_as_text() {
        let text = r#"
[storage]
account_name = "acct"
max_retries = 3
use_emulator = true
backoff_config.init_backoff = "5ms"
backoff_config.base = 2.5
"#;
        let p = Pipeline::parse(text, "p.toml").unwrap();
        let expected: BTreeMap<String, String> = [
            ("account_name", "acct"),
            ("backoff_config.base", "2.5"),
            ("backoff_config.init_backoff", "5ms"),
            ("max_retries", "3"),
            ("use_emulator", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(p.storage, expected);
        let table = Pipeline::parse("[storage.backoff_config]\nbase = 3\n", "p.toml").unwrap();
        assert_eq!(table.storage["backoff_config.base"], "3");
        let err = Pipeline::parse(
            "[storage]
keys = [1]
",
            "p.toml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("keys: expected a string"), "{err}");
    }

    #[test]
    fn variables_expand_and_missing_ones_are_named() {
        let lookup = |n: &str| (n == "KEY").then(|| "s3cr3t".to_string());
        assert_eq!(expand("a${KEY}b", lookup).unwrap(), "as3cr3tb");
        assert_eq!(expand("plain", lookup).unwrap(), "plain");
        assert_eq!(expand("${NOPE}", lookup).unwrap_err(), "NOPE");
    }
}
