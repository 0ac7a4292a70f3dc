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

/// A mount destination as an absolute path in the container: spec 1.2 lets a relative one
/// stand for the same path under `/`.
pub fn absolute_destination(dest: &str) -> std::borrow::Cow<'_, str> {
    if dest.starts_with('/') {
        dest.into()
    } else {
        format!("/{}", dest.trim_start_matches("./")).into()
    }
}

/// What `/` is made in the container's fresh mount namespace before anything is mounted.
/// The default, rslave, keeps our mounts from propagating to the host. An unbindable request
/// is applied as private here and made unbindable on the final `/` only: unbindable mounts
/// could not be the source of the rootfs bind or of the config's bind mounts.
fn initial_propagation(requested: Option<libc::c_ulong>) -> libc::c_ulong {
    match requested {
        None => libc::MS_SLAVE | libc::MS_REC,
        Some(f) if f & libc::MS_UNBINDABLE != 0 => libc::MS_PRIVATE | (f & libc::MS_REC),
        Some(f) => f,
    }
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
    let requested = linux
        .rootfs_propagation
        .as_deref()
        .and_then(propagation_flag);
    let prop = initial_propagation(requested);
    // Nothing we mount may propagate back to the host, unless rootfsPropagation asks for
    // shared mounts (a Kubernetes Bidirectional mount needs its source to stay a peer).
    mount(None::<&str>, "/", None::<&str>, ms(prop), None::<&str>).map_err(|e| {
        ChildError::sys(
            format!(
                "make / {}",
                linux.rootfs_propagation.as_deref().unwrap_or("rslave")
            ),
            e,
        )
    })?;
    let rootfs = p.rootfs.to_string_lossy();
    unshare_parent(p.rootfs, requested)?;
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
        if m.destination.starts_with('/') {
            mounts::mount_one(&ctx, m)?;
        } else {
            // Relative to the container's / (spec 1.2); validation warned about it.
            let mut abs = m.clone();
            abs.destination = absolute_destination(&m.destination).into_owned();
            mounts::mount_one(&ctx, &abs)?;
        }
    }
    devices::create(&root, &linux.devices, p.userns)?;
    devices::link_ptmx(&root)?;
    Ok(())
}

/// pivot_root needs the rootfs's parent mount not to be shared, and the rootfs bind must not
/// propagate out of the container. A shared parent is made private, or with a slave
/// rootfsPropagation a slave: the rootfs bind then stays a slave of the host's peer group, so
/// mounts made on the host under the rootfs still reach the container (runc does the same).
/// With a private rootfsPropagation a slave parent is made private too, so that the bind, and
/// so the container's `/`, is private without one more mount call after pivot_root.
fn unshare_parent(rootfs: &Path, requested: Option<libc::c_ulong>) -> Result<(), ChildError> {
    let want_slave = requested.is_some_and(|f| f & libc::MS_SLAVE != 0);
    let want_private = requested.is_some_and(|f| f & libc::MS_PRIVATE != 0);
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // The innermost mount holding the rootfs: (mount point, shared, a slave).
    let mut best: Option<(&str, bool, bool)> = None;
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 7 {
            continue;
        }
        let mp = f[4];
        let within = rootfs.starts_with(mp);
        if within && best.is_none_or(|(b, _, _)| mp.len() >= b.len()) {
            let optional = || f[6..].iter().take_while(|x| **x != "-");
            let shared = optional().any(|x| x.starts_with("shared:"));
            let slave = optional().any(|x| x.starts_with("master:"));
            best = Some((mp, shared, slave));
        }
    }
    let Some((mp, shared, slave)) = best else {
        return Ok(());
    };
    let (flag, what) = if shared && want_slave {
        (MsFlags::MS_SLAVE, "slave")
    } else if shared || (slave && want_private) {
        (MsFlags::MS_PRIVATE, "private")
    } else {
        return Ok(());
    };
    mount(None::<&str>, mp, None::<&str>, flag, None::<&str>)
        .map_err(|e| ChildError::sys(format!("make {mp} {what}"), e))
}

/// Gives the container's `/` the propagation rootfsPropagation asks for, once it is `/` and
/// the last mount of the setup is made (masked and read-only paths are binds, which an
/// unbindable tree could not be the source of). The rootfs bind was made from a parent that
/// was not shared, as pivot_root needs, so until now `/` is private or a slave. Private needs
/// nothing more (see `unshare_parent`), nor does the default. As in runc the flag is applied
/// as given, so `rshared` makes every mount shared.
pub fn propagate_root(requested: Option<&str>) -> Result<(), ChildError> {
    let Some(name) = requested else {
        return Ok(());
    };
    let Some(flag) = propagation_flag(name).filter(|f| f & libc::MS_PRIVATE == 0) else {
        return Ok(());
    };
    mount(None::<&str>, "/", None::<&str>, ms(flag), None::<&str>)
        .map_err(|e| ChildError::sys(format!("make / {name}"), e))
}

/// Makes the rootfs the process's `/`: pivot_root, or with `no_pivot` a move mount + chroot.
/// `propagation` is linux.rootfsPropagation, applied later by `propagate_root`.
pub fn pivot(rootfs: &Path, no_pivot: bool, propagation: Option<&str>) -> Result<(), ChildError> {
    if no_pivot {
        move_root(rootfs, propagation)
    } else {
        pivot_root(rootfs)
    }
}

fn move_root(rootfs: &Path, propagation: Option<&str>) -> Result<(), ChildError> {
    let shown = rootfs.display().to_string();
    // A shared rootfsPropagation left the old / a peer of the host's: moving the rootfs on
    // top of it would propagate the container's root to the host.
    if propagation.is_some_and(|p| p.ends_with("shared")) {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_SLAVE,
            None::<&str>,
        )
        .map_err(|e| ChildError::sys("make the old / slave", e))?;
    }
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
    nix::unistd::chdir("/").map_err(|e| ChildError::sys("chdir /", e))
}

fn pivot_root(rootfs: &Path) -> Result<(), ChildError> {
    let shown = rootfs.display().to_string();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_destinations_are_taken_from_root() {
        assert_eq!(absolute_destination("relative-dest"), "/relative-dest");
        assert_eq!(absolute_destination("./a/b"), "/a/b");
        assert!(matches!(
            absolute_destination("/abs"),
            std::borrow::Cow::Borrowed("/abs")
        ));
    }

    #[test]
    fn first_propagation_of_root_keeps_binds_possible() {
        let flag = |p| propagation_flag(p).unwrap();
        assert_eq!(initial_propagation(None), libc::MS_SLAVE | libc::MS_REC);
        assert_eq!(initial_propagation(Some(flag("rshared"))), flag("rshared"));
        assert_eq!(initial_propagation(Some(flag("slave"))), flag("slave"));
        assert_eq!(
            initial_propagation(Some(flag("runbindable"))),
            flag("rprivate")
        );
        assert_eq!(
            initial_propagation(Some(flag("unbindable"))),
            flag("private")
        );
    }
}
