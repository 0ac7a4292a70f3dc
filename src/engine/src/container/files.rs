//! The container's filesystem from the outside: `diff` (changes in the upper dir against
//! the image) and `export` (the merged rootfs as a tar stream).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::error::{ContainerError, Result};
use super::model::Container;
use crate::engine::Engine;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Changed(String),
    Added(String),
    Deleted(String),
}

impl Change {
    /// docker diff's line: `C /etc`, `A /etc/x`, `D /tmp/y`.
    pub fn line(&self) -> String {
        match self {
            Change::Changed(p) => format!("C {p}"),
            Change::Added(p) => format!("A {p}"),
            Change::Deleted(p) => format!("D {p}"),
        }
    }

    fn path(&self) -> &str {
        match self {
            Change::Changed(p) | Change::Added(p) | Change::Deleted(p) => p,
        }
    }
}

/// Is `rel` present in any of the image's layers?
fn in_lowers(lowers: &[PathBuf], rel: &Path) -> bool {
    lowers
        .iter()
        .any(|l| fs::symlink_metadata(l.join(rel)).is_ok())
}

fn walk(upper: &Path, rel: &Path, lowers: &[PathBuf], out: &mut Vec<Change>) -> Result<()> {
    let dir = upper.join(rel);
    let rd = fs::read_dir(&dir)
        .map_err(|e| ContainerError::io(format!("reading {}", dir.display()), e))?;
    for e in rd.flatten() {
        let r = rel.join(e.file_name());
        let shown = format!("/{}", r.display());
        let Ok(m) = e.metadata() else { continue };
        // overlayfs whiteout: a 0/0 character device.
        if m.file_type().is_char_device() && m.rdev() == 0 {
            out.push(Change::Deleted(shown));
            continue;
        }
        if in_lowers(lowers, &r) {
            out.push(Change::Changed(shown));
        } else {
            out.push(Change::Added(shown));
        }
        if m.is_dir() {
            walk(upper, &r, lowers, out)?;
        }
    }
    Ok(())
}

impl Engine {
    /// docker diff: what the container changed, sorted by path.
    pub fn diff_container(&self, c: &Container) -> Result<Vec<Change>> {
        let upper = self.rootfs_paths(&c.id).upper;
        let lowers = self.lower_dirs(&c.image)?;
        let mut out = Vec::new();
        if upper.is_dir() {
            walk(&upper, Path::new(""), &lowers, &mut out)?;
        }
        // Mountpoints the runtime creates belong to docker's init layer: not the user's changes.
        const INIT: &[&str] = &[
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/dev/console",
            "/proc",
            "/sys",
            "/sys/fs/cgroup",
            "/etc/hostname",
            "/etc/hosts",
            "/etc/resolv.conf",
            "/etc/mtab",
        ];
        let init_only = |p: &str| INIT.contains(&p);
        out.retain(|c| !matches!(c, Change::Added(p) if init_only(p)));
        // A directory that is only "changed" because of those mountpoints is unchanged.
        let snapshot = out.clone();
        out.retain(|c| match c {
            Change::Changed(p) => {
                let prefix = format!("{p}/");
                let had_init_child = INIT.iter().any(|i| i.starts_with(&prefix));
                !had_init_child || snapshot.iter().any(|o| o.path().starts_with(&prefix))
            }
            _ => true,
        });
        out.sort_by(|a, b| a.path().cmp(b.path()));
        Ok(out)
    }

    /// docker export: the container's filesystem as a tar stream. A stopped container's
    /// rootfs is mounted for the copy and unmounted after.
    pub fn export_container(&self, c: &Container, out: &mut dyn Write) -> Result<()> {
        let running = c.status.is_up() && self.monitor_alive(c);
        let merged = if running {
            self.rootfs_paths(&c.id).merged
        } else {
            self.mount_rootfs(&c.id, &c.image)?
        };
        let res = (|| -> std::io::Result<()> {
            let mut tar = tar::Builder::new(out);
            tar.follow_symlinks(false);
            tar.mode(tar::HeaderMode::Complete);
            tar.append_dir_all(".", &merged)?;
            tar.finish()
        })();
        if !running {
            self.unmount_rootfs(&c.id)?;
        }
        res.map_err(|e| ContainerError::io("exporting the container", e))
    }

    /// docker rename.
    pub fn rename_container(&self, c: &Container, new: &str) -> Result<()> {
        let new = new.trim_start_matches('/');
        if !super::names::valid(new) {
            return Err(ContainerError::InvalidArgument(format!(
                "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        if new == c.name {
            return Err(ContainerError::InvalidArgument(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        let res = self.store.db.tx(|q| {
            if let Some(other) = q.container_by_name(new)? {
                return Ok(Err(ContainerError::Conflict(format!(
                    "Error when allocating new name: Conflict. The container name \"/{new}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    other.id
                ))));
            }
            q.rename_container(&c.id, new)?;
            Ok(Ok(()))
        })?;
        res
    }

    /// docker top: the runtime's `ps`, which runs the host's ps over the container's pids.
    pub fn top_container(&self, c: &Container, ps_args: &[String]) -> Result<String> {
        if !c.status.is_up() || !self.monitor_alive(c) {
            return Err(ContainerError::Conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        let mut cmd = self.runtime_command()?;
        cmd.args(["ps", &c.id]);
        if !ps_args.is_empty() {
            cmd.arg("--").args(ps_args);
        }
        let out = cmd
            .output()
            .map_err(|e| ContainerError::io("running the OCI runtime", e))?;
        if !out.status.success() {
            let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(ContainerError::Runtime(msg));
        }
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }
}
