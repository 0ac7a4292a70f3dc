//! linux.resources end to end against the real kernel: values are read back from the cgroup
//! files (v1 on the host, v2 in the VM), with runc's v1→v2 conversions.

mod cgroups_support;

use berth_runtime::cgroups::{CgroupError, Hierarchy, Manager};
use cgroups_support::{block_device, gone, name, resources, TestCgroup};

#[test]
fn memory_limits_are_written() {
    let r = resources(r#"{"memory":{"limit":67108864,"reservation":33554432,"swap":134217728}}"#);
    let cg = TestCgroup::new("mem", Some(&r));
    if cg.v2() {
        assert_eq!(cg.read("memory", "memory.max"), "67108864");
        assert_eq!(cg.read("memory", "memory.low"), "33554432");
        // v2 swap is swap only: memsw 128M - memory 64M.
        assert_eq!(cg.read("memory", "memory.swap.max"), "67108864");
    } else {
        assert_eq!(cg.read("memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(cg.read("memory", "memory.soft_limit_in_bytes"), "33554432");
        assert_eq!(
            cg.read("memory", "memory.memsw.limit_in_bytes"),
            "134217728"
        );
    }
}

#[test]
fn memory_update_lowers_and_raises_limit_and_swap() {
    let r = resources(r#"{"memory":{"limit":67108864,"swap":67108864}}"#);
    let cg = TestCgroup::new("memupd", Some(&r));
    // Raising both needs swap first on v1, lowering needs memory first.
    cg.mgr
        .set(&resources(
            r#"{"memory":{"limit":268435456,"swap":536870912}}"#,
        ))
        .unwrap();
    cg.mgr
        .set(&resources(
            r#"{"memory":{"limit":33554432,"swap":33554432}}"#,
        ))
        .unwrap();
    if cg.v2() {
        assert_eq!(cg.read("memory", "memory.max"), "33554432");
        assert_eq!(cg.read("memory", "memory.swap.max"), "0");
    } else {
        assert_eq!(cg.read("memory", "memory.limit_in_bytes"), "33554432");
        assert_eq!(cg.read("memory", "memory.memsw.limit_in_bytes"), "33554432");
    }
    cg.mgr
        .set(&resources(r#"{"memory":{"limit":-1}}"#))
        .unwrap();
    if cg.v2() {
        assert_eq!(cg.read("memory", "memory.max"), "max");
        assert_eq!(cg.read("memory", "memory.swap.max"), "max");
    } else {
        assert_eq!(
            cg.read("memory", "memory.limit_in_bytes"),
            "9223372036854771712"
        );
    }
}

#[test]
fn v1_only_memory_knobs_apply_on_v1_and_fail_clearly_on_v2() {
    let r =
        resources(r#"{"memory":{"swappiness":10,"disableOOMKiller":true,"kernelTCP":16777216}}"#);
    let m = Manager::new(Some(&name("memv1")), "x", false).unwrap();
    if m.hierarchy() == Hierarchy::V2 {
        let e = m.create(Some(&r)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "memory.swappiness is not supported on cgroup v2"
        );
        assert!(gone(&m));
        return;
    }
    drop(m);
    let cg = TestCgroup::new("memv1", Some(&r));
    assert_eq!(cg.read("memory", "memory.swappiness"), "10");
    assert!(cg
        .read("memory", "memory.oom_control")
        .contains("oom_kill_disable 1"));
    assert_eq!(
        cg.read("memory", "memory.kmem.tcp.limit_in_bytes"),
        "16777216"
    );
}

#[test]
fn cpu_limits_are_written_with_shares_converted_to_weight() {
    let r = resources(
        r#"{"cpu":{"shares":1024,"quota":50000,"period":100000,"burst":10000,"idle":0,"cpus":"0","mems":"0"}}"#,
    );
    let cg = TestCgroup::new("cpu", Some(&r));
    if cg.v2() {
        assert_eq!(cg.read("cpu", "cpu.weight"), "39");
        assert_eq!(cg.read("cpu", "cpu.max"), "50000 100000");
        assert_eq!(cg.read("cpu", "cpu.max.burst"), "10000");
        assert_eq!(cg.read("cpu", "cpu.idle"), "0");
    } else {
        assert_eq!(cg.read("cpu", "cpu.shares"), "1024");
        assert_eq!(cg.read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(cg.read("cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(cg.read("cpu", "cpu.cfs_burst_us"), "10000");
    }
    assert_eq!(cg.read("cpuset", "cpuset.cpus"), "0");
    assert_eq!(cg.read("cpuset", "cpuset.mems"), "0");
    // A new period alone keeps the quota.
    cg.mgr
        .set(&resources(r#"{"cpu":{"period":200000}}"#))
        .unwrap();
    if cg.v2() {
        assert_eq!(cg.read("cpu", "cpu.max"), "50000 200000");
    } else {
        assert_eq!(cg.read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(cg.read("cpu", "cpu.cfs_period_us"), "200000");
    }
    // Unlimited quota again.
    cg.mgr.set(&resources(r#"{"cpu":{"quota":-1}}"#)).unwrap();
    if cg.v2() {
        assert_eq!(cg.read("cpu", "cpu.max"), "max 200000");
    } else {
        assert_eq!(cg.read("cpu", "cpu.cfs_quota_us"), "-1");
    }
}

#[test]
fn realtime_cpu_applies_on_v1_and_fails_clearly_on_v2() {
    let r = resources(r#"{"cpu":{"realtimePeriod":1000000,"realtimeRuntime":1000}}"#);
    let m = Manager::new(Some(&name("rt")), "x", false).unwrap();
    if m.hierarchy() == Hierarchy::V2 {
        let e = m.create(Some(&r)).unwrap_err();
        assert!(e.to_string().contains("not supported on cgroup v2"), "{e}");
        return;
    }
    drop(m);
    let cg = TestCgroup::new("rt", Some(&r));
    assert_eq!(cg.read("cpu", "cpu.rt_period_us"), "1000000");
    assert_eq!(cg.read("cpu", "cpu.rt_runtime_us"), "1000");
}

#[test]
fn pids_limit_is_written_and_stops_forks() {
    let r = resources(r#"{"pids":{"limit":4}}"#);
    let mut cg = TestCgroup::new("pids", Some(&r));
    assert_eq!(cg.read("pids", "pids.max"), "4");
    cg.spawn("for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait");
    let (_, _, err) = cg.wait_last();
    assert!(
        err.contains("fork") || err.contains("Resource temporarily unavailable"),
        "{err}"
    );
    let events = cg.read("pids", "pids.events");
    assert!(!events.ends_with(" 0"), "pids.events: {events}");
    cg.mgr.set(&resources(r#"{"pids":{"limit":-1}}"#)).unwrap();
    assert_eq!(cg.read("pids", "pids.max"), "max");
}

#[test]
fn block_io_weight_and_throttles_are_written() {
    let Some((maj, min)) = block_device() else {
        eprintln!("skipped: no block device");
        return;
    };
    let r = resources(&format!(
        r#"{{"blockIO":{{"weight":500,
            "throttleReadBpsDevice":[{{"major":{maj},"minor":{min},"rate":1048576}}],
            "throttleWriteBpsDevice":[{{"major":{maj},"minor":{min},"rate":2097152}}],
            "throttleReadIOPSDevice":[{{"major":{maj},"minor":{min},"rate":100}}],
            "throttleWriteIOPSDevice":[{{"major":{maj},"minor":{min},"rate":200}}]}}}}"#
    ));
    let cg = TestCgroup::new("blkio", Some(&r));
    if cg.v2() {
        let bfq = cg.dir("io").join("io.bfq.weight").exists();
        if bfq {
            assert!(cg.read("io", "io.bfq.weight").contains("500"));
        } else {
            assert_eq!(cg.read("io", "io.weight"), "default 4950");
        }
        assert_eq!(
            cg.read("io", "io.max"),
            format!("{maj}:{min} rbps=1048576 wbps=2097152 riops=100 wiops=200")
        );
    } else {
        assert_eq!(cg.read("blkio", "blkio.bfq.weight"), "500");
        assert_eq!(
            cg.read("blkio", "blkio.throttle.read_bps_device"),
            format!("{maj}:{min} 1048576")
        );
        assert_eq!(
            cg.read("blkio", "blkio.throttle.write_bps_device"),
            format!("{maj}:{min} 2097152")
        );
        assert_eq!(
            cg.read("blkio", "blkio.throttle.read_iops_device"),
            format!("{maj}:{min} 100")
        );
        assert_eq!(
            cg.read("blkio", "blkio.throttle.write_iops_device"),
            format!("{maj}:{min} 200")
        );
    }
}

#[test]
fn hugepage_limits_are_written() {
    // On a hybrid host berth enables hugetlb on the unified hierarchy; put it back afterwards
    // so the host looks as before the test.
    let hybrid_root = std::path::Path::new("/sys/fs/cgroup/unified/cgroup.subtree_control");
    let before = std::fs::read_to_string(hybrid_root).ok();
    let r = resources(r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#);
    let cg = TestCgroup::new("huge", Some(&r));
    let paths = cg.mgr.paths();
    let (dir, file) = match paths.get("hugetlb") {
        Some(d) => (d.clone(), "hugetlb.2MB.limit_in_bytes"),
        // v2, or a hybrid host where hugetlb lives only on the unified hierarchy.
        None => (paths[""].clone(), "hugetlb.2MB.max"),
    };
    let got = std::fs::read_to_string(dir.join(file)).unwrap();
    drop(cg);
    if before.is_some_and(|b| !b.contains("hugetlb")) {
        let _ = std::fs::write(hybrid_root, "-hugetlb");
    }
    assert_eq!(got.trim(), "4194304");
}

#[test]
fn unknown_hugepage_size_is_rejected_before_creating() {
    let r = resources(r#"{"hugepageLimits":[{"pageSize":"3MB","limit":1}]}"#);
    let m = Manager::new(Some(&name("badhuge")), "x", false).unwrap();
    let e = m.create(Some(&r)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid hugepageLimits pageSize \"3MB\""),
        "{e}"
    );
    assert!(gone(&m));
}

#[test]
fn device_rules_deny_and_allow_for_real() {
    let r = resources(
        r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":11,"access":"w"}]}"#,
    );
    let mut cg = TestCgroup::new("dev", Some(&r));
    if !cg.v2() {
        let list = cg.read("devices", "devices.list");
        assert!(!list.contains("a *:* rwm"), "{list}");
        assert!(list.contains("c 1:3 rwm"), "{list}");
        assert!(list.contains("c 1:11 w"), "{list}");
    }
    // /dev/null (default allow-list) opens; /dev/kmsg (1:11) only for writing; the disk not at all.
    cg.spawn(
        "echo x > /dev/null && echo null-ok; \
         cat /dev/kmsg >/dev/null 2>&1 </dev/null & p=$!; sleep 0.2; kill $p 2>/dev/null; wait $p; echo kmsg-read=$?; \
         : > /dev/kmsg && echo kmsg-write-ok; \
         mknod /tmp/berth-test-mknod-$$ c 1 1 && echo mknod-ok; rm -f /tmp/berth-test-mknod-$$",
    );
    let (_, out, _) = cg.wait_last();
    assert!(out.contains("null-ok"), "{out}");
    assert!(out.contains("kmsg-read=1"), "{out}");
    assert!(out.contains("kmsg-write-ok"), "{out}");
    // runc's defaults allow mknod of any device.
    assert!(out.contains("mknod-ok"), "{out}");
}

#[test]
fn device_rule_with_bad_type_is_rejected_and_nothing_created() {
    let r = resources(r#"{"devices":[{"allow":true,"type":"x","access":"rwm"}]}"#);
    let m = Manager::new(Some(&name("baddev")), "x", false).unwrap();
    let e = m.create(Some(&r)).unwrap_err();
    assert!(matches!(e, CgroupError::Invalid(_)));
    assert_eq!(
        e.to_string(),
        "linux.resources.devices[0]: invalid device type \"x\": must be \"a\", \"b\" or \"c\""
    );
    assert!(gone(&m));
}

#[test]
fn negative_limit_is_rejected_and_nothing_created() {
    let r = resources(r#"{"memory":{"limit":-2}}"#);
    let m = Manager::new(Some(&name("neg")), "x", false).unwrap();
    let e = m.create(Some(&r)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid memory.limit -2: must be -1 (unlimited) or a non-negative number"
    );
    assert!(gone(&m));
    let r = resources(r#"{"pids":{"limit":-7}}"#);
    assert!(m.create(Some(&r)).is_err());
    assert!(gone(&m));
}

#[test]
fn unified_keys_apply_on_v2_and_are_refused_on_v1() {
    let m = Manager::new(Some(&name("unified")), "x", false).unwrap();
    let r = resources(r#"{"unified":{"memory.high":"50331648","pids.max":"9"}}"#);
    if m.hierarchy() == Hierarchy::V1 {
        let e = m.create(Some(&r)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot apply unified resources: they need cgroup v2 and this host uses cgroup v1"
        );
        assert!(gone(&m));
        return;
    }
    drop(m);
    let cg = TestCgroup::new("unified", Some(&r));
    assert_eq!(cg.read("", "memory.high"), "50331648");
    assert_eq!(cg.read("", "pids.max"), "9");
}

#[test]
fn unknown_unified_key_is_rejected_and_nothing_created() {
    let m = Manager::new(Some(&name("badunified")), "x", false).unwrap();
    for key in ["memory.no_such_file", "nosuchctl.max", "../../etc"] {
        let r = resources(&format!(r#"{{"unified":{{"{key}":"1"}}}}"#));
        let e = m.create(Some(&r)).unwrap_err();
        let msg = e.to_string();
        assert!(!msg.contains('\n'), "{msg}");
        if m.hierarchy() == Hierarchy::V2 && key == "memory.no_such_file" {
            assert_eq!(
                msg,
                "unified resource \"memory.no_such_file\" can't be set: no such cgroup file"
            );
        }
        assert!(gone(&m), "{key} left a cgroup behind");
    }
}

#[test]
fn network_classes_fail_clearly_where_the_controller_is_missing() {
    let r =
        resources(r#"{"network":{"classID":1048577,"priorities":[{"name":"lo","priority":2}]}}"#);
    let m = Manager::new(Some(&name("net")), "x", false).unwrap();
    if m.paths().contains_key("net_cls") && m.paths().contains_key("net_prio") {
        drop(m);
        let cg = TestCgroup::new("net", Some(&r));
        assert_eq!(cg.read("net_cls", "net_cls.classid"), "1048577");
        assert!(cg.read("net_prio", "net_prio.ifpriomap").contains("lo 2"));
        return;
    }
    let e = m.create(Some(&r)).unwrap_err();
    assert!(matches!(e, CgroupError::Unsupported(_)), "{e}");
    assert!(gone(&m));
}

#[test]
fn rdma_fails_clearly_without_the_controller_or_device() {
    let r = resources(r#"{"rdma":{"mlx5_0":{"hcaHandles":3,"hcaObjects":10000}}}"#);
    let m = Manager::new(Some(&name("rdma")), "x", false).unwrap();
    // No RDMA hardware anywhere we test: either the controller is missing or the kernel
    // refuses the unknown device; both are one clear error with nothing left behind.
    let e = m.create(Some(&r)).unwrap_err();
    assert!(!e.to_string().contains('\n'));
    assert!(gone(&m));
}

#[test]
fn kernel_memory_limit_applies_or_fails_clearly() {
    let r = resources(r#"{"memory":{"kernel":67108864}}"#);
    let m = Manager::new(Some(&name("kmem")), "x", false).unwrap();
    match m.create(Some(&r)) {
        // Kernels before 5.16 still enforce it.
        Ok(()) => {
            let d = m.paths()["memory"].join("memory.kmem.limit_in_bytes");
            let v = std::fs::read_to_string(d).unwrap();
            m.destroy().unwrap();
            assert_eq!(v.trim(), "67108864");
        }
        Err(e) => {
            assert!(matches!(e, CgroupError::Unsupported(_)), "{e}");
            assert!(e.to_string().contains("memory.kernel"), "{e}");
            assert!(gone(&m));
        }
    }
}

#[test]
fn device_rules_cannot_be_changed_on_a_live_cgroup() {
    let cg = TestCgroup::new("devset", None);
    let e = cg
        .mgr
        .set(&resources(r#"{"devices":[{"allow":true,"access":"rwm"}]}"#))
        .unwrap_err();
    assert!(
        e.to_string().starts_with("device rules can't be changed"),
        "{e}"
    );
}

#[test]
fn block_io_weight_device_applies_or_fails_clearly() {
    let Some((maj, min)) = block_device() else {
        eprintln!("skipped: no block device");
        return;
    };
    let r = resources(&format!(
        r#"{{"blockIO":{{"weightDevice":[{{"major":{maj},"minor":{min},"weight":300}}]}}}}"#
    ));
    let m = Manager::new(Some(&name("wdev")), "x", false).unwrap();
    match m.create(Some(&r)) {
        Ok(()) => {
            let paths = m.paths();
            let (dir, files) = match paths.get("blkio") {
                Some(d) => (
                    d.clone(),
                    ["blkio.bfq.weight_device", "blkio.weight_device"],
                ),
                None => (paths[""].clone(), ["io.bfq.weight", "io.weight"]),
            };
            let text: String = files
                .iter()
                .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
                .collect();
            m.destroy().unwrap();
            assert!(text.contains(&format!("{maj}:{min}")), "{text}");
        }
        Err(e) => {
            let msg = e.to_string();
            eprintln!("{msg}");
            assert!(!msg.contains('\n'));
            assert!(msg.contains(&format!("{maj}:{min}")), "{msg}");
            assert!(gone(&m));
        }
    }
}

#[test]
fn use_hierarchy_true_is_accepted_and_false_fails_clearly_on_modern_kernels() {
    let cg = TestCgroup::new(
        "usehier",
        Some(&resources(r#"{"memory":{"useHierarchy":true}}"#)),
    );
    if !cg.v2() {
        assert_eq!(cg.read("memory", "memory.use_hierarchy"), "1");
    }
    drop(cg);
    let m = Manager::new(Some(&name("usehier0")), "x", false).unwrap();
    match m.create(Some(&resources(r#"{"memory":{"useHierarchy":false}}"#))) {
        Ok(()) => m.destroy().unwrap(), // old v1 kernels
        Err(e) => {
            assert!(e.to_string().contains("useHierarchy false"), "{e}");
            assert!(gone(&m));
        }
    }
}
