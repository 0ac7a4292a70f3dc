//! `create`: checks the options, merges them with the image config into docker's Config and
//! HostConfig, picks the ID and name, and records the container.

use std::collections::BTreeMap;
use std::fs;

use super::error::{ContainerError, Result};
use super::model::{Container, HostConfig, LogConfig, Mount, RestartPolicy, Status, ZERO_TIME};
use super::{mounts, names, spec, sys};
use crate::engine::Engine;
use crate::oci::ContainerConfig;

/// What `create`/`run` were asked for. `env` entries are `KEY=VALUE` (the CLI resolves bare
/// `KEY`s from its environment and reads `--env-file`).
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    pub name: Option<String>,
    pub image: String,
    pub cmd: Vec<String>,
    pub entrypoint: Option<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub labels: Vec<String>,
    pub volumes: Vec<String>,
    pub mounts: Vec<String>,
    pub tmpfs: Vec<String>,
    pub network: Option<String>,
    pub publish: Vec<String>,
    pub publish_all: bool,
    pub ip: Option<String>,
    pub network_aliases: Vec<String>,
    pub dns: Vec<String>,
    pub add_hosts: Vec<String>,
    pub privileged: bool,
    pub read_only: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub auto_remove: bool,
    pub restart: Option<String>,
    pub init: bool,
    pub tty: bool,
    pub interactive: bool,
    pub stop_signal: Option<String>,
    pub security_opt: Vec<String>,
}

fn not_supported(msg: impl Into<String>) -> ContainerError {
    ContainerError::NotSupported(msg.into())
}

fn invalid(msg: impl Into<String>) -> ContainerError {
    ContainerError::InvalidArgument(msg.into())
}

/// The checks docker's CLI and daemon make before anything is created.
fn check(o: &CreateOptions) -> Result<(String, Vec<Mount>)> {
    // The network flags are checked by the engine (it knows the networks).
    let network = o.network.clone().unwrap_or_default();
    match o.restart.as_deref() {
        None | Some("no") | Some("") => {}
        Some(p) => {
            let name = p.split(':').next().unwrap_or(p);
            if matches!(name, "always" | "unless-stopped" | "on-failure") {
                return Err(not_supported(format!(
                    "restart policy {p:?} is not supported yet: only \"no\" is"
                )));
            }
            return Err(invalid(format!("invalid restart policy '{p}'")));
        }
    }
    if o.init {
        return Err(not_supported(
            "--init is not supported yet: bay has no init binary to inject",
        ));
    }
    if let Some(n) = &o.name {
        let n = n.strip_prefix('/').unwrap_or(n);
        if !names::valid(n) {
            return Err(invalid(format!(
                "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
    }
    if let Some(h) = &o.hostname {
        if h.is_empty()
            || h.len() > 63
            || !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(invalid(format!("invalid hostname format: {h}")));
        }
    }
    for opt in &o.security_opt {
        parse_security_opt(opt)?;
    }
    for c in o.cap_add.iter().chain(&o.cap_drop) {
        spec::normalize_cap(c)?;
    }
    for e in &o.env {
        if e.starts_with('=') || e.is_empty() {
            return Err(invalid(format!("invalid environment variable: {e}")));
        }
    }
    let mut ms = Vec::new();
    let mut binds = Vec::new();
    for v in &o.volumes {
        binds.push(mounts::parse_volume(v)?);
    }
    for m in &o.mounts {
        ms.push(mounts::parse_mount(m)?);
    }
    for t in &o.tmpfs {
        let (dst, _) = t.split_once(':').unwrap_or((t, ""));
        if !dst.starts_with('/') {
            return Err(invalid(format!(
                "invalid mount config for type \"tmpfs\": invalid mount path: '{dst}' mount path must be absolute"
            )));
        }
        ms.push(Mount {
            kind: "tmpfs".into(),
            target: mounts::clean(dst),
            ..Mount::default()
        });
    }
    let mut seen = std::collections::HashSet::new();
    for m in binds.iter().chain(&ms) {
        if !seen.insert(m.target.clone()) {
            return Err(invalid(format!("Duplicate mount point: {}", m.target)));
        }
    }
    Ok((network, ms))
}

/// What one `--security-opt` asks for.
pub enum SecurityOpt {
    SeccompUnconfined,
    NoNewPrivileges(bool),
    /// Accepted without effect: no AppArmor or SELinux policy is in use.
    NoLsm,
}

/// `seccomp=unconfined`, `no-new-privileges[:true|false]`, `apparmor=unconfined`,
/// `label=disable` (docker accepts `:` or `=` as the separator).
pub fn parse_security_opt(opt: &str) -> Result<SecurityOpt> {
    let (k, v) = match opt.split_once(['=', ':']) {
        Some((k, v)) => (k, Some(v)),
        None => (opt, None),
    };
    match (k, v) {
        ("seccomp", Some("unconfined")) => Ok(SecurityOpt::SeccompUnconfined),
        ("seccomp", Some(_)) => Err(not_supported(
            "custom seccomp profiles are not supported yet: use seccomp=unconfined or the default",
        )),
        ("no-new-privileges", None | Some("true")) => Ok(SecurityOpt::NoNewPrivileges(true)),
        ("no-new-privileges", Some("false")) => Ok(SecurityOpt::NoNewPrivileges(false)),
        ("apparmor", Some("unconfined")) | ("label", Some("disable")) => Ok(SecurityOpt::NoLsm),
        ("apparmor" | "label", Some(_)) => Err(not_supported(format!(
            "security option {opt:?} is not supported yet: bay applies no AppArmor or SELinux labels"
        ))),
        _ => Err(invalid(format!("invalid --security-opt: {opt:?}"))),
    }
}

/// Image env overridden by the user's, key by key, in first-seen order (docker's merge).
pub fn merge_env(image: &[String], user: &[String]) -> Vec<String> {
    let mut out: Vec<String> = image.to_vec();
    for e in user {
        let k = e.split('=').next().unwrap_or(e);
        match out
            .iter_mut()
            .find(|x| x.split('=').next().unwrap_or(x) == k)
        {
            Some(slot) => *slot = e.clone(),
            None => out.push(e.clone()),
        }
    }
    out
}

impl Engine {
    /// The checks made before the image is looked up (so bad flags fail before a pull).
    pub fn validate_create(&self, o: &CreateOptions) -> Result<()> {
        check(o)?;
        self.check_network_request(&o.net_request())?;
        Ok(())
    }

    /// Creates a container (not started). The image must be in the store.
    pub fn create_container(&self, o: &CreateOptions) -> Result<Container> {
        let (_, ms) = check(o)?;
        let network = self.check_network_request(&o.net_request())?;
        let port_bindings = crate::network::ports::port_bindings(&o.publish)?;
        let img = self.resolve(&o.image)?;
        let icfg = self.config(&img.id)?.config.unwrap_or_default();
        let (entrypoint, cmd) = match &o.entrypoint {
            // An overridden entrypoint resets the image's CMD, as docker does.
            Some(ep) => (
                if ep.is_empty() {
                    None
                } else {
                    Some(vec![ep.clone()])
                },
                if o.cmd.is_empty() {
                    None
                } else {
                    Some(o.cmd.clone())
                },
            ),
            None => (
                icfg.entrypoint.clone().filter(|e| !e.is_empty()),
                if o.cmd.is_empty() {
                    icfg.cmd.clone()
                } else {
                    Some(o.cmd.clone())
                },
            ),
        };
        if entrypoint.is_none() && cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(invalid("no command specified"));
        }
        let random = sys::random32().map_err(|e| ContainerError::io("reading random bytes", e))?;
        let mut id = crate::digest::hex(&random);
        // docker avoids IDs whose short form is all digits (they look like numbers).
        if id[..12].bytes().all(|b| b.is_ascii_digit()) {
            id.replace_range(0..1, "a");
        }
        let hostname = o.hostname.clone().unwrap_or_else(|| {
            if network == "host" {
                host_hostname()
            } else {
                id[..12].to_string()
            }
        });
        let mut labels: BTreeMap<String, String> = icfg.labels.clone().unwrap_or_default();
        for l in &o.labels {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            labels.insert(k.to_string(), v.to_string());
        }
        let mut env = icfg.env.clone().unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, format!("PATH={}", spec::DEFAULT_PATH));
        }
        let env = merge_env(&env, &o.env);
        let config = ContainerConfig {
            hostname,
            domainname: String::new(),
            user: o.user.clone().unwrap_or_else(|| icfg.user.clone()),
            attach_stdin: o.interactive,
            attach_stdout: true,
            attach_stderr: true,
            exposed_ports: icfg.exposed_ports.clone(),
            tty: o.tty,
            open_stdin: o.interactive,
            stdin_once: o.interactive,
            env: Some(env),
            cmd,
            healthcheck: None,
            args_escaped: None,
            image: o.image.clone(),
            volumes: icfg.volumes.clone(),
            working_dir: o
                .workdir
                .clone()
                .unwrap_or_else(|| icfg.working_dir.clone()),
            entrypoint,
            on_build: None,
            labels: Some(labels),
            stop_signal: o.stop_signal.clone().or_else(|| icfg.stop_signal.clone()),
            shell: None,
        };
        let binds: Vec<String> = o.volumes.clone();
        let host_config = HostConfig {
            binds: if binds.is_empty() { None } else { Some(binds) },
            log_config: LogConfig {
                kind: "json-file".into(),
                config: BTreeMap::new(),
            },
            network_mode: network,
            port_bindings,
            publish_all_ports: o.publish_all,
            dns: o.dns.clone(),
            extra_hosts: (!o.add_hosts.is_empty()).then(|| o.add_hosts.clone()),
            restart_policy: RestartPolicy {
                name: "no".into(),
                maximum_retry_count: 0,
            },
            auto_remove: o.auto_remove,
            cap_add: (!o.cap_add.is_empty()).then(|| o.cap_add.clone()),
            cap_drop: (!o.cap_drop.is_empty()).then(|| o.cap_drop.clone()),
            security_opt: (!o.security_opt.is_empty()).then(|| o.security_opt.clone()),
            cgroupns_mode: "host".into(),
            ipc_mode: "private".into(),
            privileged: o.privileged,
            readonly_rootfs: o.read_only,
            shm_size: 67108864,
            runtime: "berth".into(),
            mounts: if ms.is_empty() { None } else { Some(ms) },
            masked_paths: (!o.privileged)
                .then(|| spec::MASKED_PATHS.iter().map(|s| s.to_string()).collect()),
            readonly_paths: (!o.privileged)
                .then(|| spec::READONLY_PATHS.iter().map(|s| s.to_string()).collect()),
            ..HostConfig::default()
        };
        let (secs, nanos) = crate::timefmt::now();
        let mut c = Container {
            id: id.clone(),
            name: String::new(),
            image: img.id.clone(),
            image_name: o.image.clone(),
            config,
            host_config,
            created: crate::timefmt::format_rfc3339(secs, nanos),
            status: Status::Created,
            pid: 0,
            monitor_pid: 0,
            exit_code: 0,
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            error: String::new(),
        };
        let dir = self.container_dir(&id);
        fs::create_dir_all(&dir)
            .map_err(|e| ContainerError::io(format!("creating {}", dir.display()), e))?;
        let given = o
            .name
            .as_ref()
            .map(|n| n.trim_start_matches('/').to_string());
        let res = self.store.db.tx(|q| {
            let name = match &given {
                Some(n) => {
                    if let Some(other) = q.container_by_name(n)? {
                        return Ok(Err(ContainerError::Conflict(format!(
                            "Conflict. The container name \"/{n}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                            other.id
                        ))));
                    }
                    n.clone()
                }
                None => {
                    let mut attempt = 0;
                    loop {
                        let r = sys::random32().unwrap_or(random);
                        let n = names::generate(&r, attempt);
                        if q.container_by_name(&n)?.is_none() {
                            break n;
                        }
                        attempt += 1;
                    }
                }
            };
            c.name = name;
            q.insert_container(&c.to_row())?;
            Ok(Ok(()))
        });
        match res {
            Ok(Ok(())) => {
                if let Err(e) = self.record_endpoint(&c, o.ip.as_deref(), &o.network_aliases) {
                    let _ = self.forget(&c);
                    return Err(e.into());
                }
                Ok(c)
            }
            Ok(Err(e)) => {
                let _ = fs::remove_dir_all(&dir);
                Err(e)
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                Err(e.into())
            }
        }
    }
}

fn host_hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_merge_overrides_by_key() {
        let img = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        let user = vec!["A=2".to_string(), "B=3".to_string()];
        assert_eq!(merge_env(&img, &user), vec!["PATH=/bin", "A=2", "B=3"]);
    }
}
