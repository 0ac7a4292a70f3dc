//! `commit`: a new image from a container's changes. The upper dir becomes one more layer
//! on top of the image's (overlayfs whiteouts turned back into `.wh.` files, the runtime's
//! mountpoints left out, as docker's init layer is), under the container's Config.

use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::error::{ContainerError, Result};
use super::model::{Container, Status};
use super::sys;
use crate::archive::desc_for;
use crate::digest::Digest;
use crate::engine::Engine;
use crate::oci;
use crate::reference::Reference;

#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    pub reference: Option<String>,
    pub author: Option<String>,
    pub message: Option<String>,
    /// Freeze a running container while its files are read (docker's default).
    pub pause: bool,
}

/// Paths the runtime creates as mountpoints: not the user's changes.
pub(crate) const INIT_PATHS: &[&str] = &[
    "dev",
    "dev/pts",
    "dev/shm",
    "dev/mqueue",
    "dev/console",
    "proc",
    "sys",
    "sys/fs/cgroup",
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
    "etc/mtab",
];

fn opaque(p: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    let mut v = [0u8; 4];
    // SAFETY: lgetxattr writes at most v.len() bytes into v; both strings are NUL-terminated.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            v.as_mut_ptr().cast(),
            v.len(),
        )
    };
    n == 1 && v[0] == b'y'
}

fn empty_file(tar: &mut tar::Builder<File>, name: &Path) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    tar.append_data(&mut h, name, io::empty())
}

/// Appends `dir` of the upper dir (relative `rel`) to the layer tar, recursively.
fn add_dir(
    tar: &mut tar::Builder<File>,
    upper: &Path,
    rel: &Path,
    lowers: &[std::path::PathBuf],
) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(upper.join(rel))?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let r = rel.join(e.file_name());
        let full = e.path();
        let m = fs::symlink_metadata(&full)?;
        let in_lower = lowers
            .iter()
            .any(|l| fs::symlink_metadata(l.join(&r)).is_ok());
        if !in_lower && INIT_PATHS.iter().any(|i| Path::new(i) == r) {
            continue;
        }
        if m.file_type().is_char_device() && m.rdev() == 0 {
            let name = format!(".wh.{}", e.file_name().to_string_lossy());
            empty_file(tar, &rel.join(name))?;
            continue;
        }
        tar.append_path_with_name(&full, &r)?;
        if m.is_dir() {
            if opaque(&full) {
                empty_file(tar, &r.join(".wh..wh..opq"))?;
            }
            add_dir(tar, upper, &r, lowers)?;
        }
    }
    Ok(())
}

impl Engine {
    pub fn commit_container(&self, c: &Container, o: &CommitOptions) -> Result<Digest> {
        let target = o
            .reference
            .as_deref()
            .map(Reference::parse_tagged)
            .transpose()?;
        let parent = self.config(&c.image)?;
        let parent_raw: serde_json::Value =
            serde_json::from_slice(&self.store.blobs.read(&c.image)?)
                .map_err(|e| ContainerError::Runtime(format!("image config {}: {e}", c.image)))?;
        let lowers = self.lower_dirs(&c.image)?;
        let upper = self.rootfs_paths(&c.id).upper;
        let tmp_dir = self.root().join("tmp");
        fs::create_dir_all(&tmp_dir).map_err(|e| ContainerError::io("creating tmp", e))?;
        let tag = crate::digest::hex(
            &sys::random32().map_err(|e| ContainerError::io("reading random bytes", e))?[..8],
        );
        let tmp = tmp_dir.join(format!("commit-{tag}.tar"));
        let paused = o.pause && c.status == Status::Running && self.monitor_alive(c);
        if paused {
            self.runtime_run(&["pause", &c.id])?;
        }
        let written = (|| -> io::Result<()> {
            let mut tar = tar::Builder::new(File::create(&tmp)?);
            tar.follow_symlinks(false);
            tar.mode(tar::HeaderMode::Complete);
            if upper.is_dir() {
                add_dir(&mut tar, &upper, Path::new(""), &lowers)?;
            }
            tar.into_inner()?.sync_all()
        })();
        if paused {
            let _ = self.runtime_run(&["resume", &c.id]);
        }
        let res = written
            .map_err(|e| ContainerError::io("writing the layer", e))
            .and_then(|_| {
                let f = File::open(&tmp).map_err(|e| ContainerError::io("reading the layer", e))?;
                Ok(self
                    .store
                    .ingest_layer(f, None, oci::OCI_LAYER_TAR, None, &|_| {})?)
            });
        let _ = fs::remove_file(&tmp);
        let (blob, info) = res?;

        let (s, ns) = crate::timefmt::now();
        let created = crate::timefmt::format_rfc3339(s, ns);
        let mut diff_ids = parent.rootfs.diff_ids.clone();
        diff_ids.push(info.diff_id.to_string());
        let mut history = parent_raw["history"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut h = serde_json::json!({"created": created, "created_by": c.command()});
        if let Some(a) = &o.author {
            h["author"] = a.clone().into();
        }
        if let Some(m) = &o.message {
            h["comment"] = m.clone().into();
        }
        history.push(h);
        let mut config = parent_raw.clone();
        config["created"] = created.clone().into();
        config["config"] = serde_json::to_value(&c.config).unwrap_or_default();
        config["container"] = c.id.clone().into();
        config["history"] = history.into();
        config["rootfs"] = serde_json::json!({"type": "layers", "diff_ids": diff_ids});
        match &o.author {
            Some(a) => config["author"] = a.clone().into(),
            None => {
                if let Some(m) = config.as_object_mut() {
                    m.remove("author");
                }
            }
        }
        if let Some(m) = config.as_object_mut() {
            m.remove("comment");
            m.remove("container_config");
        }
        let config_bytes = serde_json::to_vec(&config)
            .map_err(|e| ContainerError::Runtime(format!("image config: {e}")))?;
        self.store.blobs.put(&config_bytes, None)?;
        // A manifest when every layer has a stored blob (images that came from a registry,
        // load or import do); otherwise the image still runs and saves.
        let mut descs = Vec::new();
        for d in &parent.rootfs.diff_ids {
            let d = Digest::parse(d)?;
            match self
                .store
                .db
                .read(|q| q.layer_blobs(&d))?
                .into_iter()
                .next()
            {
                Some(b) => descs.push(desc_for(&b.media_type, &b.digest, b.size)),
                None => break,
            }
        }
        let manifest = if descs.len() == parent.rootfs.diff_ids.len() {
            descs.push(desc_for(oci::OCI_LAYER_TAR, &blob.digest, blob.size));
            Some(self.store_manifest(&config_bytes, descs)?)
        } else {
            None
        };
        let id = self.register(&config_bytes, manifest)?;
        self.store.db.tx(|q| q.set_parent(&id, &c.image))?;
        if let Some(t) = target {
            self.store.db.tx(|q| q.set_tag(&t.to_string(), &id))?;
        }
        self.write_oci_index();
        Ok(id)
    }
}
