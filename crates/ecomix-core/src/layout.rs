//! Where tables live: `<lake>/<layer>/<table>`, for a local folder or an object-store URI.

use std::fmt;

/// The medallion layers of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Bronze,
    Silver,
    Gold,
    /// ecomix's own tables (the run log).
    System,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Bronze => "bronze",
            Layer::Silver => "silver",
            Layer::Gold => "gold",
            Layer::System => "system",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A table's place in the lake, and the columns its files carry no Parquet statistics for.
#[derive(Debug, Clone, Copy)]
pub struct TableRef {
    pub layer: Layer,
    pub name: &'static str,
    /// Declared here, once, because every writer of the table (its appends and optimize's
    /// rewrites) must agree on them.
    pub unstatistical: &'static [&'static str],
}

impl TableRef {
    pub const fn new(layer: Layer, name: &'static str) -> Self {
        Self {
            layer,
            name,
            unstatistical: &[],
        }
    }

    /// No statistics for `columns`: text no reader filters on by value, whose minimum and
    /// maximum would cost a comparison of every value for nothing. Its appends then get
    /// ecomix's Parquet settings (see the lake's `writer_properties`) even when they ask for no
    /// dictionaries.
    pub const fn without_statistics(self, columns: &'static [&'static str]) -> Self {
        Self {
            unstatistical: columns,
            ..self
        }
    }

    /// The table's path relative to the lake root.
    pub fn relative_path(&self) -> String {
        format!("{}/{}", self.layer, self.name)
    }
}

/// A table is its place: the same layer and name is the same table, whatever it declares.
impl PartialEq for TableRef {
    fn eq(&self, other: &Self) -> bool {
        (self.layer, self.name) == (other.layer, other.name)
    }
}

impl Eq for TableRef {}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.layer, self.name)
    }
}

/// The rescued tokens (JSON) are never filtered by value. Lineage keeps its statistics: a
/// file's or a run's rows are found by skipping the row groups whose range lacks it.
pub const ECO2MIX_BRONZE: TableRef =
    TableRef::new(Layer::Bronze, "eco2mix_bronze").without_statistics(&["_rescued"]);
pub const TEMPO_BRONZE: TableRef =
    TableRef::new(Layer::Bronze, "tempo_bronze").without_statistics(&["_rescued"]);
pub const RUNS: TableRef = TableRef::new(Layer::System, "_ecomix_runs");
