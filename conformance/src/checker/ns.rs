//! Checks of namespaces, hostname/domainname, uid/gid mappings and sysctls.

use crate::tap::Tap;
use serde_json::Value;

/// Namespace types of the spec and their /proc/self/ns names.
pub const TYPES: [(&str, &str); 8] = [
    ("pid", "pid"),
    ("network", "net"),
    ("mount", "mnt"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("user", "user"),
    ("cgroup", "cgroup"),
    ("time", "time"),
];

fn inode(link: &str) -> Option<u64> {
    let target = std::fs::read_link(link).ok()?;
    let s = target.to_string_lossy();
    s.split('[').nth(1)?.trim_end_matches(']').parse().ok()
}

pub fn check(tap: &mut Tap, config: &Value, host: &Value) {
    let linux = &config["linux"];
    let listed = linux["namespaces"].as_array().cloned().unwrap_or_default();
    for (ty, proc_name) in TYPES {
        let mine = inode(&format!("/proc/self/ns/{proc_name}"));
        let host_ino = host["ns"][proc_name].as_u64();
        if mine.is_none() || host_ino.is_none() {
            if listed.iter().any(|n| n["type"] == ty) {
                tap.check(
                    &format!("linux.namespaces {ty}"),
                    false,
                    "namespace not visible in /proc/self/ns",
                );
            }
            continue;
        }
        match listed.iter().find(|n| n["type"] == ty) {
            None => tap.eq(
                &format!("linux.namespaces {ty} not listed: runtime's namespace inherited"),
                mine,
                host_ino,
            ),
            Some(n) => match n["path"].as_str() {
                None => tap.check(
                    &format!("linux.namespaces {ty}: new namespace"),
                    mine != host_ino,
                    format!("inode {mine:?} is the runtime's own"),
                ),
                Some(path) => tap.eq(
                    &format!("linux.namespaces {ty}: joined {path}"),
                    mine,
                    host["ns_paths"][path].as_u64(),
                ),
            },
        }
    }
    if listed
        .iter()
        .any(|n| n["type"] == "pid" && n.get("path").is_none())
    {
        tap.eq(
            "linux.namespaces pid: process is pid 1",
            std::process::id(),
            1,
        );
    }

    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    if let Some(h) = config["hostname"].as_str() {
        tap.eq("hostname", read("/proc/sys/kernel/hostname").as_str(), h);
    }
    if let Some(d) = config["domainname"].as_str() {
        tap.eq(
            "domainname",
            read("/proc/sys/kernel/domainname").as_str(),
            d,
        );
    }
    for (field, file) in [
        ("uidMappings", "/proc/self/uid_map"),
        ("gidMappings", "/proc/self/gid_map"),
    ] {
        let Some(maps) = linux[field].as_array() else {
            continue;
        };
        let mut want: Vec<(u64, u64, u64)> = maps
            .iter()
            .map(|m| {
                let g = |k: &str| m[k].as_u64().unwrap_or(0);
                (g("containerID"), g("hostID"), g("size"))
            })
            .collect();
        want.sort();
        let mut got: Vec<(u64, u64, u64)> = read(file)
            .lines()
            .filter_map(|l| {
                let v: Vec<u64> = l
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                (v.len() == 3).then(|| (v[0], v[1], v[2]))
            })
            .collect();
        got.sort();
        tap.eq(&format!("linux.{field}"), got, want);
    }
    if let Some(offsets) = linux["timeOffsets"].as_object() {
        let text = read("/proc/self/timens_offsets");
        for (clock, off) in offsets {
            let want = format!(
                "{clock} {} {}",
                off["secs"].as_i64().unwrap_or(0),
                off["nanosecs"].as_u64().unwrap_or(0)
            );
            let got = text
                .lines()
                .find(|l| l.split_whitespace().next() == Some(clock.as_str()))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "));
            tap.eq(&format!("linux.timeOffsets {clock}"), got, Some(want));
        }
    }
    if let Some(domain) = linux["personality"]["domain"].as_str() {
        let got = u64::from_str_radix(&read("/proc/self/personality"), 16)
            .ok()
            .map(|p| p & 0xff);
        let want = match domain {
            "LINUX" => Some(0),
            "LINUX32" => Some(8),
            _ => None,
        };
        tap.eq(&format!("linux.personality domain {domain}"), got, want);
    }
    if let Some(sysctls) = linux["sysctl"].as_object() {
        for (k, v) in sysctls {
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
            tap.eq(
                &format!("linux.sysctl {k}"),
                norm(&read(&path)),
                norm(v.as_str().unwrap_or("")),
            );
        }
    }
}
