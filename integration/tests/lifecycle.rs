//! create/start/state/kill/delete/run/list/ps through the runtime binary, in every state.

use berth_integration::*;

#[test]
fn run_prints_output_and_propagates_exit_code() {
    let mut e = Env::new("run");
    e.sh("echo hello; exit 7");
    let id = e.id("run");
    let (code, out, _) = e.run(&id);
    assert_eq!(code, 7);
    assert_eq!(out, "hello\n");
    e.assert_clean();
}

#[test]
fn run_killed_by_signal_exits_128_plus_signal() {
    let mut e = Env::new("sig");
    e.sh("sleep 100");
    let id = e.id("sig");
    let mut child = e
        .cmd()
        .args(["run", &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    e.wait_status(&id, "running");
    e.ok(&["kill", &id, "KILL"]);
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(137));
    e.assert_clean();
}

#[test]
fn run_forwards_signals_to_the_container() {
    let mut e = Env::new("fwd");
    e.sh("trap 'echo got-term; exit 5' TERM; while true; do sleep 0.05; done");
    let id = e.id("fwd");
    let out = e.dir.join("fwd.out");
    let mut child = e
        .cmd()
        .args(["run", &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .spawn()
        .unwrap();
    e.wait_status(&id, "running");
    std::thread::sleep(std::time::Duration::from_millis(100));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(5));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "got-term\n");
    e.assert_clean();
}

#[test]
fn create_start_delete_walks_through_states() {
    let mut e = Env::new("life");
    e.sh("sleep 30");
    let id = e.id("life");
    e.ok(&["create", &id]);
    let st = e.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert!(st["pid"].as_i64().unwrap() > 0);
    assert_eq!(
        st["bundle"],
        e.bundle.canonicalize().unwrap().to_str().unwrap()
    );
    assert!(st["created"].as_str().unwrap().ends_with('Z'));
    e.ok(&["start", &id]);
    assert_eq!(e.status(&id), "running");
    e.fails(&["start", &id]);
    e.ok(&["kill", &id, "KILL"]);
    e.wait_status(&id, "stopped");
    assert_eq!(e.state(&id)["pid"], 0);
    e.ok(&["delete", &id]);
    e.fails(&["state", &id]);
    e.assert_clean();
}

#[test]
fn start_waits_for_created_and_runs_process_once() {
    let mut e = Env::new("once");
    let marker = e.bundle.join("rootfs/tmp/ran");
    e.sh("echo x >> /tmp/ran");
    let id = e.id("once");
    e.ok(&["create", &id]);
    assert!(!marker.exists(), "process ran before start");
    e.ok(&["start", &id]);
    e.wait_status(&id, "stopped");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "x\n");
    e.fails(&["start", &id]);
    e.ok(&["delete", &id]);
    e.assert_clean();
}

#[test]
fn kill_accepts_names_and_numbers() {
    let mut e = Env::new("kill");
    e.sh("trap 'exit 3' TERM; trap 'exit 4' USR1; while true; do sleep 0.1; done");
    for sig in ["TERM", "SIGUSR1", "15", "9"] {
        let id = e.id("kill");
        e.ok(&["run", "-d", &id]);
        std::thread::sleep(std::time::Duration::from_millis(100));
        e.ok(&["kill", &id, sig]);
        e.wait_status(&id, "stopped");
        e.ok(&["delete", &id]);
    }
    let id = e.id("kill");
    e.ok(&["run", "-d", &id]);
    if !is_crun() {
        e.fails(&["kill", &id, "SIGNOPE"]);
    }
    e.ok(&["delete", "-f", &id]);
    e.assert_clean();
}

#[test]
fn kill_of_stopped_container_fails() {
    let e = Env::new("killstop");
    let id = e.id("ks");
    e.ok(&["run", "-d", &id]);
    e.wait_status(&id, "stopped");
    e.fails(&["kill", &id, "KILL"]);
    e.ok(&["delete", &id]);
    e.assert_clean();
}

#[test]
fn kill_all_signals_every_process() {
    let mut e = Env::new("killall");
    e.sh("sleep 100 & sleep 100 & wait");
    let id = e.id("ka");
    e.ok(&["run", "-d", &id]);
    std::thread::sleep(std::time::Duration::from_millis(150));
    let pids: Vec<i64> = serde_json::from_str(&e.ok(&["ps", "--format", "json", &id])).unwrap();
    assert!(pids.len() >= 3, "expected sh and two sleeps: {pids:?}");
    e.ok(&["kill", "--all", &id, "KILL"]);
    e.wait_status(&id, "stopped");
    for p in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{p}/cmdline")).exists()
                || std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .map(|s| s.contains(") Z"))
                    .unwrap_or(true)
        );
    }
    e.ok(&["delete", &id]);
    e.assert_clean();
}

#[test]
fn delete_of_running_container_needs_force() {
    let mut e = Env::new("del");
    e.sh("sleep 100");
    let id = e.id("del");
    e.ok(&["run", "-d", &id]);
    let err = e.fails(&["delete", &id]);
    if is_berth() {
        assert!(err.contains("running"), "{err}");
    }
    assert_eq!(e.status(&id), "running");
    e.ok(&["delete", "--force", &id]);
    e.fails(&["state", &id]);
    e.assert_clean();
}

#[test]
fn delete_of_created_container_kills_init() {
    let e = Env::new("delc");
    let id = e.id("delc");
    e.ok(&["create", &id]);
    let pid = e.state(&id)["pid"].as_i64().unwrap();
    e.ok(&["delete", &id]);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z")
    );
    e.assert_clean();
}

#[test]
fn delete_of_missing_container_fails_unless_forced() {
    let e = Env::new("delm");
    e.fails(&["delete", "nope"]);
    e.ok(&["delete", "-f", "nope"]);
    e.assert_clean();
}

#[test]
fn pid_file_holds_init_pid() {
    let e = Env::new("pidfile");
    let id = e.id("pf");
    let pf = e.dir.join("init.pid");
    e.ok(&["create", "--pid-file", pf.to_str().unwrap(), &id]);
    let pid: i64 = std::fs::read_to_string(&pf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, e.state(&id)["pid"].as_i64().unwrap());
    e.ok(&["delete", "-f", &id]);
    e.assert_clean();
}

#[test]
fn list_shows_containers_in_table_json_and_quiet() {
    let mut e = Env::new("list");
    e.sh("sleep 100");
    let a = e.id("la");
    let b = e.id("lb");
    e.ok(&["create", &a]);
    e.ok(&["run", "-d", &b]);
    let table = e.ok(&["list"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    if !is_crun() {
        assert_eq!(
            header,
            ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
        );
    }
    assert!(table.contains(&a) && table.contains("created"));
    assert!(table.contains(&b) && table.contains("running"));
    let q = e.ok(&["list", "-q"]);
    let mut ids: Vec<&str> = q.lines().collect();
    ids.sort();
    assert_eq!(ids, [a.as_str(), b.as_str()]);
    let js: serde_json::Value = serde_json::from_str(&e.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(js.as_array().unwrap().len(), 2);
    e.ok(&["delete", "-f", &a]);
    e.ok(&["delete", "-f", &b]);
    if !is_crun() {
        // runc (Go's encoding of a nil slice) prints null; crun an empty array.
        assert_eq!(e.ok(&["list", "--format", "json"]).trim(), "null");
    }
    e.assert_clean();
}

#[test]
fn ps_lists_container_processes() {
    let mut e = Env::new("ps");
    e.sh("sleep 100");
    let id = e.id("ps");
    e.ok(&["run", "-d", &id]);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let pid = e.state(&id)["pid"].as_i64().unwrap();
    let pids: Vec<i64> = serde_json::from_str(&e.ok(&["ps", "--format", "json", &id])).unwrap();
    assert!(pids.contains(&pid), "{pids:?} lacks {pid}");
    let table = e.ok(&["ps", &id]);
    assert!(table.lines().next().unwrap().contains("PID"));
    if !is_crun() {
        assert!(table.contains("sleep 100"), "{table}"); // crun prints pids only
    }
    e.ok(&["delete", "-f", &id]);
    e.assert_clean();
}

#[test]
fn run_detached_returns_while_container_runs() {
    let mut e = Env::new("detach");
    e.sh("sleep 100");
    let id = e.id("d");
    let t = std::time::Instant::now();
    e.ok(&["run", "-d", &id]);
    assert!(t.elapsed().as_secs() < 5);
    assert_eq!(e.status(&id), "running");
    e.ok(&["delete", "-f", &id]);
    e.assert_clean();
}

#[test]
fn spec_writes_a_config_that_runs() {
    let e = Env::new("spec");
    let dir = e.dir.join("specdir");
    std::fs::create_dir_all(&dir).unwrap();
    e.ok(&["spec", "--bundle", dir.to_str().unwrap()]);
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(c["process"]["args"][0], "sh");
    assert_eq!(c["root"]["path"], "rootfs");
    e.fails(&["spec", "--bundle", dir.to_str().unwrap()]);
    let dir2 = e.dir.join("specdir2");
    std::fs::create_dir_all(&dir2).unwrap();
    e.ok(&["spec", "--rootless", "--bundle", dir2.to_str().unwrap()]);
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir2.join("config.json")).unwrap()).unwrap();
    assert!(c["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["type"] == "user"));
}

#[test]
fn version_and_features_describe_the_runtime() {
    if !is_berth() {
        return;
    }
    let e = Env::new("ver");
    let v = e.ok(&["--version"]);
    assert!(v.starts_with("berth version "), "{v}");
    assert!(v.contains("\ncommit: ") && v.contains("\nspec: "));
    let f: serde_json::Value = serde_json::from_str(&e.ok(&["features"])).unwrap();
    assert!(f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "pid"));
    assert!(f["hooks"].as_array().unwrap().len() == 6);
}

#[test]
fn json_log_format_writes_error_lines_for_containerd() {
    let e = Env::new("log");
    let log = e.dir.join("log.json");
    let out = e.rt(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "start",
        "missing",
    ]);
    assert!(!out.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().len() > 3);
    assert!(line["time"].as_str().is_some());
}
