//! Idmapped bind mounts: the `idmap`/`ridmap` options and per-mount uid/gid mappings.

use berth_integration::*;
use serde_json::json;
use std::os::unix::fs::MetadataExt;

/// A host directory with files owned by uid/gid 0, 1 and 1000.
fn host_dir(e: &Env) -> std::path::PathBuf {
    let d = e.dir.join("data");
    std::fs::create_dir_all(&d).unwrap();
    for (name, id) in [("zero", 0), ("one", 1), ("thousand", 1000)] {
        let p = d.join(name);
        std::fs::write(&p, name).unwrap();
        std::os::unix::fs::chown(&p, Some(id), Some(id)).unwrap();
    }
    d
}

fn add_mount(e: &mut Env, m: serde_json::Value) {
    e.edit(|c| c["mounts"].as_array_mut().unwrap().push(m));
}

fn use_userns(e: &mut Env) {
    let st = std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(e.bundle.join("rootfs"))
        .status()
        .unwrap();
    assert!(st.success());
    e.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["type"] != "cgroup");
    });
}

#[test]
fn mount_mappings_shift_file_owners() {
    let mut e = Env::new("idmap-own");
    let d = host_dir(&e);
    add_mount(
        &mut e,
        json!({"destination": "/data", "type": "bind", "source": d, "options": ["bind", "idmap"],
               "uidMappings": [{"containerID": 0, "hostID": 5000, "size": 10}],
               "gidMappings": [{"containerID": 0, "hostID": 6000, "size": 10}]}),
    );
    e.sh("stat -c '%u:%g' /data/zero /data/one /data/thousand");
    assert_eq!(e.output(), "5000:6000\n5001:6001\n65534:65534\n");
    // The host's files keep their owners.
    assert_eq!(std::fs::metadata(d.join("one")).unwrap().uid(), 1);
}

#[test]
fn idmap_without_mappings_uses_the_container_user_namespace() {
    let mut e = Env::new("idmap-userns");
    let d = host_dir(&e);
    use_userns(&mut e);
    add_mount(
        &mut e,
        json!({"destination": "/data", "type": "bind", "source": d, "options": ["rbind", "idmap"]}),
    );
    add_mount(
        &mut e,
        json!({"destination": "/plain", "type": "bind", "source": d, "options": ["rbind"]}),
    );
    e.sh("stat -c '%u' /data/zero /data/thousand /plain/zero; touch /data/made-inside");
    // Without the idmap the host's root files show as the overflow id.
    assert_eq!(e.output(), "0\n1000\n65534\n");
    let made = std::fs::metadata(d.join("made-inside")).unwrap();
    assert_eq!(
        (made.uid(), made.gid()),
        (0, 0),
        "container root writes as host root"
    );
}

#[test]
fn ridmap_maps_submounts_too() {
    let mut e = Env::new("ridmap");
    let d = host_dir(&e);
    let sub = d.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let tmp = e.dir.join("tmpsrc");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::write(tmp.join("f"), "x").unwrap();
    // A submount under the source, to see the recursive idmap reach it.
    let st = std::process::Command::new("mount")
        .args(["--bind"])
        .arg(&tmp)
        .arg(&sub)
        .status()
        .unwrap();
    assert!(st.success());
    let _umount = Unmount(sub.clone());
    add_mount(
        &mut e,
        json!({"destination": "/data", "type": "bind", "source": d, "options": ["rbind", "ridmap"],
               "uidMappings": [{"containerID": 0, "hostID": 7000, "size": 10}],
               "gidMappings": [{"containerID": 0, "hostID": 7000, "size": 10}]}),
    );
    e.sh("stat -c '%u' /data/zero /data/sub/f");
    assert_eq!(e.output(), "7000\n7000\n");
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn fails_with(e: &mut Env, m: serde_json::Value, msg: &str) {
    add_mount(e, m);
    let id = e.id("bad");
    let err = e.fails(&["run", &id]);
    if is_berth() {
        assert!(contains(&err, msg), "unexpected error: {err}");
        assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    }
    e.assert_clean();
}

#[test]
fn idmap_without_mappings_or_user_namespace_fails() {
    let mut e = Env::new("idmap-nons");
    let d = host_dir(&e);
    fails_with(
        &mut e,
        json!({"destination": "/data", "type": "bind", "source": d, "options": ["bind", "idmap"]}),
        "idmap without uidMappings/gidMappings needs a user namespace",
    );
}

#[test]
fn idmap_of_a_tmpfs_fails() {
    let mut e = Env::new("idmap-tmpfs");
    fails_with(
        &mut e,
        json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"],
               "uidMappings": [{"containerID": 0, "hostID": 5000, "size": 10}],
               "gidMappings": [{"containerID": 0, "hostID": 5000, "size": 10}]}),
        "idmapped mounts are only supported for bind mounts",
    );
}

#[test]
fn idmap_with_only_uid_mappings_fails() {
    let mut e = Env::new("idmap-half");
    let d = host_dir(&e);
    fails_with(
        &mut e,
        json!({"destination": "/data", "type": "bind", "source": d, "options": ["bind"],
               "uidMappings": [{"containerID": 0, "hostID": 5000, "size": 10}]}),
        "need both uidMappings and gidMappings",
    );
}

#[test]
fn features_report_idmap_support() {
    let out = std::process::Command::new(runtime_bin())
        .arg("features")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["linux"]["mountExtensions"]["idmap"]["enabled"],
        json!(true),
        "{v}"
    );
}
