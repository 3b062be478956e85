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

/// A table's place in the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRef {
    pub layer: Layer,
    pub name: &'static str,
}

impl TableRef {
    pub const fn new(layer: Layer, name: &'static str) -> Self {
        Self { layer, name }
    }

    /// The table's path relative to the lake root.
    pub fn relative_path(&self) -> String {
        format!("{}/{}", self.layer, self.name)
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.layer, self.name)
    }
}

pub const ECO2MIX_BRONZE: TableRef = TableRef::new(Layer::Bronze, "eco2mix_bronze");
pub const TEMPO_BRONZE: TableRef = TableRef::new(Layer::Bronze, "tempo_bronze");
pub const RUNS: TableRef = TableRef::new(Layer::System, "_ecomix_runs");
