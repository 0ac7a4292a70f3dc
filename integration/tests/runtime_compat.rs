//! runc 1.2 / runtime-spec 1.2 compatibility of config handling: capabilities berth or the
//! kernel doesn't know are skipped with a warning, relative mount destinations are mounted
//! under the container's `/`, and linux.rootfsPropagation is what the container's `/` ends up
//! with, including the Kubernetes Bidirectional and HostToContainer mount propagation cases.
//!
//! The propagation tests make mounts of their own on the host (a bind of the test's temp dir
//! onto itself, or a tmpfs in it), made shared as a kubelet's pod directories are; they are
//! detached when the test ends, also when it fails. No existing host mount is changed.

use berth_integration::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The default capabilities of the test bundle: CAP_AUDIT_WRITE, CAP_KILL,
/// CAP_NET_BIND_SERVICE.
const BASE_CAPS: u64 = 1 << 29 | 1 << 5 | 1 << 10;

fn mount_cmd(args: &[&str]) -> bool {
    Command::new("mount")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A mount the test made on the host, detached with everything below it on drop.
struct HostMount(PathBuf);

impl HostMount {
    /// `dir` bound onto itself and made rshared, as the conformance suite puts a bundle.
    fn shared_bind(dir: &Path) -> HostMount {
        let d = dir.to_str().unwrap();
        assert!(mount_cmd(&["--bind", d, d]), "bind {d} onto itself");
        let m = HostMount(dir.to_path_buf());
        assert!(mount_cmd(&["--make-rshared", d]), "make {d} rshared");
        m
    }

    /// A fresh shared tmpfs at `dir` (created), like a kubelet volume directory.
    fn shared_tmpfs(dir: &Path) -> HostMount {
        std::fs::create_dir_all(dir).unwrap();
        let d = dir.to_str().unwrap();
        assert!(
            mount_cmd(&["-t", "tmpfs", "-o", "size=4m", "tmpfs", d]),
            "tmpfs on {d}"
        );
        let m = HostMount(dir.to_path_buf());
        assert!(mount_cmd(&["--make-shared", d]), "make {d} shared");
        m
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .stderr(Stdio::null())
            .status();
    }
}

/// Mount points in the host's mount namespace at or below `dir`.
fn host_mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| Path::new(mp).starts_with(dir))
        .map(str::to_string)
        .collect()
}

/// The propagation of the mount at `mount_point` in a mountinfo text (the last one listed
/// there, the one on top), named as the checker of the conformance suite names it.
fn propagation_of(mountinfo: &str, mount_point: &str) -> &'static str {
    let Some(line) = mountinfo
        .lines()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some(mount_point))
    else {
        return "missing";
    };
    let optional: Vec<&str> = line.split(' ').skip(6).take_while(|f| *f != "-").collect();
    if optional.iter().any(|f| f.starts_with("shared:")) {
        "shared"
    } else if optional.iter().any(|f| f.starts_with("master:")) {
        "slave"
    } else if optional.contains(&"unbindable") {
        "unbindable"
    } else {
        "private"
    }
}

/// A `CapXxx:` line of /proc/self/status as a number.
fn cap_field(status: &str, key: &str) -> u64 {
    let v = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {status}"));
    u64::from_str_radix(v.trim(), 16).unwrap()
}

/// The messages of the warning lines of a JSON log.
fn warnings(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["level"] == "warning")
        .filter_map(|v| v["msg"].as_str().map(str::to_string))
        .collect()
}

/// `run` with a JSON `--log` file; asserts exit 0 and returns (stdout, log path).
fn run_logged(e: &Env, id: &str) -> (String, PathBuf) {
    let log = e.dir.join(format!("{id}.log"));
    let out = e.rt(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "run",
        id,
    ]);
    assert!(
        out.status.success(),
        "run failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8_lossy(&out.stdout).into_owned(), log)
}

fn add_caps(c: &mut Value, names: &[&str]) {
    for set in ["bounding", "effective", "permitted"] {
        let a = c["process"]["capabilities"][set].as_array_mut().unwrap();
        a.extend(names.iter().map(|n| json!(n)));
    }
}

#[test]
fn unknown_capability_is_skipped_with_a_warning_and_the_rest_applied() {
    let mut e = Env::new("capunknown");
    e.edit(|c| add_caps(c, &["CAP_CONFORMANCE_BOGUS", "CAP_FROM_THE_FUTURE"]));
    e.args(&["cat", "/proc/self/status"]);
    let id = e.id("capunknown");
    let (out, log) = run_logged(&e, &id);
    assert_eq!(cap_field(&out, "CapBnd:"), BASE_CAPS, "{out}");
    assert_eq!(cap_field(&out, "CapEff:"), BASE_CAPS, "{out}");
    assert_eq!(cap_field(&out, "CapPrm:"), BASE_CAPS, "{out}");
    let w = warnings(&log);
    assert!(
        w.iter().any(|m| m
            == "ignoring unknown or unavailable capabilities: [CAP_CONFORMANCE_BOGUS CAP_FROM_THE_FUTURE]"),
        "warnings: {w:?}"
    );
    e.assert_clean();
}

#[test]
fn capability_the_kernel_lacks_is_skipped_with_a_warning() {
    // A kernel that stops at CAP_WAKE_ALARM (35), faked for the runtime alone: it runs in a
    // mount namespace of its own where /proc/sys/kernel/cap_last_cap reads 35.
    let mut e = Env::new("capkernel");
    e.edit(|c| add_caps(c, &["CAP_BPF", "CAP_CHECKPOINT_RESTORE", "CAP_CHOWN"]));
    e.args(&["cat", "/proc/self/status"]);
    let fake = e.dir.join("cap_last_cap");
    std::fs::write(&fake, "35\n").unwrap();
    let id = e.id("capkernel");
    let log = e.dir.join("capkernel.log");
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg("mount --bind \"$0\" /proc/sys/kernel/cap_last_cap && exec \"$@\"")
        .arg(&fake)
        .arg(runtime_bin())
        .arg("--root")
        .arg(&e.root)
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "run", &id])
        .current_dir(&e.bundle)
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "run failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // CAP_CHOWN (0) is applied; CAP_BPF (39) and CAP_CHECKPOINT_RESTORE (40) are not.
    assert_eq!(cap_field(&text, "CapEff:"), BASE_CAPS | 1, "{text}");
    assert_eq!(cap_field(&text, "CapPrm:"), BASE_CAPS | 1, "{text}");
    let w = warnings(&log);
    assert!(
        w.iter().any(|m| m
            == "ignoring unknown or unavailable capabilities: [CAP_BPF CAP_CHECKPOINT_RESTORE]"),
        "warnings: {w:?}"
    );
    e.assert_clean();
}

#[test]
fn exec_process_with_unknown_capability_runs_with_the_rest() {
    let mut e = Env::new("capexec");
    e.args(&["sleep", "30"]);
    let id = e.id("capexec");
    e.ok(&["run", "-d", &id]);
    let mut process = e.config["process"].clone();
    process["args"] = json!(["cat", "/proc/self/status"]);
    for set in ["bounding", "effective", "permitted"] {
        process["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_CONFORMANCE_BOGUS"));
    }
    let pfile = e.dir.join("process.json");
    std::fs::write(&pfile, serde_json::to_vec(&process).unwrap()).unwrap();
    let out = e.ok(&["exec", "-p", pfile.to_str().unwrap(), &id]);
    assert_eq!(cap_field(&out, "CapEff:"), BASE_CAPS, "{out}");
    // runc's `exec --cap` takes an unknown name the same way
    let out = e.ok(&[
        "exec",
        "--cap",
        "CAP_CONFORMANCE_BOGUS",
        &id,
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(cap_field(&out, "CapEff:"), BASE_CAPS, "{out}");
    e.ok(&["delete", "-f", &id]);
    e.assert_clean();
}

#[test]
fn relative_mount_destination_is_mounted_under_root_with_a_warning() {
    let mut e = Env::new("reldest");
    e.edit(|c| {
        c["mounts"].as_array_mut().unwrap().extend([
            json!({"destination": "relative-dest", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
            json!({"destination": "nested/dir", "type": "tmpfs", "source": "tmpfs", "options": ["size=2m"]}),
        ]);
    });
    e.args(&["cat", "/proc/self/mountinfo"]);
    let id = e.id("reldest");
    let (out, log) = run_logged(&e, &id);
    for mp in ["/relative-dest", "/nested/dir"] {
        let line = out
            .lines()
            .find(|l| l.split(' ').nth(4) == Some(mp))
            .unwrap_or_else(|| panic!("{mp} is not mounted: {out}"));
        assert!(line.contains(" - tmpfs "), "{line}");
    }
    let w = warnings(&log);
    assert!(
        w.iter()
            .any(|m| m.starts_with("mount destination relative-dest is not absolute")),
        "warnings: {w:?}"
    );
    assert!(host_mounts_under(&e.dir).is_empty());
    e.assert_clean();
}

#[test]
fn empty_mount_destination_is_rejected() {
    if !is_berth() {
        return; // runc 1.1 warns and mounts over the rootfs itself
    }
    let mut e = Env::new("emptydest");
    e.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "", "type": "tmpfs", "source": "tmpfs"}));
    });
    let id = e.id("emptydest");
    let err = e.fails(&["run", &id]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("mount destination is empty"), "{err}");
    e.assert_clean();
}

/// Runs `cat /proc/self/mountinfo` with rootfsPropagation `p`, the bundle on a shared mount
/// so that slave relations are visible; returns the propagation of the container's `/`.
fn root_propagation_with(p: &str, no_pivot: bool) -> String {
    propagation_with(p, no_pivot, "/")
}

/// As `root_propagation_with`, for the mount at `mount_point` in the container.
fn propagation_with(p: &str, no_pivot: bool, mount_point: &str) -> String {
    let mut e = Env::new(&format!("prop-{p}"));
    let _host = HostMount::shared_bind(&e.dir);
    e.edit(|c| c["linux"]["rootfsPropagation"] = p.into());
    e.args(&["cat", "/proc/self/mountinfo"]);
    let id = e.id("prop");
    let args: Vec<&str> = if no_pivot {
        vec!["run", "--no-pivot", &id]
    } else {
        vec!["run", &id]
    };
    let out = e.ok(&args);
    assert_eq!(
        host_mounts_under(&e.bundle),
        Vec::<String>::new(),
        "container mounts leaked to the host"
    );
    e.assert_clean();
    propagation_of(&out, mount_point).to_string()
}

#[test]
fn rootfs_propagation_private_keeps_root_private() {
    assert_eq!(root_propagation_with("private", false), "private");
    assert_eq!(root_propagation_with("rprivate", false), "private");
}

#[test]
fn rootfs_propagation_shared_makes_root_shared() {
    for p in ["shared", "rshared"] {
        let got = root_propagation_with(p, false);
        if is_berth() {
            assert_eq!(got, "shared", "{p}"); // runc 1.1 leaves / private
        }
    }
    if is_berth() {
        // Recursive or not: the mounts below / follow only with rshared.
        assert_eq!(propagation_with("rshared", false, "/proc"), "shared");
        assert_eq!(propagation_with("shared", false, "/proc"), "private");
    }
}

#[test]
fn rootfs_propagation_slave_makes_root_a_slave_of_the_host() {
    for p in ["slave", "rslave"] {
        let got = root_propagation_with(p, false);
        if is_berth() {
            assert_eq!(got, "slave", "{p}");
        }
    }
}

#[test]
fn rootfs_propagation_unbindable_makes_root_unbindable() {
    let got = root_propagation_with("unbindable", false);
    if !is_berth() {
        return; // runc 1.1 leaves / private, and can't bind its rootfs from a runbindable /
    }
    assert_eq!(got, "unbindable");
    // Every mount ends up unbindable, and the masked and read-only paths (binds) still work.
    assert_eq!(root_propagation_with("runbindable", false), "unbindable");
    assert_eq!(
        propagation_with("runbindable", false, "/proc"),
        "unbindable"
    );
}

#[test]
fn rootfs_propagation_applies_without_pivot_root_too() {
    if !is_berth() {
        return;
    }
    for (p, want) in [
        ("rshared", "shared"),
        ("rslave", "slave"),
        ("runbindable", "unbindable"),
    ] {
        assert_eq!(root_propagation_with(p, true), want, "{p} with --no-pivot");
    }
}

/// A container with `/data` bound from a shared host tmpfs (a kubelet volume), with the given
/// rootfsPropagation and bind propagation. It waits for a mount the host makes under the
/// volume after the container started, reads a file from it, then mounts a tmpfs of its own
/// at /data/back. Returns (what the container read, whether the host sees the container's
/// mount).
fn kubelet_volume(name: &str, root_prop: &str, bind_prop: &str) -> (String, bool) {
    let mut e = Env::new(name);
    let vol = e.dir.join("volume");
    let _host = HostMount::shared_tmpfs(&vol);
    e.edit(|c| {
        c["linux"]["rootfsPropagation"] = root_prop.into();
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind", "source": vol.to_str().unwrap(),
            "options": ["rbind", bind_prop]
        }));
        add_caps(c, &["CAP_SYS_ADMIN"]);
    });
    e.sh(
        "i=0; while [ ! -e /data/sub/marker ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; \
         cat /data/sub/marker 2>/dev/null || echo missing; \
         mkdir -p /data/back && mount -t tmpfs -o size=1m tmpfs /data/back && echo from-container > /data/back/f",
    );
    let id = e.id("vol");
    let out_path = e.dir.join("vol.out");
    let mut child = e
        .cmd()
        .args(["run", &id])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn run");
    // Only once the container runs (its mounts are set up) does the host mount under the
    // volume, so only propagation can bring it in.
    e.wait_status(&id, "running");
    let sub = vol.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let _sub = HostMount(sub.clone());
    assert!(mount_cmd(&[
        "-t",
        "tmpfs",
        "-o",
        "size=1m",
        "tmpfs",
        sub.to_str().unwrap()
    ]));
    std::fs::write(sub.join("marker"), "from-host\n").unwrap();
    let st = child.wait().unwrap();
    let out = std::fs::read_to_string(&out_path).unwrap_or_default();
    assert!(st.success(), "container failed: {out}");
    // A container mount that reached the host is detached with the volume (`_host`).
    let back = std::fs::read_to_string(vol.join("back/f")).is_ok();
    assert_eq!(
        host_mounts_under(&e.bundle),
        Vec::<String>::new(),
        "container mounts leaked to the host"
    );
    e.assert_clean();
    (out.trim().to_string(), back)
}

#[test]
fn bidirectional_volume_propagates_both_ways_with_rshared_root() {
    // containerd's CRI: a Bidirectional mount is an rshared bind and makes rootfsPropagation
    // rshared.
    let (read, back) = kubelet_volume("bidir", "rshared", "rshared");
    assert_eq!(read, "from-host", "host mount did not reach the container");
    assert!(back, "the container's mount did not reach the host");
}

#[test]
fn host_to_container_volume_propagates_in_only_with_rslave_root() {
    // HostToContainer: an rslave bind, rootfsPropagation rslave.
    let (read, back) = kubelet_volume("h2c", "rslave", "rslave");
    assert_eq!(read, "from-host", "host mount did not reach the container");
    assert!(
        !back,
        "a container mount reached the host through a slave volume"
    );
}
