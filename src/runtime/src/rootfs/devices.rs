//! Device nodes in the container's /dev: the runtime-spec's default set, `linux.devices`, and
//! the standard symlinks.

use super::paths::{self, Kind};
use crate::process::sync::ChildError;
use crate::spec::Device;
use nix::errno::Errno;
use std::os::fd::{AsRawFd, OwnedFd};

fn default_devices() -> Vec<Device> {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .into_iter()
    .map(|(p, ma, mi)| Device {
        typ: "c".into(),
        path: p.into(),
        major: ma,
        minor: mi,
        file_mode: Some(0o666),
        uid: Some(0),
        gid: Some(0),
    })
    .collect()
}

/// Creates the default devices plus `extra`. In a user namespace mknod is not allowed, so the
/// host's node is bind mounted instead, as runc does.
pub fn create(root: &OwnedFd, extra: &[Device], userns: bool) -> Result<(), ChildError> {
    let mut all = default_devices();
    for d in extra {
        all.retain(|x| x.path != d.path);
        all.push(d.clone());
    }
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let r = all.iter().try_for_each(|d| create_one(root, d, userns));
    nix::sys::stat::umask(old);
    r?;
    symlinks(root)
}

fn create_one(root: &OwnedFd, d: &Device, userns: bool) -> Result<(), ChildError> {
    let (parent, name) = match d.path.rsplit_once('/') {
        Some((p, n)) if !n.is_empty() => (if p.is_empty() { "/" } else { p }, n),
        _ => return Err(ChildError::new(format!("bad device path {:?}", d.path))),
    };
    if userns {
        let target = paths::open_or_create(root, &d.path, Kind::File)?;
        let host = d.path.clone();
        return nix::mount::mount(
            Some(host.as_str()),
            paths::fd_path(&target).as_str(),
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| ChildError::sys(format!("bind device {host}"), e));
    }
    let dir = paths::open_or_create(root, parent, Kind::Dir)?;
    let kind = match d.typ.as_str() {
        "c" | "u" => libc::S_IFCHR,
        "b" => libc::S_IFBLK,
        "p" => libc::S_IFIFO,
        other => {
            return Err(ChildError::new(format!(
                "device {} has unknown type {other:?}",
                d.path
            )))
        }
    };
    let mode = kind | (d.file_mode.unwrap_or(0o666) & 0o7777);
    let dev = libc::makedev(d.major as u32, d.minor as u32);
    let c = std::ffi::CString::new(name).map_err(|_| ChildError::new("bad device name"))?;
    // Replace whatever the image has there (a file or an old node).
    // SAFETY: valid dir fd and C string.
    unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) };
    // SAFETY: valid dir fd and C string.
    if unsafe { libc::mknodat(dir.as_raw_fd(), c.as_ptr(), mode, dev) } != 0 {
        return Err(ChildError::sys(format!("mknod {}", d.path), Errno::last()));
    }
    // SAFETY: valid dir fd and C string; AT_SYMLINK_NOFOLLOW on the node we just made.
    if unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            c.as_ptr(),
            d.uid.unwrap_or(0),
            d.gid.unwrap_or(0),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } != 0
    {
        return Err(ChildError::sys(format!("chown {}", d.path), Errno::last()));
    }
    Ok(())
}

fn symlinks(root: &OwnedFd) -> Result<(), ChildError> {
    let dev = paths::open_or_create(root, "/dev", Kind::Dir)?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if std::path::Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        match nix::unistd::symlinkat(target, Some(dev.as_raw_fd()), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(ChildError::sys(format!("symlink /dev/{name}"), e)),
        }
    }
    Ok(())
}

/// /dev/ptmx → pts/ptmx, once devpts is mounted at /dev/pts.
pub fn link_ptmx(root: &OwnedFd) -> Result<(), ChildError> {
    if paths::open_existing(root, "/dev/pts/ptmx")?.is_none() {
        return Ok(());
    }
    let dev = paths::open_or_create(root, "/dev", Kind::Dir)?;
    // SAFETY: valid dir fd and literal C string.
    unsafe { libc::unlinkat(dev.as_raw_fd(), c"ptmx".as_ptr(), 0) };
    nix::unistd::symlinkat("pts/ptmx", Some(dev.as_raw_fd()), "ptmx")
        .map_err(|e| ChildError::sys("symlink /dev/ptmx", e))
}
