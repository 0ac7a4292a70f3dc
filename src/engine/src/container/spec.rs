//! The OCI runtime spec (config.json) for a container, with docker's defaults: capabilities,
//! masked and read-only paths, the standard /dev /proc /sys mounts, namespaces and devices.

// Every capability, indexed by its number: the runtime's table.
use berth_runtime::caps::NAMES as ALL_CAPS;
use serde_json::{json, Value};

use super::error::{ContainerError, Result};
use super::model::Container;
use super::user::ExecUser;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// `net_admin`, `NET_ADMIN`, `CAP_NET_ADMIN` → `CAP_NET_ADMIN`; `ALL` stays `ALL`.
pub fn normalize_cap(c: &str) -> Result<String> {
    let up = c.to_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if ALL_CAPS.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(ContainerError::InvalidArgument(format!(
            "invalid CapAdd: unknown capability: \"{full}\""
        )))
    }
}

/// The capabilities this process may grant: its bounding set ("all" for --privileged and
/// --cap-add ALL means these, as in docker; asking for more fails in capset).
fn grantable() -> Vec<String> {
    let bnd = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| bnd & (1u64 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// The effective capability set: defaults (all when privileged), plus adds, minus drops.
pub fn capabilities(c: &Container) -> Result<Vec<String>> {
    let hc = &c.host_config;
    if hc.privileged {
        return Ok(grantable());
    }
    let adds: Vec<String> = hc
        .cap_add
        .iter()
        .flatten()
        .map(|x| normalize_cap(x))
        .collect::<Result<_>>()?;
    let drops: Vec<String> = hc
        .cap_drop
        .iter()
        .flatten()
        .map(|x| normalize_cap(x))
        .collect::<Result<_>>()?;
    let mut caps: Vec<String> = if drops.iter().any(|d| d == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    if adds.iter().any(|a| a == "ALL") {
        caps = grantable();
    }
    for a in adds.iter().filter(|a| *a != "ALL") {
        if !caps.contains(a) {
            caps.push(a.clone());
        }
    }
    caps.retain(|c| !drops.contains(c) || adds.contains(c));
    Ok(caps)
}

fn bind(src: &str, dst: &str, ro: bool) -> Value {
    let mut opts = vec!["rbind", "rprivate"];
    if ro {
        opts.push("ro");
    }
    json!({"destination": dst, "type": "bind", "source": src, "options": opts})
}

/// Paths of the per-container files bind-mounted over the image's.
pub struct EtcFiles {
    pub hostname: String,
    pub hosts: String,
    pub resolv_conf: String,
}

/// config.json for `c`, with `root` the merged rootfs and `env` the final environment.
pub fn generate(
    c: &Container,
    root: &str,
    user: &ExecUser,
    env: Vec<String>,
    etc: &EtcFiles,
) -> Result<Value> {
    let hc = &c.host_config;
    let caps = capabilities(c)?;
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if hc.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", if hc.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={}", hc.shm_size)]}),
    ];
    let all = c.all_mounts();
    let user_targets: Vec<&str> = all.iter().map(|m| m.target.as_str()).collect();
    // The user's mounts win over the generated /etc files, as in docker.
    for (dst, src) in [
        ("/etc/resolv.conf", &etc.resolv_conf),
        ("/etc/hostname", &etc.hostname),
        ("/etc/hosts", &etc.hosts),
    ] {
        if !user_targets.contains(&dst) {
            mounts.push(bind(src, dst, hc.readonly_rootfs));
        }
    }
    for m in &all {
        match m.kind.as_str() {
            "bind" => mounts.push(bind(&m.source, &m.target, m.read_only)),
            "tmpfs" => {
                let mut opts = vec!["nosuid", "nodev", "noexec"];
                if m.read_only {
                    opts.push("ro");
                }
                mounts.push(json!({"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts}));
            }
            _ => {}
        }
    }
    let mut namespaces = vec![
        json!({"type": "mount"}),
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
    ];
    if hc.network_mode != "host" {
        namespaces.push(json!({"type": "network"}));
    }
    let devices = if hc.privileged {
        json!([{"allow": true, "access": "rwm"}])
    } else {
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"},
            {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
        ])
    };
    let cwd = if c.config.working_dir.is_empty() {
        "/".to_string()
    } else {
        c.config.working_dir.clone()
    };
    let mut linux = json!({
        "namespaces": namespaces,
        "resources": {"devices": devices},
        "cgroupsPath": format!("/bay/{}", c.id),
    });
    let mut unconfined = false;
    let mut no_new_privs = false;
    for opt in hc.security_opt.iter().flatten() {
        match super::create::parse_security_opt(opt)? {
            super::create::SecurityOpt::SeccompUnconfined => unconfined = true,
            super::create::SecurityOpt::NoNewPrivileges(b) => no_new_privs = b,
            super::create::SecurityOpt::NoLsm => {}
        }
    }
    if !hc.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
        if !unconfined {
            linux["seccomp"] = super::seccomp::default_profile(&caps);
        }
    }
    let mut process = json!({
        "terminal": c.config.tty,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": c.argv(),
        "env": env,
        "cwd": cwd,
        "capabilities": {
            "bounding": caps,
            "effective": caps,
            "permitted": caps,
        },
        "oomScoreAdj": 0,
        "noNewPrivileges": no_new_privs,
    });
    if !user.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(user.additional_gids);
    }
    Ok(json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": root, "readonly": hc.readonly_rootfs},
        "hostname": c.config.hostname,
        "mounts": mounts,
        "linux": linux,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_normalize() {
        assert_eq!(normalize_cap("net_admin").unwrap(), "CAP_NET_ADMIN");
        assert_eq!(normalize_cap("CAP_KILL").unwrap(), "CAP_KILL");
        assert!(normalize_cap("bogus").is_err());
    }
}
