//! Up-front checks of a config, so that a bad config fails before anything is created.

use super::{NamespaceType, Spec, SpecError};
use std::collections::HashSet;

fn invalid(msg: String) -> SpecError {
    SpecError::Invalid(msg)
}

fn absolute(what: &str, p: &str) -> Result<(), SpecError> {
    if p.starts_with('/') {
        Ok(())
    } else {
        Err(invalid(format!("{what} {p:?} is not an absolute path")))
    }
}

pub fn validate(spec: &Spec) -> Result<(), SpecError> {
    if spec.oci_version.is_empty() {
        return Err(invalid("ociVersion is empty".into()));
    }
    // SemVer 2.0: MAJOR.MINOR.PATCH with an optional -prerelease / +build suffix.
    let core = spec.oci_version.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid(format!(
            "ociVersion {:?} is not a semantic version",
            spec.oci_version
        )));
    }
    if spec.oci_version.starts_with("0.") {
        return Err(invalid(format!(
            "ociVersion {} is older than 1.0.0, which berth doesn't support",
            spec.oci_version
        )));
    }
    match &spec.root {
        None => return Err(invalid("root is missing".into())),
        Some(r) if r.path.is_empty() => return Err(invalid("root.path is empty".into())),
        _ => {}
    }
    if let Some(p) = &spec.process {
        if p.args.is_empty() && p.command_line.is_none() {
            return Err(invalid("process.args is empty".into()));
        }
        crate::process::validate_sched(p.scheduler.as_ref(), p.io_priority.as_ref())
            .map_err(invalid)?;
        if p.cwd.is_empty() {
            return Err(invalid("process.cwd is empty".into()));
        }
        absolute("process.cwd", &p.cwd)?;
        for e in &p.env {
            if !e.contains('=') {
                return Err(invalid(format!("process.env entry {e:?} is not KEY=VALUE")));
            }
        }
        // A capability berth or the kernel doesn't know is skipped with a warning, not an
        // error (runtime-spec 1.1+, as runc and crun do).
        crate::caps::warn_unavailable(p.capabilities.as_ref());
        for r in &p.rlimits {
            crate::rlimits::resource(&r.typ).map_err(|e| invalid(e.to_string()))?;
            if r.soft > r.hard {
                return Err(invalid(format!(
                    "rlimit {} soft limit {} is above its hard limit {}",
                    r.typ, r.soft, r.hard
                )));
            }
        }
        let mut seen = HashSet::new();
        for r in &p.rlimits {
            if !seen.insert(r.typ.as_str()) {
                return Err(invalid(format!("rlimit {} is given twice", r.typ)));
            }
        }
    }
    for m in &spec.mounts {
        if m.destination.is_empty() {
            return Err(invalid("mount destination is empty".into()));
        }
        // Spec 1.2 allows a relative destination on Linux, relative to the container's /;
        // runc warns and mounts it there (see rootfs::prepare).
        if !m.destination.starts_with('/') {
            crate::warn::warn(&format!(
                "mount destination {} is not absolute: mounting it at {}",
                m.destination,
                crate::rootfs::absolute_destination(&m.destination)
            ));
        }
    }
    if let Some(hooks) = &spec.hooks {
        for h in hooks
            .prestart
            .iter()
            .chain(&hooks.create_runtime)
            .chain(&hooks.create_container)
            .chain(&hooks.start_container)
            .chain(&hooks.poststart)
            .chain(&hooks.poststop)
        {
            absolute("hook path", &h.path)?;
            if h.timeout.is_some_and(|t| t <= 0) {
                return Err(invalid(format!(
                    "hook {} timeout must be greater than zero",
                    h.path
                )));
            }
        }
    }
    validate_linux(spec)
}

fn validate_linux(spec: &Spec) -> Result<(), SpecError> {
    let linux = spec.linux();
    let mut seen = HashSet::new();
    for ns in &linux.namespaces {
        if !seen.insert(ns.typ) {
            return Err(invalid(format!(
                "namespace {} is given twice",
                ns.typ.as_str()
            )));
        }
        if let Some(p) = &ns.path {
            absolute(&format!("{} namespace path", ns.typ.as_str()), p)?;
        }
    }
    let new_ns = |t: NamespaceType| linux.namespaces.iter().any(|n| n.typ == t);
    let userns = new_ns(NamespaceType::User);
    if !userns && (!linux.uid_mappings.is_empty() || !linux.gid_mappings.is_empty()) {
        return Err(invalid(
            "uid/gid mappings are given without a user namespace".into(),
        ));
    }
    if userns
        && spec
            .namespace(NamespaceType::User)
            .is_some_and(|n| n.path.is_none())
        && (linux.uid_mappings.is_empty() || linux.gid_mappings.is_empty())
    {
        return Err(invalid(
            "a new user namespace needs uidMappings and gidMappings".into(),
        ));
    }
    if spec.hostname.as_deref().is_some_and(|h| !h.is_empty()) && !new_ns(NamespaceType::Uts) {
        return Err(invalid(
            "hostname is set but there is no uts namespace".into(),
        ));
    }
    if spec.domainname.as_deref().is_some_and(|h| !h.is_empty()) && !new_ns(NamespaceType::Uts) {
        return Err(invalid(
            "domainname is set but there is no uts namespace".into(),
        ));
    }
    if !linux.time_offsets.is_empty() && !new_ns(NamespaceType::Time) {
        return Err(invalid(
            "timeOffsets are set but there is no time namespace".into(),
        ));
    }
    for key in linux.time_offsets.keys() {
        if key != "monotonic" && key != "boottime" {
            return Err(invalid(format!("unknown time offset clock {key:?}")));
        }
    }
    for key in linux.sysctl.keys() {
        validate_sysctl(key, &new_ns)?;
    }
    for p in linux.masked_paths.iter().chain(&linux.readonly_paths) {
        absolute("masked or read-only path", p)?;
    }
    for d in &linux.devices {
        absolute("device path", &d.path)?;
        if !matches!(d.typ.as_str(), "c" | "b" | "u" | "p") {
            return Err(invalid(format!(
                "device {} has unknown type {:?}",
                d.path, d.typ
            )));
        }
    }
    if let Some(p) = &linux.rootfs_propagation {
        if crate::rootfs::propagation_flag(p).is_none() {
            return Err(invalid(format!("unknown rootfsPropagation {p:?}")));
        }
    }
    if linux.intel_rdt.is_some() && !std::path::Path::new("/sys/fs/resctrl/schemata").exists() {
        return Err(invalid(
            "intelRdt is set but resctrl is not mounted at /sys/fs/resctrl".into(),
        ));
    }
    if let Some(p) = &linux.personality {
        if p.domain != "LINUX" && p.domain != "LINUX32" {
            return Err(invalid(format!(
                "unknown personality domain {:?}",
                p.domain
            )));
        }
    }
    Ok(())
}

/// Mirrors runc's rule: a namespaced sysctl needs the container's own namespace of that kind,
/// and sysctls that are not namespaced are refused.
fn validate_sysctl(key: &str, new_ns: &dyn Fn(NamespaceType) -> bool) -> Result<(), SpecError> {
    const IPC: [&str; 6] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
    ];
    let ipc = IPC.contains(&key)
        || key == "kernel.shmmni"
        || key == "kernel.shm_rmid_forced"
        || key.starts_with("fs.mqueue.");
    if ipc {
        if new_ns(NamespaceType::Ipc) {
            return Ok(());
        }
        return Err(invalid(format!(
            "sysctl {key:?} is not allowed in the host's ipc namespace"
        )));
    }
    if key.starts_with("net.") {
        if new_ns(NamespaceType::Network) {
            return Ok(());
        }
        return Err(invalid(format!(
            "sysctl {key:?} is not allowed in the host's network namespace"
        )));
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        return Err(invalid(format!(
            "sysctl {key:?} is not allowed: use the hostname or domainname field"
        )));
    }
    Err(invalid(format!("sysctl {key:?} is not namespaced")))
}
