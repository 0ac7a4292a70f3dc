//! What bay records about a container: docker's Config and HostConfig documents plus the run
//! state, converted from and to the database row.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{ContainerError, Result};
use crate::digest::Digest;
use crate::oci::ContainerConfig;
use crate::store::db::{ContainerRow, ContainerState};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "created" => Status::Created,
            "running" => Status::Running,
            "paused" => Status::Paused,
            "exited" => Status::Exited,
            _ => Status::Dead,
        }
    }

    /// Has a process (running or paused).
    pub fn is_up(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

/// A `--mount` (or `-v`) as docker's HostConfig.Mounts records it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Mount {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// Set for `-v` binds: docker creates a missing source for those only.
    #[serde(skip)]
    pub create_source: bool,
    /// The mode string of a `-v` spec (`ro`, `rw`, ``) for inspect's Mounts.
    #[serde(skip)]
    pub mode: String,
}

/// Docker's HostConfig, the fields bay has, in docker's order.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    pub log_config: LogConfig,
    pub network_mode: String,
    pub port_bindings: BTreeMap<String, serde_json::Value>,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub volume_driver: String,
    pub volumes_from: Option<Vec<String>>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub cgroupns_mode: String,
    pub dns: Vec<String>,
    pub dns_options: Vec<String>,
    pub dns_search: Vec<String>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub ipc_mode: String,
    pub cgroup: String,
    pub links: Option<Vec<String>>,
    pub oom_score_adj: i64,
    pub pid_mode: String,
    pub privileged: bool,
    pub publish_all_ports: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    pub userns_mode: String,
    pub shm_size: i64,
    pub runtime: String,
    pub isolation: String,
    pub mounts: Option<Vec<Mount>>,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
}

/// One container: the stored documents and its run state.
#[derive(Clone, Debug)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image: Digest,
    pub image_name: String,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub created: String,
    pub status: Status,
    pub pid: i64,
    pub monitor_pid: i64,
    pub exit_code: i64,
    pub started_at: String,
    pub finished_at: String,
    pub error: String,
}

/// Docker's zero time, shown for StartedAt/FinishedAt that never happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Container {
    pub(crate) fn from_row(r: ContainerRow) -> Result<Container> {
        let bad = |what: &str, e: serde_json::Error| {
            ContainerError::Runtime(format!("container {}: stored {what}: {e}", r.id))
        };
        Ok(Container {
            config: serde_json::from_str(&r.config).map_err(|e| bad("config", e))?,
            host_config: serde_json::from_str(&r.host_config).map_err(|e| bad("host config", e))?,
            id: r.id,
            name: r.name,
            image: r.image,
            image_name: r.image_name,
            created: r.created,
            status: Status::parse(&r.state),
            pid: r.pid,
            monitor_pid: r.monitor_pid,
            exit_code: r.exit_code,
            started_at: r.started_at,
            finished_at: r.finished_at,
            error: r.error,
        })
    }

    pub(crate) fn to_row(&self) -> ContainerRow {
        ContainerRow {
            id: self.id.clone(),
            name: self.name.clone(),
            image: self.image.clone(),
            image_name: self.image_name.clone(),
            config: serde_json::to_string(&self.config).unwrap_or_default(),
            host_config: serde_json::to_string(&self.host_config).unwrap_or_default(),
            created: self.created.clone(),
            state: self.status.as_str().into(),
            pid: self.pid,
            monitor_pid: self.monitor_pid,
            exit_code: self.exit_code,
            started_at: self.started_at.clone(),
            finished_at: self.finished_at.clone(),
            error: self.error.clone(),
        }
    }

    pub(crate) fn state(&self) -> ContainerState {
        ContainerState {
            state: self.status.as_str().into(),
            pid: self.pid,
            monitor_pid: self.monitor_pid,
            exit_code: self.exit_code,
            started_at: self.started_at.clone(),
            finished_at: self.finished_at.clone(),
            error: self.error.clone(),
        }
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// Entrypoint + Cmd: what the container runs.
    pub fn argv(&self) -> Vec<String> {
        let mut v = self.config.entrypoint.clone().unwrap_or_default();
        v.extend(self.config.cmd.clone().unwrap_or_default());
        v
    }

    /// ps's COMMAND as dockerd builds it: Path, then the Args joined by spaces, an argument
    /// holding a space wrapped in single quotes (`sh -c 'while true; do …'`).
    pub fn command(&self) -> String {
        let mut argv = self.argv().into_iter();
        let mut out = argv.next().unwrap_or_default();
        for a in argv {
            out.push(' ');
            if a.contains(' ') {
                out.push('\'');
                out.push_str(&a);
                out.push('\'');
            } else {
                out.push_str(&a);
            }
        }
        out
    }

    /// Every mount: `-v` binds (HostConfig.Binds) then `--mount`/`--tmpfs` (HostConfig.Mounts).
    pub fn all_mounts(&self) -> Vec<Mount> {
        let mut v: Vec<Mount> = self
            .host_config
            .binds
            .iter()
            .flatten()
            .filter_map(|b| super::mounts::parse_volume(b).ok())
            .collect();
        v.extend(self.host_config.mounts.iter().flatten().cloned());
        v
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        self.config.labels.clone().unwrap_or_default()
    }
}
