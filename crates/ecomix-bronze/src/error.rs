use std::fmt;

use ecomix_lake::LakeError;

/// Why an input was rejected, with where in it: the file, and the line and column when the
/// problem is in one place (lines are 1-based text lines, or sheet rows, or Parquet rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub file: String,
    pub line: Option<u64>,
    pub column: Option<String>,
    pub message: String,
}

/// A value quoted in an error: a malformed field may be megabytes long, an error stays a line.
pub(crate) fn excerpt(value: &str) -> String {
    clip(value, 40)
}

/// `text` cut to about `limit` bytes (on a character boundary), saying how much was left out.
fn clip(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}

/// Messages and column names longer than these are clipped: they quote the input.
const MESSAGE_LIMIT: usize = 400;
const COLUMN_LIMIT: usize = 80;

impl InputError {
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: None,
            column: None,
            message: clip(&message.into(), MESSAGE_LIMIT),
        }
    }

    pub fn at(
        file: impl Into<String>,
        line: u64,
        column: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            line: Some(line),
            column: column.map(|c| clip(&c, COLUMN_LIMIT)),
            message: clip(&message.into(), MESSAGE_LIMIT),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ": line {line}")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column {column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for InputError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_clipped_on_a_character_boundary() {
        assert_eq!(excerpt("2024-13-45"), "2024-13-45");
        let long = "é".repeat(100);
        let clipped = excerpt(&long);
        assert!(clipped.starts_with(&"é".repeat(20)), "{clipped}");
        assert!(clipped.ends_with("… (160 more bytes)"), "{clipped}");
        let error = InputError::at("f", 3, Some("x".repeat(1000)), "y".repeat(10_000));
        assert!(error.to_string().len() < 600, "{}", error.to_string().len());
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BronzeError {
    #[error("{}", rejected(.0))]
    Rejected(Vec<InputError>),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("{0}")]
    Download(String),
}

/// One line per rejected input, so that each error reads on its own.
fn rejected(errors: &[InputError]) -> String {
    match errors {
        [only] => format!("{only} (nothing was committed)"),
        _ => {
            let mut text = format!(
                "{} inputs rejected, nothing was committed (--keep-going ingests the good ones):",
                errors.len()
            );
            for e in errors {
                text.push_str(&format!("\n  {e}"));
            }
            text
        }
    }
}
