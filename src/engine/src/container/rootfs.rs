//! The container's root filesystem: the image's unpacked layers stacked with overlayfs under
//! a per-container upper dir, mounted at start and unmounted when the container stops.

use std::fs;
use std::path::{Component, Path, PathBuf};

use super::error::{ContainerError, Result};
use super::sys;
use crate::engine::Engine;

pub struct RootfsPaths {
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
}

impl Engine {
    pub fn rootfs_paths(&self, id: &str) -> RootfsPaths {
        let d = self.container_dir(id);
        RootfsPaths {
            upper: d.join("upper"),
            work: d.join("work"),
            merged: d.join("merged"),
        }
    }

    /// The image's snapshot dirs, top layer first (overlayfs lowerdir order).
    pub fn lower_dirs(&self, image: &crate::Digest) -> Result<Vec<PathBuf>> {
        let row = self
            .store
            .db
            .read(|q| q.image(image))?
            .ok_or_else(|| crate::Error::NoSuchImage(image.to_string()))?;
        Ok(row
            .layers
            .iter()
            .rev()
            .map(|d| self.store.snapshot_path(d))
            .collect())
    }

    /// Mounts the overlay at `merged`.
    pub fn mount_rootfs(&self, id: &str, image: &crate::Digest) -> Result<PathBuf> {
        let p = self.rootfs_paths(id);
        for d in [&p.upper, &p.work, &p.merged] {
            fs::create_dir_all(d)
                .map_err(|e| ContainerError::io(format!("creating {}", d.display()), e))?;
        }
        if sys::is_mounted(&p.merged) {
            return Ok(p.merged);
        }
        let lowers = self.lower_dirs(image)?;
        self.mount_overlay(&lowers, &p, &self.container_dir(id).join("empty"))?;
        Ok(p.merged)
    }

    /// Unmounts the rootfs if mounted; retries briefly while busy, then detaches.
    pub fn unmount_rootfs(&self, id: &str) -> Result<()> {
        unmount_overlay(&self.rootfs_paths(id).merged)
    }

    /// Stacks `lowers` (snapshot dirs, top first) under `p.upper` at `p.merged`: a container's
    /// rootfs, or a build step's scratch space. `empty` stands in for an image without layers.
    pub(crate) fn mount_overlay(
        &self,
        lowers: &[PathBuf],
        p: &RootfsPaths,
        empty: &Path,
    ) -> Result<()> {
        // Short names for the lower dirs, as docker's overlay2 `l/` links: the mount runs
        // chdir'd into <root>/l, so each layer costs 17 bytes of the one-page option string
        // (about 230 layers) instead of its absolute path (about 25 layers).
        let links = self.root().join("l");
        fs::create_dir_all(&links)
            .map_err(|e| ContainerError::io(format!("creating {}", links.display()), e))?;
        let mut names = Vec::new();
        for l in lowers {
            let hex = l
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let short = hex.get(..16).unwrap_or(&hex).to_string();
            let link = links.join(&short);
            let target = Path::new("../snapshots").join(&hex);
            if fs::read_link(&link).ok().as_deref() != Some(target.as_path()) {
                let _ = fs::remove_file(&link);
                match std::os::unix::fs::symlink(&target, &link) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => {
                        return Err(ContainerError::io(format!("linking {}", link.display()), e))
                    }
                }
            }
            names.push(short);
        }
        if names.is_empty() {
            // overlayfs needs a lower dir; an image without layers gets an empty one.
            fs::create_dir_all(empty).map_err(|e| ContainerError::io("creating empty layer", e))?;
            names.push(empty.display().to_string());
        }
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            names.join(":"),
            p.upper.display(),
            p.work.display()
        );
        if data.len() >= 4096 {
            return Err(ContainerError::Runtime(format!(
                "image has too many layers ({}) for an overlay mount",
                names.len()
            )));
        }
        let cwd = std::env::current_dir().ok();
        std::env::set_current_dir(&links)
            .map_err(|e| ContainerError::io(format!("entering {}", links.display()), e))?;
        let res = sys::mount_overlay(&p.merged, &data);
        let _ = std::env::set_current_dir(cwd.as_deref().unwrap_or(Path::new("/")));
        res.map_err(|e| {
            ContainerError::io(format!("mounting overlay at {}", p.merged.display()), e)
        })
    }
}

/// Unmounts an overlay if mounted; retries briefly while busy, then detaches.
pub(crate) fn unmount_overlay(merged: &Path) -> Result<()> {
    for _ in 0..50 {
        if !sys::is_mounted(merged) {
            return Ok(());
        }
        match sys::umount(merged, 0) {
            Ok(()) => continue,
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(()),
            Err(e) => {
                return Err(ContainerError::io(
                    format!("unmounting {}", merged.display()),
                    e,
                ))
            }
        }
    }
    sys::umount(merged, libc::MNT_DETACH)
        .map_err(|e| ContainerError::io(format!("unmounting {}", merged.display()), e))
}

/// Creates `path` (absolute, inside the container) under `root` without following symlinks
/// out of it: a symlink component is refused rather than resolved.
pub fn mkdir_in_root(root: &Path, path: &str) -> Result<()> {
    let mut cur = root.to_path_buf();
    for c in Path::new(path).components() {
        let Component::Normal(n) = c else { continue };
        cur.push(n);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                // Follow only if it stays a directory inside the rootfs after resolution.
                let target = fs::canonicalize(&cur)
                    .map_err(|e| ContainerError::io(format!("resolving {path}"), e))?;
                let canon_root = fs::canonicalize(root)
                    .map_err(|e| ContainerError::io("resolving rootfs", e))?;
                if !target.starts_with(&canon_root) || !target.is_dir() {
                    return Err(ContainerError::InvalidArgument(format!(
                        "cannot create {path}: it goes through a symlink leaving the container"
                    )));
                }
                cur = target;
            }
            Ok(_) => {
                return Err(ContainerError::InvalidArgument(format!(
                    "cannot create directory {path}: not a directory"
                )))
            }
            Err(_) => fs::create_dir(&cur)
                .map_err(|e| ContainerError::io(format!("creating {path} in the container"), e))?,
        }
    }
    Ok(())
}
