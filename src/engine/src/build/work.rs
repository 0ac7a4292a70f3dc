//! One layer-producing step's scratch space: the parent image's snapshots stacked with
//! overlayfs under a fresh upper dir at `<root>/build/<pid>-<n>/merged`. The step (a RUN in a
//! container, a COPY) writes through `merged`; the upper dir is then turned into a layer tar
//! with docker's whiteout files. Dropping a `Work` unmounts and removes everything.
//
// The overlay mount itself is the container code's (`Engine::mount_overlay`).

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::BuildError;
use crate::container::rootfs::{unmount_overlay, RootfsPaths};
use crate::container::sys;
use crate::digest::Digest;
use crate::engine::Engine;

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct Work {
    pub dir: PathBuf,
    pub upper: PathBuf,
    pub merged: PathBuf,
    mounted: bool,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> BuildError {
    let w = what.into();
    move |e| BuildError::Io(format!("{w}: {e}"))
}

/// The directory holding every build's work dirs.
pub fn base(engine: &Engine) -> PathBuf {
    engine.root().join("build")
}

/// Unmounts and removes work dirs left by builds that died (their pid is gone).
pub fn clean_stale(engine: &Engine) {
    let Ok(rd) = fs::read_dir(base(engine)) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let merged = e.path().join("merged");
        let _ = unmount_overlay(&merged);
        if !sys::is_mounted(&merged) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

impl Work {
    /// Mounts `layers` (bottom first) under a fresh upper dir.
    pub fn mount(engine: &Engine, layers: &[Digest]) -> Result<Work, BuildError> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base(engine).join(format!("{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut w = Work {
            upper: dir.join("upper"),
            merged: dir.join("merged"),
            dir,
            mounted: false,
        };
        for d in [
            &w.upper,
            &w.dir.join("work"),
            &w.merged,
            &w.dir.join("empty"),
        ] {
            fs::create_dir_all(d).map_err(io_err(format!("creating {}", d.display())))?;
        }
        let lowers: Vec<PathBuf> = layers
            .iter()
            .rev()
            .map(|d| engine.store.snapshot_path(d))
            .collect();
        let paths = RootfsPaths {
            upper: w.upper.clone(),
            work: w.dir.join("work"),
            merged: w.merged.clone(),
        };
        engine.mount_overlay(&lowers, &paths, &w.dir.join("empty"))?;
        w.mounted = true;
        Ok(w)
    }

    pub fn unmount(&mut self) {
        if self.mounted {
            let _ = unmount_overlay(&self.merged);
            self.mounted = false;
        }
    }

    /// Writes the upper dir as a layer tar: overlay whiteouts (0:0 character devices) become
    /// `.wh.NAME` files, opaque directories get a `.wh..wh..opq` entry.
    pub fn diff_tar(&self, out: impl Write) -> Result<(), BuildError> {
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        let mut links = HashMap::new();
        write_dir(&mut b, &self.upper, Path::new(""), &mut links)?;
        b.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(io_err("writing layer"))?;
        Ok(())
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        self.unmount();
        if !sys::is_mounted(&self.merged) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Does this upper-dir directory hide the lower layers' contents?
pub fn is_opaque(p: &Path) -> bool {
    let Ok(c) = CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    let mut buf = [0u8; 4];
    // SAFETY: the buffer is valid for its length; c is NUL-terminated.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

fn write_dir<W: Write>(
    b: &mut tar::Builder<W>,
    abs: &Path,
    rel: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), BuildError> {
    let rd = fs::read_dir(abs).map_err(io_err(format!("reading {}", abs.display())))?;
    let mut names: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
    names.sort();
    let werr = |e: io::Error| BuildError::Io(format!("writing layer: {e}"));
    for n in names {
        let p = abs.join(&n);
        let r = rel.join(&n);
        let m = fs::symlink_metadata(&p).map_err(io_err(format!("reading {}", p.display())))?;
        let ft = m.file_type();
        if ft.is_char_device() && m.rdev() == 0 {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(0);
            h.set_mode(0);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(m.mtime().max(0) as u64);
            let name = format!(".wh.{}", n.to_string_lossy());
            b.append_data(&mut h, rel.join(name), io::empty())
                .map_err(werr)?;
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&m, tar::HeaderMode::Complete);
        if ft.is_dir() {
            b.append_data(&mut h, &r, io::empty()).map_err(werr)?;
            if is_opaque(&p) {
                let mut o = tar::Header::new_gnu();
                o.set_entry_type(tar::EntryType::Regular);
                o.set_size(0);
                o.set_mode(0);
                o.set_uid(0);
                o.set_gid(0);
                o.set_mtime(m.mtime().max(0) as u64);
                b.append_data(&mut o, r.join(".wh..wh..opq"), io::empty())
                    .map_err(werr)?;
            }
            write_dir(b, &p, &r, links)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&p).map_err(io_err(format!("reading {}", p.display())))?;
            h.set_size(0);
            b.append_link(&mut h, &r, target).map_err(werr)?;
        } else if ft.is_file() {
            if m.nlink() > 1 {
                let key = (m.dev(), m.ino());
                if let Some(first) = links.get(&key) {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, &r, first).map_err(werr)?;
                    continue;
                }
                links.insert(key, r.clone());
            }
            let f = fs::File::open(&p).map_err(io_err(format!("reading {}", p.display())))?;
            b.append_data(&mut h, &r, f).map_err(werr)?;
        } else {
            // Devices, fifos, sockets: header only.
            h.set_size(0);
            b.append_data(&mut h, &r, io::empty()).map_err(werr)?;
        }
    }
    Ok(())
}
