//! The crate's error: each module's typed error, rolled up.

use crate::state::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Id(#[from] crate::id::IdError),
    #[error(transparent)]
    Child(#[from] crate::process::sync::ChildError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    /// A verb applied to a container in a state that doesn't allow it.
    #[error("cannot {action} container {id}: it is {status}")]
    WrongState {
        action: &'static str,
        id: String,
        status: Status,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{op}: {source}")]
    Io { op: String, source: std::io::Error },
}

impl Error {
    pub fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let op = op.into();
        move |source| Error::Io { op, source }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
