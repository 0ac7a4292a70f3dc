//! CVE-2019-5736: a container must not be able to overwrite the berth binary through
//! /proc/<pid>/exe of a process that is still berth (the container's init before its execve,
//! or `/proc/self/exe` used as the container's entrypoint). Commands that put processes into
//! containers re-execute from a sealed memfd copy, as runc does, so /proc/self/exe is a file
//! that can never be written.

use nix::errno::Errno;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SEALS: libc::c_int = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

fn is_sealed(fd: &std::fs::File) -> bool {
    // SAFETY: F_GET_SEALS on an fd we own; non-memfd files answer EINVAL.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & SEALS == SEALS
}

/// Re-executes berth from a sealed memfd unless it already runs from one. Returns only if
/// already sealed (or on error).
pub fn reexec_sealed() -> anyhow::Result<()> {
    let exe = std::fs::File::open("/proc/self/exe")
        .map_err(|e| anyhow::anyhow!("open /proc/self/exe: {e}"))?;
    if is_sealed(&exe) {
        return Ok(());
    }
    // SAFETY: memfd_create with a literal C name and flags.
    let fd = unsafe {
        libc::memfd_create(
            c"berth".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        anyhow::bail!("memfd_create: {}", Errno::last());
    }
    // SAFETY: fd returned by memfd_create above.
    let mfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let len = exe.metadata().map_err(|e| anyhow::anyhow!("stat /proc/self/exe: {e}"))?.len();
    let mut copied = 0u64;
    while copied < len {
        // SAFETY: valid fds; sendfile advances the source offset itself (offset null).
        let n = unsafe {
            libc::sendfile(mfd.as_raw_fd(), exe.as_raw_fd(), std::ptr::null_mut(), (len - copied) as usize)
        };
        if n < 0 {
            let e = Errno::last();
            if e == Errno::EINTR {
                continue;
            }
            anyhow::bail!("copy berth into memfd: {e}");
        }
        if n == 0 {
            break;
        }
        copied += n as u64;
    }
    // SAFETY: F_ADD_SEALS on the memfd we own.
    if unsafe { libc::fcntl(mfd.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } != 0 {
        anyhow::bail!("seal berth memfd: {}", Errno::last());
    }
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.into_encoded_bytes()))
        .collect::<Result<_, _>>()?;
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut b = k.into_encoded_bytes();
            b.push(b'=');
            b.extend(v.into_encoded_bytes());
            CString::new(b)
        })
        .collect::<Result<_, _>>()?;
    let e = nix::unistd::fexecve(mfd.as_raw_fd(), &args, &env).unwrap_err();
    anyhow::bail!("re-exec berth from sealed memfd: {e}")
}
