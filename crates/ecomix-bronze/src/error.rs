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

impl InputError {
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: None,
            column: None,
            message: message.into(),
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
            column,
            message: message.into(),
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
