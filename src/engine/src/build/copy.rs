//! COPY/ADD file work: resolving the destination inside the step's rootfs without leaving
//! it, copying with metadata (mode, mtime; owner 0:0 or `--chown`), extracting local tar
//! archives for ADD, and hashing sources for the cache key.

use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::BuildError;

fn io_err(what: &Path) -> impl FnOnce(io::Error) -> BuildError + '_ {
    move |e| BuildError::Io(format!("copying to {}: {e}", what.display()))
}

/// `path` (absolute, in the container) resolved under `root`, symlinks followed inside root
/// (an absolute link target restarts at root, `..` stops at root).
pub fn resolve_in_root(root: &Path, path: &str) -> PathBuf {
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .rev()
        .map(String::from)
        .collect();
    let mut cur: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let mut cand = root.to_path_buf();
        cand.extend(cur.iter());
        cand.push(&c);
        match fs::symlink_metadata(&cand) {
            Ok(m) if m.file_type().is_symlink() && hops < 64 => {
                hops += 1;
                let Ok(t) = fs::read_link(&cand) else {
                    cur.push(c);
                    continue;
                };
                let t = t.to_string_lossy().to_string();
                if t.starts_with('/') {
                    cur.clear();
                }
                for p in t.split('/').filter(|s| !s.is_empty()).rev() {
                    todo.push(p.to_string());
                }
            }
            _ => cur.push(c),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(cur.iter());
    out
}

/// Creates the directories of `path` under root (0755, root-owned, as docker does).
pub fn mkdir_all(root: &Path, path: &str) -> Result<PathBuf, BuildError> {
    let mut cur = String::new();
    for c in path.split('/').filter(|s| !s.is_empty()) {
        cur.push('/');
        cur.push_str(c);
        let p = resolve_in_root(root, &cur);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(BuildError::Invalid(format!(
                    "failed to copy files: mkdir {cur}: not a directory"
                )))
            }
            Err(_) => {
                fs::create_dir(&p).map_err(io_err(&p))?;
                let _ = fs::set_permissions(&p, fs::Permissions::from_mode(0o755));
            }
        }
    }
    Ok(resolve_in_root(root, path))
}

#[derive(Clone, Copy, Debug)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

fn set_times(p: &Path, m: &fs::Metadata) {
    let ts = [
        libc::timespec {
            tv_sec: m.atime(),
            tv_nsec: m.atime_nsec(),
        },
        libc::timespec {
            tv_sec: m.mtime(),
            tv_nsec: m.mtime_nsec(),
        },
    ];
    let c = cstr(p);
    // SAFETY: c is NUL-terminated and ts has two valid entries.
    unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
}

fn lchown(p: &Path, o: Owner) -> Result<(), BuildError> {
    std::os::unix::fs::lchown(p, Some(o.uid), Some(o.gid)).map_err(io_err(p))
}

/// Copies `src` (file, dir or symlink) to `dst`, keeping mode and mtime; a directory's
/// contents merge into an existing directory.
pub fn copy_tree(
    src: &Path,
    dst: &Path,
    owner: Owner,
    chmod: Option<u32>,
) -> Result<(), BuildError> {
    let m = fs::symlink_metadata(src)
        .map_err(|e| BuildError::Io(format!("reading {}: {e}", src.display())))?;
    let ft = m.file_type();
    if ft.is_dir() {
        match fs::symlink_metadata(dst) {
            Ok(d) if d.is_dir() => {}
            Ok(_) => {
                fs::remove_file(dst).map_err(io_err(dst))?;
                fs::create_dir(dst).map_err(io_err(dst))?;
            }
            Err(_) => fs::create_dir(dst).map_err(io_err(dst))?,
        }
        let mut names: Vec<_> = fs::read_dir(src)
            .map_err(|e| BuildError::Io(format!("reading {}: {e}", src.display())))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            copy_tree(&src.join(&n), &dst.join(&n), owner, chmod)?;
        }
        let mode = chmod.unwrap_or(m.mode() & 0o7777);
        fs::set_permissions(dst, fs::Permissions::from_mode(mode)).map_err(io_err(dst))?;
        lchown(dst, owner)?;
        set_times(dst, &m);
        return Ok(());
    }
    if let Ok(d) = fs::symlink_metadata(dst) {
        if d.is_dir() {
            fs::remove_dir_all(dst).map_err(io_err(dst))?;
        } else {
            fs::remove_file(dst).map_err(io_err(dst))?;
        }
    }
    if ft.is_symlink() {
        let t = fs::read_link(src)
            .map_err(|e| BuildError::Io(format!("reading {}: {e}", src.display())))?;
        std::os::unix::fs::symlink(t, dst).map_err(io_err(dst))?;
        lchown(dst, owner)?;
        set_times(dst, &m);
        return Ok(());
    }
    if !ft.is_file() {
        // Sockets, fifos and devices in a context are skipped, as docker's tar does.
        return Ok(());
    }
    fs::copy(src, dst).map_err(io_err(dst))?;
    lchown(dst, owner)?;
    let mode = chmod.unwrap_or(m.mode() & 0o7777);
    fs::set_permissions(dst, fs::Permissions::from_mode(mode)).map_err(io_err(dst))?;
    set_times(dst, &m);
    Ok(())
}

/// Extracts a tar stream under `dest` (never outside it), as ADD does with a local archive;
/// with `owner`, entries get that owner instead of the archive's.
pub fn extract_tar(r: impl Read, dest: &Path, owner: Option<Owner>) -> Result<(), BuildError> {
    let bad = |e: io::Error| BuildError::Invalid(format!("extracting archive: {e}"));
    let mut ar = tar::Archive::new(r);
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(true);
    ar.set_preserve_ownerships(owner.is_none());
    ar.set_overwrite(true);
    ar.set_unpack_xattrs(false);
    for e in ar.entries().map_err(bad)? {
        let mut e = e.map_err(bad)?;
        let path = e.path().map_err(bad)?.into_owned();
        let rel = path
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect::<PathBuf>();
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(BuildError::Invalid(format!(
                "extracting archive: entry {:?} leaves the destination",
                path.display().to_string()
            )));
        }
        if rel.as_os_str().is_empty() {
            continue;
        }
        // unpack_in refuses paths through symlinks out of dest.
        let ok = e.unpack_in(dest).map_err(bad)?;
        if ok {
            if let Some(o) = owner {
                let _ = lchown(&dest.join(&rel), o);
            }
        }
    }
    Ok(())
}

/// Feeds a source's names, modes, link targets and contents into the cache hash.
pub fn hash_tree(h: &mut Sha256, src: &Path, rel: &str) -> Result<(), BuildError> {
    let m = fs::symlink_metadata(src)
        .map_err(|e| BuildError::Io(format!("reading {}: {e}", src.display())))?;
    h.update(rel.as_bytes());
    h.update([0]);
    h.update(m.mode().to_le_bytes());
    if m.is_dir() {
        let mut names: Vec<_> = fs::read_dir(src)
            .map_err(|e| BuildError::Io(format!("reading {}: {e}", src.display())))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            let r = format!("{rel}/{}", n.to_string_lossy());
            hash_tree(h, &src.join(&n), &r)?;
        }
    } else if m.file_type().is_symlink() {
        h.update(
            fs::read_link(src)
                .unwrap_or_default()
                .as_os_str()
                .as_bytes(),
        );
    } else if m.is_file() {
        h.update(m.len().to_le_bytes());
        let mut f = fs::File::open(src)
            .map_err(|e| BuildError::Io(format!("reading {}: {e}", src.display())))?;
        let mut buf = vec![0u8; 65536];
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| BuildError::Io(format!("reading {}: {e}", src.display())))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(())
}

/// `--chown=user[:group]` against the image's /etc/passwd and /etc/group; a missing group
/// takes the user's name or number, as docker does.
pub fn parse_chown(root: &Path, spec: &str) -> Result<Owner, BuildError> {
    let (u, g) = spec.split_once(':').unwrap_or((spec, spec));
    let read = |f: &str| fs::read_to_string(root.join(f)).unwrap_or_default();
    let lookup = |file: &str, name: &str, field: usize| -> Option<u32> {
        read(file).lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > field && f[0] == name).then(|| f[2].parse().ok())?
        })
    };
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup("etc/passwd", u, 3).ok_or_else(|| {
            BuildError::Invalid(format!(
                "unable to convert uid/gid chown string to host mapping: can't find uid for user {u}: no such user: {u}"
            ))
        })?,
    };
    let gid = match g.parse::<u32>() {
        Ok(n) => n,
        Err(_) => match lookup("etc/group", g, 2) {
            Some(n) => n,
            None if !spec.contains(':') => {
                // `--chown=name`: the user's primary group.
                read("etc/passwd")
                    .lines()
                    .find_map(|l| {
                        let f: Vec<&str> = l.split(':').collect();
                        (f.len() > 3 && f[0] == u).then(|| f[3].parse().ok())?
                    })
                    .unwrap_or(uid)
            }
            None => {
                return Err(BuildError::Invalid(format!(
                    "unable to convert uid/gid chown string to host mapping: can't find gid for group {g}: no such group: {g}"
                )))
            }
        },
    };
    Ok(Owner { uid, gid })
}
