//! Container errors, in docker's words where docker has them.

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidArgument(String),
    /// A docker feature bay does not have yet; the message says which.
    #[error("{0}")]
    NotSupported(String),
    /// The runtime could not start the process; `code` is docker's exit code for it
    /// (126 cannot invoke, 127 not found, 125 otherwise).
    #[error("{msg}")]
    Start { code: u8, msg: String },
    #[error("{0}")]
    Runtime(String),
    #[error("{0}")]
    Engine(#[from] crate::Error),
}

impl ContainerError {
    pub fn io(context: impl Into<String>, e: std::io::Error) -> ContainerError {
        ContainerError::Engine(crate::Error::io(context, e))
    }
}

pub type Result<T, E = ContainerError> = std::result::Result<T, E>;
