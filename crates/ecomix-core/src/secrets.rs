//! Credentials never reach the terminal, the logs or the run log: every text ecomix prints or
//! records goes through [`redact`], which masks the secret values it was told about (storage
//! options and the environment's credential variables) and anything shaped like a credential
//! (a SAS signature, a bearer token, a shared-key header, an account key in a connection string).

use std::sync::{OnceLock, RwLock};

/// What replaces a secret.
pub const MASK: &str = "***";

/// Words that make a variable or an option name a credential's.
const SECRET_NAME_PARTS: [&str; 7] = [
    "KEY",
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "SAS",
    "SIGNATURE",
    "CONNECTION_STRING",
];

/// Prefixes after which, up to a delimiter, text is a credential: SAS query parameters, HTTP
/// authorization schemes and connection-string fields.
const SECRET_PREFIXES: [&str; 7] = [
    "sig=",
    "Bearer ",
    "SharedKey ",
    "AccountKey=",
    "SharedAccessSignature=",
    "client_secret=",
    "access_token=",
];

/// Secrets shorter than this are not masked: masking "1" or "true" would garble every message,
/// and such values are not credentials.
const MIN_SECRET_LEN: usize = 6;

static KNOWN: OnceLock<RwLock<Vec<String>>> = OnceLock::new();

fn known() -> &'static RwLock<Vec<String>> {
    KNOWN.get_or_init(|| RwLock::new(secrets_in_environment()))
}

/// Whether an environment variable or storage option of this name holds a credential.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase().replace(['-', '.'], "_");
    SECRET_NAME_PARTS.iter().any(|part| upper.contains(part))
}

/// The values of the environment's credential variables (`AZURE_STORAGE_ACCOUNT_KEY`,
/// `AZURE_STORAGE_SAS_KEY`, `AZURE_CLIENT_SECRET`…).
fn secrets_in_environment() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(name, _)| {
            ["AZURE_", "ARM_", "ECOMIX_"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
                && is_secret_name(name)
        })
        .map(|(_, value)| value)
        .collect()
}

/// Adds the values of the credential-named options (e.g. a pipeline's `[storage]` section) to
/// the secrets [`redact`] masks.
pub fn register_options<'a>(options: impl IntoIterator<Item = (&'a String, &'a String)>) {
    let mut known = known().write().unwrap_or_else(|e| e.into_inner());
    for (name, value) in options {
        if is_secret_name(name) && !known.contains(value) {
            known.push(value.clone());
        }
    }
}

/// `text` with every known secret and credential-shaped substring masked.
pub fn redact(text: &str) -> String {
    let known = known().read().unwrap_or_else(|e| e.into_inner());
    redact_with(text, &known)
}

fn redact_with(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
        // The percent-encoded form appears in URLs (a SAS token's '/', '+' and '=').
        for form in [secret.clone(), percent_encode(secret)] {
            if out.contains(&form) {
                out = out.replace(&form, MASK);
            }
        }
    }
    for prefix in SECRET_PREFIXES {
        out = mask_after(&out, prefix);
    }
    out
}

/// Masks what follows each occurrence of `prefix`, up to a delimiter of URLs, headers and
/// connection strings.
fn mask_after(text: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(prefix) {
        let value_start = start + prefix.len();
        out.push_str(&rest[..value_start]);
        let value = &rest[value_start..];
        let end = value
            .find(|c: char| {
                matches!(c, '&' | ';' | '"' | '\'' | ',' | ')' | '>' | '<') || c.is_whitespace()
            })
            .unwrap_or(value.len());
        if end > 0 && !value[..end].starts_with(MASK) {
            out.push_str(MASK);
        } else {
            out.push_str(&value[..end]);
        }
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_are_masked_in_both_encodings() {
        let key = "Eby8vdM02xNO+cqFlq/UwJ==";
        let text = format!("key {key} in a url ?k={}", percent_encode(key));
        assert_eq!(
            redact_with(&text, &[key.to_string()]),
            "key *** in a url ?k=***"
        );
    }

    #[test]
    fn credential_shaped_text_is_masked_without_being_known() {
        let text = "GET https://a.blob.core.windows.net/c/x?sv=2022-11-02&sig=abc%2Fdef&se=2030 \
                    Authorization: Bearer eyJ0eXAi.abc.def; \
                    DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0;";
        assert_eq!(
            redact_with(text, &[]),
            "GET https://a.blob.core.windows.net/c/x?sv=2022-11-02&sig=***&se=2030 \
             Authorization: Bearer ***; \
             DefaultEndpointsProtocol=https;AccountName=a;AccountKey=***;"
        );
    }

    #[test]
    fn short_values_and_public_names_are_left_alone() {
        assert_eq!(
            redact_with("use_emulator true", &["true".into()]),
            "use_emulator true"
        );
        assert!(is_secret_name("azure_storage_account_key"));
        assert!(is_secret_name("AZURE_STORAGE_SAS_KEY"));
        assert!(is_secret_name("client_secret"));
        assert!(is_secret_name("bearer_token"));
        assert!(!is_secret_name("AZURE_STORAGE_ACCOUNT_NAME"));
        assert!(!is_secret_name("use_emulator"));
        assert!(!is_secret_name("max_retries"));
    }

    #[test]
    fn masking_twice_changes_nothing() {
        let once = redact_with("x?sig=abc&y=1", &[]);
        assert_eq!(redact_with(&once, &[]), once);
    }
}
