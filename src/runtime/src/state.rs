//! A container's state directory under the runtime root, `state.json`, the per-container lock,
//! and the derived status.
//!
//! Status is derived every time, never trusted from the file: init pid + its start time
//! (against pid reuse), `exec.fifo` present → created, frozen cgroup → paused.

use crate::cgroups;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container {0} does not exist")]
    NotExist(String),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("parse {path}: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        op,
        path: path.display().to_string(),
        source,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What berth remembers about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    pub id: String,
    pub pid: i32,
    /// Start time of `pid` in clock ticks since boot.
    pub pid_start: u64,
    pub bundle: String,
    pub rootfs: String,
    pub created: String,
    pub cgroup_path: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub owner: String,
    /// Namespace files of the init process, for exec (`/proc/PID/ns/*` at create time).
    #[serde(default)]
    pub config_namespaces: Vec<String>,
    /// Whether the config asked for a new pid namespace (kill --all/delete semantics).
    #[serde(default)]
    pub own_pidns: bool,
    #[serde(default)]
    pub systemd_cgroup: bool,
    /// Rootless without a writable cgroup: the container runs in its creator's cgroup.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_cgroup: bool,
}

/// The runtime-spec state plus runc's extra fields, as `berth state` prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: String,
    pub rootfs: String,
    pub created: String,
    pub owner: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A container's directory, locked for the lifetime of this value.
pub struct Container {
    pub dir: PathBuf,
    pub saved: Saved,
    _lock: File,
}

pub const STATE_FILE: &str = "state.json";

/// The state root when `--root` isn't given: /run/berth for root, else (rootless)
/// $XDG_RUNTIME_DIR/berth when that is set, as runc chooses /run/user/UID/runc.
pub fn default_root() -> std::path::PathBuf {
    default_root_for(
        nix::unistd::geteuid().is_root(),
        std::env::var_os("XDG_RUNTIME_DIR").as_deref(),
    )
}

fn default_root_for(root: bool, xdg: Option<&std::ffi::OsStr>) -> std::path::PathBuf {
    match xdg.filter(|x| !root && !x.is_empty()) {
        Some(x) => Path::new(x).join("berth"),
        None => std::path::PathBuf::from("/run/berth"),
    }
}

pub const FIFO: &str = "exec.fifo";

fn lock_dir(dir: &Path) -> Result<File, StateError> {
    let f = File::open(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            StateError::NotExist(
                dir.file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
        } else {
            io("open", dir)(e)
        }
    })?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io("lock", dir)(std::io::Error::last_os_error()));
    }
    Ok(f)
}

/// Creates the runtime root if needed (0700 like runc).
pub fn ensure_root(root: &Path) -> Result<(), StateError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(io("create", root))
}

/// A freshly made, locked, still empty container directory.
pub struct NewDir {
    pub dir: PathBuf,
    lock: File,
}

impl NewDir {
    pub fn create(root: &Path, id: &str) -> Result<NewDir, StateError> {
        ensure_root(root)?;
        let dir = root.join(id);
        match std::fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StateError::Exists(id.to_string()))
            }
            Err(e) => return Err(io("create", &dir)(e)),
        }
        let lock = lock_dir(&dir)?;
        Ok(NewDir { dir, lock })
    }

    /// Writes the first state.json; from here on the container exists for other commands.
    pub fn commit(self, saved: Saved) -> Result<Container, StateError> {
        write_saved(&self.dir, &saved)?;
        Ok(Container {
            dir: self.dir,
            saved,
            _lock: self.lock,
        })
    }

    /// The lock's fd: a forked child must close it, or it would keep the container locked.
    pub fn lock_fd(&self) -> std::os::fd::RawFd {
        self.lock.as_raw_fd()
    }

    /// Removes the directory after a failed create.
    pub fn remove(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write_saved(dir: &Path, saved: &Saved) -> Result<(), StateError> {
    let tmp = dir.join(".state.json.tmp");
    let data = serde_json::to_vec(saved).map_err(|source| StateError::Parse {
        path: tmp.display().to_string(),
        source,
    })?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("create", &tmp))?;
    f.write_all(&data).map_err(io("write", &tmp))?;
    let dst = dir.join(STATE_FILE);
    std::fs::rename(&tmp, &dst).map_err(io("rename", &dst))
}

impl Container {
    /// Opens and locks an existing container.
    pub fn load(root: &Path, id: &str) -> Result<Container, StateError> {
        crate::id::validate(id).map_err(|_| StateError::NotExist(id.to_string()))?;
        let dir = root.join(id);
        let lock = lock_dir(&dir)?;
        let path = dir.join(STATE_FILE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            // A directory without state.json is a create that never finished (or crashed).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotExist(id.to_string()))
            }
            Err(e) => return Err(io("read", &path)(e)),
        };
        let saved = serde_json::from_slice(&data).map_err(|source| StateError::Parse {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Container {
            dir,
            saved,
            _lock: lock,
        })
    }

    pub fn save(&self) -> Result<(), StateError> {
        write_saved(&self.dir, &self.saved)
    }

    /// Whether the init process recorded at create time is still alive (and not a zombie).
    pub fn init_alive(&self) -> bool {
        self.saved.pid > 0
            && crate::sys::process_start_time(self.saved.pid) == Some(self.saved.pid_start)
    }

    pub fn cgroup(&self) -> Result<cgroups::Manager, cgroups::CgroupError> {
        if self.saved.no_cgroup {
            return Err(cgroups::CgroupError::Unsupported(format!(
                "container {} has no cgroup (rootless)",
                self.saved.id
            )));
        }
        cgroups::Manager::new(
            Some(&self.saved.cgroup_path),
            &self.saved.id,
            self.saved.systemd_cgroup,
        )
    }

    pub fn status(&self) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if self.dir.join(FIFO).exists() {
            return Status::Created;
        }
        match self.cgroup().and_then(|c| c.is_frozen()) {
            Ok(true) => Status::Paused,
            _ => Status::Running,
        }
    }

    pub fn oci_state(&self) -> OciState {
        let status = self.status();
        OciState {
            oci_version: crate::spec::OCI_VERSION.to_string(),
            id: self.saved.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.saved.pid
            },
            status,
            bundle: self.saved.bundle.clone(),
            rootfs: self.saved.rootfs.clone(),
            created: self.saved.created.clone(),
            owner: self.saved.owner.clone(),
            annotations: self.saved.annotations.clone(),
        }
    }

    /// Removes the state directory (the lock goes with it).
    pub fn remove_dir(&self) -> Result<(), StateError> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &self.dir)(e)),
        }
    }
}

/// Ids of every container directory under the root, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>, StateError> {
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("read", root)(e)),
    };
    let mut ids: Vec<String> = rd
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod root_tests {
    use super::*;

    #[test]
    fn rootless_state_root_is_under_xdg_runtime_dir() {
        let xdg = std::ffi::OsStr::new("/run/user/1000");
        assert_eq!(
            default_root_for(false, Some(xdg)),
            Path::new("/run/user/1000/berth")
        );
        assert_eq!(default_root_for(true, Some(xdg)), Path::new("/run/berth"));
        assert_eq!(default_root_for(false, None), Path::new("/run/berth"));
    }
}
