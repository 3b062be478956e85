//! Bytes to text. RTE's downloads are ISO-8859-1, the portal's exports and the Tempo calendars
//! UTF-8; spreadsheets saved as "Unicode text" are UTF-16 with a BOM. ISO-8859-1 is decoded as
//! Windows-1252, its superset (they differ only in 0x80–0x9F, which RTE's files never use).

use std::borrow::Cow;

use encoding_rs::{UTF_16BE, UTF_16LE, WINDOWS_1252};

use crate::error::InputError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
    Latin1,
}

/// Decodes `bytes` as text, or says where they stop being text in any supported encoding.
pub fn decode<'a>(name: &str, bytes: &'a [u8]) -> Result<(Cow<'a, str>, Encoding), InputError> {
    if let Some(rest) = bytes.strip_prefix(b"\xff\xfe") {
        return utf16(name, rest, UTF_16LE);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xfe\xff") {
        return utf16(name, rest, UTF_16BE);
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if let Some(at) = find(bytes, is_forbidden_control) {
        return Err(not_text(name, bytes, at));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok((Cow::Borrowed(text), Encoding::Utf8)),
        Err(_) => {
            // Windows-1252 leaves five bytes undefined: text using them is in no encoding we know.
            if let Some(at) = find(bytes, |b| matches!(b, 0x81 | 0x8d | 0x8f | 0x90 | 0x9d)) {
                return Err(not_text(name, bytes, at));
            }
            let (text, _) = WINDOWS_1252.decode_without_bom_handling(bytes);
            Ok((text, Encoding::Latin1))
        }
    }
}

fn utf16<'a>(
    name: &str,
    bytes: &'a [u8],
    encoding: &'static encoding_rs::Encoding,
) -> Result<(Cow<'a, str>, Encoding), InputError> {
    match encoding.decode_without_bom_handling_and_without_replacement(bytes) {
        Some(text) => Ok((Cow::Owned(text.into_owned()), Encoding::Utf16)),
        None => Err(InputError::file(
            name,
            "invalid UTF-16 text after its byte-order mark",
        )),
    }
}

/// The first byte matching `predicate`. Blocks are tested without early exit, which the
/// compiler vectorises; only a block that matches is searched byte by byte.
fn find(bytes: &[u8], predicate: impl Fn(u8) -> bool) -> Option<usize> {
    const BLOCK: usize = 4096;
    bytes.chunks(BLOCK).enumerate().find_map(|(i, block)| {
        block
            .iter()
            .fold(false, |found, &b| found | predicate(b))
            .then(|| i * BLOCK + block.iter().position(|&b| predicate(b)).unwrap_or(0))
    })
}

fn is_forbidden_control(byte: u8) -> bool {
    byte < 0x20 && !matches!(byte, b'\t' | b'\n' | b'\r' | 0x0c)
}

fn not_text(name: &str, bytes: &[u8], at: usize) -> InputError {
    let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64;
    let line_start = bytes[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    InputError::at(
        name,
        line,
        Some(format!("{} (byte offset {at})", at - line_start + 1)),
        format!(
            "byte 0x{:02X} is not text in UTF-8, UTF-16 or ISO-8859-1: not an eCO2mix file, or in an unsupported encoding",
            bytes[at]
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_is_decoded_and_utf8_kept() {
        let (text, enc) = decode("f", b"P\xe9rim\xe8tre\tNature\n").unwrap();
        assert_eq!(text, "Périmètre\tNature\n");
        assert_eq!(enc, Encoding::Latin1);
        let (text, enc) = decode("f", "Périmètre;Nature".as_bytes()).unwrap();
        assert_eq!(text, "Périmètre;Nature");
        assert_eq!(enc, Encoding::Utf8);
    }

    #[test]
    fn utf16_with_bom_is_decoded() {
        let mut bytes = vec![0xff, 0xfe];
        for unit in "Date\tHeures".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(decode("f", &bytes).unwrap().0, "Date\tHeures");
    }

    #[test]
    fn binary_is_refused_with_its_position() {
        let err = decode("f.xls", b"Date\tHeures\n2024\x00-01").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.column.unwrap().starts_with("5 "));
        let err = decode("f.xls", b"ok\n\x81\x8d").unwrap_err();
        assert_eq!(err.line, Some(2));
        // Past the first block of the scan, the position is still exact.
        let mut long = vec![b'a'; 10_000];
        long[9_000] = 0x01;
        let err = decode("f.xls", &long).unwrap_err();
        assert!(err.column.unwrap().contains("byte offset 9000"));
    }
}
