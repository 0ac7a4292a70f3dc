//! The crate's error type. Messages follow docker's wording where docker has one, so scripts
//! that grep for "No such image" keep working.

use std::io;
use std::path::Path;

use crate::layer::UnpackError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidReference(String),
    #[error("invalid digest {0:?}")]
    InvalidDigest(String),
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("database {context}: {source}")]
    Db {
        context: String,
        source: rusqlite::Error,
    },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{0}")]
    Unpack(#[from] UnpackError),
    #[error("{0}")]
    Archive(String),
    #[error("{0}")]
    Registry(String),
    #[error("{0}")]
    Config(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn at(path: &Path, what: &str, source: io::Error) -> Error {
        Error::Io {
            context: format!("{what} {}", path.display()),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds "doing X on PATH" context to io errors.
pub trait IoContext<T> {
    fn ctx(self, what: &str, path: &Path) -> Result<T>;
    fn ctx_str(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, what: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::at(path, what, e))
    }
    fn ctx_str(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(what(), e))
    }
}
