//! Network errors, in docker's words where docker has them.

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    /// netavark (or the kernel) refused.
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Engine(#[from] crate::Error),
}

impl NetworkError {
    pub fn io(context: impl Into<String>, e: std::io::Error) -> NetworkError {
        NetworkError::Engine(crate::Error::io(context, e))
    }
}

impl From<NetworkError> for crate::container::ContainerError {
    fn from(e: NetworkError) -> Self {
        use crate::container::ContainerError as C;
        match e {
            NetworkError::Engine(e) => C::Engine(e),
            NetworkError::Conflict(m) => C::Conflict(m),
            NetworkError::NotFound(_) | NetworkError::Invalid(_) | NetworkError::Forbidden(_) => {
                C::InvalidArgument(e.to_string())
            }
            NetworkError::Setup(m) => C::Runtime(m),
        }
    }
}

pub type Result<T, E = NetworkError> = std::result::Result<T, E>;
