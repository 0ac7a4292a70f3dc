//! Mounting the rootfs containerd prepared (the snapshot's mounts) at `<bundle>/rootfs`, and
//! taking it down again.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, Result};

/// One mount from the CreateTaskRequest.
pub struct RootfsMount<'a> {
    pub kind: &'a str,
    pub source: &'a str,
    pub options: &'a [String],
}

fn flag(opt: &str) -> Option<(bool, MsFlags)> {
    // (clear?, flag) as mount(8) spells them
    Some(match opt {
        "ro" => (false, MsFlags::MS_RDONLY),
        "rw" => (true, MsFlags::MS_RDONLY),
        "nosuid" => (false, MsFlags::MS_NOSUID),
        "suid" => (true, MsFlags::MS_NOSUID),
        "nodev" => (false, MsFlags::MS_NODEV),
        "dev" => (true, MsFlags::MS_NODEV),
        "noexec" => (false, MsFlags::MS_NOEXEC),
        "exec" => (true, MsFlags::MS_NOEXEC),
        "sync" => (false, MsFlags::MS_SYNCHRONOUS),
        "async" => (true, MsFlags::MS_SYNCHRONOUS),
        "noatime" => (false, MsFlags::MS_NOATIME),
        "atime" => (true, MsFlags::MS_NOATIME),
        "nodiratime" => (false, MsFlags::MS_NODIRATIME),
        "relatime" => (false, MsFlags::MS_RELATIME),
        "strictatime" => (false, MsFlags::MS_STRICTATIME),
        "bind" => (false, MsFlags::MS_BIND),
        "rbind" => (false, MsFlags::MS_BIND | MsFlags::MS_REC),
        "remount" => (false, MsFlags::MS_REMOUNT),
        "defaults" => (false, MsFlags::empty()),
        _ => return None,
    })
}

/// Mounts every mount on `target`, in order; on failure unmounts what was mounted.
pub fn mount_all(mounts: &[RootfsMount], target: &Path) -> Result<()> {
    for (i, m) in mounts.iter().enumerate() {
        if let Err(e) = mount_one(m, target) {
            for _ in 0..i {
                let _ = umount2(target, MntFlags::MNT_DETACH);
            }
            return Err(e);
        }
    }
    Ok(())
}

fn mount_one(m: &RootfsMount, target: &Path) -> Result<()> {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in m.options {
        match flag(o) {
            Some((true, f)) => flags.remove(f),
            Some((false, f)) => flags.insert(f),
            None => data.push(o.as_str()),
        }
    }
    let data = data.join(",");
    let fail = |e: nix::errno::Errno| {
        Error::io(
            format!("mounting {} {} on {}", m.kind, m.source, target.display()),
            e.into(),
        )
    };
    let kind = if m.kind == "bind" { None } else { Some(m.kind) };
    let ro_bind = flags.contains(MsFlags::MS_BIND) && flags.contains(MsFlags::MS_RDONLY);
    mount(
        Some(m.source),
        target,
        kind,
        flags,
        (!data.is_empty()).then_some(data.as_str()),
    )
    .map_err(fail)?;
    if ro_bind {
        // a bind mount ignores MS_RDONLY until remounted
        mount(
            None::<&str>,
            target,
            None::<&str>,
            flags | MsFlags::MS_REMOUNT,
            None::<&str>,
        )
        .map_err(fail)?;
    }
    Ok(())
}

/// Unmounts everything stacked on `target` (no error if nothing is mounted there).
pub fn unmount_all(target: &Path) -> Result<()> {
    for _ in 0..64 {
        match umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => return Ok(()),
            Err(e) => {
                return Err(Error::io(
                    format!("unmounting {}", target.display()),
                    e.into(),
                ))
            }
        }
    }
    Ok(())
}
