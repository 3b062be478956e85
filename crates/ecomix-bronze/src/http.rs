//! Fetching over HTTP(S) with a progress bar and retries on transient failures.

use std::time::Duration;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::StatusCode;

const ATTEMPTS: u32 = 4;

/// The result of a conditional GET.
pub enum Fetched {
    Body {
        bytes: Vec<u8>,
        etag: Option<String>,
    },
    NotModified,
}

pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .user_agent(concat!("ecomix/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(20))
        .read_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// GETs `url`, retrying with exponential backoff on connection errors, time-outs, 429 and 5xx.
/// A 4xx other than 429 fails at once: retrying cannot help.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    if_none_match: Option<&str>,
    show_progress: bool,
) -> Result<Fetched, String> {
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        match fetch_once(client, url, if_none_match, show_progress).await {
            Ok(fetched) => return Ok(fetched),
            Err((message, retryable)) if retryable && attempt < ATTEMPTS => {
                tracing::warn!(url, attempt, "{message}; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err((message, _)) => {
                return Err(format!("{url}: {message} (after {attempt} attempt(s))"));
            }
        }
    }
}

async fn fetch_once(
    client: &reqwest::Client,
    url: &str,
    if_none_match: Option<&str>,
    show_progress: bool,
) -> Result<Fetched, (String, bool)> {
    let mut request = client.get(url);
    if let Some(etag) = if_none_match {
        request = request.header(reqwest::header::IF_NONE_MATCH, etag);
    }
    let response = request.send().await.map_err(|e| {
        (
            describe(&e),
            e.is_connect() || e.is_timeout() || e.is_request(),
        )
    })?;
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Fetched::NotModified);
    }
    if !status.is_success() {
        let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
        return Err((format!("HTTP {status}"), retryable));
    }
    let etag = response
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let length = response.content_length();
    let bar = if show_progress {
        let bar = ProgressBar::new(length.unwrap_or(0));
        bar.set_style(
            ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(ecomix_core::secrets::redact(
            url.rsplit('/').next().unwrap_or(url),
        ));
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut bytes = Vec::with_capacity(length.unwrap_or(0) as usize);
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| (format!("download interrupted: {}", describe(&e)), true))?;
        bytes.extend_from_slice(&chunk);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if let Some(expected) = length
        && expected != bytes.len() as u64
    {
        return Err((
            format!("download cut short: {} of {expected} bytes", bytes.len()),
            true,
        ));
    }
    Ok(Fetched::Body { bytes, etag })
}

fn describe(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    message
}
