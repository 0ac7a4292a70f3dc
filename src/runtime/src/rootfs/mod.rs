//! Preparing the container's root filesystem: propagation, the rootfs bind, config mounts,
//! devices, pivot_root, and afterwards masked and read-only paths.

mod cgroupfs;
pub mod devices;
pub mod idmap;
pub mod mounts;
pub mod options;
pub mod paths;

use crate::process::sync::ChildError;
use crate::spec::Spec;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Mount propagation flags for `linux.rootfsPropagation` and propagation mount options.
pub fn propagation_flag(name: &str) -> Option<libc::c_ulong> {
    Some(match name {
        "shared" => libc::MS_SHARED,
        "slave" => libc::MS_SLAVE,
        "private" => libc::MS_PRIVATE,
        "unbindable" => libc::MS_UNBINDABLE,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

fn ms(bits: libc::c_ulong) -> MsFlags {
    MsFlags::from_bits_retain(bits)
}

pub struct Prepare<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub userns: bool,
    pub cgroupns: bool,
    pub cgroup_path: &'a str,
    /// Idmapped mounts from the parent, see `idmap`.
    pub idmapped: Vec<OwnedFd>,
}

/// Everything before pivot_root. Runs in the container's (new) mount namespace.
pub fn prepare(p: Prepare) -> Result<(), ChildError> {
    let linux = p.spec.linux();
    let prop = linux
        .rootfs_propagation
        .as_deref()
        .and_then(propagation_flag)
        .unwrap_or(libc::MS_SLAVE | libc::MS_REC);
    // Nothing we mount may propagate back to the host.
    mount(None::<&str>, "/", None::<&str>, ms(prop), None::<&str>)
        .map_err(|e| ChildError::sys("make / ".to_string() + "slave", e))?;
    let rootfs = p.rootfs.to_string_lossy();
    make_parent_private(p.rootfs)?;
    mount(
        Some(p.rootfs),
        p.rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| ChildError::sys(format!("bind rootfs {rootfs}"), e))?;
    let root = nix::fcntl::open(
        p.rootfs,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| ChildError::sys(format!("open rootfs {rootfs}"), e))?;
    // SAFETY: fd returned by open above, owned from here on.
    let root: OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(root) };
    let ctx = mounts::MountCtx {
        root: &root,
        rootfs: p.rootfs,
        bundle: p.bundle,
        userns: p.userns,
        cgroupns: p.cgroupns,
        cgroup_path: p.cgroup_path,
        mount_label: linux.mount_label.as_deref(),
        idmapped: std::cell::RefCell::new(p.idmapped.into()),
    };
    for m in &p.spec.mounts {
        mounts::mount_one(&ctx, m)?;
    }
    devices::create(&root, &linux.devices, p.userns)?;
    devices::link_ptmx(&root)?;
    Ok(())
}

/// pivot_root needs the rootfs's parent mount not to be shared.
fn make_parent_private(rootfs: &Path) -> Result<(), ChildError> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut best: Option<(&str, bool)> = None;
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 7 {
            continue;
        }
        let mp = f[4];
        let within = rootfs.starts_with(mp);
        if within && best.is_none_or(|(b, _)| mp.len() >= b.len()) {
            let shared = f[6..]
                .iter()
                .take_while(|x| **x != "-")
                .any(|x| x.starts_with("shared:"));
            best = Some((mp, shared));
        }
    }
    if let Some((mp, true)) = best {
        mount(
            None::<&str>,
            mp,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| ChildError::sys(format!("make {mp} private"), e))?;
    }
    Ok(())
}

/// Makes the rootfs the process's `/`: pivot_root, or with `no_pivot` a move mount + chroot.
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<(), ChildError> {
    let shown = rootfs.display().to_string();
    if no_pivot {
        nix::unistd::chdir(rootfs).map_err(|e| ChildError::sys(format!("chdir {shown}"), e))?;
        mount(
            Some(rootfs),
            "/",
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .map_err(|e| ChildError::sys(format!("move mount {shown} to /"), e))?;
        nix::unistd::chroot(".").map_err(|e| ChildError::sys(format!("chroot {shown}"), e))?;
        return nix::unistd::chdir("/").map_err(|e| ChildError::sys("chdir /", e));
    }
    let oflags =
        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC;
    let old = nix::fcntl::open("/", oflags, nix::sys::stat::Mode::empty())
        .map_err(|e| ChildError::sys("open /", e))?;
    let new = nix::fcntl::open(rootfs, oflags, nix::sys::stat::Mode::empty())
        .map_err(|e| ChildError::sys(format!("open {shown}"), e))?;
    let r = (|| {
        nix::unistd::fchdir(new).map_err(|e| ChildError::sys(format!("chdir {shown}"), e))?;
        nix::unistd::pivot_root(".", ".")
            .map_err(|e| ChildError::sys(format!("pivot_root {shown}"), e))?;
        // The old root is now stacked under the new one; detach it without letting the
        // unmount propagate to the host.
        nix::unistd::fchdir(old).map_err(|e| ChildError::sys("chdir old root", e))?;
        mount(
            None::<&str>,
            ".",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| ChildError::sys("make old root slave", e))?;
        umount2(".", MntFlags::MNT_DETACH).map_err(|e| ChildError::sys("unmount old root", e))?;
        nix::unistd::chdir("/").map_err(|e| ChildError::sys("chdir /", e))
    })();
    let _ = nix::unistd::close(old);
    let _ = nix::unistd::close(new);
    r
}

fn open_root() -> Result<OwnedFd, ChildError> {
    crate::sys::openat2(libc::AT_FDCWD, "/", libc::O_PATH, 0, 0)
        .map_err(|e| ChildError::sys("open /", e))
}

/// Masked paths: /dev/null over files, an empty read-only tmpfs over directories.
pub fn mask_paths(list: &[String]) -> Result<(), ChildError> {
    if list.is_empty() {
        return Ok(());
    }
    let root = open_root()?;
    let null = paths::open_existing(&root, "/dev/null")?
        .ok_or_else(|| ChildError::new("mask paths: /dev/null is missing"))?;
    // A /dev/null swapped for something else must not be bind mounted over /proc files.
    let st = nix::sys::stat::fstat(null.as_raw_fd())
        .map_err(|e| ChildError::sys("stat /dev/null", e))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        return Err(ChildError::new(
            "mask paths: /dev/null is not the null device",
        ));
    }
    for p in list {
        let Some(fd) = paths::open_existing(&root, p)? else {
            continue;
        };
        let target = paths::fd_path(&fd);
        let r = if paths::is_dir(&fd) {
            mount(
                Some("tmpfs"),
                target.as_str(),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
        } else {
            mount(
                Some(paths::fd_path(&null).as_str()),
                target.as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        // The target is held open, so any failure (ENOENT included: /dev/null unlinked by a
        // concurrent process after we checked it) means the path would stay unmasked.
        r.map_err(|e| ChildError::sys(format!("mask {p}"), e))?;
    }
    Ok(())
}

/// Read-only paths: a read-only bind of the path onto itself.
pub fn readonly_paths(list: &[String]) -> Result<(), ChildError> {
    if list.is_empty() {
        return Ok(());
    }
    let root = open_root()?;
    for p in list {
        let Some(fd) = paths::open_existing(&root, p)? else {
            continue;
        };
        let target = paths::fd_path(&fd);
        mount(
            Some(target.as_str()),
            target.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| ChildError::sys(format!("bind {p} read-only"), e))?;
        let top = paths::open_existing(&root, p)?
            .ok_or_else(|| ChildError::new(format!("{p} vanished")))?;
        let top_path = paths::fd_path(&top);
        let keep = locked(&top_path);
        mount(
            None::<&str>,
            top_path.as_str(),
            None::<&str>,
            ms(libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC | keep),
            None::<&str>,
        )
        .map_err(|e| ChildError::sys(format!("remount {p} read-only"), e))?;
    }
    Ok(())
}

fn locked(path: &str) -> libc::c_ulong {
    use nix::sys::statvfs::FsFlags;
    let Ok(st) = nix::sys::statvfs::statvfs(path) else {
        return 0;
    };
    let mut bits = 0;
    for (f, m) in [
        (FsFlags::ST_NOSUID, libc::MS_NOSUID),
        (FsFlags::ST_NODEV, libc::MS_NODEV),
        (FsFlags::ST_NOEXEC, libc::MS_NOEXEC),
    ] {
        if st.flags().contains(f) {
            bits |= m;
        }
    }
    bits
}

/// root.readonly: remount / read-only.
pub fn readonly_root() -> Result<(), ChildError> {
    let keep = locked("/");
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        ms(libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | keep),
        None::<&str>,
    )
    .map_err(|e| ChildError::sys("remount / read-only", e))
}
