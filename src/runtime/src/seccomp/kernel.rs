//! seccomp(2): loading a filter, and asking the kernel what it supports.

use super::profile::{FLAGS, FLAG_NEW_LISTENER, FLAG_TSYNC, FLAG_TSYNC_ESRCH};
use super::{Filter, SeccompError};
use nix::errno::Errno;
use std::os::fd::{FromRawFd, OwnedFd};

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const SECCOMP_GET_ACTION_AVAIL: libc::c_ulong = 2;

#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const super::Insn,
}

fn seccomp(op: libc::c_ulong, flags: libc::c_ulong, arg: *const libc::c_void) -> libc::c_long {
    // SAFETY: seccomp(2) only reads `arg` (a sock_fprog or a u32), which the callers keep
    // alive across the call; a NULL or dangling pointer yields EFAULT, not UB in this process.
    unsafe { libc::syscall(libc::SYS_seccomp, op, flags, arg) }
}

/// Loads the filter for the calling thread (all threads with TSYNC).
///
/// Allocation-free on success, so it can run in a freshly forked child. no_new_privs is left
/// to the caller: without it the kernel requires CAP_SYS_ADMIN.
pub(super) fn load(filter: &Filter) -> Result<Option<OwnedFd>, SeccompError> {
    let prog = SockFprog {
        len: filter.program.len() as libc::c_ushort,
        filter: filter.program.as_ptr(),
    };
    let r = seccomp(
        SECCOMP_SET_MODE_FILTER,
        filter.flags as libc::c_ulong,
        &prog as *const SockFprog as *const libc::c_void,
    );
    if r < 0 {
        return Err(load_error(Errno::last(), filter.flags));
    }
    if filter.flags & FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER, seccomp(2) returns a new fd that nothing else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(r as i32) }))
    } else {
        Ok(None)
    }
}

fn load_error(errno: Errno, flags: u32) -> SeccompError {
    match errno {
        Errno::EACCES => SeccompError::NeedsPrivilege,
        Errno::EINVAL => {
            // Name the flag this kernel doesn't know, if that is the reason.
            for (name, bit) in FLAGS {
                if flags & bit != 0 && !flag_supported(*bit) {
                    return SeccompError::FlagUnsupported((*name).to_string());
                }
            }
            if flags & FLAG_NEW_LISTENER != 0 && !flag_supported(FLAG_NEW_LISTENER) {
                return SeccompError::FlagUnsupported("SECCOMP_FILTER_FLAG_NEW_LISTENER".into());
            }
            SeccompError::Load(errno)
        }
        _ => SeccompError::Load(errno),
    }
}

/// Whether the kernel accepts a filter flag: with a NULL program a known flag fails with
/// EFAULT when the filter is copied in, an unknown one with EINVAL before that.
pub(super) fn flag_supported(bit: u32) -> bool {
    let mut flags = bit;
    if bit & super::profile::FLAG_WAIT_KILLABLE_RECV != 0 {
        flags |= FLAG_NEW_LISTENER;
    }
    if bit & FLAG_TSYNC != 0 && flags & FLAG_NEW_LISTENER != 0 {
        flags |= FLAG_TSYNC_ESRCH;
    }
    let r = seccomp(
        SECCOMP_SET_MODE_FILTER,
        flags as libc::c_ulong,
        std::ptr::null(),
    );
    r < 0 && Errno::last() == Errno::EFAULT
}

/// Whether the kernel knows a SECCOMP_RET_* action.
pub(super) fn action_available(ret: u32) -> bool {
    seccomp(
        SECCOMP_GET_ACTION_AVAIL,
        0,
        &ret as *const u32 as *const libc::c_void,
    ) == 0
}

/// Whether this kernel has seccomp filters at all.
pub(super) fn enabled() -> bool {
    // SAFETY: PR_GET_SECCOMP takes no pointers.
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    mode >= 0 && action_available(0x7fff_0000)
}
