//! The OCI runtime-spec configuration (`config.json`): types, loading and up-front validation.
//!
//! We keep our own serde types rather than a generated crate so that validation errors name
//! the field in plain words and unknown fields are ignored as the spec requires.

mod types;
mod validate;

pub use types::*;
pub use validate::validate;

use std::path::Path;

/// The runtime-spec version berth implements.
pub const OCI_VERSION: &str = "1.2.0";

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("parse {path}: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl Spec {
    /// Reads and validates `config.json` from a bundle directory.
    pub fn load(bundle: &Path) -> Result<Spec, SpecError> {
        let path = bundle.join("config.json");
        let data = std::fs::read(&path).map_err(|source| SpecError::Open {
            path: path.display().to_string(),
            source,
        })?;
        let spec: Spec = serde_json::from_slice(&data).map_err(|source| SpecError::Parse {
            path: path.display().to_string(),
            source,
        })?;
        validate(&spec)?;
        Ok(spec)
    }
}
