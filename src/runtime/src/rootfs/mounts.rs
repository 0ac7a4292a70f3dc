//! The config's `mounts`, each resolved inside the rootfs before it is mounted.

use super::options::MountOptions;
use super::paths::{self, fd_path, Kind};
use crate::process::sync::ChildError;
use crate::spec::Mount;
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

pub struct MountCtx<'a> {
    pub root: &'a OwnedFd,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub userns: bool,
    pub cgroupns: bool,
    pub cgroup_path: &'a str,
    /// `linux.mountLabel`, added as `context=` to the filesystems that take it.
    pub mount_label: Option<&'a str>,
    /// Detached idmapped mounts made by the parent, one per idmapped mount, in config order.
    pub idmapped: std::cell::RefCell<std::collections::VecDeque<OwnedFd>>,
}

fn flags(bits: libc::c_ulong) -> MsFlags {
    MsFlags::from_bits_retain(bits)
}

/// mount(2) with the error message naming source, target and errno.
pub fn do_mount(
    src: Option<&str>,
    target_fd: &OwnedFd,
    shown: &str,
    fstype: Option<&str>,
    bits: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), ChildError> {
    let target = fd_path(target_fd);
    mount(src, target.as_str(), fstype, flags(bits), data).map_err(|e| {
        ChildError::sys(
            format!("mount {} to {shown}", src.unwrap_or(fstype.unwrap_or(""))),
            e,
        )
    })
}

/// Resolves `path` under root again: after a mount on top of it, this yields the new mount.
fn reopen(ctx: &MountCtx, path: &str) -> Result<OwnedFd, ChildError> {
    paths::open_existing(ctx.root, path)?
        .ok_or_else(|| ChildError::new(format!("{path} vanished from the rootfs")))
}

/// Flags a bind remount must keep because the kernel locks them on mounts from a more
/// privileged user namespace.
fn locked_flags(path: &str) -> libc::c_ulong {
    let Ok(st) = nix::sys::statvfs::statvfs(path) else {
        return 0;
    };
    use nix::sys::statvfs::FsFlags;
    let f = st.flags();
    let mut bits = 0;
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, libc::MS_NOSUID),
        (FsFlags::ST_NODEV, libc::MS_NODEV),
        (FsFlags::ST_NOEXEC, libc::MS_NOEXEC),
        (FsFlags::ST_RDONLY, libc::MS_RDONLY),
        (FsFlags::ST_NOATIME, libc::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, libc::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if f.contains(fs) {
            bits |= ms;
        }
    }
    bits
}

pub fn mount_one(ctx: &MountCtx, m: &Mount) -> Result<(), ChildError> {
    let opts = MountOptions::parse(&m.options);
    if super::idmap::wanted(m) {
        let tree = ctx.idmapped.borrow_mut().pop_front().ok_or_else(|| {
            ChildError::new(format!("mount {}: idmapped mount missing", m.destination))
        })?;
        return bind(ctx, m, &opts, Some(tree));
    }
    let typ = m.typ.as_deref().unwrap_or("");
    let dest = m.destination.as_str();
    if typ == "bind" || opts.is_bind() {
        return bind(ctx, m, &opts, None);
    }
    if typ == "cgroup" || typ == "cgroup2" {
        return super::cgroupfs::mount_cgroup(ctx, m, &opts);
    }
    let target = paths::open_or_create(ctx.root, dest, Kind::Dir)?;
    if !paths::is_dir(&target) {
        return Err(ChildError::new(format!(
            "mount {typ} to {dest}: destination is not a directory"
        )));
    }
    let src = m.source.as_deref().unwrap_or(typ);
    let mut data = opts.data();
    if let Some(ctx_opt) = crate::lsm::mount_context(ctx.mount_label, typ) {
        if !data.is_empty() {
            data.push(',');
        }
        data.push_str(&ctx_opt);
    }
    let data = (!data.is_empty()).then_some(data.as_str());
    // tmpcopyup: keep an fd of the directory the tmpfs is about to hide, to copy from it.
    let shadowed = if opts.tmpcopyup && typ == "tmpfs" {
        Some(
            nix::fcntl::open(
                fd_path(&target).as_str(),
                nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| ChildError::sys(format!("open {dest}"), e))?,
        )
    } else {
        None
    };
    let bits = opts.flags & !libc::MS_REMOUNT;
    match do_mount(Some(src), &target, dest, Some(typ), bits, data) {
        Err(e) if typ == "sysfs" && e.errno == Some(Errno::EPERM as i32) && ctx.userns => {
            // sysfs can't be mounted from a user namespace without its own network
            // namespace: bind the host's /sys instead, as runc does.
            mount(
                Some("/sys"),
                fd_path(&target).as_str(),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| ChildError::sys(format!("bind /sys to {dest}"), e))?;
        }
        r => r?,
    }
    if let Some(fd) = shadowed {
        let top = reopen(ctx, dest)?;
        copy_tree(fd.as_raw_fd(), &fd_path(&top))
            .map_err(|e| ChildError::sys(format!("tmpcopyup {dest}"), e))?;
        // SAFETY: closing the fd we opened above.
        unsafe { libc::close(fd) };
    }
    apply_after(ctx, dest, &opts)
}

/// A bind mount, or with `tree` the attach of an idmapped clone the parent made.
fn bind(
    ctx: &MountCtx,
    m: &Mount,
    opts: &MountOptions,
    tree: Option<OwnedFd>,
) -> Result<(), ChildError> {
    let dest = m.destination.as_str();
    let src = m
        .source
        .as_deref()
        .ok_or_else(|| ChildError::new(format!("bind mount to {dest} has no source")))?;
    let src_path = if src.starts_with('/') {
        std::path::PathBuf::from(src)
    } else {
        ctx.bundle.join(src)
    };
    let src_str = src_path.to_string_lossy().into_owned();
    let meta = std::fs::metadata(&src_path).map_err(|e| {
        ChildError::sys(
            format!("bind mount source {src_str}"),
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    })?;
    let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
    let target = paths::open_or_create(ctx.root, dest, kind)?;
    let rec = opts.flags & libc::MS_REC;
    match tree {
        Some(t) => super::idmap::attach(&t, &target, dest)?,
        None => do_mount(
            Some(&src_str),
            &target,
            dest,
            None,
            libc::MS_BIND | rec,
            None,
        )?,
    }
    let wanted = opts.flags
        & (libc::MS_RDONLY
            | libc::MS_NOSUID
            | libc::MS_NODEV
            | libc::MS_NOEXEC
            | libc::MS_NOATIME
            | libc::MS_NODIRATIME
            | libc::MS_RELATIME
            | libc::MS_STRICTATIME
            | super::options::MS_NOSYMFOLLOW);
    if wanted != 0 {
        let top = reopen(ctx, dest)?;
        let keep = if ctx.userns {
            locked_flags(&src_str) & !opts.cleared
        } else {
            0
        };
        do_mount(
            None,
            &top,
            dest,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | rec | wanted | keep,
            None,
        )?;
    }
    apply_after(ctx, dest, opts)
}

/// Propagation and recursive attributes, applied on the new mount.
fn apply_after(ctx: &MountCtx, dest: &str, opts: &MountOptions) -> Result<(), ChildError> {
    if opts.propagation.is_empty() && opts.rec_set == 0 && opts.rec_clr == 0 {
        return Ok(());
    }
    let top = reopen(ctx, dest)?;
    for p in &opts.propagation {
        do_mount(None, &top, dest, None, *p, None)?;
    }
    if opts.rec_set != 0 || opts.rec_clr != 0 {
        crate::sys::mount_setattr(&top, true, opts.rec_set, opts.rec_clr, None)
            .map_err(|e| ChildError::sys(format!("set recursive mount options on {dest}"), e))?;
    }
    Ok(())
}

/// Copies a directory tree (files, dirs, symlinks) from an open directory to `to`, keeping
/// modes and owners. Used by `tmpcopyup`.
fn copy_tree(from: libc::c_int, to: &str) -> Result<(), Errno> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let from_path = format!("/proc/self/fd/{from}");
    let rd = std::fs::read_dir(&from_path).map_err(|_| Errno::EIO)?;
    for ent in rd.flatten() {
        let src = ent.path();
        let dst = Path::new(to).join(ent.file_name());
        let md = std::fs::symlink_metadata(&src).map_err(|_| Errno::EIO)?;
        let ft = md.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&dst).map_err(|_| Errno::EIO)?;
            let d = nix::fcntl::open(
                &src,
                nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )?;
            let r = copy_tree(d, &dst.to_string_lossy());
            // SAFETY: closing the fd opened above.
            unsafe { libc::close(d) };
            r?;
        } else if ft.is_symlink() {
            let t = std::fs::read_link(&src).map_err(|_| Errno::EIO)?;
            std::os::unix::fs::symlink(t, &dst).map_err(|_| Errno::EIO)?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst).map_err(|_| Errno::EIO)?;
        } else {
            continue;
        }
        let _ = std::os::unix::fs::lchown(&dst, Some(md.uid()), Some(md.gid()));
        if !ft.is_symlink() {
            let _ = std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(md.mode()));
        }
    }
    Ok(())
}
