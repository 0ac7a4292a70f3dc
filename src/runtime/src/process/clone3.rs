//! clone3(2) with CLONE_INTO_CGROUP: on cgroup v2 the child is born in the container's cgroup,
//! so not even its first instruction runs outside the limits.

use crate::sys::Forked;
use nix::errno::Errno;
use std::os::fd::RawFd;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Fork-like clone3 into the cgroup open at `cgroup_fd`, with namespace `flags`. Errors like
/// ENOSYS or E2BIG (older kernels) tell the caller to fall back to clone + cgroup.procs.
pub fn clone_into_cgroup(flags: libc::c_int, cgroup_fd: RawFd) -> Result<Forked, Errno> {
    let args = CloneArgs {
        flags: flags as u32 as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup_fd as u64,
        ..Default::default()
    };
    // SAFETY: with no stack given, clone3 duplicates the caller's stack like fork(2); berth is
    // single-threaded, as for `sys::clone_fork`.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match r {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}
