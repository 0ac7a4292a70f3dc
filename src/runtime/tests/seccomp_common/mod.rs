//! Shared helpers for the seccomp tests: profiles from JSON, and a forked child that installs
//! a filter and reports what it saw through its exit code.
//!
//! The test harness is multi-threaded, so a forked child must not allocate: everything it
//! needs is prepared by the parent, and the child only makes raw syscalls before `_exit`.

#![allow(dead_code)]

use berth_runtime::seccomp::{self, Filter};
use berth_runtime::spec::Seccomp;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

/// Docker's default profile as dockerd passes it to the runtime on amd64 with the default
/// capabilities (moby's profiles/seccomp/default.json with includes/excludes resolved).
pub const DOCKER_DEFAULT: &str = include_str!("docker_default.json");

pub fn profile(json: serde_json::Value) -> Seccomp {
    serde_json::from_value(json).expect("test profile parses")
}

pub fn compile(json: serde_json::Value) -> Filter {
    seccomp::compile(&profile(json)).expect("test profile compiles")
}

/// Skips a test (returns true) when not root: loading filters without no_new_privs and
/// reading the kernel log need it.
pub fn not_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return false;
    }
    eprintln!("skipped: needs root");
    true
}

/// Forks; the child runs `f` and exits with its result. Returns how the child ended.
pub fn in_child(f: impl FnOnce() -> i32) -> WaitStatus {
    // SAFETY: the child only runs `f`, which by contract makes no allocation (the parent may
    // have other threads holding the allocator lock), and then _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = f();
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { libc::_exit(code) };
    }
    waitpid(Pid::from_raw(pid), None).expect("waitpid")
}

/// Installs `filter` in the child; exit code 100 means installing failed.
pub fn with_filter(filter: &Filter, f: impl FnOnce() -> i32) -> WaitStatus {
    in_child(|| match seccomp::install(filter) {
        Ok(_) => f(),
        Err(_) => 100,
    })
}

/// A raw syscall: Ok(return value) or Err(errno).
pub fn sys(nr: libc::c_long, args: [u64; 6]) -> Result<i64, i32> {
    // SAFETY: the tests only make syscalls whose pointer arguments are null or valid.
    let r = unsafe { libc::syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]) };
    if r < 0 {
        // SAFETY: errno location is always valid for the calling thread.
        Err(unsafe { *libc::__errno_location() })
    } else {
        Ok(r)
    }
}

pub fn exited(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        _ => None,
    }
}

/// The syscalls every test child needs to get to `_exit`.
pub const EXIT: &[&str] = &["exit", "exit_group"];
