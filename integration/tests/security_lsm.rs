//! AppArmor and SELinux: a config asking for an LSM the host lacks fails up front with one
//! clear line; an empty field asks for nothing.

use berth_integration::*;
use serde_json::json;
use std::path::Path;

fn apparmor() -> bool {
    Path::new("/sys/kernel/security/apparmor").is_dir()
}

fn selinux() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

fn fails_cleanly(e: &Env, msg: &str) {
    let id = e.id("lsm");
    let err = e.fails(&["run", &id]);
    if is_berth() {
        assert!(contains(&err, msg), "unexpected error: {err}");
        assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    }
    e.assert_clean();
}

#[test]
fn apparmor_profile_on_a_host_without_apparmor_fails() {
    if apparmor() {
        eprintln!("host has apparmor: nothing to check");
        return;
    }
    let mut e = Env::new("aa");
    e.edit(|c| c["process"]["apparmorProfile"] = json!("docker-default"));
    fails_cleanly(
        &e,
        "apparmor profile \"docker-default\" requested but apparmor is not enabled on this host",
    );
}

#[test]
fn selinux_label_on_a_host_without_selinux_fails() {
    if selinux() {
        eprintln!("host has selinux: nothing to check");
        return;
    }
    let mut e = Env::new("se");
    e.edit(|c| c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0:c1,c2"));
    fails_cleanly(&e, "selinux label \"system_u:system_r:container_t:s0:c1,c2\" requested but selinux is not enabled on this host");
}

#[test]
fn mount_label_on_a_host_without_selinux_fails() {
    if selinux() {
        eprintln!("host has selinux: nothing to check");
        return;
    }
    let mut e = Env::new("ml");
    e.edit(|c| c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0"));
    fails_cleanly(&e, "selinux mount label");
}

#[test]
fn empty_lsm_fields_ask_for_nothing() {
    let mut e = Env::new("lsm-empty");
    e.edit(|c| {
        c["process"]["apparmorProfile"] = json!("");
        c["process"]["selinuxLabel"] = json!("");
        c["linux"]["mountLabel"] = json!("");
    });
    e.sh("echo ok");
    assert_eq!(e.output(), "ok\n");
}

#[test]
fn exec_with_apparmor_on_a_host_without_it_fails() {
    if apparmor() {
        eprintln!("host has apparmor: nothing to check");
        return;
    }
    let mut e = Env::new("lsm-exec");
    e.args(&["sleep", "30"]);
    let id = e.id("lsm");
    e.ok(&["run", "-d", &id]);
    let err = e.fails(&["exec", "--apparmor", "docker-default", &id, "true"]);
    if is_berth() {
        assert!(
            contains(&err, "apparmor is not enabled on this host"),
            "{err}"
        );
    }
    // The container is unharmed.
    assert_eq!(e.ok(&["exec", &id, "echo", "fine"]), "fine\n");
    e.ok(&["delete", "-f", &id]);
}
