//! CVE-2019-5736: a container must not be able to overwrite the berth binary through
//! /proc/<pid>/exe of a process that is still berth (the container's init before its execve,
//! or `/proc/self/exe` used as the container's entrypoint). Commands that put processes into
//! containers re-execute from a file that can never be written:
//! - a detached, read-only bind mount of the binary (open_tree + mount_setattr): no copy and
//!   nothing added to any mount table; a write through /proc/PID/exe gets EROFS;
//! - else (no new mount API, or no privilege) a sealed memfd copy, as runc does.
//!
//! A binary already on a read-only mount, or already sealed, needs neither.

use nix::errno::Errno;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

fn is_sealed(fd: &std::fs::File) -> bool {
    // SAFETY: F_GET_SEALS on an fd we own; non-memfd files answer EINVAL.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & SEALS == SEALS
}

fn on_readonly_mount(fd: &std::fs::File) -> bool {
    nix::sys::statvfs::fstatvfs(fd)
        .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
        .unwrap_or(false)
}

/// A detached read-only bind mount of the open file `exe`.
fn readonly_clone(exe: &std::fs::File) -> Result<OwnedFd, Errno> {
    use berth_runtime::sys;
    let tree = sys::open_tree(
        exe.as_raw_fd(),
        "",
        sys::OPEN_TREE_CLONE | libc::AT_EMPTY_PATH as libc::c_uint,
    )?;
    sys::mount_setattr(&tree, false, sys::MOUNT_ATTR_RDONLY, 0, None)?;
    Ok(tree)
}

fn exec_fd(fd: &OwnedFd) -> anyhow::Error {
    let args: Vec<CString> = match std::env::args_os()
        .map(|a| CString::new(a.into_encoded_bytes()))
        .collect::<Result<_, _>>()
    {
        Ok(a) => a,
        Err(e) => return e.into(),
    };
    let env: Vec<CString> = match std::env::vars_os()
        .map(|(k, v)| {
            let mut b = k.into_encoded_bytes();
            b.push(b'=');
            b.extend(v.into_encoded_bytes());
            CString::new(b)
        })
        .collect::<Result<_, _>>()
    {
        Ok(e) => e,
        Err(e) => return e.into(),
    };
    let e = nix::unistd::fexecve(fd.as_raw_fd(), &args, &env).unwrap_err();
    anyhow::anyhow!("re-exec berth from a protected copy: {e}")
}

/// Re-executes berth from a file that can't be written, unless it already runs from one.
/// Returns only if already protected (or on error).
pub fn reexec_sealed() -> anyhow::Result<()> {
    let exe = std::fs::File::open("/proc/self/exe")
        .map_err(|e| anyhow::anyhow!("open /proc/self/exe: {e}"))?;
    if is_sealed(&exe) || on_readonly_mount(&exe) {
        return Ok(());
    }
    if let Ok(fd) = readonly_clone(&exe) {
        return Err(exec_fd(&fd));
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
    let len = exe
        .metadata()
        .map_err(|e| anyhow::anyhow!("stat /proc/self/exe: {e}"))?
        .len();
    let mut copied = 0u64;
    while copied < len {
        // SAFETY: valid fds; sendfile advances the source offset itself (offset null).
        let n = unsafe {
            libc::sendfile(
                mfd.as_raw_fd(),
                exe.as_raw_fd(),
                std::ptr::null_mut(),
                (len - copied) as usize,
            )
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
    Err(exec_fd(&mfd))
}
