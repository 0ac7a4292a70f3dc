//! Idmapped bind mounts (`idmap`/`ridmap` options, `uidMappings`/`gidMappings` on a mount).
//!
//! The parent, still root on the host, clones the source tree with open_tree(OPEN_TREE_CLONE),
//! idmaps the detached copy with mount_setattr(MOUNT_ATTR_IDMAP) and hands its fd to the
//! child, which attaches it with move_mount inside the container's mount namespace (as runc
//! does). The user namespace giving the mapping is the container's own when the mount has no
//! mappings, else a throw-away one whose maps the parent writes.

use super::options::MountOptions;
use crate::process::sync::ChildError;
use crate::spec::{IdMapping, Mount};
use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// Whether the config asks for this mount to be idmapped.
pub fn wanted(m: &Mount) -> bool {
    !m.uid_mappings.is_empty()
        || !m.gid_mappings.is_empty()
        || m.options.iter().any(|o| o == "idmap" || o == "ridmap")
}

/// Parent side: a detached, idmapped clone of the mount's source, ready for move_mount.
/// `container_pid` is a process in the container's user namespace, if it has one.
pub fn make(m: &Mount, bundle: &Path, container_pid: Option<i32>) -> Result<OwnedFd, ChildError> {
    let dest = &m.destination;
    let opts = MountOptions::parse(&m.options);
    if m.typ.as_deref() != Some("bind") && !opts.is_bind() {
        return Err(ChildError::new(format!(
            "mount {dest}: idmapped mounts are only supported for bind mounts"
        )));
    }
    if m.uid_mappings.is_empty() != m.gid_mappings.is_empty() {
        return Err(ChildError::new(format!(
            "mount {dest}: idmapped mounts need both uidMappings and gidMappings"
        )));
    }
    let src = m
        .source
        .as_deref()
        .ok_or_else(|| ChildError::new(format!("bind mount to {dest} has no source")))?;
    let src = if src.starts_with('/') {
        std::path::PathBuf::from(src)
    } else {
        bundle.join(src)
    };
    let shown = src.display().to_string();
    let userns = if m.uid_mappings.is_empty() {
        let pid = container_pid.ok_or_else(|| {
            ChildError::new(format!(
                "mount {dest}: idmap without uidMappings/gidMappings needs a user namespace"
            ))
        })?;
        open_ns(&format!("/proc/{pid}/ns/user"))?
    } else {
        new_userns(&m.uid_mappings, &m.gid_mappings)?
    };
    let rec_bind = opts.flags & libc::MS_REC != 0;
    let tree = crate::sys::open_tree(
        libc::AT_FDCWD,
        &shown,
        crate::sys::OPEN_TREE_CLONE | if rec_bind { AT_RECURSIVE } else { 0 },
    )
    .map_err(|e| ChildError::sys(format!("clone mount {shown}"), e))?;
    let recursive = m.options.iter().any(|o| o == "ridmap");
    crate::sys::mount_setattr(&tree, recursive, MOUNT_ATTR_IDMAP, 0, Some(&userns))
        .map_err(|e| ChildError::sys(format!("idmap mount {shown} for {dest}"), e))?;
    Ok(tree)
}

/// Child side: attaches a detached mount on top of the (already resolved) target.
pub fn attach(tree: &OwnedFd, target: &OwnedFd, dest: &str) -> Result<(), ChildError> {
    // SAFETY: two valid fds and empty C strings with the matching EMPTY_PATH flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(ChildError::sys(
            format!("attach idmapped mount to {dest}"),
            Errno::last(),
        ));
    }
    Ok(())
}

fn open_ns(path: &str) -> Result<OwnedFd, ChildError> {
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| ChildError::sys(format!("open {path}"), e))?;
    // SAFETY: fd from open above, owned from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A user namespace with the given maps, kept alive only by the returned fd: a child is
/// cloned into a new user namespace, the parent writes its maps, opens its ns file and
/// kills it.
fn new_userns(uid: &[IdMapping], gid: &[IdMapping]) -> Result<OwnedFd, ChildError> {
    let pid = match crate::sys::clone_fork(libc::CLONE_NEWUSER)
        .map_err(|e| ChildError::sys("create user namespace for idmapped mount", e))?
    {
        crate::sys::Forked::Child => loop {
            // Waits to be killed; the parent only needs the namespace.
            // SAFETY: pause has no arguments.
            unsafe { libc::pause() };
        },
        crate::sys::Forked::Parent(pid) => pid,
    };
    let r = crate::process::namespaces::write_id_maps(pid, uid, gid)
        .and_then(|()| open_ns(&format!("/proc/{pid}/ns/user")));
    let p = nix::unistd::Pid::from_raw(pid);
    let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(p, None);
    r
}
