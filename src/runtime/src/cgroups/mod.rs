//! Cgroup management: one `Manager` enum over the v1 (cgroupfs) and v2 (unified) drivers,
//! chosen at run time (v2 when /sys/fs/cgroup is cgroup2; hybrid hosts use v1).
//!
//! Used by create/start/kill/delete/ps/pause/resume/update/events. Every resource of
//! `linux.resources` is applied or refused with a clear error; bad input is refused before
//! anything is created, and a failed `create` removes what it made.

mod bpf;
mod convert;
mod devices;
mod files;
mod mounts;
mod oom;
mod paths;
mod stats;
mod v1;
mod v2;
mod validation;

pub use oom::{OomNotifier, OomWait};
pub use stats::{
    Blkio, BlkioEntry, Cpu, CpuSet, CpuUsage, Hugetlb, IntelRdt, Memory, MemoryEntry, Pids, Stats,
    Throttling,
};

use crate::spec::Resources;
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// The host can't do what was asked (controller missing, feature absent, systemd driver).
    #[error("{0}")]
    Unsupported(String),
    /// Bad input in `linux.resources` or cgroupsPath.
    #[error("{0}")]
    Invalid(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        source: std::io::Error,
    },
    /// The kernel refused a value.
    #[error("write {value:?} to {path}: {source}")]
    Write {
        path: String,
        value: String,
        source: std::io::Error,
    },
}

/// Which hierarchy a manager drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    V1,
    V2,
}

/// A container's cgroup.
#[derive(Debug, Clone)]
pub enum Manager {
    V1(v1::V1),
    V2(v2::V2),
}

/// Runs the same call on whichever driver this is.
macro_rules! dispatch {
    ($self:ident, $m:ident => $e:expr) => {
        match $self {
            Manager::V1($m) => $e,
            Manager::V2($m) => $e,
        }
    };
}

/// The host's hierarchy: v2 when /sys/fs/cgroup is cgroup2, else v1 (including hybrid).
pub fn hierarchy() -> Result<Hierarchy, CgroupError> {
    Ok(if mounts::is_unified()? {
        Hierarchy::V2
    } else {
        Hierarchy::V1
    })
}

impl Manager {
    /// Resolves `linux.cgroupsPath` (empty: a default derived from the container id) on the
    /// host's hierarchy, as runc 1.1 does with the cgroupfs driver. Creates nothing.
    /// `systemd` selects the systemd driver (`slice:prefix:name`), which berth lacks so far.
    pub fn new(
        cgroups_path: Option<&str>,
        id: &str,
        systemd: bool,
    ) -> Result<Manager, CgroupError> {
        if systemd {
            return Err(CgroupError::Unsupported(
                "systemd cgroup driver is not supported yet: run without --systemd-cgroup".into(),
            ));
        }
        if cgroups_path.is_none_or(str::is_empty) && id.is_empty() {
            return Err(CgroupError::Invalid(
                "cgroup path and container id are both empty".into(),
            ));
        }
        Ok(match hierarchy()? {
            Hierarchy::V2 => Manager::V2(v2::V2::new(cgroups_path, id)?),
            Hierarchy::V1 => Manager::V1(v1::V1::new(cgroups_path, id)?),
        })
    }

    pub fn hierarchy(&self) -> Hierarchy {
        match self {
            Manager::V1(_) => Hierarchy::V1,
            Manager::V2(_) => Hierarchy::V2,
        }
    }

    /// The resolved path, as saved in state.json and reloaded with `Manager::new`: an absolute
    /// cgroup path, or on v1 hosts where the caller sat in different cgroups per controller
    /// and the path was relative, a JSON map controller → path (which `new` also accepts).
    pub fn path(&self) -> String {
        dispatch!(self, m => m.path())
    }

    /// Directories per controller (v1; "" = hybrid unified) or the single v2 directory ("").
    pub fn paths(&self) -> BTreeMap<String, PathBuf> {
        match self {
            Manager::V1(m) => m.paths(),
            Manager::V2(m) => BTreeMap::from([(String::new(), m.dir().to_path_buf())]),
        }
    }

    /// Checks `resources` against the host without creating anything.
    pub fn validate(&self, resources: &Resources) -> Result<(), CgroupError> {
        validation::check(resources)?;
        devices::container_rules(&resources.devices)?;
        Ok(())
    }

    /// Creates the cgroup and applies `resources` (device rules: the spec's, then runc's
    /// default allow-list), before any container process runs. On failure nothing is left.
    pub fn create(&self, resources: Option<&Resources>) -> Result<(), CgroupError> {
        dispatch!(self, m => m.create(resources))
    }

    /// Moves `pid` into the cgroup (every hierarchy on v1).
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        dispatch!(self, m => m.add_process(pid))
    }

    /// The v2 cgroup directory, for clone3(CLONE_INTO_CGROUP); `None` on v1 (use add_process).
    /// Call after `create`.
    pub fn dir_fd(&self) -> Result<Option<OwnedFd>, CgroupError> {
        match self {
            Manager::V1(_) => Ok(None),
            Manager::V2(m) => m.dir_fd().map(Some),
        }
    }

    /// Applies new limits to a live container (`berth update`); only what is given changes.
    /// Device rules can't be changed here (as with runc): that would momentarily deny devices
    /// to running processes on v1.
    pub fn set(&self, resources: &Resources) -> Result<(), CgroupError> {
        if !resources.devices.is_empty() {
            return Err(CgroupError::Unsupported(
                "device rules can't be changed on a live container: set linux.resources.devices in config.json".into(),
            ));
        }
        dispatch!(self, m => m.set(resources))
    }

    /// Freezes every process; returns once the kernel reports the cgroup frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        dispatch!(self, m => m.freeze())
    }

    pub fn thaw(&self) -> Result<(), CgroupError> {
        dispatch!(self, m => m.thaw())
    }

    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        dispatch!(self, m => m.is_frozen())
    }

    /// Every process in the cgroup and its descendants.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        dispatch!(self, m => m.pids())
    }

    /// Whether the cgroup directory exists.
    pub fn exists(&self) -> bool {
        dispatch!(self, m => m.exists())
    }

    /// Sends `signal` to every process of the cgroup (`kill --all`, `delete --force`). The
    /// cgroup is frozen meanwhile so nothing forks out of reach, then thawed, which also lets
    /// a paused container's processes act on the signal. SIGKILL on v2 uses cgroup.kill.
    pub fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        if let Manager::V2(m) = self {
            if signal == libc::SIGKILL && m.kill()? {
                return Ok(());
            }
        }
        let was_frozen = self.is_frozen().unwrap_or(false);
        let froze = !was_frozen && self.freeze().is_ok();
        let pids = self.pids();
        if let Ok(pids) = &pids {
            for &pid in pids {
                // SAFETY: plain kill(2); ESRCH for processes that already exited is fine.
                unsafe { libc::kill(pid, signal) };
            }
        }
        // A paused container is thawed for SIGKILL, else frozen v1 tasks never die.
        if froze || (was_frozen && signal == libc::SIGKILL) {
            let _ = self.thaw();
        }
        pids.map(|_| ())
    }

    pub fn stats(&self) -> Result<Stats, CgroupError> {
        dispatch!(self, m => m.stats())
    }

    /// OOM kills so far (v1: memory.oom_control oom_kill; v2: memory.events oom_kill).
    pub fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        dispatch!(self, m => m.oom_kill_count())
    }

    /// Subscribes to OOM events of this cgroup.
    pub fn oom_notifier(&self) -> Result<OomNotifier, CgroupError> {
        match self {
            Manager::V1(m) => {
                let d = m.dir("memory").ok_or_else(|| {
                    CgroupError::Unsupported("OOM events need the memory cgroup controller".into())
                })?;
                OomNotifier::v1(d)
            }
            Manager::V2(m) => OomNotifier::v2(m.dir(), m.oom_kill_count().unwrap_or(0)),
        }
    }

    /// Removes the cgroup (and any child cgroups); its processes must be gone already.
    /// A cgroup that does not exist is not an error.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        dispatch!(self, m => m.destroy())
    }
}
