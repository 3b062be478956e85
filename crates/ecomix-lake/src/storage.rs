//! The object store under the lake: a first request that tells a missing container or a
//! refused key before any work is done, reading input files from it, and turning what
//! `object_store` reports (a stack of wrapped HTTP errors) into one sentence a user can act on.

use std::fmt;

use deltalake::logstore::object_store::{
    self, ObjectStore as _, ObjectStoreExt as _, ObjectStoreScheme,
};
use futures::TryStreamExt;
use url::Url;

use crate::{Lake, LakeError};

/// Why a request to the lake's storage failed, as far as the user can do something about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageProblem {
    /// The credentials were refused: a wrong account key, an expired SAS or token.
    Authentication {
        code: String,
    },
    /// The credentials were accepted but do not allow the operation.
    Permission {
        code: String,
    },
    ContainerNotFound,
    /// No account name: `az://` URIs do not carry one.
    MissingAccount,
    /// The endpoint did not answer, even after the retries.
    Unreachable {
        endpoint: Option<String>,
        retries: Option<String>,
    },
    /// The service kept answering with a server error or "too many requests" (throttling).
    Unavailable {
        status: String,
        retries: Option<String>,
    },
}

const CREDENTIAL_HINT: &str = "check the account key, SAS token or service principal \
     (AZURE_STORAGE_ACCOUNT_KEY, AZURE_STORAGE_SAS_KEY, AZURE_CLIENT_ID/AZURE_CLIENT_SECRET/AZURE_TENANT_ID, \
     or the pipeline file's [storage] section)";

impl fmt::Display for StorageProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let after = |retries: &Option<String>| {
            retries
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        };
        match self {
            Self::Authentication { code } => write!(
                f,
                "the storage account refused the credentials ({code}): {CREDENTIAL_HINT}"
            ),
            Self::Permission { code } => write!(
                f,
                "the credentials were accepted but do not allow this operation ({code}): the \
                 identity needs the \"Storage Blob Data Contributor\" role on the container, or a \
                 SAS token with read, add, create, write, delete and list permissions"
            ),
            Self::ContainerNotFound => write!(
                f,
                "the container does not exist in this storage account (ContainerNotFound): \
                 create it (az storage container create --name <container>) or correct the URI"
            ),
            Self::MissingAccount => write!(
                f,
                "no storage account given: set AZURE_STORAGE_ACCOUNT_NAME (or account_name in \
                 [storage]), use abfss://<container>@<account>.dfs.core.windows.net/<path>, or \
                 --emulator for Azurite"
            ),
            Self::Unreachable { endpoint, retries } => write!(
                f,
                "cannot reach the storage service{}{}: check the network, the endpoint and that \
                 the service is up",
                endpoint
                    .as_ref()
                    .map(|e| format!(" at {e}"))
                    .unwrap_or_default(),
                after(retries)
            ),
            Self::Unavailable { status, retries } => write!(
                f,
                "the storage service kept answering {status}{} (throttling or an outage); \
                 max_retries and retry_timeout in [storage] set how long ecomix insists",
                after(retries)
            ),
        }
    }
}

impl StorageProblem {
    /// Recognises a storage failure in an error's text (its whole chain: errors from queries
    /// reach us already formatted), `None` for any other error.
    pub fn find(text: &str) -> Option<Self> {
        let retries = retry_summary(text);
        if let Some(code) = azure_error_code(text) {
            return Some(match code.as_str() {
                "ContainerNotFound" => Self::ContainerNotFound,
                "AuthenticationFailed"
                | "InvalidAuthenticationInfo"
                | "NoAuthenticationInformation" => Self::Authentication { code },
                // Azurite says AuthorizationFailure where Azure says AuthenticationFailed.
                "AuthorizationFailure" if text.contains("failed to authenticate") => {
                    Self::Authentication { code }
                }
                c if c.starts_with("Authorization") || c == "InsufficientAccountPermissions" => {
                    Self::Permission { code }
                }
                "ServerBusy" | "OperationTimedOut" | "InternalError" => Self::Unavailable {
                    status: code,
                    retries,
                },
                _ => return None,
            });
        }
        if text.contains("Account must be specified") {
            return Some(Self::MissingAccount);
        }
        if text.contains("Invalid Access Key")
            || text.contains("Error performing token request")
            || text.contains("az account get-access-token")
        {
            return Some(Self::Authentication {
                code: "no valid credential".into(),
            });
        }
        if let Some(status) = http_status(text) {
            return match status {
                401 => Some(Self::Authentication {
                    code: "401 Unauthorized".into(),
                }),
                403 => Some(Self::Permission {
                    code: "403 Forbidden".into(),
                }),
                429 | 500..=599 => Some(Self::Unavailable {
                    status: format!("HTTP {status}"),
                    retries,
                }),
                _ => None,
            };
        }
        let unreachable = [
            "error sending request",
            "Connection refused",
            "connection refused",
            "dns error",
            "tcp connect error",
            "connection reset",
            "operation timed out",
        ];
        if unreachable.iter().any(|s| text.contains(s)) {
            return Some(Self::Unreachable {
                endpoint: request_endpoint(text),
                retries,
            });
        }
        None
    }
}

/// The `<Code>` of an Azure Storage error response.
fn azure_error_code(text: &str) -> Option<String> {
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")?;
    Some(text[start..start + end].trim().to_string())
}

/// The status of "Server returned non-2xx status code: 503 Service Unavailable".
fn http_status(text: &str) -> Option<u16> {
    let start = text.find("status code: ")? + "status code: ".len();
    text[start..].get(..3)?.parse().ok()
}

/// "after 3 retries in 4.2s", from object_store's retry error.
fn retry_summary(text: &str) -> Option<String> {
    let request = &text[text.find("Error performing ")?..];
    let start = request.find(", after ")? + ", after ".len();
    let retries: String = request[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let elapsed = request
        .find(" in ")
        .map(|i| &request[i + 4..])
        .and_then(|rest| rest.split([',', ' ']).next())
        .and_then(humanize_duration);
    Some(match elapsed {
        Some(e) => format!("after {retries} retries over {e}"),
        None => format!("after {retries} retries"),
    })
}

/// "4.507864192s" as "4.5 s".
fn humanize_duration(debug: &str) -> Option<String> {
    let (number, unit) = if let Some(ms) = debug.strip_suffix("ms") {
        (ms.parse::<f64>().ok()? / 1e3, "s")
    } else {
        (debug.strip_suffix('s')?.parse::<f64>().ok()?, "s")
    };
    Some(format!("{number:.1} {unit}"))
}

/// `scheme://host:port` of the request in "Error performing GET http://127.0.0.1:10000/… in".
fn request_endpoint(text: &str) -> Option<String> {
    // "Error performing list request: Error performing GET http://…": the one with a URL.
    let url = text
        .match_indices("Error performing ")
        .filter_map(|(i, m)| text[i + m.len()..].split_whitespace().nth(1))
        .filter_map(|uri| Url::parse(uri).ok())
        .find(|url| matches!(url.scheme(), "http" | "https"))?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

/// Whether a location is on an object store rather than the local disk.
pub fn is_object_url(location: &str) -> bool {
    Url::parse(location)
        .is_ok_and(|u| matches!(u.scheme(), "az" | "azure" | "abfs" | "abfss" | "adl"))
}

/// Retry settings deltalake reads from the storage options, besides `object_store`'s own keys.
const RETRY_OPTIONS: [&str; 5] = [
    "max_retries",
    "retry_timeout",
    "backoff_config.init_backoff",
    "backoff_config.max_backoff",
    "backoff_config.base",
];

/// Unknown Azure options are dropped without a word by the layers below: a misspelt
/// `acount_key` would end as a baffling authentication error. It is an error here.
pub(crate) fn check_options(
    location: &str,
    options: &std::collections::HashMap<String, String>,
) -> Result<(), LakeError> {
    use std::str::FromStr as _;
    for key in options.keys() {
        let lower = key.to_ascii_lowercase();
        if !RETRY_OPTIONS.contains(&lower.as_str())
            && object_store::azure::AzureConfigKey::from_str(&lower).is_err()
        {
            return Err(LakeError::Location {
                location: location.to_string(),
                reason: format!(
                    "[storage] {key} is not an Azure storage option (such as account_name, \
                     account_key, sas_key, client_id, client_secret, tenant_id, use_azure_cli, \
                     use_emulator, endpoint, max_retries, retry_timeout)"
                ),
            });
        }
    }
    Ok(())
}

impl Lake {
    /// Whether the lake is on an object store rather than the local disk.
    pub fn is_remote(&self) -> bool {
        self.root.scheme() != "file"
    }

    /// One listing of the lake root, so that a wrong key, a missing container or an unreachable
    /// endpoint stops a command before it reads or computes anything.
    pub async fn probe(&self) -> Result<(), LakeError> {
        if !self.is_remote() {
            return Ok(());
        }
        let (store, prefix) = self.store_for(&self.root)?;
        store
            .list_with_delimiter(Some(&prefix))
            .await
            .map(|_| ())
            .map_err(|e| self.storage_error(self.root.as_str(), &e))
    }

    /// The objects an input URL names: the object itself, or every object under it when it is
    /// a folder (hidden names, starting with '.', aside), sorted.
    pub async fn list_objects(&self, location: &str) -> Result<Vec<String>, LakeError> {
        let url = self.object_url(location)?;
        let (store, path) = self.store_for(&url)?;
        if !location.ends_with('/') {
            match store.head(&path).await {
                // On ADLS Gen2 a folder is an object too, of size 0: listed below.
                Ok(meta) if meta.size > 0 => return Ok(vec![location.to_string()]),
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.storage_error(location, &e)),
            }
        }
        let objects: Vec<object_store::ObjectMeta> = store
            .list(Some(&path))
            .try_collect()
            .await
            .map_err(|e| self.storage_error(location, &e))?;
        let prefix = path.as_ref();
        let mut names: Vec<String> = objects
            .iter()
            .filter_map(|o| {
                let relative = o
                    .location
                    .as_ref()
                    .strip_prefix(prefix)?
                    .trim_start_matches('/');
                let hidden = relative.split('/').any(|part| part.starts_with('.'));
                if relative.is_empty() || hidden {
                    return None;
                }
                // Segment by segment, so that '#', '?' or '%' in a blob name stay its own.
                let mut object = url.clone();
                object
                    .path_segments_mut()
                    .ok()?
                    .pop_if_empty()
                    .extend(relative.split('/'));
                Some(object.to_string())
            })
            .collect();
        names.sort();
        if names.is_empty() {
            return Err(LakeError::Location {
                location: location.to_string(),
                reason: "no such object or folder".into(),
            });
        }
        Ok(names)
    }

    /// The content of one object, with the lake's credentials.
    pub async fn read_object(&self, location: &str) -> Result<Vec<u8>, LakeError> {
        let url = self.object_url(location)?;
        let (store, path) = self.store_for(&url)?;
        let read = async { store.get(&path).await?.bytes().await };
        read.await
            .map(|b| b.to_vec())
            .map_err(|e| self.storage_error(location, &e))
    }

    /// The path of a table's folder from its store's root (`lake/ecomix/silver/eco2mix_silver`).
    pub(crate) fn object_path(&self, table: ecomix_core::layout::TableRef) -> String {
        let url = self.table_url(table);
        ObjectStoreScheme::parse(&url)
            .map(|(_, path)| path.to_string())
            .unwrap_or_default()
    }

    fn object_url(&self, location: &str) -> Result<Url, LakeError> {
        deltalake::ensure_table_uri(location).map_err(|e| LakeError::Location {
            location: location.to_string(),
            reason: e.to_string(),
        })
    }

    pub(crate) fn store_for(
        &self,
        url: &Url,
    ) -> Result<
        (
            deltalake::logstore::ObjectStoreRef,
            object_store::path::Path,
        ),
        LakeError,
    > {
        // deltalake's stores are rooted at the URL's path: root this one at the container, and
        // address objects by their full path.
        let mut container = url.clone();
        container.set_path("/");
        container.set_query(None);
        let store = deltalake::logstore::store_for(&container, self.storage_options.clone())
            .map_err(|e| self.storage_error(url.as_str(), &e))?;
        let (_, path) = ObjectStoreScheme::parse(url).map_err(|e| LakeError::Location {
            location: url.to_string(),
            reason: e.to_string(),
        })?;
        Ok((store, path))
    }

    pub(crate) fn storage_error(&self, location: &str, error: &dyn std::error::Error) -> LakeError {
        let text = error_chain_text(error);
        tracing::debug!(location, error = %text, "storage request failed");
        match StorageProblem::find(&text) {
            Some(problem) => LakeError::Storage {
                what: location.to_string(),
                problem,
            },
            None => LakeError::Location {
                location: location.to_string(),
                reason: text,
            },
        }
    }
}

/// An error and its sources, as one line.
pub(crate) fn error_chain_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azurite_and_azure_answers_are_recognised() {
        let wrong_key = "Error performing GET http://127.0.0.1:10000/devstoreaccount1/lake?restype=container in 2ms - Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?><Error><Code>AuthorizationFailure</Code><Message>Server failed to authenticate the request.";
        assert_eq!(
            StorageProblem::find(wrong_key),
            Some(StorageProblem::Authentication {
                code: "AuthorizationFailure".into()
            })
        );
        let rbac = "403 Forbidden: <Error><Code>AuthorizationPermissionMismatch</Code><Message>This request is not authorized";
        assert!(matches!(
            StorageProblem::find(rbac),
            Some(StorageProblem::Permission { .. })
        ));
        let missing = "404 Not Found: <Error>\n  <Code>ContainerNotFound</Code>";
        assert_eq!(
            StorageProblem::find(missing),
            Some(StorageProblem::ContainerNotFound)
        );
    }

    #[test]
    fn a_refused_connection_names_the_endpoint_and_the_retries() {
        let text = "Kernel error: Generic MicrosoftAzure error: Error performing list request: Error performing GET http://127.0.0.1:10999/devstoreaccount1/lake/t1/_delta_log/_last_checkpoint in 4.507864192s, after 10 retries, max_retries: 10, retry_timeout: 180s  - HTTP error: error sending request";
        let problem = StorageProblem::find(text).unwrap();
        assert_eq!(
            problem,
            StorageProblem::Unreachable {
                endpoint: Some("http://127.0.0.1:10999".into()),
                retries: Some("after 10 retries over 4.5 s".into()),
            }
        );
        assert!(problem.to_string().starts_with(
            "cannot reach the storage service at http://127.0.0.1:10999 (after 10 retries over 4.5 s)"
        ));
    }

    #[test]
    fn a_misspelt_storage_option_is_an_error_and_known_ones_are_not() {
        let options = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let known = options(&[
            ("account_name", "a"),
            ("AZURE_STORAGE_ACCOUNT_KEY", "k"),
            ("client_secret", "s"),
            ("use_emulator", "true"),
            ("max_retries", "3"),
            ("backoff_config.init_backoff", "1s"),
        ]);
        assert!(Lake::with_storage_options("az://lake/x", known).is_ok());
        let error = Lake::with_storage_options("az://lake/x", options(&[("acount_key", "k")]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("[storage] acount_key is not an Azure storage option"),
            "{error}"
        );
        // A local lake has no storage options to check.
        let dir = std::env::temp_dir();
        assert!(
            Lake::with_storage_options(dir.to_str().unwrap(), options(&[("acount_key", "k")]))
                .is_ok()
        );
    }

    #[test]
    fn throttling_is_told_apart_from_other_errors() {
        let text = "Error performing PUT http://h/x in 30s, after 10 retries, max_retries: 10, retry_timeout: 180s  - Server returned non-2xx status code: 503 Service Unavailable: ";
        assert!(matches!(
            StorageProblem::find(text),
            Some(StorageProblem::Unavailable { .. })
        ));
        assert_eq!(StorageProblem::find("Parquet error: EOF"), None);
    }
}
