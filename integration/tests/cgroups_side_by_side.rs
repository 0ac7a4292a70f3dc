//! berth next to runc (and crun on cgroup v2, which it refuses on hybrid v1 hosts): the same
//! config.json gives the same values in the cgroup files, and `events --stats` prints the same
//! JSON structure.

mod cgroups_common;

use cgroups_common::{berth, unified, Ctr};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;

fn resources() -> Value {
    let mut r = json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 4, "minor": 1, "access": "rw"}
        ],
        "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
        "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 42}
    });
    if !unified() {
        r["memory"]["swappiness"] = 30.into();
    }
    r
}

const V1_FILES: &[(&str, &str)] = &[
    ("memory", "memory.limit_in_bytes"),
    ("memory", "memory.soft_limit_in_bytes"),
    ("memory", "memory.memsw.limit_in_bytes"),
    ("memory", "memory.swappiness"),
    ("cpu", "cpu.shares"),
    ("cpu", "cpu.cfs_quota_us"),
    ("cpu", "cpu.cfs_period_us"),
    ("cpuset", "cpuset.cpus"),
    ("cpuset", "cpuset.mems"),
    ("pids", "pids.max"),
    ("devices", "devices.list"),
];
const V2_FILES: &[(&str, &str)] = &[
    ("", "memory.max"),
    ("", "memory.low"),
    ("", "memory.swap.max"),
    ("", "cpu.weight"),
    ("", "cpu.max"),
    ("", "cpuset.cpus"),
    ("", "cpuset.mems"),
    ("", "pids.max"),
];

fn values(c: &Ctr) -> Vec<(String, String)> {
    let files = if unified() { V2_FILES } else { V1_FILES };
    files
        .iter()
        .map(|(ctrl, f)| {
            let mut lines: Vec<String> = c.read(ctrl, f).lines().map(str::to_string).collect();
            lines.sort();
            (f.to_string(), lines.join(","))
        })
        .collect()
}

/// Key paths of a JSON document; maps keyed by data (raw counters, page sizes) are one key.
fn shape(v: &Value, path: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if path.ends_with(".raw") || path.ends_with(".hugetlb") {
                    out.insert(format!("{path}.*"));
                    continue;
                }
                let p = format!("{path}.{k}");
                out.insert(p.clone());
                shape(x, &p, out);
            }
        }
        Value::Array(a) => {
            if let Some(x) = a.first() {
                shape(x, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

fn compare_with(runtime: &str) {
    let script = "exec sleep 100";
    let ours = Ctr::with_runtime(
        &berth(),
        &format!("sbs-berth-{runtime}"),
        script,
        resources(),
    );
    let theirs = Ctr::with_runtime(
        Path::new(runtime),
        &format!("sbs-{runtime}"),
        script,
        resources(),
    );
    ours.run_detached();
    theirs.run_detached();
    assert_eq!(
        values(&ours),
        values(&theirs),
        "cgroup values differ from {runtime}"
    );
    if runtime == "crun" {
        return; // crun has no `events` command
    }
    let mut a = BTreeSet::new();
    let mut b = BTreeSet::new();
    let sa: Value = serde_json::from_str(&ours.ok(&["events", "--stats", &ours.id])).unwrap();
    let sb: Value = serde_json::from_str(&theirs.ok(&["events", "--stats", &theirs.id])).unwrap();
    shape(&sa, "", &mut a);
    shape(&sb, "", &mut b);
    // Counters that happen to be zero are left out by both (omitempty): compare what both have
    // and require every top-level section.
    for k in [
        ".type",
        ".id",
        ".data.cpu.usage",
        ".data.memory.usage.limit",
        ".data.pids.current",
    ] {
        assert!(a.contains(k), "berth lacks {k}");
        assert!(b.contains(k), "{runtime} lacks {k}");
    }
    let only_ours: Vec<_> = a.difference(&b).filter(|k| !is_counter(k)).collect();
    let only_theirs: Vec<_> = b.difference(&a).filter(|k| !is_counter(k)).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "berth only {only_ours:?}, {runtime} only {only_theirs:?}"
    );
}

/// omitempty numbers: present only when non-zero. On hybrid hosts berth also reports hugetlb
/// from the unified hierarchy, which runc ignores.
fn is_counter(k: &str) -> bool {
    if !unified() && k.starts_with(".data.hugetlb") {
        return true;
    }
    k.contains(".blkio.")
        || k.contains(".throttling.")
        || k.ends_with(".usage.usage")
        || k.ends_with(".max")
        || k.ends_with(".usage") && k.contains(".memory.")
        || k.ends_with(".cache")
        || k.contains(".percpu")
}

#[test]
fn same_cgroup_values_and_stats_shape_as_runc() {
    compare_with("runc");
}

#[test]
fn same_cgroup_values_and_stats_shape_as_crun_on_v2() {
    if !unified() {
        eprintln!("skipped: crun refuses hybrid cgroup v1 hosts");
        return;
    }
    compare_with("crun");
}
