//! Thin, safe wrappers over the few syscalls nix doesn't cover the way we need.

use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Result of a fork-like clone.
pub enum Forked {
    Parent(i32),
    Child,
}

/// clone(2) with fork semantics (the child continues on a copy of the stack) and namespace
/// flags. Only sound in a single-threaded process, which berth is.
pub fn clone_fork(flags: libc::c_int) -> Result<Forked, Errno> {
    // SAFETY: with a null stack the kernel duplicates the caller's stack like fork(2). berth
    // is single-threaded, so no lock held by another thread can be inherited locked. The child
    // only runs code that doesn't depend on glibc's cached tid.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match r {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// open_how for openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

pub const RESOLVE_NO_XDEV: u64 = 0x01;
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

/// openat2(2): opens `path` relative to `dir` with resolve flags.
pub fn openat2(
    dir: RawFd,
    path: &str,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> Result<OwnedFd, Errno> {
    let c = std::ffi::CString::new(path).map_err(|_| Errno::EINVAL)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    loop {
        // SAFETY: valid C string and open_how of the size passed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if r >= 0 {
            // SAFETY: the kernel returned a new fd we now own.
            return Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) });
        }
        let e = Errno::last();
        if e != Errno::EAGAIN && e != Errno::EINTR {
            return Err(e);
        }
    }
}

/// Marks every fd from `first` up as close-on-exec (CVE-2024-21626: no host fd reaches the
/// container process).
pub fn cloexec_from(first: RawFd) {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first as u32, u32::MAX, 4u32) };
    if r == 0 {
        return;
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        let fds: Vec<RawFd> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
            .filter(|fd| *fd >= first)
            .collect();
        for fd in fds {
            // SAFETY: F_SETFD on an fd number; failure on a closed fd is harmless.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

/// Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), used with
/// the pid to tell a live container init from a recycled pid. None if the process is gone or
/// a zombie.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

pub fn raw(fd: &impl AsRawFd) -> RawFd {
    fd.as_raw_fd()
}

/// Whether `fd` is on a procfs.
pub fn is_procfs(fd: &OwnedFd) -> bool {
    nix::sys::statfs::fstatfs(fd)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
}

/// Opens `/proc/REL` for writing such that the write reaches procfs: /proc must be a procfs,
/// and the walk from it may not cross a mount, follow a magic link or leave it. A bind mount
/// or symlink over a /proc file can't redirect the runtime's writes (CVE-2025-52881) — the
/// open fails with EXDEV instead.
pub fn open_procfs_file(rel: &str) -> Result<OwnedFd, Errno> {
    let proc = openat2(
        libc::AT_FDCWD,
        "/proc",
        libc::O_PATH | libc::O_DIRECTORY,
        0,
        RESOLVE_NO_SYMLINKS,
    )?;
    if !is_procfs(&proc) {
        return Err(Errno::EXDEV);
    }
    let fd = openat2(
        proc.as_raw_fd(),
        rel,
        libc::O_WRONLY,
        0,
        RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS,
    )?;
    if !is_procfs(&fd) {
        return Err(Errno::EXDEV);
    }
    Ok(fd)
}

/// Writes `data` to `/proc/REL` through `open_procfs_file`, with a one-line error.
pub fn write_procfs(rel: &str, data: &str) -> Result<(), crate::process::sync::ChildError> {
    use crate::process::sync::ChildError;
    let fd = open_procfs_file(rel).map_err(|e| {
        let why = if e == Errno::EXDEV {
            "not on procfs or reached across a mount".to_string()
        } else {
            crate::process::sync::errno_text(e)
        };
        ChildError {
            msg: format!("open /proc/{rel}: {why}"),
            errno: Some(e as i32),
        }
    })?;
    nix::unistd::write(&fd, data.as_bytes())
        .map(|_| ())
        .map_err(|e| ChildError::sys(format!("write /proc/{rel}"), e))
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const OPEN_TREE_CLONE: libc::c_uint = 1;

/// mount_setattr(2) on the mount `fd` refers to (and with `recursive` those below it);
/// `userns` is the user namespace of an idmapped mount (MOUNT_ATTR_IDMAP).
pub fn mount_setattr(
    fd: &OwnedFd,
    recursive: bool,
    set: u64,
    clr: u64,
    userns: Option<&OwnedFd>,
) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: userns.map_or(0, |u| u.as_raw_fd() as u64),
    };
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let rec = if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: valid fd, empty path with AT_EMPTY_PATH, attr struct of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint | rec,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// open_tree(2) of `path` relative to `dir` (`""` with AT_EMPTY_PATH for `dir` itself); with
/// OPEN_TREE_CLONE the fd is a detached copy of the mount.
pub fn open_tree(dir: RawFd, path: &str, flags: libc::c_uint) -> Result<OwnedFd, Errno> {
    let c = std::ffi::CString::new(path).map_err(|_| Errno::EINVAL)?;
    // SAFETY: valid C string; the returned fd is new and ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            dir,
            c.as_ptr(),
            flags | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: open_tree returned a new fd.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}
