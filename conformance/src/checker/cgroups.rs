//! Checks of linux.resources through the cgroup files the container can see at /sys/fs/cgroup.

use crate::tap::Tap;
use serde_json::Value;
use std::path::Path;

const ROOT: &str = "/sys/fs/cgroup";

fn read(rel: &str) -> Option<String> {
    std::fs::read_to_string(format!("{ROOT}/{rel}"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Compares one cgroup file with the expected content; skips when the file is not visible
/// (controller not mounted in the container, or not supported by the kernel).
fn expect(tap: &mut Tap, what: &str, rel: &str, want: Option<String>) {
    let Some(want) = want else { return };
    match read(rel) {
        Some(got) => tap.eq(&format!("linux.resources.{what} ({rel})"), got, want),
        None => tap.skip(
            &format!("linux.resources.{what}"),
            &format!("{ROOT}/{rel} not visible in the container"),
        ),
    }
}

fn contains(tap: &mut Tap, what: &str, rel: &str, line: String) {
    match read(rel) {
        Some(got) => tap.check(
            &format!("linux.resources.{what} ({rel})"),
            got.lines().any(|l| l.trim() == line),
            format!("{got:?} lacks {line:?}"),
        ),
        None => tap.skip(
            &format!("linux.resources.{what}"),
            &format!("{ROOT}/{rel} not visible in the container"),
        ),
    }
}

fn num(v: &Value) -> Option<String> {
    v.as_i64()
        .map(|n| n.to_string())
        .or_else(|| v.as_u64().map(|n| n.to_string()))
}

pub fn check(tap: &mut Tap, config: &Value) {
    let r = &config["linux"]["resources"];
    if !r.is_object() {
        return;
    }
    if Path::new(ROOT).join("cgroup.controllers").exists() {
        check_v2(tap, r);
    } else {
        check_v1(tap, r);
    }
}

fn check_v1(tap: &mut Tap, r: &Value) {
    let m = &r["memory"];
    expect(
        tap,
        "memory.limit",
        "memory/memory.limit_in_bytes",
        num(&m["limit"]),
    );
    expect(
        tap,
        "memory.reservation",
        "memory/memory.soft_limit_in_bytes",
        num(&m["reservation"]),
    );
    expect(
        tap,
        "memory.swap",
        "memory/memory.memsw.limit_in_bytes",
        num(&m["swap"]),
    );
    expect(
        tap,
        "memory.swappiness",
        "memory/memory.swappiness",
        num(&m["swappiness"]),
    );
    if m["disableOOMKiller"].as_bool() == Some(true) {
        contains(
            tap,
            "memory.disableOOMKiller",
            "memory/memory.oom_control",
            "oom_kill_disable 1".into(),
        );
    }
    let c = &r["cpu"];
    expect(tap, "cpu.shares", "cpu/cpu.shares", num(&c["shares"]));
    expect(tap, "cpu.quota", "cpu/cpu.cfs_quota_us", num(&c["quota"]));
    expect(
        tap,
        "cpu.period",
        "cpu/cpu.cfs_period_us",
        num(&c["period"]),
    );
    expect(
        tap,
        "cpu.realtimeRuntime",
        "cpu/cpu.rt_runtime_us",
        num(&c["realtimeRuntime"]),
    );
    expect(
        tap,
        "cpu.realtimePeriod",
        "cpu/cpu.rt_period_us",
        num(&c["realtimePeriod"]),
    );
    expect(
        tap,
        "cpu.cpus",
        "cpuset/cpuset.cpus",
        c["cpus"].as_str().map(String::from),
    );
    expect(
        tap,
        "cpu.mems",
        "cpuset/cpuset.mems",
        c["mems"].as_str().map(String::from),
    );
    expect(
        tap,
        "pids.limit",
        "pids/pids.max",
        r["pids"]["limit"]
            .as_i64()
            .map(|l| if l <= 0 { "max".into() } else { l.to_string() }),
    );
    let b = &r["blockIO"];
    expect(
        tap,
        "blockIO.weight",
        "blkio/blkio.weight",
        num(&b["weight"]),
    );
    for (field, file) in [
        ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
        ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
        ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
        ),
    ] {
        for d in b[field].as_array().into_iter().flatten() {
            let line = format!("{}:{} {}", d["major"], d["minor"], d["rate"]);
            contains(
                tap,
                &format!("blockIO.{field}"),
                &format!("blkio/{file}"),
                line,
            );
        }
    }
    for h in r["hugepageLimits"].as_array().into_iter().flatten() {
        let size = h["pageSize"].as_str().unwrap_or("");
        expect(
            tap,
            &format!("hugepageLimits {size}"),
            &format!("hugetlb/hugetlb.{size}.limit_in_bytes"),
            num(&h["limit"]),
        );
    }
    for (dev, lim) in r["rdma"].as_object().into_iter().flatten() {
        contains(tap, "rdma", "rdma/rdma.max", rdma_line(dev, lim));
    }
    let n = &r["network"];
    expect(
        tap,
        "network.classID",
        "net_cls/net_cls.classid",
        num(&n["classID"]),
    );
    for p in n["priorities"].as_array().into_iter().flatten() {
        let line = format!("{} {}", p["name"].as_str().unwrap_or(""), p["priority"]);
        contains(
            tap,
            "network.priorities",
            "net_prio/net_prio.ifpriomap",
            line,
        );
    }
}

fn check_v2(tap: &mut Tap, r: &Value) {
    let m = &r["memory"];
    let max = |v: &Value| {
        v.as_i64().map(|l| {
            if l < 0 {
                "max".to_string()
            } else {
                l.to_string()
            }
        })
    };
    expect(tap, "memory.limit", "memory.max", max(&m["limit"]));
    expect(
        tap,
        "memory.reservation",
        "memory.low",
        max(&m["reservation"]),
    );
    if let (Some(swap), Some(limit)) = (m["swap"].as_i64(), m["limit"].as_i64()) {
        let want = if swap < 0 {
            "max".to_string()
        } else {
            (swap - limit).to_string()
        };
        expect(tap, "memory.swap", "memory.swap.max", Some(want));
    }
    let c = &r["cpu"];
    // The conversion every runtime uses for cpu.shares (v1 2..262144) to cpu.weight (1..10000).
    let weight = c["shares"]
        .as_u64()
        .map(|s| (1 + ((s.max(2) - 2) * 9999) / 262142).to_string());
    expect(tap, "cpu.shares (as cpu.weight)", "cpu.weight", weight);
    if let Some(q) = c["quota"].as_i64() {
        let period = c["period"].as_u64().unwrap_or(100000);
        let want = if q < 0 {
            format!("max {period}")
        } else {
            format!("{q} {period}")
        };
        expect(tap, "cpu.quota,period", "cpu.max", Some(want));
    }
    expect(
        tap,
        "cpu.cpus",
        "cpuset.cpus",
        c["cpus"].as_str().map(String::from),
    );
    expect(
        tap,
        "cpu.mems",
        "cpuset.mems",
        c["mems"].as_str().map(String::from),
    );
    expect(
        tap,
        "pids.limit",
        "pids.max",
        r["pids"]["limit"]
            .as_i64()
            .map(|l| if l <= 0 { "max".into() } else { l.to_string() }),
    );
    for h in r["hugepageLimits"].as_array().into_iter().flatten() {
        let size = h["pageSize"].as_str().unwrap_or("");
        expect(
            tap,
            &format!("hugepageLimits {size}"),
            &format!("hugetlb.{size}.max"),
            num(&h["limit"]),
        );
    }
    for (dev, lim) in r["rdma"].as_object().into_iter().flatten() {
        contains(tap, "rdma", "rdma.max", rdma_line(dev, lim));
    }
    for (k, v) in r["unified"].as_object().into_iter().flatten() {
        expect(
            tap,
            &format!("unified {k}"),
            k,
            v.as_str().map(String::from),
        );
    }
}

fn rdma_line(dev: &str, lim: &Value) -> String {
    let v = |k: &str| lim[k].as_u64().map_or("max".to_string(), |n| n.to_string());
    format!(
        "{dev} hca_handle={} hca_object={}",
        v("hcaHandles"),
        v("hcaObjects")
    )
}
