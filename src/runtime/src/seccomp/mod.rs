//! seccomp: compiling `linux.seccomp` to BPF and installing it with seccomp(2).
//!
//! API contract used by the runtime. Placeholder until the full implementation lands: any
//! profile is refused with a clear error.

use crate::spec::Seccomp;
use std::os::fd::{BorrowedFd, OwnedFd};

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("{0}")]
    Unsupported(String),
}

/// A compiled filter, ready to install.
#[derive(Debug, Clone)]
pub struct Filter {}

/// Compiles the profile (in the runtime, before the container process is forked).
pub fn compile(profile: &Seccomp) -> Result<Filter, SeccompError> {
    let _ = profile;
    Err(SeccompError::Unsupported("seccomp is not supported yet".into()))
}

impl Filter {
    /// Whether the profile has SCMP_ACT_NOTIFY rules, so a listener fd will be returned.
    pub fn uses_notify(&self) -> bool {
        false
    }
}

/// Installs the filter on the calling process. Returns the notify fd if the profile uses
/// SCMP_ACT_NOTIFY.
pub fn install(filter: &Filter) -> Result<Option<OwnedFd>, SeccompError> {
    let _ = filter;
    Err(SeccompError::Unsupported("seccomp is not supported yet".into()))
}

/// Sends the notify fd and the container state to `linux.seccomp.listenerPath`, as runc does.
pub fn send_to_listener(
    path: &str,
    fd: BorrowedFd<'_>,
    state_json: &[u8],
    metadata: Option<&str>,
) -> Result<(), SeccompError> {
    let _ = (path, fd, state_json, metadata);
    Err(SeccompError::Unsupported("seccomp is not supported yet".into()))
}

/// What `berth features` reports about seccomp.
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub enabled: bool,
    pub actions: Vec<&'static str>,
    pub operators: Vec<&'static str>,
    pub archs: Vec<&'static str>,
    pub flags: Vec<&'static str>,
}

pub fn features() -> Features {
    Features::default()
}
