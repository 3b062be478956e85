//! What a file really is, from its first bytes; its extension is never trusted.
//!
//! Containers (gzip, zip archives) are opened and their members sniffed in turn, so that
//! `eCO2mix_RTE_En-cours-TR.zip` and `….xls.gz` reach the same parser as the bare `.xls`.

use std::io::{Cursor, Read};

use crate::error::InputError;

/// A document ready to be parsed: one data file, out of its containers.
#[derive(Debug)]
pub struct Document {
    /// The file's name, with `!member` for a member of a zip archive.
    pub name: String,
    pub bytes: Vec<u8>,
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Delimited text (RTE's ".xls", the portal's CSV, Tempo calendars).
    Text,
    /// An Excel workbook, read by calamine (`.xlsx` or BIFF `.xls`).
    Workbook,
    /// The open-data portal's Parquet export.
    Parquet,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Workbook => "workbook",
            Format::Parquet => "parquet",
        }
    }
}

const GZIP: &[u8] = &[0x1f, 0x8b];
const ZIP: &[u8] = b"PK\x03\x04";
const EMPTY_ZIP: &[u8] = b"PK\x05\x06";
const OLE: &[u8] = &[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
const PARQUET: &[u8] = b"PAR1";
const PDF: &[u8] = b"%PDF";
/// Containers inside containers beyond this depth are refused rather than followed.
const MAX_NESTING: usize = 3;
/// A decompressed member larger than this is refused: no eCO2mix file comes close, a zip bomb does.
const MAX_INFLATED: u64 = 4 << 30;

/// Opens containers and returns the data documents inside `bytes`.
pub fn unpack(name: &str, bytes: Vec<u8>) -> Result<Vec<Document>, InputError> {
    let mut documents = Vec::new();
    unpack_into(name, bytes, 0, &mut documents)?;
    Ok(documents)
}

fn unpack_into(
    name: &str,
    bytes: Vec<u8>,
    depth: usize,
    out: &mut Vec<Document>,
) -> Result<(), InputError> {
    if depth > MAX_NESTING {
        return Err(InputError::file(name, "containers nested too deep"));
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(InputError::file(name, "the file is empty"));
    }
    if bytes.starts_with(GZIP) {
        let mut inflated = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes.as_slice())
            .take(MAX_INFLATED + 1)
            .read_to_end(&mut inflated)
            .map_err(|e| {
                InputError::file(name, format!("truncated or corrupt gzip stream ({e})"))
            })?;
        refuse_oversized(name, &inflated)?;
        let inner = name.strip_suffix(".gz").unwrap_or(name);
        return unpack_into(inner, inflated, depth + 1, out);
    }
    if bytes.starts_with(ZIP) || bytes.starts_with(EMPTY_ZIP) {
        return unpack_zip(name, bytes, depth, out);
    }
    let format = if bytes.starts_with(OLE) {
        Format::Workbook
    } else if bytes.starts_with(PARQUET) {
        if !bytes.ends_with(PARQUET) {
            return Err(InputError::file(name, "truncated Parquet file (no footer)"));
        }
        Format::Parquet
    } else if bytes.starts_with(PDF) {
        return Err(InputError::file(
            name,
            "this is a PDF document, not eCO2mix data",
        ));
    } else if looks_like_markup(&bytes) {
        return Err(InputError::file(
            name,
            "this is an HTML/XML page, not eCO2mix data (an error page saved under a data file's name?)",
        ));
    } else {
        Format::Text
    };
    out.push(Document {
        name: name.to_string(),
        bytes,
        format,
    });
    Ok(())
}

fn unpack_zip(
    name: &str,
    bytes: Vec<u8>,
    depth: usize,
    out: &mut Vec<Document>,
) -> Result<(), InputError> {
    let corrupt = |e: zip::result::ZipError| {
        InputError::file(name, format!("truncated or corrupt zip archive ({e})"))
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes.as_slice())).map_err(corrupt)?;
    let is_workbook = archive
        .file_names()
        .any(|n| n.is_ok_and(|n| n == "xl/workbook.xml"));
    if is_workbook {
        out.push(Document {
            name: name.to_string(),
            bytes,
            format: Format::Workbook,
        });
        return Ok(());
    }
    let before = out.len();
    for index in 0..archive.len() {
        let mut member = archive.by_index(index).map_err(corrupt)?;
        if member.is_dir() {
            continue;
        }
        let member_name = format!("{name}!{}", member.name().map_err(corrupt)?);
        // The declared size is only a hint: a crafted archive may declare anything.
        let mut inflated = Vec::with_capacity(member.size().min(64 << 20) as usize);
        (&mut member)
            .take(MAX_INFLATED + 1)
            .read_to_end(&mut inflated)
            .map_err(|e| {
                InputError::file(
                    member_name.as_str(),
                    format!("truncated or corrupt zip member ({e})"),
                )
            })?;
        refuse_oversized(&member_name, &inflated)?;
        unpack_into(&member_name, inflated, depth + 1, out)?;
    }
    if out.len() == before {
        return Err(InputError::file(name, "the zip archive holds no file"));
    }
    Ok(())
}

fn refuse_oversized(name: &str, inflated: &[u8]) -> Result<(), InputError> {
    if inflated.len() as u64 > MAX_INFLATED {
        return Err(InputError::file(
            name,
            format!(
                "decompresses to more than {} GiB: refused",
                MAX_INFLATED >> 30
            ),
        ));
    }
    Ok(())
}

fn looks_like_markup(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let head: Vec<u8> = bytes[start..bytes.len().min(start + 64)].to_ascii_lowercase();
    head.starts_with(b"<!doctype")
        || head.starts_with(b"<html")
        || head.starts_with(b"<?xml")
        || head.starts_with(b"<head")
        || head.starts_with(b"<body")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn text_in_gzip_is_found_and_named_without_gz() {
        let docs = unpack("a.xls.gz", gzip(b"Date\tHeures\n")).unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].name, "a.xls");
        assert_eq!(docs[0].format, Format::Text);
        assert_eq!(docs[0].bytes, b"Date\tHeures\n");
    }

    #[test]
    fn rejects_empty_html_pdf_and_truncated_containers() {
        let message = |bytes: &[u8]| unpack("x.xls", bytes.to_vec()).unwrap_err().message;
        assert!(message(b"").contains("empty"));
        assert!(message(b"\n  \n").contains("empty"));
        assert!(message(b"  <!DOCTYPE html><html>").contains("HTML"));
        assert!(message(b"\xef\xbb\xbf<html><body>404</body></html>").contains("HTML"));
        assert!(message(b"%PDF-1.4").contains("PDF"));
        let gz = gzip(b"Date\tHeures\n2024-01-01\t00:00\n");
        assert!(message(&gz[..gz.len() / 2]).contains("gzip"));
        assert!(message(b"PK\x03\x04\x14\x00\x00\x00").contains("zip"));
        assert!(message(b"PAR1\x00\x00").contains("Parquet"));
    }
}
