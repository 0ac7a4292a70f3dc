//! Unpacking a layer tar into a snapshot directory ready to be an overlayfs lower dir.
//!
//! Whiteouts become what overlayfs understands: `.wh.NAME` a 0:0 character device, `.wh..wh..opq`
//! the `trusted.overlay.opaque=y` xattr. Ownership, modes, xattrs, hard links and device nodes are
//! kept. An entry whose path has `..` or that would be created through a symlink is refused: the
//! unpacker never writes outside the snapshot directory.

use std::collections::HashSet;
use std::ffi::{CString, OsStr};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("invalid layer entry {path:?}: {reason}")]
    Unsafe { path: String, reason: &'static str },
    #[error("reading layer tar: {0}")]
    Tar(io::Error),
    #[error("unpacking {path}: {source}")]
    Io { path: String, source: io::Error },
}

fn io_err(path: &Path, source: io::Error) -> UnpackError {
    UnpackError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What unpacking measured.
pub struct Unpacked {
    /// Sum of the regular files' sizes: docker's idea of a layer's size.
    pub size: u64,
}

/// Compression of a blob, detected from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Wraps `r` in the decompressor its magic bytes call for.
pub fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut r = io::BufReader::with_capacity(256 * 1024, r);
    let head = io::BufRead::fill_buf(&mut r)?;
    Ok(match detect(head) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        Compression::None => Box::new(r),
    })
}

/// Cleans a tar entry path: leading `/` and `./` dropped, `..` refused.
fn clean(raw: &Path) -> Result<PathBuf, UnpackError> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                return Err(UnpackError::Unsafe {
                    path: raw.display().to_string(),
                    reason: "path contains \"..\"",
                })
            }
        }
    }
    Ok(out)
}

struct Unpacker<'a> {
    dest: &'a Path,
    /// Directories known to be real directories inside `dest` (not symlinks).
    safe_dirs: HashSet<PathBuf>,
    dir_times: Vec<(PathBuf, i64)>,
    size: u64,
    /// Copy buffer: large writes mean far fewer syscalls than io::copy's 8 KiB.
    buf: Vec<u8>,
}

fn copy_big(r: &mut impl Read, w: &mut impl io::Write, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0;
    loop {
        // Fill the buffer before writing: decompressors return small reads.
        let mut filled = 0;
        while filled < buf.len() {
            match r.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            return Ok(total);
        }
        w.write_all(&buf[..filled])?;
        total += filled as u64;
    }
}

pub fn unpack<R: Read>(reader: R, dest: &Path) -> Result<Unpacked, UnpackError> {
    let mut ar = tar::Archive::new(reader);
    let mut u = Unpacker {
        dest,
        safe_dirs: HashSet::new(),
        dir_times: Vec::new(),
        size: 0,
        buf: vec![0; 1 << 20],
    };
    u.safe_dirs.insert(PathBuf::new());
    for entry in ar.entries().map_err(UnpackError::Tar)? {
        let mut entry = entry.map_err(UnpackError::Tar)?;
        u.entry(&mut entry)?;
    }
    // Directory mtimes last: creating children changed them.
    for (p, mtime) in u.dir_times.iter().rev() {
        set_times(&u.dest.join(p), *mtime, false).map_err(|e| io_err(p, e))?;
    }
    Ok(Unpacked { size: u.size })
}

impl Unpacker<'_> {
    /// Makes sure every parent of `rel` exists as a real directory, refusing symlinks on the way.
    fn ensure_parents(&mut self, rel: &Path, raw: &Path) -> Result<(), UnpackError> {
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        if self.safe_dirs.contains(parent) {
            return Ok(());
        }
        let mut cur = PathBuf::new();
        for c in parent.components() {
            cur.push(c);
            if self.safe_dirs.contains(&cur) {
                continue;
            }
            let full = self.dest.join(&cur);
            match fs::symlink_metadata(&full) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(UnpackError::Unsafe {
                        path: raw.display().to_string(),
                        reason: "path goes through a symlink",
                    })
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(UnpackError::Unsafe {
                        path: raw.display().to_string(),
                        reason: "a parent is not a directory",
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::DirBuilder::new()
                        .mode(0o755)
                        .create(&full)
                        .map_err(|e| io_err(&full, e))?;
                }
                Err(e) => return Err(io_err(&full, e)),
            }
            self.safe_dirs.insert(cur.clone());
        }
        Ok(())
    }

    /// Removes whatever is at `full` unless it is a directory and `keep_dir`.
    fn clear(&mut self, rel: &Path, full: &Path, keep_dir: bool) -> Result<(), UnpackError> {
        match fs::symlink_metadata(full) {
            Ok(m) if m.is_dir() && keep_dir => Ok(()),
            Ok(m) if m.is_dir() => {
                self.safe_dirs.retain(|d| !d.starts_with(rel));
                fs::remove_dir_all(full).map_err(|e| io_err(full, e))
            }
            Ok(_) => fs::remove_file(full).map_err(|e| io_err(full, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(full, e)),
        }
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), UnpackError> {
        let raw = entry.path().map_err(UnpackError::Tar)?.into_owned();
        let rel = clean(&raw)?;
        let header = entry.header().clone();
        let kind = header.entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            return Ok(());
        }
        let mode = header.mode().map_err(UnpackError::Tar)? & 0o7777;
        let uid = header.uid().map_err(UnpackError::Tar)? as u32;
        let gid = header.gid().map_err(UnpackError::Tar)? as u32;
        let mtime = header.mtime().unwrap_or(0) as i64;
        let full = self.dest.join(&rel);

        if rel.as_os_str().is_empty() {
            // The layer's root: only metadata.
            if kind.is_dir() {
                apply_owner_mode(&full, uid, gid, mode).map_err(|e| io_err(&full, e))?;
                self.dir_times.push((rel, mtime));
            }
            return Ok(());
        }
        self.ensure_parents(&rel, &raw)?;

        let name = rel.file_name().unwrap_or_default().as_bytes();
        if let Some(hidden) = name.strip_prefix(b".wh.") {
            let parent = rel.parent().unwrap_or(Path::new(""));
            if hidden == b".wh..opq" {
                let dir = self.dest.join(parent);
                set_xattr(&dir, "trusted.overlay.opaque", b"y").map_err(|e| io_err(&dir, e))?;
            } else {
                let target_rel = parent.join(OsStr::from_bytes(hidden));
                let target = self.dest.join(&target_rel);
                self.clear(&target_rel, &target, false)?;
                mknod(&target, libc::S_IFCHR, 0, 0).map_err(|e| io_err(&target, e))?;
            }
            return Ok(());
        }

        let xattrs = pax_xattrs(entry)?;
        match kind {
            tar::EntryType::Directory => {
                self.clear(&rel, &full, true)?;
                if !full.is_dir() {
                    fs::DirBuilder::new()
                        .mode(0o700)
                        .create(&full)
                        .map_err(|e| io_err(&full, e))?;
                }
                apply_owner_mode(&full, uid, gid, mode).map_err(|e| io_err(&full, e))?;
                apply_xattrs(&full, &xattrs)?;
                self.safe_dirs.insert(rel.clone());
                self.dir_times.push((rel, mtime));
                return Ok(());
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.clear(&rel, &full, false)?;
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&full)
                    .map_err(|e| io_err(&full, e))?;
                self.size +=
                    copy_big(entry, &mut f, &mut self.buf).map_err(|e| io_err(&full, e))?;
                let fd = f.as_raw_fd();
                // SAFETY: fd is a valid open descriptor owned by `f` for the duration of the calls.
                if unsafe { libc::fchown(fd, uid, gid) } != 0 {
                    return Err(io_err(&full, io::Error::last_os_error()));
                }
                f.set_permissions(fs::Permissions::from_mode(mode))
                    .map_err(|e| io_err(&full, e))?;
                drop(f);
                apply_xattrs(&full, &xattrs)?;
            }
            tar::EntryType::Symlink => {
                self.clear(&rel, &full, false)?;
                let target = entry
                    .link_name()
                    .map_err(UnpackError::Tar)?
                    .ok_or(UnpackError::Unsafe {
                        path: raw.display().to_string(),
                        reason: "symlink without target",
                    })?
                    .into_owned();
                std::os::unix::fs::symlink(&target, &full).map_err(|e| io_err(&full, e))?;
                lchown(&full, uid, gid).map_err(|e| io_err(&full, e))?;
                apply_xattrs(&full, &xattrs)?;
            }
            tar::EntryType::Link => {
                let raw_target = entry
                    .link_name()
                    .map_err(UnpackError::Tar)?
                    .ok_or(UnpackError::Unsafe {
                        path: raw.display().to_string(),
                        reason: "hard link without target",
                    })?
                    .into_owned();
                let target_rel = clean(&raw_target)?;
                self.ensure_parents(&target_rel, &raw_target)?;
                let target = self.dest.join(&target_rel);
                match fs::symlink_metadata(&target) {
                    Ok(m) if !m.is_dir() => {}
                    _ => {
                        return Err(UnpackError::Unsafe {
                            path: raw.display().to_string(),
                            reason: "hard link target is missing or a directory",
                        })
                    }
                }
                if target_rel != rel {
                    self.clear(&rel, &full, false)?;
                    fs::hard_link(&target, &full).map_err(|e| io_err(&full, e))?;
                }
                return Ok(());
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                self.clear(&rel, &full, false)?;
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                let fmt = match kind {
                    tar::EntryType::Char => libc::S_IFCHR,
                    tar::EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                mknod(&full, fmt | mode, major, minor).map_err(|e| io_err(&full, e))?;
                lchown(&full, uid, gid).map_err(|e| io_err(&full, e))?;
                fs::set_permissions(&full, fs::Permissions::from_mode(mode))
                    .map_err(|e| io_err(&full, e))?;
                apply_xattrs(&full, &xattrs)?;
            }
            _ => {
                return Err(UnpackError::Unsafe {
                    path: raw.display().to_string(),
                    reason: "unsupported entry type",
                })
            }
        }
        set_times(&full, mtime, true).map_err(|e| io_err(&full, e))?;
        Ok(())
    }
}

fn pax_xattrs<R: Read>(entry: &mut tar::Entry<R>) -> Result<Vec<(String, Vec<u8>)>, UnpackError> {
    let mut out = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(UnpackError::Tar)? {
        for ext in exts {
            let ext = ext.map_err(UnpackError::Tar)?;
            if let Ok(key) = ext.key() {
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    out.push((name.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
    }
    Ok(out)
}

fn apply_xattrs(path: &Path, xattrs: &[(String, Vec<u8>)]) -> Result<(), UnpackError> {
    for (name, value) in xattrs {
        // A layer must not forge overlayfs metadata such as opaque markers.
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        if let Err(e) = set_xattr(path, name, value) {
            // Filesystems without xattr support lose them, as docker's vfs driver does.
            if e.raw_os_error() != Some(libc::ENOTSUP) {
                return Err(io_err(path, e));
            }
        }
    }
    Ok(())
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let p = cpath(path)?;
    let n = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: both strings are NUL-terminated and live across the call; value is a valid slice.
    check(unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

fn lchown(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    let p = cpath(path)?;
    // SAFETY: p is a valid NUL-terminated path.
    check(unsafe { libc::lchown(p.as_ptr(), uid, gid) })
}

fn apply_owner_mode(path: &Path, uid: u32, gid: u32, mode: u32) -> io::Result<()> {
    lchown(path, uid, gid)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

fn mknod(path: &Path, mode: u32, major: u32, minor: u32) -> io::Result<()> {
    let p = cpath(path)?;
    // SAFETY: p is a valid NUL-terminated path; makedev is a pure computation.
    check(unsafe { libc::mknod(p.as_ptr(), mode, libc::makedev(major, minor)) })
}

fn set_times(path: &Path, mtime: i64, nofollow: bool) -> io::Result<()> {
    let p = cpath(path)?;
    let ts = libc::timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    let times = [ts, ts];
    let flags = if nofollow {
        libc::AT_SYMLINK_NOFOLLOW
    } else {
        0
    };
    // SAFETY: p is NUL-terminated and `times` is a valid two-element array.
    check(unsafe { libc::utimensat(libc::AT_FDCWD, p.as_ptr(), times.as_ptr(), flags) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotdot_paths_are_refused() {
        assert!(clean(Path::new("../../etc/passwd")).is_err());
        assert!(clean(Path::new("a/../../b")).is_err());
        assert_eq!(
            clean(Path::new("/./etc/passwd")).unwrap(),
            PathBuf::from("etc/passwd")
        );
    }
}
