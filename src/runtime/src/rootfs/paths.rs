//! Resolving and creating paths inside the rootfs without ever leaving it: every lookup goes
//! through openat2(RESOLVE_IN_ROOT) from an fd of the rootfs, so a symlink in the image can't
//! point a mount at the host.

use crate::process::sync::ChildError;
use crate::sys::{openat2, RESOLVE_IN_ROOT};
use nix::errno::Errno;
use std::os::fd::{AsRawFd, OwnedFd};

pub enum Kind {
    Dir,
    File,
}

/// Opens `path` (absolute, as seen in the container) under `root` as an O_PATH fd, creating
/// missing components: directories, and for `Kind::File` an empty file at the end.
pub fn open_or_create(root: &OwnedFd, path: &str, kind: Kind) -> Result<OwnedFd, ChildError> {
    open_or_create_at(root, path, kind, 0)
}

/// `path` with `.` and `..` folded lexically, never above `/` (as the kernel clamps `..` at
/// the root with RESOLVE_IN_ROOT).
fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

fn open_or_create_at(
    root: &OwnedFd,
    path: &str,
    kind: Kind,
    depth: u32,
) -> Result<OwnedFd, ChildError> {
    if depth > 40 {
        return Err(ChildError::sys(
            format!("resolve {path} in rootfs"),
            Errno::ELOOP,
        ));
    }
    let rel = path.trim_start_matches('/');
    if rel.is_empty() {
        return openat2(root.as_raw_fd(), ".", libc::O_PATH, 0, RESOLVE_IN_ROOT)
            .map_err(|e| ChildError::sys(format!("open {path} in rootfs"), e));
    }
    match openat2(root.as_raw_fd(), rel, libc::O_PATH, 0, RESOLVE_IN_ROOT) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(ChildError::sys(format!("open {path} in rootfs"), e)),
    }
    let comps: Vec<&str> = rel
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let mut cur = openat2(root.as_raw_fd(), ".", libc::O_PATH, 0, RESOLVE_IN_ROOT)
        .map_err(|e| ChildError::sys("open rootfs", e))?;
    let mut sofar = String::new();
    for (i, comp) in comps.iter().enumerate() {
        sofar.push('/');
        sofar.push_str(comp);
        let last = i + 1 == comps.len();
        let next = match openat2(
            root.as_raw_fd(),
            sofar.trim_start_matches('/'),
            libc::O_PATH,
            0,
            RESOLVE_IN_ROOT,
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                // A dangling symlink: create its target, resolved inside the root, as runc
                // does; the symlink then leads there.
                if let Ok(target) = nix::fcntl::readlinkat(Some(cur.as_raw_fd()), *comp) {
                    let target = target.to_string_lossy().into_owned();
                    let parent = sofar.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                    let base = if target.starts_with('/') {
                        target
                    } else {
                        format!("{parent}/{target}")
                    };
                    let rest = comps[i + 1..].join("/");
                    let full = normalize(&format!("{base}/{rest}"));
                    return open_or_create_at(root, &full, kind, depth + 1);
                }
                // `cur` is a real directory inside the root (resolved above), so creating an
                // entry in it can't escape.
                let dirfd = openat2(cur.as_raw_fd(), ".", libc::O_DIRECTORY, 0, 0)
                    .map_err(|e| ChildError::sys(format!("open {sofar} in rootfs"), e))?;
                let c = std::ffi::CString::new(*comp)
                    .map_err(|_| ChildError::new(format!("bad path {path:?}")))?;
                let r = if last && matches!(kind, Kind::File) {
                    // SAFETY: valid dir fd and C string.
                    let fd = unsafe {
                        libc::openat(
                            dirfd.as_raw_fd(),
                            c.as_ptr(),
                            libc::O_CREAT
                                | libc::O_EXCL
                                | libc::O_WRONLY
                                | libc::O_CLOEXEC
                                | libc::O_NOFOLLOW,
                            0o644,
                        )
                    };
                    if fd >= 0 {
                        // SAFETY: closing the fd we just opened.
                        unsafe { libc::close(fd) };
                        0
                    } else {
                        -1
                    }
                } else {
                    // SAFETY: valid dir fd and C string.
                    unsafe { libc::mkdirat(dirfd.as_raw_fd(), c.as_ptr(), 0o755) }
                };
                if r != 0 && Errno::last() != Errno::EEXIST {
                    return Err(ChildError::sys(
                        format!("create {sofar} in rootfs"),
                        Errno::last(),
                    ));
                }
                openat2(
                    root.as_raw_fd(),
                    sofar.trim_start_matches('/'),
                    libc::O_PATH,
                    0,
                    RESOLVE_IN_ROOT,
                )
                .map_err(|e| ChildError::sys(format!("open {sofar} in rootfs"), e))?
            }
            Err(e) => return Err(ChildError::sys(format!("open {sofar} in rootfs"), e)),
        };
        cur = next;
    }
    Ok(cur)
}

/// Opens an existing path under root, or None if it doesn't exist.
pub fn open_existing(root: &OwnedFd, path: &str) -> Result<Option<OwnedFd>, ChildError> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    match openat2(root.as_raw_fd(), rel, libc::O_PATH, 0, RESOLVE_IN_ROOT) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(ChildError::sys(format!("open {path} in rootfs"), e)),
    }
}

/// `/proc/self/fd/N`: the path the mount syscalls use to act on exactly the resolved target.
pub fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

pub fn is_dir(fd: &OwnedFd) -> bool {
    nix::sys::stat::fstat(fd.as_raw_fd())
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .unwrap_or(false)
}
