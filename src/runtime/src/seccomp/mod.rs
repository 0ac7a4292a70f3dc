//! seccomp: compiling `linux.seccomp` to BPF and installing it with seccomp(2).
//!
//! The compiler is our own (see docs/seccomp.md for why): multi-architecture filters with the
//! x32 split, 64-bit argument comparisons, ENOSYS for syscalls newer than the profile (like
//! runc's patched filter) and a binary search over syscall numbers.
//!
//! Order of use in the runtime: `compile` in the parent before forking (errors reach the user
//! before anything is created), `install` in the container process right before execve,
//! `send_to_listener` from the parent with the fd `install` returned for NOTIFY profiles.

mod arch;
mod bpf;
mod codegen;
mod kernel;
mod listener;
pub mod notify;
mod profile;
mod tables;

pub use bpf::Insn;

use crate::spec::Seccomp;
use std::os::fd::{BorrowedFd, OwnedFd};

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("{0}")]
    Unsupported(String),
    #[error("unknown seccomp action {0}")]
    UnknownAction(String),
    #[error("unknown seccomp operator {0}")]
    UnknownOperator(String),
    #[error("unknown seccomp architecture {0}")]
    UnknownArch(String),
    #[error("unknown seccomp flag {0}")]
    UnknownFlag(String),
    #[error("seccomp argument index {index} of {syscall} out of range (max 5)")]
    ArgIndex { syscall: String, index: u32 },
    #[error("seccomp errnoRet {0} out of range (max 4095)")]
    ErrnoRange(u32),
    #[error("empty syscall name in seccomp profile")]
    EmptyName,
    #[error("seccomp default action cannot be SCMP_ACT_NOTIFY")]
    NotifyDefault,
    #[error("seccomp action SCMP_ACT_NOTIFY cannot be used for the write syscall")]
    NotifyWrite,
    #[error("seccomp filter too large: {0} instructions (max 4096)")]
    TooLarge(usize),
    #[error("internal seccomp compiler error: {0}")]
    Internal(String),
    #[error("loading seccomp filter: permission denied (needs no_new_privs or CAP_SYS_ADMIN)")]
    NeedsPrivilege,
    #[error("loading seccomp filter: kernel does not support {0}")]
    FlagUnsupported(String),
    #[error("loading seccomp filter: {0}")]
    Load(nix::errno::Errno),
    #[error("seccomp notification: {0}")]
    Notify(nix::errno::Errno),
    #[error("seccomp listener message: {0}")]
    State(String),
    #[error("sending seccomp fd to listener {path}: {source}")]
    Listener {
        path: String,
        source: std::io::Error,
    },
}

/// A compiled filter, ready to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    program: Vec<Insn>,
    flags: u32,
    notify: bool,
}

/// Compiles the profile (in the runtime, before the container process is forked).
///
/// Validates everything up front: an unknown action, operator, architecture or flag, or an
/// argument index above 5, is an error. Unknown syscall names are skipped, as runc does.
pub fn compile(profile: &Seccomp) -> Result<Filter, SeccompError> {
    let plan = profile::plan(profile)?;
    let program = codegen::generate(&plan)?;
    Ok(Filter {
        program,
        flags: plan.flags,
        notify: plan.notify,
    })
}

impl Filter {
    /// Whether the profile has SCMP_ACT_NOTIFY rules, so a listener fd will be returned.
    pub fn uses_notify(&self) -> bool {
        self.notify
    }

    /// The BPF program.
    pub fn instructions(&self) -> &[Insn] {
        &self.program
    }

    /// The SECCOMP_FILTER_FLAG_* bits `install` passes to seccomp(2).
    pub fn flags(&self) -> u32 {
        self.flags
    }
}

/// Installs the filter on the calling process. Returns the notify fd if the profile uses
/// SCMP_ACT_NOTIFY.
///
/// Does not set no_new_privs: the caller orders it. Without no_new_privs the kernel needs
/// CAP_SYS_ADMIN, so a runtime with noNewPrivileges=false installs the filter before it drops
/// to the container user; with noNewPrivileges=true, as late as possible before execve.
/// Allocation-free on success, so safe to call between fork and exec.
pub fn install(filter: &Filter) -> Result<Option<OwnedFd>, SeccompError> {
    kernel::load(filter)
}

/// Sends the notify fd and the container state to `linux.seccomp.listenerPath`, as runc does.
///
/// `state_json` is the container's state (`berth state` output); its `pid` becomes the
/// message's `pid`.
pub fn send_to_listener(
    path: &str,
    fd: BorrowedFd<'_>,
    state_json: &[u8],
    metadata: Option<&str>,
) -> Result<(), SeccompError> {
    listener::send(path, fd, state_json, metadata)
}

/// What `berth features` reports about seccomp.
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub enabled: bool,
    /// Actions this kernel supports.
    pub actions: Vec<&'static str>,
    pub operators: Vec<&'static str>,
    pub archs: Vec<&'static str>,
    /// Flags this kernel supports.
    pub flags: Vec<&'static str>,
    /// Flags berth knows, supported by the kernel or not.
    pub known_flags: Vec<&'static str>,
}

pub fn features() -> Features {
    let enabled = kernel::enabled();
    let actions = profile::ACTIONS
        .iter()
        .filter(|(_, ret)| enabled && kernel::action_available(*ret))
        .map(|(name, _)| *name)
        .collect();
    let flags = profile::FLAGS
        .iter()
        .filter(|(_, bit)| enabled && kernel::flag_supported(*bit))
        .map(|(name, _)| *name)
        .collect();
    Features {
        enabled,
        actions,
        operators: profile::OPERATORS.to_vec(),
        archs: arch::OCI_ARCHES.to_vec(),
        flags,
        known_flags: profile::FLAGS.iter().map(|(n, _)| *n).collect(),
    }
}

#[cfg(test)]
mod tests;
