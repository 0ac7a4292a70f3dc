//! berth's cgroup commands end to end with real containers: pause/resume, update (flags and
//! -r), events (--stats, --interval, oom), ps, kill --all, delete --force of a paused
//! container, limits with a real effect, bad input. Runs on the host's cgroup v1 and in the
//! cgroup v2 VM (hack/vm/test-cgroup2.sh).

mod cgroups_common;

use cgroups_common::{one_line_error, unified, wait_until, Ctr};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const COUNTER: &str = "i=0; while :; do i=$((i+1)); echo $i > /out/n; done";

fn counter(c: &Ctr) -> u64 {
    c.out_file("n").trim().parse().unwrap_or(0)
}

#[test]
fn pause_freezes_and_resume_thaws_a_running_container() {
    let c = Ctr::new("pause", COUNTER, json!({}));
    c.run_detached();
    wait_until("counter", Duration::from_secs(10), || counter(&c) > 10);
    c.ok(&["pause", &c.id]);
    assert_eq!(c.status(), "paused");
    if unified() {
        assert_eq!(c.read("", "cgroup.freeze"), "1");
    } else {
        assert_eq!(c.read("freezer", "freezer.state"), "FROZEN");
    }
    let a = counter(&c);
    std::thread::sleep(Duration::from_millis(300));
    let b = counter(&c);
    assert!(b <= a + 1, "counter moved while paused: {a} -> {b}");
    // Pausing twice is an error, as in runc.
    one_line_error(&c.cmd(&["pause", &c.id]));
    c.ok(&["resume", &c.id]);
    assert_eq!(c.status(), "running");
    wait_until("counter resumes", Duration::from_secs(10), || {
        counter(&c) > b + 10
    });
    one_line_error(&c.cmd(&["resume", &c.id]));
}

#[test]
fn pause_and_resume_of_a_missing_container_fail_cleanly() {
    let c = Ctr::new("pausemissing", "true", json!({}));
    for cmd in ["pause", "resume", "update", "events"] {
        let e = one_line_error(&c.cmd(&[cmd, "no-such-container"]));
        assert!(e.contains("no-such-container"), "{cmd}: {e}");
    }
}

#[test]
fn delete_force_of_a_paused_container_kills_it_and_removes_the_cgroup() {
    let c = Ctr::new("delpaused", "sleep 100 & sleep 100 & wait", json!({}));
    c.run_detached();
    c.ok(&["pause", &c.id]);
    c.ok(&["delete", "--force", &c.id]);
    assert_eq!(c.status(), "gone");
    wait_until("cgroup removed", Duration::from_secs(5), || c.cgroup_gone());
}

#[test]
fn kill_all_signals_every_process() {
    let c = Ctr::new("killall", "sleep 100 & sleep 100 & wait", json!({}));
    c.run_detached();
    let procs = if unified() {
        c.cgroup_dir("")
    } else {
        c.cgroup_dir("pids")
    };
    wait_until("3 processes", Duration::from_secs(5), || {
        std::fs::read_to_string(procs.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .count()
            == 3
    });
    c.ok(&["kill", "--all", &c.id, "KILL"]);
    wait_until("stopped", Duration::from_secs(5), || {
        c.status() == "stopped"
    });
    c.ok(&["delete", &c.id]);
    assert!(c.cgroup_gone());
}

#[test]
fn ps_lists_the_container_processes() {
    let c = Ctr::new("ps", "sleep 100 & sleep 100 & wait", json!({}));
    c.run_detached();
    let procs = if unified() {
        c.cgroup_dir("")
    } else {
        c.cgroup_dir("pids")
    };
    wait_until("3 processes", Duration::from_secs(5), || {
        std::fs::read_to_string(procs.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .count()
            == 3
    });
    let out = c.ok(&["ps", "--format", "json", &c.id]);
    let pids: Vec<i32> = serde_json::from_str(out.trim()).unwrap();
    let mut want: Vec<i32> = std::fs::read_to_string(procs.join("cgroup.procs"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let mut got = pids.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn update_flags_change_the_cgroup() {
    let c = Ctr::new(
        "update",
        "exec sleep 100",
        json!({"memory": {"limit": 268435456}}),
    );
    c.run_detached();
    c.ok(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128M",
        "--memory-reservation",
        "32m",
        "--pids-limit",
        "20",
        "--cpu-share",
        "512",
        "--cpu-quota",
        "30000",
        "--cpu-period",
        "100000",
        "--cpuset-cpus",
        "0",
        &c.id,
    ]);
    if unified() {
        assert_eq!(c.read("", "memory.max"), "67108864");
        assert_eq!(c.read("", "memory.swap.max"), "67108864");
        assert_eq!(c.read("", "memory.low"), "33554432");
        assert_eq!(c.read("", "pids.max"), "20");
        assert_eq!(c.read("", "cpu.weight"), "20");
        assert_eq!(c.read("", "cpu.max"), "30000 100000");
        assert_eq!(c.read("", "cpuset.cpus"), "0");
    } else {
        assert_eq!(c.read("memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(c.read("memory", "memory.memsw.limit_in_bytes"), "134217728");
        assert_eq!(c.read("memory", "memory.soft_limit_in_bytes"), "33554432");
        assert_eq!(c.read("pids", "pids.max"), "20");
        assert_eq!(c.read("cpu", "cpu.shares"), "512");
        assert_eq!(c.read("cpu", "cpu.cfs_quota_us"), "30000");
        assert_eq!(c.read("cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(c.read("cpuset", "cpuset.cpus"), "0");
    }
    // Only what is given changes.
    c.ok(&["update", "--pids-limit", "-1", &c.id]);
    let (pids, mem) = if unified() {
        ("", "")
    } else {
        ("pids", "memory")
    };
    assert_eq!(c.read(pids, "pids.max"), "max");
    let max = if unified() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    assert_eq!(c.read(mem, max), "67108864");
}

#[test]
fn update_reads_resources_from_a_file_and_stdin() {
    let c = Ctr::new("updr", "exec sleep 100", json!({}));
    c.run_detached();
    let f = c.tmp.join("res.json");
    std::fs::write(&f, r#"{"pids":{"limit":33}}"#).unwrap();
    c.ok(&["update", "-r", f.to_str().unwrap(), &c.id]);
    let pids = if unified() { "" } else { "pids" };
    assert_eq!(c.read(pids, "pids.max"), "33");
    let o = c.cmd_stdin(
        &["update", "--resources", "-", &c.id],
        Some(r#"{"pids":{"limit":44}}"#),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(c.read(pids, "pids.max"), "44");
}

#[test]
fn update_with_bad_values_fails_with_one_line_and_changes_nothing() {
    let c = Ctr::new("updbad", "exec sleep 100", json!({"pids": {"limit": 10}}));
    c.run_detached();
    let pids = if unified() { "" } else { "pids" };
    let e = one_line_error(&c.cmd(&["update", "--memory", "lots", &c.id]));
    assert!(e.contains("memory"), "{e}");
    let f = c.tmp.join("bad.json");
    std::fs::write(&f, r#"{"pids":{"limit":-5}}"#).unwrap();
    let e = one_line_error(&c.cmd(&["update", "-r", f.to_str().unwrap(), &c.id]));
    assert!(e.contains("pids.limit -5"), "{e}");
    std::fs::write(&f, "{not json").unwrap();
    one_line_error(&c.cmd(&["update", "-r", f.to_str().unwrap(), &c.id]));
    assert_eq!(c.read(pids, "pids.max"), "10");
}

#[test]
fn events_stats_prints_one_runc_envelope() {
    let c = Ctr::new("evstats", "exec sleep 100", json!({"pids": {"limit": 10}}));
    c.run_detached();
    let out = c.ok(&["events", "--stats", &c.id]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with(r#"{"type":"stats","id":""#), "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["id"], c.id.as_str());
    let d = &v["data"];
    assert_eq!(d["pids"]["current"], 1);
    assert_eq!(d["pids"]["limit"], 10);
    assert!(d["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
    for k in [
        "cpu",
        "cpuset",
        "memory",
        "pids",
        "blkio",
        "hugetlb",
        "intel_rdt",
    ] {
        assert!(d.get(k).is_some(), "missing {k}: {out}");
    }
}

#[test]
fn events_stream_stats_and_oom_until_the_container_is_deleted() {
    // The shell survives the OOM kill of tail and keeps the container running.
    let c = Ctr::new(
        "evoom",
        "sleep 1; tail /dev/zero; exec sleep 100",
        json!({"memory": {"limit": 33554432, "swap": 33554432}}),
    );
    c.run_detached();
    let mut ev = Command::new(&c.runtime)
        .arg("--root")
        .arg(c.root())
        .args(["events", "--interval", "300ms", &c.id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(ev.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut stats = 0;
    let mut ooms = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while (ooms == 0 || stats < 2) && std::time::Instant::now() < deadline {
        let Ok(l) = rx.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["id"], c.id.as_str());
        match v["type"].as_str() {
            Some("stats") => stats += 1,
            Some("oom") => {
                assert!(v.get("data").is_none(), "{l}");
                ooms += 1
            }
            t => panic!("unexpected event {t:?}"),
        }
    }
    assert!(ooms >= 1 && stats >= 2, "ooms {ooms} stats {stats}");
    c.ok(&["delete", "--force", &c.id]);
    // The cgroup is gone: events ends by itself.
    let mut done = false;
    for _ in 0..100 {
        if let Some(st) = ev.try_wait().unwrap() {
            assert!(st.success());
            done = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if !done {
        let _ = ev.kill();
        panic!("events did not exit after delete");
    }
}

#[test]
fn events_rejects_a_bad_interval() {
    let c = Ctr::new("evbad", "exec sleep 100", json!({}));
    c.run_detached();
    let e = one_line_error(&c.cmd(&["events", "--interval", "0s", &c.id]));
    assert!(e.contains("interval"), "{e}");
    one_line_error(&c.cmd(&["events", "--interval", "fast", &c.id]));
}

#[test]
fn pids_limit_makes_fork_fail_inside_the_container() {
    let c = Ctr::new(
        "pidsfork",
        "exec 2>/out/err; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; wait",
        json!({"pids": {"limit": 5}}),
    );
    c.run_detached();
    // busybox sh reports "can't fork" (and may give up the loop there).
    wait_until("fork failure", Duration::from_secs(20), || {
        c.out_file("err").contains("fork")
    });
    let dir = if unified() { "" } else { "pids" };
    let current: u64 = c.read(dir, "pids.current").parse().unwrap();
    assert!(current <= 5, "pids.current {current}");
}

#[test]
fn memory_limit_oom_kills_inside_the_container() {
    let c = Ctr::new(
        "oomkill",
        "tail /dev/zero; echo $? > /out/rc",
        json!({"memory": {"limit": 33554432, "swap": 33554432}}),
    );
    c.run_detached();
    wait_until("tail killed", Duration::from_secs(20), || {
        !c.out_file("rc").is_empty()
    });
    assert_eq!(c.out_file("rc").trim(), "137");
    let n = if unified() {
        c.read("", "memory.events")
    } else {
        c.read("memory", "memory.oom_control")
    };
    let kills: u64 = n
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(kills >= 1, "{n}");
}

#[test]
fn create_with_bad_resources_fails_with_one_line_and_leaves_nothing() {
    for (tag, res, want) in [
        (
            "badneg",
            json!({"memory": {"limit": -5}}),
            "memory.limit -5",
        ),
        (
            "baddev",
            json!({"devices": [{"allow": true, "type": "z", "access": "rwm"}]}),
            "device type",
        ),
        (
            "badunified",
            json!({"unified": {"memory.no_such_knob": "1"}}),
            "unified",
        ),
    ] {
        let c = Ctr::new(tag, "exec sleep 100", res);
        let e = one_line_error(&c.cmd(&["create", "--bundle", c.bundle.to_str().unwrap(), &c.id]));
        assert!(e.contains(want), "{tag}: {e}");
        assert_eq!(c.status(), "gone", "{tag}");
        assert!(!c.root().join(&c.id).exists(), "{tag}: state left behind");
        assert!(c.cgroup_gone(), "{tag}: cgroup left behind");
    }
}

#[test]
fn delete_removes_the_cgroup() {
    let c = Ctr::new("delcg", "exec sleep 100", json!({"pids": {"limit": 10}}));
    c.run_detached();
    assert!(!c.cgroup_gone());
    c.ok(&["kill", &c.id, "KILL"]);
    wait_until("stopped", Duration::from_secs(5), || {
        c.status() == "stopped"
    });
    c.ok(&["delete", &c.id]);
    assert!(c.cgroup_gone());
}

#[test]
fn container_sees_its_own_cgroup_as_root_with_its_limits() {
    let c = Ctr::new(
        "cgns",
        "cat /proc/self/cgroup > /out/self; \
         cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max > /out/pids 2>/dev/null; \
         exec sleep 100",
        json!({"pids": {"limit": 17}}),
    );
    c.run_detached();
    wait_until("output", Duration::from_secs(10), || {
        !c.out_file("pids").is_empty()
    });
    let own = c.out_file("self");
    for line in own.lines() {
        // Every hierarchy berth manages is rooted at the container's cgroup.
        let path = line.splitn(3, ':').nth(2).unwrap_or_default();
        assert_eq!(path, "/", "{own}");
    }
    assert_eq!(c.out_file("pids").trim(), "17");
}

/// Our own cgroup in a hierarchy ("" = v2), from /proc/self/cgroup.
fn own_cgroup(ctrl: &str) -> String {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    text.lines()
        .find_map(|l| {
            let mut it = l.splitn(3, ':');
            let _ = it.next();
            let c = it.next()?;
            let p = it.next()?;
            let hit = if ctrl.is_empty() {
                c.is_empty()
            } else {
                c.split(',').any(|x| x == ctrl)
            };
            hit.then(|| p.to_string())
        })
        .unwrap_or_else(|| "/".into())
}

#[test]
fn empty_cgroups_path_defaults_to_the_id_under_our_cgroup() {
    let c = Ctr::new("dflt", "exec sleep 100", json!({"pids": {"limit": 9}}));
    let cfg_path = c.bundle.join("config.json");
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["linux"].as_object_mut().unwrap().remove("cgroupsPath");
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    c.run_detached();
    let dir = if unified() {
        // runc: under the parent of our own cgroup.
        let own = own_cgroup("");
        let parent = own.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        std::path::PathBuf::from(format!("/sys/fs/cgroup{parent}/{}", c.id))
    } else {
        let own = own_cgroup("pids");
        std::path::PathBuf::from(format!(
            "/sys/fs/cgroup/pids{}/{}",
            own.trim_end_matches('/'),
            c.id
        ))
    };
    let max = std::fs::read_to_string(dir.join("pids.max"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    assert_eq!(max.trim(), "9");
    c.ok(&["delete", "--force", &c.id]);
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn device_nodes_need_a_cgroup_rule_as_with_runc() {
    let script =
        "echo x > /dev/kmsg && echo write-ok > /out/r || echo denied > /out/r; exec sleep 100";
    let add_node = |c: &Ctr| {
        let p = c.bundle.join("config.json");
        let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        cfg["linux"]["devices"] =
            json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 438}]);
        std::fs::write(&p, serde_json::to_vec(&cfg).unwrap()).unwrap();
    };
    let denied = Ctr::new("devnode", script, json!({}));
    add_node(&denied);
    denied.run_detached();
    let allowed = Ctr::new(
        "devnodeok",
        script,
        json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rw"}
        ]}),
    );
    add_node(&allowed);
    allowed.run_detached();
    wait_until("results", Duration::from_secs(10), || {
        !denied.out_file("r").is_empty() && !allowed.out_file("r").is_empty()
    });
    assert_eq!(denied.out_file("r").trim(), "denied");
    assert_eq!(allowed.out_file("r").trim(), "write-ok");
}
