//! AppArmor profiles and SELinux labels: applied when the host has the LSM enabled, a clear
//! error up front when a config asks for one it lacks. Empty fields ask for nothing (docker
//! leaves `apparmorProfile` empty on hosts without AppArmor).

use crate::process::sync::ChildError;
use crate::spec::{Process, Spec};

/// AppArmor is usable: the module is enabled and its securityfs interface is there (runc's
/// test).
pub fn apparmor_enabled() -> bool {
    std::path::Path::new("/sys/kernel/security/apparmor").is_dir()
        && std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.starts_with('Y'))
}

/// SELinux is usable: selinuxfs is mounted.
pub fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// Refuses a process asking for an LSM this host doesn't have.
pub fn check_process(p: &Process) -> Result<(), String> {
    if let Some(prof) = set(&p.apparmor_profile) {
        if !apparmor_enabled() {
            return Err(format!(
                "apparmor profile {prof:?} requested but apparmor is not enabled on this host"
            ));
        }
    }
    if let Some(label) = set(&p.selinux_label) {
        if !selinux_enabled() {
            return Err(format!(
                "selinux label {label:?} requested but selinux is not enabled on this host"
            ));
        }
    }
    Ok(())
}

/// `check_process` plus `linux.mountLabel`.
pub fn check(spec: &Spec) -> Result<(), String> {
    if let Some(p) = &spec.process {
        check_process(p)?;
    }
    if let Some(label) = set(&spec.linux().mount_label) {
        if !selinux_enabled() {
            return Err(format!(
                "selinux mount label {label:?} requested but selinux is not enabled on this host"
            ));
        }
    }
    Ok(())
}

/// Writes the first of `paths` (relative to /proc) that exists, through a checked procfs fd.
fn write_attr(paths: &[&str], data: &str) -> Result<(), ChildError> {
    let mut last = None;
    for p in paths {
        match crate::sys::write_procfs(p, data) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| ChildError::new("no lsm attribute file")))
}

/// Child side, just before execve: the profile and label the new program starts with.
pub fn apply_exec(p: &Process) -> Result<(), ChildError> {
    if let Some(prof) = set(&p.apparmor_profile) {
        // The per-LSM file first (Linux 5.8+), the shared one where it is the only one.
        write_attr(
            &["thread-self/attr/apparmor/exec", "thread-self/attr/exec"],
            &format!("exec {prof}"),
        )?;
    }
    if let Some(label) = set(&p.selinux_label) {
        write_attr(&["thread-self/attr/exec"], label)?;
    }
    Ok(())
}

/// The `context=` mount option carrying `linux.mountLabel`, for filesystems that take it.
pub fn mount_context(label: Option<&str>, fstype: &str) -> Option<String> {
    let label = label.filter(|l| !l.is_empty())?;
    matches!(fstype, "tmpfs" | "devpts" | "mqueue" | "shm" | "ramfs")
        .then(|| format!("context=\"{label}\""))
}
