//! `cp` between a container's filesystem and the host, with docker's naming rules. Paths in
//! the container are resolved with openat2(RESOLVE_IN_ROOT), so symlinks in the container
//! resolve inside it and never reach host files. Copying into the container refuses to write
//! through a symlink. A stopped container's rootfs is mounted for the copy only. Mounts
//! inside the container (`-v`) are not seen: the copy works on the container's own files.

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::error::{ContainerError, Result};
use super::model::Container;
use crate::engine::Engine;

fn invalid(msg: String) -> ContainerError {
    ContainerError::InvalidArgument(msg)
}

/// Opens `path` (absolute in the container) relative to the rootfs fd `root`, with symlinks
/// resolved inside the root; the last component is followed only if `follow`.
fn open_in_root(root: &File, path: &str, follow: bool) -> io::Result<OwnedFd> {
    let rel = std::ffi::CString::new(path.trim_start_matches('/').as_bytes().to_vec())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    let rel = if rel.as_bytes().is_empty() {
        std::ffi::CString::new(".").unwrap_or_default()
    } else {
        rel
    };
    // SAFETY: open_how is plain old data; zeroed is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    if !follow {
        how.flags |= libc::O_NOFOLLOW as u64;
    }
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: openat2 reads `how` and the path; both outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            rel.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn is_symlink_fd(fd: &OwnedFd) -> bool {
    // SAFETY: as in copy_from_fd.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    unsafe {
        libc::fstat(fd.as_raw_fd(), &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFLNK
    }
}

/// The target of the symlink an O_PATH|O_NOFOLLOW fd refers to (not the magic link's).
fn read_link_fd(fd: &OwnedFd) -> io::Result<PathBuf> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: readlinkat with an empty path reads the link the fd refers to; buf is writable.
    let n = unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(&buf)))
}

fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Copies `src` to `dst` (which must not exist yet, or be a directory when `src` is one):
/// files, directories, symlinks (as symlinks), modes and owners. Never writes through an
/// existing symlink at the destination.
fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    let m = fs::symlink_metadata(src)?;
    if m.file_type().is_symlink() {
        let _ = fs::remove_file(dst);
        std::os::unix::fs::symlink(fs::read_link(src)?, dst)?;
    } else if m.is_dir() {
        match fs::symlink_metadata(dst) {
            Ok(d) if d.is_dir() => {}
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "cannot overwrite non-directory {} with a directory",
                        dst.display()
                    ),
                ))
            }
            Err(_) => fs::create_dir(dst)?,
        }
        for e in fs::read_dir(src)? {
            let e = e?;
            copy_tree(&e.path(), &dst.join(e.file_name()))?;
        }
        fs::set_permissions(dst, fs::Permissions::from_mode(m.mode() & 0o7777))?;
    } else if m.is_file() {
        let mut from = File::open(src)?;
        let mut to = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(m.mode() & 0o7777)
            .open(dst)?;
        io::copy(&mut from, &mut to)?;
        to.set_permissions(fs::Permissions::from_mode(m.mode() & 0o7777))?;
    } else {
        // Devices, fifos and sockets are skipped, as docker cp does for sockets.
        return Ok(());
    }
    let _ = std::os::unix::fs::lchown(dst, Some(m.uid()), Some(m.gid()));
    Ok(())
}

/// Copies what `fd` (an O_PATH descriptor in the container) refers to, to `dst`. The fd's
/// /proc path is a magic link, so the top level is typed with fstat, not lstat.
fn copy_from_fd(fd: &OwnedFd, dst: &Path) -> io::Result<()> {
    // SAFETY: stat is plain old data; fstat fills it for our descriptor.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let p = fd_path(fd);
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => copy_tree(&p.join("."), dst),
        libc::S_IFLNK => {
            let target = read_link_fd(fd)?;
            let _ = fs::remove_file(dst);
            std::os::unix::fs::symlink(target, dst)
        }
        libc::S_IFREG => {
            let mut from = File::open(&p)?;
            let mode = st.st_mode & 0o7777;
            let mut to = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .custom_flags(libc::O_NOFOLLOW)
                .mode(mode)
                .open(dst)?;
            io::copy(&mut from, &mut to)?;
            to.set_permissions(fs::Permissions::from_mode(mode))?;
            let _ = std::os::unix::fs::lchown(dst, Some(st.st_uid), Some(st.st_gid));
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Where a copy of `src_name` lands given docker's rules for DEST: an existing directory
/// receives it under its own name (or its contents, for `SRC/.`); otherwise DEST is the copy.
fn landing(dst: &Path, dst_exists_dir: bool, src_name: &str, contents_only: bool) -> PathBuf {
    if dst_exists_dir && !contents_only {
        dst.join(src_name)
    } else {
        dst.to_path_buf()
    }
}

impl Engine {
    fn with_rootfs<T>(&self, c: &Container, f: impl FnOnce(&File) -> Result<T>) -> Result<T> {
        let running = c.status.is_up() && self.monitor_alive(c);
        let merged = if running {
            self.rootfs_paths(&c.id).merged
        } else {
            self.mount_rootfs(&c.id, &c.image)?
        };
        let res = File::open(&merged)
            .map_err(|e| ContainerError::io(format!("opening {}", merged.display()), e))
            .and_then(|root| f(&root));
        if !running {
            self.unmount_rootfs(&c.id)?;
        }
        res
    }

    /// `cp CONTAINER:SRC HOST_DEST`.
    pub fn copy_from_container(&self, c: &Container, src: &str, dst: &Path) -> Result<()> {
        self.with_rootfs(c, |root| {
            let fd = open_in_root(root, src, false).map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    invalid(format!(
                        "Could not find the file {src} in container {}",
                        c.name
                    ))
                } else {
                    ContainerError::io(format!("opening {src} in the container"), e)
                }
            })?;
            let from = fd_path(&fd);
            let src_is_dir = fs::symlink_metadata(&from)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            let contents_only = src.ends_with("/.");
            let name = Path::new(src.trim_end_matches("/.").trim_end_matches('/'))
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| "/".into());
            let dst_dir = dst.is_dir();
            if !dst.exists() && dst.to_string_lossy().ends_with('/') && !src_is_dir {
                return Err(invalid(format!("no such directory: {}", dst.display())));
            }
            if dst.exists() && !dst_dir && src_is_dir {
                return Err(invalid(format!(
                    "cannot copy directory to file: {}",
                    dst.display()
                )));
            }
            let target = landing(dst, dst_dir, &name, contents_only);
            copy_from_fd(&fd, &target)
                .map_err(|e| ContainerError::io(format!("copying to {}", target.display()), e))
        })
    }

    /// `cp HOST_SRC CONTAINER:DEST`.
    pub fn copy_to_container(&self, c: &Container, src: &Path, dst: &str) -> Result<()> {
        let meta = fs::symlink_metadata(src)
            .map_err(|e| ContainerError::io(format!("lstat {}", src.display()), e))?;
        let contents_only = src.to_string_lossy().ends_with("/.");
        let name = src
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        self.with_rootfs(c, |root| {
            let trimmed = dst.trim_end_matches('/');
            let existing = open_in_root(root, if trimmed.is_empty() { "/" } else { trimmed }, true);
            let (base, target_name) = match existing {
                Ok(fd)
                    if fs::metadata(fd_path(&fd))
                        .map(|m| m.is_dir())
                        .unwrap_or(false) =>
                {
                    if contents_only || name.is_empty() {
                        (fd, None)
                    } else {
                        (fd, Some(name.clone()))
                    }
                }
                Ok(_) if meta.is_dir() => {
                    return Err(invalid(format!("cannot copy directory to file: {dst}")))
                }
                Ok(_) | Err(_) => {
                    if dst.ends_with('/') {
                        return Err(invalid(format!(
                            "no such directory: {dst} in container {}",
                            c.name
                        )));
                    }
                    let p = Path::new(trimmed);
                    let parent = p
                        .parent()
                        .map(|x| x.to_string_lossy().to_string())
                        .unwrap_or_default();
                    let leaf = p
                        .file_name()
                        .map(|x| x.to_string_lossy().to_string())
                        .unwrap_or_default();
                    let fd =
                        open_in_root(root, if parent.is_empty() { "/" } else { &parent }, true)
                            .map_err(|e| {
                                invalid(format!(
                                    "no such directory: {parent} in container {} ({e})",
                                    c.name
                                ))
                            })?;
                    (fd, Some(leaf))
                }
            };
            let base_path = fd_path(&base);
            if !fs::metadata(&base_path)
                .map(|m| m.is_dir())
                .unwrap_or(false)
            {
                return Err(invalid(format!("not a directory: {dst}")));
            }
            let target = match target_name {
                Some(n) => base_path.join(n),
                None => base_path,
            };
            copy_tree(src, &target)
                .map_err(|e| ContainerError::io(format!("copying into {dst}"), e))
        })
    }
}

impl Engine {
    /// `cp CONTAINER:SRC -`: a tar stream of SRC (named by its base name) to `out`.
    pub fn copy_from_container_tar(
        &self,
        c: &Container,
        src: &str,
        out: &mut dyn io::Write,
    ) -> Result<()> {
        self.with_rootfs(c, |root| {
            let fd = open_in_root(root, src, false).map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    invalid(format!(
                        "Could not find the file {src} in container {}",
                        c.name
                    ))
                } else {
                    ContainerError::io(format!("opening {src} in the container"), e)
                }
            })?;
            let name = Path::new(src.trim_end_matches('/'))
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| ".".into());
            let from = fd_path(&fd);
            let res = (|| -> io::Result<()> {
                let mut tar = tar::Builder::new(out);
                tar.follow_symlinks(false);
                tar.mode(tar::HeaderMode::Complete);
                if is_symlink_fd(&fd) {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    h.set_mode(0o777);
                    h.set_uid(0);
                    h.set_gid(0);
                    let target = read_link_fd(&fd)?;
                    tar.append_link(&mut h, &name, target)?;
                } else if fs::metadata(&from)?.is_dir() {
                    tar.append_dir_all(&name, from.join("."))?;
                } else {
                    tar.append_file(&name, &mut File::open(&from)?)?;
                }
                tar.finish()
            })();
            res.map_err(|e| ContainerError::io("writing the tar stream", e))
        })
    }

    /// `cp - CONTAINER:DEST`: extracts a tar stream into the directory DEST.
    pub fn copy_tar_to_container(
        &self,
        c: &Container,
        input: &mut dyn io::Read,
        dst: &str,
    ) -> Result<()> {
        self.with_rootfs(c, |root| {
            let fd = open_in_root(root, dst, true).map_err(|e| {
                invalid(format!(
                    "Could not find the file {dst} in container {} ({e})",
                    c.name
                ))
            })?;
            let dir = fd_path(&fd);
            if !fs::metadata(&dir).map(|m| m.is_dir()).unwrap_or(false) {
                return Err(invalid(format!(
                    "destination \"{}:{dst}\" must be a directory",
                    c.name
                )));
            }
            // tar refuses entries whose resolved parent leaves `dir` (symlinks to the host).
            let mut a = tar::Archive::new(input);
            a.set_preserve_permissions(true);
            a.set_overwrite(true);
            a.unpack(&dir)
                .map_err(|e| ContainerError::io(format!("extracting into {dst}"), e))
        })
    }
}
