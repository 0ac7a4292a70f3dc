//! Runs netavark: `netavark --config DIR setup|teardown NETNS < options.json`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::error::{NetworkError, Result};
use super::store::{Endpoint, PortMap};
use super::Network;

const NETAVARK_PATHS: &[&str] = &[
    "/usr/lib/podman/netavark",
    "/usr/libexec/podman/netavark",
    "/usr/local/libexec/podman/netavark",
];
const AARDVARK_PATHS: &[&str] = &[
    "/usr/lib/podman/aardvark-dns",
    "/usr/libexec/podman/aardvark-dns",
    "/usr/local/libexec/podman/aardvark-dns",
];

fn find(env: &str, paths: &[&str], name: &str) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Ok(PathBuf::from(p));
    }
    paths
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            NetworkError::Setup(format!(
                "{name} not found (install the Debian package {name}, or set {env})"
            ))
        })
}

/// netavark's network options for one container on one network.
pub fn options(
    container_id: &str,
    container_name: &str,
    net: &Network,
    ep: &Endpoint,
    ip: &str,
    mac: &str,
) -> Value {
    let ports: Vec<Value> = ep
        .ports
        .iter()
        .map(|p: &PortMap| {
            json!({
                "host_ip": p.host_ip,
                "container_port": p.container_port,
                "host_port": p.host_port,
                "range": 1,
                "protocol": p.protocol,
            })
        })
        .collect();
    json!({
        "container_id": container_id,
        "container_name": container_name,
        "port_mappings": ports,
        "networks": {
            net.name.clone(): {
                "static_ips": [ip],
                "static_mac": mac,
                "aliases": ep.aliases,
                "interface_name": if ep.iface.is_empty() { "eth0" } else { &ep.iface },
            }
        },
        "network_info": {
            net.name.clone(): {
                "name": net.name,
                "id": net.id,
                "driver": "bridge",
                "network_interface": net.iface,
                "created": net.created,
                "subnets": [{"subnet": net.subnet, "gateway": net.gateway}],
                "ipv6_enabled": false,
                "internal": net.internal,
                "dns_enabled": net.dns,
                "ipam_options": {"driver": "host-local"},
            }
        }
    })
}

/// Runs `netavark setup` or `teardown` for the namespace at `netns`.
pub fn run(config_dir: &Path, verb: &str, netns: &Path, opts: &Value) -> Result<String> {
    let netavark = find("BAY_NETAVARK", NETAVARK_PATHS, "netavark")?;
    let mut cmd = Command::new(&netavark);
    cmd.arg("--config").arg(config_dir);
    if let Ok(a) = find("BAY_AARDVARK", AARDVARK_PATHS, "aardvark-dns") {
        cmd.arg("--aardvark-binary").arg(a);
    }
    cmd.arg(verb)
        .arg(netns)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // netavark creates shared iptables chains without a host-wide lock (podman serialises
    // its calls); bay processes on any root take this flock so they never race.
    let _lock = host_lock()?;
    let mut child = cmd
        .spawn()
        .map_err(|e| NetworkError::io(format!("running {}", netavark.display()), e))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(opts.to_string().as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetworkError::io(format!("running {}", netavark.display()), e))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let mut msg = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim()
            .to_string();
        // netavark reports errors as JSON on stdout.
        if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
            if let Some(e) = v["error"].as_str() {
                msg = e.to_string();
            }
        }
        return Err(NetworkError::Setup(format!(
            "netavark {verb} failed: {msg}"
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

const LOCK_PATH: &str = "/run/lock/bay-netavark.lock";

fn host_lock() -> Result<std::fs::File> {
    use std::os::unix::io::AsRawFd;
    let _ = std::fs::create_dir_all("/run/lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK_PATH)
        .map_err(|e| NetworkError::io(format!("opening {LOCK_PATH}"), e))?;
    loop {
        // SAFETY: flock on a file we own; released when the File is dropped.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(f);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(NetworkError::io(format!("locking {LOCK_PATH}"), e));
        }
    }
}
