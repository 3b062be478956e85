//! Arrow arrays the layers build alike.

use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, StringArray};
use deltalake::arrow::buffer::{Buffer, OffsetBuffer};

/// `value` on each of `n` rows (a file's name, a run's id), built by bulk copies rather than
/// value by value.
pub fn repeated_text(value: &str, n: usize) -> ArrayRef {
    let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(value.len(), n));
    let values = Buffer::from_vec(value.as_bytes().repeat(n));
    Arc::new(StringArray::new(offsets, values, None))
}

#[cfg(test)]
mod tests {
    use deltalake::arrow::array::{Array, AsArray};

    #[test]
    fn repeated_text_holds_the_value_on_every_row() {
        let array = super::repeated_text("eCO2mix_RTE_2024.xls", 3);
        let strings = array.as_string::<i32>();
        assert_eq!(strings.len(), 3);
        assert_eq!(strings.null_count(), 0);
        assert!(strings.iter().all(|s| s == Some("eCO2mix_RTE_2024.xls")));
        assert_eq!(super::repeated_text("x", 0).len(), 0);
    }
}
