//! The `cgroup` mount type: the container's view of its cgroups at e.g. /sys/fs/cgroup.
//!
//! With its own cgroup namespace the container gets real cgroup mounts (rooted at its cgroup
//! by the namespace); without one, bind mounts of its own cgroup directories, as runc does.

use super::mounts::{do_mount, MountCtx};
use super::options::MountOptions;
use super::paths::{self, Kind};
use crate::process::sync::ChildError;
use crate::spec::Mount;

/// A host cgroup hierarchy from /proc/self/mountinfo.
struct Hierarchy {
    /// Base name of the mount point (`memory`, `cpu,cpuacct`, `unified`, ...).
    name: String,
    mount_point: String,
    v2: bool,
    /// Super options (`rw,memory` or `rw,name=systemd`).
    opts: String,
}

fn hierarchies() -> Vec<Hierarchy> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        let fstype = r.next().unwrap_or("");
        let _src = r.next();
        let sopts = r.next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let Some(mp) = left.split(' ').nth(4) else {
            continue;
        };
        let name = mp.rsplit('/').next().unwrap_or("").to_string();
        out.push(Hierarchy {
            name,
            mount_point: mp.to_string(),
            v2: fstype == "cgroup2",
            opts: sopts.to_string(),
        });
    }
    out
}

/// The subsystem list for a v1 mount, from its super options (drops rw/ro and flags).
fn v1_data(opts: &str) -> String {
    opts.split(',')
        .filter(|o| {
            !matches!(
                *o,
                "rw" | "ro" | "clone_children" | "noprefix" | "xattr" | "cpuset_v2_mode"
            ) && !o.starts_with("release_agent")
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub fn mount_cgroup(ctx: &MountCtx, m: &Mount, opts: &MountOptions) -> Result<(), ChildError> {
    let dest = m.destination.as_str();
    let hs = hierarchies();
    let ro = opts.flags & libc::MS_RDONLY;
    let base =
        opts.flags & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RELATIME);
    let target = paths::open_or_create(ctx.root, dest, Kind::Dir)?;
    if let Some(h) = hs
        .iter()
        .find(|h| h.v2 && h.mount_point == "/sys/fs/cgroup")
    {
        let _ = h;
        // Unified host: one cgroup2 mount.
        return mount_v2(ctx, &target, dest, base | ro);
    }
    // v1 or hybrid: a tmpfs holding one mount per hierarchy.
    do_mount(
        Some("tmpfs"),
        &target,
        dest,
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )?;
    for h in &hs {
        let sub = format!("{}/{}", dest.trim_end_matches('/'), h.name);
        let t = paths::open_or_create(ctx.root, &sub, Kind::Dir)?;
        if h.v2 {
            mount_v2(ctx, &t, &sub, base | ro)?;
            continue;
        }
        if ctx.cgroupns {
            let data = v1_data(&h.opts);
            do_mount(
                Some("cgroup"),
                &t,
                &sub,
                Some("cgroup"),
                base | ro,
                Some(&data),
            )?;
        } else {
            bind_own(ctx, h, &t, &sub, base | ro)?;
        }
    }
    // Co-mounted controllers get the usual symlinks (cpu -> cpu,cpuacct).
    for h in hs.iter().filter(|h| h.name.contains(',')) {
        for part in h.name.split(',') {
            let link = format!("{}/{}", dest.trim_end_matches('/'), part);
            if paths::open_existing(ctx.root, &link)?.is_none() {
                let dir = paths::open_or_create(ctx.root, dest, Kind::Dir)?;
                let _ = nix::unistd::symlinkat(
                    h.name.as_str(),
                    Some(std::os::fd::AsRawFd::as_raw_fd(&dir)),
                    part,
                );
            }
        }
    }
    if ro != 0 {
        let top = paths::open_existing(ctx.root, dest)?
            .ok_or_else(|| ChildError::new(format!("{dest} vanished")))?;
        do_mount(
            None,
            &top,
            dest,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | base | ro,
            None,
        )?;
    }
    Ok(())
}

fn mount_v2(
    ctx: &MountCtx,
    target: &std::os::fd::OwnedFd,
    shown: &str,
    bits: libc::c_ulong,
) -> Result<(), ChildError> {
    if ctx.cgroupns {
        return do_mount(Some("cgroup2"), target, shown, Some("cgroup2"), bits, None);
    }
    let h = Hierarchy {
        name: String::new(),
        mount_point: hierarchies()
            .into_iter()
            .find(|h| h.v2)
            .map(|h| h.mount_point)
            .unwrap_or_else(|| "/sys/fs/cgroup".into()),
        v2: true,
        opts: String::new(),
    };
    bind_own(ctx, &h, target, shown, bits)
}

/// Bind mounts the container's own cgroup directory of hierarchy `h`.
fn bind_own(
    ctx: &MountCtx,
    h: &Hierarchy,
    target: &std::os::fd::OwnedFd,
    shown: &str,
    bits: libc::c_ulong,
) -> Result<(), ChildError> {
    let own = own_cgroup(h).unwrap_or_else(|| ctx.cgroup_path.to_string());
    let src = format!("{}{}", h.mount_point, own);
    let src = if std::path::Path::new(&src).exists() {
        src
    } else {
        h.mount_point.clone()
    };
    do_mount(
        Some(&src),
        target,
        shown,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )?;
    if bits != 0 {
        let top = paths::open_existing(ctx.root, shown)?
            .ok_or_else(|| ChildError::new(format!("{shown} vanished")))?;
        do_mount(
            None,
            &top,
            shown,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | bits,
            None,
        )?;
    }
    Ok(())
}

/// This process's cgroup in hierarchy `h`, from /proc/self/cgroup.
fn own_cgroup(h: &Hierarchy) -> Option<String> {
    let data = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in data.lines() {
        let mut it = line.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        let matches = if h.v2 {
            ctrls.is_empty()
        } else {
            !ctrls.is_empty() && ctrls.split(',').all(|c| h.opts.split(',').any(|o| o == c))
        };
        if matches {
            return Some(path.to_string());
        }
    }
    None
}
