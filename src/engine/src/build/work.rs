//! One layer-producing step's scratch space: the parent image's snapshots stacked with
//! overlayfs under a fresh upper dir at `<root>/build/<pid>-<n>/merged`. The step (a RUN in a
//! container, a COPY) writes through `merged`; the upper dir is then turned into a layer tar
//! with docker's whiteout files. Dropping a `Work` unmounts and removes everything.
//
// The container code has the same overlay mount (`Engine::mount_rootfs`), tied to a container
// row and directory; this is the row-less variant a build step needs.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::BuildError;
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

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn is_mounted(p: &Path) -> bool {
    let Ok(s) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = p.to_string_lossy();
    s.lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| m == want))
}

fn umount(p: &Path) {
    let Ok(c) = cstr(p) else { return };
    for _ in 0..50 {
        // SAFETY: c is a valid NUL-terminated path.
        let r = unsafe { libc::umount2(c.as_ptr(), 0) };
        if r == 0 {
            return;
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EBUSY) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: as above.
    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
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
        if is_mounted(&merged) {
            umount(&merged);
        }
        if !is_mounted(&merged) {
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
        // Short names under <root>/l, as the container code does, so deep images fit the
        // one-page mount option string.
        let links = engine.root().join("l");
        fs::create_dir_all(&links).map_err(io_err("creating layer links"))?;
        let mut names = Vec::new();
        for l in layers.iter().rev() {
            let hex = l.hex().to_string();
            let short = hex.get(..16).unwrap_or(&hex).to_string();
            let link = links.join(&short);
            let target = Path::new("../snapshots").join(&hex);
            if fs::read_link(&link).ok().as_deref() != Some(target.as_path()) {
                let _ = fs::remove_file(&link);
                if let Err(e) = std::os::unix::fs::symlink(&target, &link) {
                    if e.kind() != io::ErrorKind::AlreadyExists {
                        return Err(BuildError::Io(format!("linking {}: {e}", link.display())));
                    }
                }
            }
            names.push(short);
        }
        if names.is_empty() {
            names.push(w.dir.join("empty").display().to_string());
        }
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            names.join(":"),
            w.upper.display(),
            w.dir.join("work").display()
        );
        let t = cstr(&w.merged).map_err(io_err("mounting overlay"))?;
        let d =
            CString::new(data).map_err(|_| BuildError::Io("overlay options contain NUL".into()))?;
        let cwd = std::env::current_dir().ok();
        std::env::set_current_dir(&links).map_err(io_err("entering layer links"))?;
        // SAFETY: all pointers are valid NUL-terminated strings that outlive the call.
        let r = unsafe {
            libc::mount(
                c"overlay".as_ptr(),
                t.as_ptr(),
                c"overlay".as_ptr(),
                0,
                d.as_ptr().cast(),
            )
        };
        let err = io::Error::last_os_error();
        let _ = std::env::set_current_dir(cwd.as_deref().unwrap_or(Path::new("/")));
        if r != 0 {
            return Err(BuildError::Io(format!(
                "mounting overlay at {}: {err}",
                w.merged.display()
            )));
        }
        w.mounted = true;
        Ok(w)
    }

    pub fn unmount(&mut self) {
        if self.mounted {
            umount(&self.merged);
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
        if !is_mounted(&self.merged) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Does this upper-dir directory hide the lower layers' contents?
pub fn is_opaque(p: &Path) -> bool {
    let Ok(c) = cstr(p) else { return false };
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
