//! Side by side with runc (and crun where it runs): the same linux.resources end up as the
//! same values in the cgroup files. Needs runc, busybox-static (hack/rootfs.sh); crun is
//! compared only on cgroup v2 (crun 1.8 refuses hybrid v1 hosts).

mod cgroups_support;

use berth_runtime::cgroups::{Hierarchy, Manager};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn block_dev() -> (u64, u64) {
    cgroups_support::block_device().unwrap_or((1, 3))
}

fn resources_json(h: Hierarchy) -> serde_json::Value {
    let (maj, min) = block_dev();
    let mut r = serde_json::json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 4, "minor": 1, "access": "rw"},
            {"allow": true, "type": "b", "major": 7, "access": "r"}
        ],
        "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
        "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 42},
        "blockIO": {
            "weight": 300,
            "throttleReadBpsDevice": [{"major": maj, "minor": min, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": maj, "minor": min, "rate": 77}]
        }
    });
    if h == Hierarchy::V1 {
        r["memory"]["swappiness"] = 20.into();
    }
    r
}

/// The files compared, per controller.
fn files(h: Hierarchy) -> Vec<(&'static str, &'static str)> {
    match h {
        Hierarchy::V1 => vec![
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
            ("blkio", "blkio.bfq.weight"),
            ("blkio", "blkio.throttle.read_bps_device"),
            ("blkio", "blkio.throttle.write_iops_device"),
            ("devices", "devices.list"),
        ],
        Hierarchy::V2 => vec![
            ("", "memory.max"),
            ("", "memory.low"),
            ("", "memory.swap.max"),
            ("", "cpu.weight"),
            ("", "cpu.max"),
            ("", "cpuset.cpus"),
            ("", "cpuset.mems"),
            ("", "pids.max"),
            ("", "io.max"),
            ("", "io.bfq.weight"),
            ("", "io.weight"),
        ],
    }
}

fn read_all(dirs: &BTreeMap<String, PathBuf>, h: Hierarchy) -> BTreeMap<String, String> {
    files(h)
        .into_iter()
        .map(|(ctrl, f)| {
            let v =
                std::fs::read_to_string(dirs[ctrl].join(f)).unwrap_or_else(|e| format!("<{e}>"));
            // devices.list order is the kernel's insertion order; compare as a set.
            let mut lines: Vec<&str> = v.lines().collect();
            lines.sort();
            (format!("{ctrl}/{f}"), lines.join("\n"))
        })
        .collect()
}

/// Runs `runtime run -d` on a bundle with `resources` at cgroupsPath `cg`, reads the values,
/// deletes the container.
fn with_runtime(runtime: &str, tag: &str, h: Hierarchy) -> BTreeMap<String, String> {
    let tmp = std::env::temp_dir().join(format!("berth-cg-{runtime}-{}", std::process::id()));
    let bundle = tmp.join("bundle");
    // A prebuilt bundle (hack/vm/test-cgroup2.sh makes one: building it under TCG is slow).
    let st = match std::env::var_os("BERTH_TEST_BUNDLE") {
        Some(src) => {
            std::fs::create_dir_all(&tmp).unwrap();
            Command::new("cp").arg("-a").arg(src).arg(&bundle).status()
        }
        None => Command::new("bash")
            .arg(repo_root().join("hack/rootfs.sh"))
            .arg(&bundle)
            .stdout(Stdio::null())
            .status(),
    }
    .expect("make a bundle");
    assert!(st.success());
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    let cg = cgroups_support::name(tag);
    cfg["process"]["args"] = serde_json::json!(["sleep", "100"]);
    cfg["linux"]["cgroupsPath"] = cg.clone().into();
    cfg["linux"]["resources"] = resources_json(h);
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let root = tmp.join("state");
    let id = format!("cg-{runtime}-{}", std::process::id());
    // stderr goes to a file: a pipe would be held open by the detached container.
    let errf = tmp.join("stderr");
    let run = |args: &[&str]| {
        let err = std::fs::File::create(&errf).unwrap();
        let st = Command::new(runtime)
            .arg("--root")
            .arg(&root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .status()
            .expect("run runtime");
        (
            st.success(),
            std::fs::read_to_string(&errf).unwrap_or_default(),
        )
    };
    let (ok, err) = run(&["run", "-d", "--bundle", bundle.to_str().unwrap(), &id]);
    let values = if ok {
        let dirs = Manager::new(Some(&cg), "x", false).unwrap().paths();
        Ok(read_all(&dirs, h))
    } else {
        Err(err)
    };
    run(&["delete", "-f", &id]);
    let _ = std::fs::remove_dir_all(&tmp);
    values.unwrap_or_else(|e| panic!("{runtime} run failed: {e}"))
}

fn with_berth(tag: &str, h: Hierarchy) -> BTreeMap<String, String> {
    let r: berth_runtime::spec::Resources = serde_json::from_value(resources_json(h)).unwrap();
    let m = Manager::new(Some(&cgroups_support::name(tag)), "x", false).unwrap();
    m.create(Some(&r)).unwrap();
    let v = read_all(&m.paths(), h);
    m.destroy().unwrap();
    v
}

#[test]
fn same_cgroup_values_as_runc() {
    let h = berth_runtime::cgroups::hierarchy().unwrap();
    let ours = with_berth("side-berth", h);
    let runc = with_runtime("runc", "side-runc", h);
    eprintln!("berth: {ours:#?}");
    assert_eq!(ours, runc);
}

#[test]
fn same_cgroup_values_as_crun_on_v2() {
    let h = berth_runtime::cgroups::hierarchy().unwrap();
    if h == Hierarchy::V1 {
        eprintln!("skipped: crun refuses hybrid cgroup v1 hosts");
        return;
    }
    let ours = with_berth("side-berth2", h);
    let crun = with_runtime("crun", "side-crun", h);
    assert_eq!(ours, crun);
}
