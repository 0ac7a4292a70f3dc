//! Rootless containers: berth run by an unprivileged user with `berth spec --rootless`.
//! The tests create a system user of their own and run berth as it through setpriv.

use berth_integration::*;
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const USER: &str = "berth-rootless";

/// (uid, gid) of the test user, created once with subordinate ids for newuidmap.
fn user() -> (u32, u32) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let exists = Command::new("id")
            .arg("-u")
            .arg(USER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        if !exists {
            let st = Command::new("useradd")
                .args(["-M", "-s", "/bin/sh", USER])
                .status()
                .expect("run useradd");
            assert!(st.success(), "useradd {USER} failed");
        }
        let subuid = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
        if !subuid.lines().any(|l| l.starts_with(&format!("{USER}:"))) {
            let st = Command::new("usermod")
                .args(["--add-subuids", "400000-465535"])
                .args(["--add-subgids", "400000-465535", USER])
                .status()
                .unwrap();
            assert!(st.success(), "usermod --add-subuids failed");
        }
    });
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").arg(flag).arg(USER).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    (id("-u"), id("-g"))
}

fn subid_start() -> u32 {
    let subuid = std::fs::read_to_string("/etc/subuid").unwrap();
    let line = subuid
        .lines()
        .find(|l| l.starts_with(&format!("{USER}:")))
        .unwrap();
    line.split(':').nth(1).unwrap().parse().unwrap()
}

/// A bundle whose config is `berth spec --rootless` as made by the user, and a state root
/// the user owns.
struct Rootless {
    e: Env,
    uid: u32,
    gid: u32,
    state: std::path::PathBuf,
}

impl Rootless {
    fn new(name: &str) -> Rootless {
        let (uid, gid) = user();
        let e = Env::new(name);
        let state = e.dir.join("xdg");
        std::fs::create_dir_all(&state).unwrap();
        std::os::unix::fs::chown(&state, Some(uid), Some(gid)).unwrap();
        let spec_dir = e.dir.join("spec");
        std::fs::create_dir_all(&spec_dir).unwrap();
        std::os::unix::fs::chown(&spec_dir, Some(uid), Some(gid)).unwrap();
        let mut r = Rootless { e, uid, gid, state };
        let out = r.as_user(&spec_dir, &["spec", "--rootless"]);
        assert!(out.status.success(), "spec --rootless: {out:?}");
        let mut c: Value =
            serde_json::from_slice(&std::fs::read(spec_dir.join("config.json")).unwrap()).unwrap();
        c["process"]["terminal"] = false.into();
        c["root"]["readonly"] = false.into();
        r.e.config = c;
        r.e.write_config();
        r
    }

    /// berth as the user, with XDG_RUNTIME_DIR set. Output goes through files: a detached
    /// container would hold pipes open.
    fn as_user(&self, cwd: &Path, args: &[&str]) -> Output {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (op, ep) = (
            self.e.dir.join(format!("{n}.out")),
            self.e.dir.join(format!("{n}.err")),
        );
        let status = Command::new("setpriv")
            .arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg("env")
            .arg(format!("XDG_RUNTIME_DIR={}", self.state.display()))
            .arg(runtime_bin())
            .arg("--root")
            .arg(self.state.join("berth"))
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&op).unwrap())
            .stderr(std::fs::File::create(&ep).unwrap())
            .status()
            .expect("run setpriv");
        let out = Output {
            status,
            stdout: std::fs::read(&op).unwrap_or_default(),
            stderr: std::fs::read(&ep).unwrap_or_default(),
        };
        let _ = std::fs::remove_file(op);
        let _ = std::fs::remove_file(ep);
        out
    }

    fn rt(&self, args: &[&str]) -> Output {
        self.as_user(&self.e.bundle, args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.rt(args);
        assert!(
            out.status.success(),
            "{args:?} as {USER} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn left(&self) -> Vec<String> {
        std::fs::read_dir(self.state.join("berth"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Rootless {
    fn drop(&mut self) {
        for id in self.left() {
            let _ = self.rt(&["delete", "-f", &id]);
        }
    }
}

#[test]
fn rootless_container_runs_as_the_unprivileged_user() {
    let mut r = Rootless::new("rootless");
    let out_dir = r.e.dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::os::unix::fs::chown(&out_dir, Some(r.uid), Some(r.gid)).unwrap();
    r.e.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/mnt", "type": "bind", "source": out_dir, "options": ["rbind"]}),
        )
    });
    r.e.sh("id -u; cat /proc/self/uid_map /proc/self/gid_map; touch /mnt/made; echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null || echo denied");
    let id = r.e.id("rl");
    let out = r.ok(&["run", &id]);
    let words: Vec<String> = out.split_whitespace().map(String::from).collect();
    let (u, g) = (r.uid.to_string(), r.gid.to_string());
    assert_eq!(words, ["0", "0", &u, "1", "0", &g, "1", "denied"], "{out}");
    // The container's root is the user on the host.
    let made = std::fs::metadata(out_dir.join("made")).unwrap();
    assert_eq!((made.uid(), made.gid()), (r.uid, r.gid));
    assert!(r.left().is_empty(), "state left behind: {:?}", r.left());
    assert!(!cgroup_exists(&id), "a rootless container made a cgroup");
}

#[test]
fn rootless_lifecycle_with_exec() {
    let mut r = Rootless::new("rootless-life");
    r.e.args(&["sleep", "30"]);
    let id = r.e.id("rl");
    r.ok(&["create", &id]);
    let st: Value = serde_json::from_str(&r.ok(&["state", &id])).unwrap();
    assert_eq!(st["status"], "created");
    // The state lives under the user's runtime dir and belongs to the user.
    let dir = r.state.join("berth").join(&id);
    assert_eq!(std::fs::metadata(&dir).unwrap().uid(), r.uid);
    r.ok(&["start", &id]);
    assert_eq!(r.ok(&["exec", &id, "id", "-u"]), "0\n");
    let pid = st["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().nth(1) == Some(&r.uid.to_string()),
        "init runs as {uid_line}"
    );
    r.ok(&["kill", &id, "KILL"]);
    for _ in 0..200 {
        let st: Value = serde_json::from_str(&r.ok(&["state", &id])).unwrap();
        if st["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    r.ok(&["delete", &id]);
    assert!(r.left().is_empty());
}

#[test]
fn rootless_maps_subordinate_ids_through_newuidmap() {
    assert!(
        Path::new("/usr/bin/newuidmap").exists(),
        "newuidmap missing: install the uidmap package"
    );
    let mut r = Rootless::new("rootless-sub");
    let sub = subid_start();
    let (u, g) = (r.uid, r.gid);
    r.e.edit(|c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": u, "size": 1},
                                           {"containerID": 1, "hostID": sub, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": g, "size": 1},
                                           {"containerID": 1, "hostID": sub, "size": 65536}]);
    });
    let out_dir = r.e.dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::os::unix::fs::chown(&out_dir, Some(u), Some(g)).unwrap();
    r.e.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/mnt", "type": "bind", "source": out_dir, "options": ["rbind"]}),
        )
    });
    r.e.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push("CAP_CHOWN".into());
        }
    });
    r.e.sh("cat /proc/self/uid_map; touch /mnt/f && chown 5:7 /mnt/f");
    let id = r.e.id("rl");
    let out = r.ok(&["run", &id]);
    let words: Vec<String> = out.split_whitespace().map(String::from).collect();
    let (us, ss) = (u.to_string(), sub.to_string());
    assert_eq!(words, ["0", &us, "1", "1", &ss, "65536"], "{out}");
    // Container ids 5 and 7 are subordinate ids on the host.
    let f = std::fs::metadata(out_dir.join("f")).unwrap();
    assert_eq!((f.uid(), f.gid()), (sub + 4, sub + 6));
}

#[test]
fn rootless_mapping_of_ids_not_delegated_fails() {
    let mut r = Rootless::new("rootless-bad");
    r.e.edit(|c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 1}]);
    });
    let id = r.e.id("rl");
    let out = r.rt(&["run", &id]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    if is_berth() {
        assert!(contains(&err, "newuidmap failed"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    assert!(r.left().is_empty());
}

#[test]
fn rootless_container_with_memory_limit_fails_without_a_cgroup() {
    let mut r = Rootless::new("rootless-limit");
    r.e.edit(|c| c["linux"]["resources"] = json!({"memory": {"limit": 67108864}}));
    let id = r.e.id("rl");
    let out = r.rt(&["run", &id]);
    if out.status.success() {
        // A delegated, writable cgroup: the limit applies and there is nothing to check.
        return;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if is_berth() {
        assert!(
            contains(&err, "rootless container sets resource limits"),
            "{err}"
        );
    }
    assert!(r.left().is_empty());
}
