//! The supervisor side of SCMP_ACT_NOTIFY: receive a notification, answer it.
//!
//! berth itself only hands the listener fd on (see `send_to_listener`); these helpers are for
//! seccomp agents and tests.

use super::SeccompError;
use nix::errno::Errno;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `struct seccomp_data`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SeccompData {
    pub nr: i32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

/// `struct seccomp_notif`: one trapped syscall waiting for an answer.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Notification {
    pub id: u64,
    pub pid: u32,
    pub flags: u32,
    pub data: SeccompData,
}

#[repr(C)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

/// How to answer a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// The syscall returns this value without running.
    Value(i64),
    /// The syscall fails with this errno.
    Error(i32),
    /// The syscall runs as if there were no filter (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
    Continue,
}

// _IOWR('!', 0, struct seccomp_notif), _IOWR('!', 1, struct seccomp_notif_resp).
const IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;
const USER_NOTIF_FLAG_CONTINUE: u32 = 1;

/// Blocks until a process trips a NOTIFY rule of the filter behind `fd`.
pub fn receive(fd: BorrowedFd<'_>) -> Result<Notification, SeccompError> {
    loop {
        // The kernel insists on a zeroed buffer.
        let mut n = Notification::default();
        // SAFETY: `n` is a properly sized, writable seccomp_notif for the duration of the call.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), IOCTL_NOTIF_RECV, &mut n as *mut _) };
        if r == 0 {
            return Ok(n);
        }
        match Errno::last() {
            Errno::EINTR => continue,
            e => return Err(SeccompError::Notify(e)),
        }
    }
}

/// Answers notification `id`.
pub fn respond(fd: BorrowedFd<'_>, id: u64, response: Response) -> Result<(), SeccompError> {
    let (val, error, flags) = match response {
        Response::Value(v) => (v, 0, 0),
        Response::Error(e) => (0, -e.abs(), 0),
        Response::Continue => (0, 0, USER_NOTIF_FLAG_CONTINUE),
    };
    let mut resp = NotifResp {
        id,
        val,
        error,
        flags,
    };
    // SAFETY: `resp` is a valid seccomp_notif_resp that outlives the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), IOCTL_NOTIF_SEND, &mut resp as *mut _) };
    if r == 0 {
        Ok(())
    } else {
        Err(SeccompError::Notify(Errno::last()))
    }
}
