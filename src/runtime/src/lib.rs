//! berth-runtime: the OCI runtime core behind the `berth` CLI.
//!
//! Synchronous and single-threaded by design: namespaces (setns/unshare of a user namespace)
//! require a single-threaded process, and the runtime path must stay as cheap as possible.

pub mod caps;
pub mod cgroups;
pub mod console;
pub mod container;
pub mod error;
pub mod hooks;
pub mod id;
pub mod lsm;
pub mod process;
pub mod rlimits;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod sys;
pub mod time;
pub mod warn;
pub use error::{Error, Result};
