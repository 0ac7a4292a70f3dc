//! `container inspect` as docker's JSON, for the fields bay has.

use std::collections::BTreeMap;

use serde::Serialize;

use super::error::Result;
use super::model::{Container, HostConfig, Status};
use crate::engine::Engine;
use crate::oci::ContainerConfig;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StateInspect {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    pub source: String,
    pub destination: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    pub data: BTreeMap<String, String>,
    pub name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    pub bridge: String,
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    pub ports: BTreeMap<String, serde_json::Value>,
    pub sandbox_key: String,
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    pub ip_prefix_len: i64,
    pub mac_address: String,
    pub networks: BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerInspect {
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: StateInspect,
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    pub name: String,
    pub restart_count: i64,
    pub driver: String,
    pub platform: String,
    pub mount_label: String,
    pub process_label: String,
    pub app_armor_profile: String,
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    pub host_config: HostConfig,
    pub graph_driver: GraphDriver,
    pub mounts: Vec<MountPoint>,
    pub config: ContainerConfig,
    pub network_settings: serde_json::Value,
}

impl Engine {
    pub fn inspect_container(&self, s: &str) -> Result<ContainerInspect> {
        let c = self.refresh(self.container(s)?);
        Ok(self.inspect_of(&c))
    }

    pub fn inspect_of(&self, c: &Container) -> ContainerInspect {
        let dir = self.container_dir(&c.id);
        let argv = c.argv();
        let p = self.rootfs_paths(&c.id);
        let mut data = BTreeMap::new();
        if let Ok(lowers) = self.lower_dirs(&c.image) {
            data.insert(
                "LowerDir".into(),
                lowers
                    .iter()
                    .map(|l| l.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":"),
            );
        }
        data.insert("MergedDir".into(), p.merged.display().to_string());
        data.insert("UpperDir".into(), p.upper.display().to_string());
        data.insert("WorkDir".into(), p.work.display().to_string());
        let mounts = c
            .all_mounts()
            .iter()
            .map(|m| MountPoint {
                kind: m.kind.clone(),
                source: m.source.clone(),
                destination: m.target.clone(),
                mode: m.mode.clone(),
                rw: !m.read_only,
                propagation: if m.kind == "bind" {
                    "rprivate".into()
                } else {
                    String::new()
                },
            })
            .collect();
        ContainerInspect {
            id: c.id.clone(),
            created: c.created.clone(),
            path: argv.first().cloned().unwrap_or_default(),
            args: argv.iter().skip(1).cloned().collect(),
            state: StateInspect {
                status: c.status.as_str().into(),
                running: c.status.is_up(),
                paused: c.status == Status::Paused,
                restarting: false,
                oom_killed: false,
                dead: c.status == Status::Dead,
                pid: c.pid,
                exit_code: c.exit_code,
                error: c.error.clone(),
                started_at: c.started_at.clone(),
                finished_at: c.finished_at.clone(),
            },
            image: c.image.to_string(),
            resolv_conf_path: dir.join("resolv.conf").display().to_string(),
            hostname_path: dir.join("hostname").display().to_string(),
            hosts_path: dir.join("hosts").display().to_string(),
            log_path: self.log_path(&c.id).display().to_string(),
            name: format!("/{}", c.name),
            restart_count: 0,
            driver: "overlay2".into(),
            platform: "linux".into(),
            mount_label: String::new(),
            process_label: String::new(),
            app_armor_profile: String::new(),
            exec_ids: None,
            host_config: c.host_config.clone(),
            graph_driver: GraphDriver {
                data,
                name: "overlay2".into(),
            },
            mounts,
            config: c.config.clone(),
            network_settings: self.network_settings(c),
        }
    }
}
