//! config-linux.md: namespaces, id mappings, devices, cgroups, sysctl, seccomp, propagation,
//! masked and read-only paths, Intel RDT.

use super::{always, jq, post_create, Bundle, Case, Ctx, Kind, Outcome, Stop};
use crate::ensure;
use crate::host::Host;
use crate::spec::base;
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn namespaces(cfg: &mut Value) -> &mut Vec<Value> {
    if !cfg["linux"]["namespaces"].is_array() {
        cfg["linux"]["namespaces"] = json!([]);
    }
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .expect("just set to an array")
}

fn baseline(_: &mut Ctx, _: &mut Bundle, _: &mut Value) {}

fn ns_inherit(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    namespaces(cfg).retain(|n| {
        !["network", "ipc", "uts", "cgroup"].contains(&n["type"].as_str().unwrap_or(""))
    });
    cfg.as_object_mut().map(|o| o.remove("hostname"));
    // sysfs can only be mounted in a network namespace we own.
    if let Some(m) = cfg["mounts"].as_array_mut() {
        m.retain(|m| m["type"] != "sysfs" && m["type"] != "cgroup");
    }
    cfg["linux"]["maskedPaths"] = json!(["/proc/kcore"]);
}

fn ns_wrong_type(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    let uts = format!("/proc/{}/ns/uts", std::process::id());
    for n in namespaces(cfg).iter_mut() {
        if n["type"] == "network" {
            n["path"] = json!(uts);
        }
    }
}

fn ns_duplicate(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    namespaces(cfg).push(json!({"type": "ipc"}));
}

fn ns_unknown(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    namespaces(cfg).push(json!({"type": "conformance-bogus"}));
}

/// Joins the network, uts and ipc namespaces of a helper process by path.
fn ns_path(ctx: &mut Ctx) -> Outcome {
    let mut helper = std::process::Command::new("unshare")
        .args(["--net", "--uts", "--ipc", "sleep", "30"])
        .spawn()
        .map_err(|e| Stop::Skip(format!("unshare not available: {e}")))?;
    let pid = helper.id();
    let res = (|| {
        crate::host::wait_unshared(pid, "net");
        let b = ctx.bundle()?;
        let mut cfg = base();
        cfg.as_object_mut().map(|o| o.remove("hostname"));
        for n in namespaces(&mut cfg).iter_mut() {
            let proc_name = match n["type"].as_str() {
                Some("network") => "net",
                Some("uts") => "uts",
                Some("ipc") => "ipc",
                _ => continue,
            };
            n["path"] = json!(format!("/proc/{pid}/ns/{proc_name}"));
        }
        ctx.write_config(&b, &cfg)?;
        let l = ctx.launch(&b, "p")?;
        ctx.finish_checker(&l, &b)
    })();
    let _ = helper.kill();
    let _ = helper.wait();
    res
}

/// A user namespace mapping container root to host 100000; the rootfs must not be chowned.
fn userns(ctx: &mut Ctx) -> Outcome {
    let b = ctx.bundle()?;
    let mut cfg = base();
    namespaces(&mut cfg).push(json!({"type": "user"}));
    cfg["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    cfg["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    if let Some(m) = cfg["mounts"].as_array_mut() {
        m.retain(|m| m["type"] != "cgroup");
    }
    ctx.write_config(&b, &cfg)?;
    let owner = |p: &Path| {
        std::fs::symlink_metadata(p)
            .map(|m| (m.uid(), m.gid()))
            .ok()
    };
    let before = (
        owner(&b.rootfs),
        owner(&b.rootfs.join("bin/busybox")),
        owner(&b.rootfs.join("etc")),
    );
    let l = ctx.launch(&b, "u")?;
    ctx.finish_checker(&l, &b)?;
    let after = (
        owner(&b.rootfs),
        owner(&b.rootfs.join("bin/busybox")),
        owner(&b.rootfs.join("etc")),
    );
    ensure!(
        before == after,
        "the runtime changed the rootfs ownership to realise the mapping: {before:?} -> {after:?}"
    );
    Ok(())
}

fn devices(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["linux"]["devices"] = json!([
        {"path": "/dev/conformance-fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 1, "gid": 2},
        {"path": "/dev/conformance-loop", "type": "b", "major": 7, "minor": 0, "fileMode": 0o600, "uid": 0, "gid": 6},
        {"path": "/dev/conformance-fifo", "type": "p", "fileMode": 0o644}
    ]);
}

fn device_clash(_: &mut Ctx, b: &mut Bundle, cfg: &mut Value) {
    let _ = std::fs::write(b.rootfs.join("conformance/clash"), "a regular file");
    cfg["root"]["readonly"] = json!(false);
    cfg["linux"]["devices"] =
        json!([{"path": "/conformance/clash", "type": "c", "major": 1, "minor": 3}]);
}

fn device_cgroup(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    // Not default devices (runtimes always allow those): fuse is denied by the last matching
    // rule although an earlier one allows it; tun is allowed after the blanket deny.
    cfg["linux"]["devices"] = json!([
        {"path": "/dev/conformance-fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666},
        {"path": "/dev/conformance-tun", "type": "c", "major": 10, "minor": 200, "fileMode": 0o666}
    ]);
    cfg["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"},
        {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rw"},
        {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rw"}
    ]);
}

/// The container's cgroup path in each hierarchy (v1: controller -> path; v2: "" -> path).
fn cgroup_paths(pid: i32) -> Vec<(String, String)> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, c, p) = (f.next()?, f.next()?, f.next()?);
            Some((c.to_string(), p.to_string()))
        })
        .collect()
}

fn cgroups_path(ctx: &mut Ctx) -> Outcome {
    let path = format!("/{}-cgpath", ctx.tag);
    for round in 0..2 {
        let b = ctx.bundle()?;
        let mut cfg = base();
        cfg["linux"]["cgroupsPath"] = json!(path);
        cfg["linux"]["resources"]["pids"] = json!({"limit": 100});
        ctx.write_config(&b, &cfg)?;
        let l = ctx.launch(&b, &format!("cg{round}"))?;
        let paths = cgroup_paths(l.pid);
        let checked: Vec<_> = paths
            .iter()
            .filter(|(c, _)| {
                ["memory", "pids", "cpu", "devices", ""].contains(&c.as_str()) || c.contains("cpu,")
            })
            .collect();
        ensure!(
            !checked.is_empty(),
            "no cgroup memberships in /proc/{}/cgroup",
            l.pid
        );
        for (c, p) in checked {
            if c.is_empty() && !ctx.host.cgroup_v2 {
                continue; // the hybrid unified hierarchy may be left alone by v1 runtimes
            }
            ensure!(
                *p == path,
                "round {round}: cgroup of {c:?} is {p}, want cgroupsPath {path}"
            );
        }
        ctx.finish_checker(&l, &b)?;
    }
    Ok(())
}

fn need_memory(h: &Host) -> Option<String> {
    (!h.cgroup_v2 && !h.has_v1("memory")).then(|| "no memory cgroup controller".into())
}

fn memory(ctx: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    let mut m = json!({"limit": 67108864, "reservation": 33554432, "swappiness": 10, "disableOOMKiller": true});
    if ctx.host.cgroup_v2 {
        m.as_object_mut().map(|o| o.remove("swappiness"));
        m.as_object_mut().map(|o| o.remove("disableOOMKiller"));
    }
    if ctx.host.cgroup_v2 || Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
    {
        m["swap"] = json!(134217728);
    }
    cfg["linux"]["resources"]["memory"] = m;
}

fn cpu(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["linux"]["resources"]["cpu"] =
        json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"});
}

fn need_cpu(h: &Host) -> Option<String> {
    let v1 = (h.has_v1("cpu") || h.has_v1("cpu,cpuacct")) && h.has_v1("cpuset");
    (!h.cgroup_v2 && !v1).then(|| "no cpu/cpuset cgroup controllers".into())
}

fn cpu_rt(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["linux"]["resources"]["cpu"] = json!({"realtimeRuntime": 10000, "realtimePeriod": 1000000});
}

fn need_rt(h: &Host) -> Option<String> {
    (h.cgroup_v2 || !Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists())
        .then(|| "kernel has no cgroup RT scheduling (cpu.rt_runtime_us)".into())
}

fn pids(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["linux"]["resources"]["pids"] = json!({"limit": 64});
}

fn need_pids(h: &Host) -> Option<String> {
    (!h.cgroup_v2 && !h.has_v1("pids")).then(|| "no pids cgroup controller".into())
}

fn blkio(ctx: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    let (ma, mi) = ctx.host.block_device.unwrap_or((8, 0));
    cfg["linux"]["resources"]["blockIO"] = json!({
        "throttleReadBpsDevice": [{"major": ma, "minor": mi, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": ma, "minor": mi, "rate": 300}]
    });
}

fn need_blkio(h: &Host) -> Option<String> {
    if h.block_device.is_none() {
        return Some("no block device on this host".into());
    }
    (h.cgroup_v2 || !Path::new("/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device").exists())
        .then(|| "no v1 blkio throttling on this host".into())
}

fn blkio_weight(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["linux"]["resources"]["blockIO"] = json!({"weight": 300});
}

fn need_blkio_weight(h: &Host) -> Option<String> {
    (h.cgroup_v2 || !Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists())
        .then(|| "kernel has no blkio weight (no CFQ/BFQ)".into())
}

fn hugetlb(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["linux"]["resources"]["hugepageLimits"] = json!([{"pageSize": "2MB", "limit": 4194304}]);
}

fn need_hugetlb(h: &Host) -> Option<String> {
    (!h.cgroup_v2 && !h.has_v1("hugetlb")).then(|| "hugetlb is not a v1 hierarchy here (it sits on the hybrid cgroup2 mount), so the container cannot see it".into())
}

fn need_net_cls(h: &Host) -> Option<String> {
    (!h.has_v1("net_cls") || !h.has_v1("net_prio"))
        .then(|| "net_cls/net_prio cgroup controllers are not mounted".into())
}

fn network(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["linux"]["resources"]["network"] =
        json!({"classID": 1048577, "priorities": [{"name": "lo", "priority": 5}]});
}

fn need_rdma(_: &Host) -> Option<String> {
    (!Path::new("/sys/fs/cgroup/rdma").exists())
        .then(|| "no rdma cgroup controller (no RDMA hardware)".into())
}

fn rdma(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["linux"]["resources"]["rdma"] = json!({"mlx5_1": {"hcaHandles": 3}});
}

fn need_v2(h: &Host) -> Option<String> {
    (!h.cgroup_v2).then(|| "host is not cgroup v2 only".into())
}

fn unified(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["linux"]["resources"]["unified"] = json!({"pids.max": "42"});
}

fn need_no_resctrl(h: &Host) -> Option<String> {
    h.resctrl
        .then(|| "resctrl is mounted here; the missing-resctrl error cannot be provoked".into())
}

fn intel_rdt(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["linux"]["intelRdt"] = json!({"closID": "conformance"});
}

fn sysctl(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1", "net.core.somaxconn": "256"});
}

fn seccomp(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}
        ]
    });
}

/// Runs the checker with rootfsPropagation set, the bundle sitting on a shared mount so that
/// slave and shared relations are observable from inside.
fn propagation(ctx: &mut Ctx, p: &str) -> Outcome {
    let b = ctx.bundle()?;
    let dir = b.path();
    let sh = |args: &[&str]| {
        std::process::Command::new("mount")
            .args(args)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !(sh(&["--bind", &dir, &dir]) && sh(&["--make-rshared", &dir])) {
        return super::skip("cannot make a shared bind mount for the bundle");
    }
    let res = (|| {
        let mut cfg = base();
        cfg["linux"]["rootfsPropagation"] = json!(p);
        ctx.write_config(&b, &cfg)?;
        let l = ctx.launch(&b, "prop")?;
        ctx.finish_checker(&l, &b)
    })();
    ctx.cleanup();
    let _ = std::process::Command::new("umount")
        .args(["-l", &dir])
        .status();
    res
}
fn prop_private(ctx: &mut Ctx) -> Outcome {
    propagation(ctx, "private")
}
fn prop_slave(ctx: &mut Ctx) -> Outcome {
    propagation(ctx, "slave")
}
fn prop_shared(ctx: &mut Ctx) -> Outcome {
    propagation(ctx, "shared")
}
fn prop_unbindable(ctx: &mut Ctx) -> Outcome {
    propagation(ctx, "unbindable")
}

fn time_ns(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    namespaces(cfg).push(json!({"type": "time"}));
    cfg["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 86400, "nanosecs": 0}, "boottime": {"secs": -60, "nanosecs": 500}});
}

fn need_time_ns(_: &Host) -> Option<String> {
    (!Path::new("/proc/self/ns/time").exists()).then(|| "kernel has no time namespaces".into())
}

fn personality(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["linux"]["personality"] = json!({"domain": "LINUX32"});
}

fn masked(_: &mut Ctx, b: &mut Bundle, cfg: &mut Value) {
    let c = b.rootfs.join("conformance");
    let _ = std::fs::write(c.join("masked-file"), "secret");
    let _ = std::fs::create_dir_all(c.join("masked-dir"));
    let _ = std::fs::write(c.join("masked-dir/inside"), "secret");
    cfg["linux"]["maskedPaths"] = json!([
        "/conformance/masked-file",
        "/conformance/masked-dir",
        "/proc/timer_list",
        "/sys/firmware",
        "/conformance/not-there"
    ]);
}

fn readonly(_: &mut Ctx, b: &mut Bundle, cfg: &mut Value) {
    let _ = std::fs::create_dir_all(b.rootfs.join("conformance/ro-dir"));
    cfg["root"]["readonly"] = json!(false);
    cfg["linux"]["readonlyPaths"] =
        json!(["/conformance/ro-dir", "/proc/sys", "/proc/sysrq-trigger"]);
}

fn need_selinux(h: &Host) -> Option<String> {
    (!h.selinux).then(|| "SELinux is not active on this host".into())
}

fn mount_label(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["linux"]["mountLabel"] = json!("system_u:object_r:conformance_no_such_t:s0");
}

pub fn cases() -> Vec<Case> {
    type Build = fn(&mut Ctx, &mut Bundle, &mut Value);
    let ck = |name, spec, needs: fn(&Host) -> Option<String>, f: Build, sabotage| Case {
        name,
        spec,
        needs,
        kind: Kind::Checker(f),
        sabotage,
    };
    let rj = |name, spec, needs: fn(&Host) -> Option<String>, f: Build, sabotage| Case {
        name,
        spec,
        needs,
        kind: Kind::Rejected(f),
        sabotage,
    };
    let sc = |name, spec, f: fn(&mut Ctx) -> Outcome, sabotage| Case {
        name,
        spec,
        needs: always,
        kind: Kind::Scenario(f),
        sabotage,
    };
    vec![
        ck("linux.namespaces.new", "config-linux.md#namespaces: without path the runtime MUST create a new namespace of the type", always, baseline, jq(".linux.namespaces |= map(select(.type != \"ipc\"))")),
        ck("linux.namespaces.inherit", "config-linux.md#namespaces: a type not listed MUST be inherited from the runtime namespace", always, ns_inherit, jq(".linux.namespaces += [{\"type\": \"ipc\"}]")),
        sc("linux.namespaces.path", "config-linux.md#namespaces: the runtime MUST place the process in the namespace at path", ns_path, jq("(.linux.namespaces[] | select(.type == \"network\")) |= del(.path)")),
        rj("linux.namespaces.path-wrong-type-rejected", "config-linux.md#namespaces: MUST error if path is not a namespace of type", always, ns_wrong_type, jq("(.linux.namespaces[] | select(.type == \"network\")) |= del(.path)")),
        rj("linux.namespaces.duplicate-rejected", "config-linux.md#namespaces: duplicated types MUST generate an error", always, ns_duplicate, jq(".linux.namespaces |= unique_by(.type)")),
        rj("linux.namespaces.unknown-type-rejected", "config.md#valid-values: unsupported values MUST generate an error", always, ns_unknown, jq(".linux.namespaces |= map(select(.type != \"conformance-bogus\"))")),
        sc("linux.namespaces.user-mappings", "config-linux.md#user-namespace-mappings: uid/gid maps; SHOULD NOT chown the rootfs", userns, jq(".linux.uidMappings[0].hostID = 200000")),
        ck("linux.devices", "config-linux.md#devices: listed devices MUST be available: type, major/minor, fileMode, uid, gid", always, devices, jq("del(.linux.devices[0])")),
        ck("linux.devices.defaults", "config-linux.md#default-devices: /dev/null, zero, full, random, urandom, tty, ptmx MUST be supplied", always, baseline, post_create("rm -f /proc/$PID/root/dev/zero")),
        rj("linux.devices.existing-file-rejected", "config-linux.md#devices: a file at path that does not match the device MUST generate an error", always, device_clash, jq("del(.linux.devices)")),
        ck("linux.resources.devices", "config-linux.md#device-allowlist: entries applied in the listed order (last match wins)", always, device_cgroup, jq(".linux.resources.devices = [{\"allow\": true, \"access\": \"rwm\"}]")),
        sc("linux.cgroups.path", "config-linux.md#cgroups-path: absolute path relative to the cgroup mount; the same value MUST attach to the same place", cgroups_path, jq("del(.linux.cgroupsPath)")),
        ck("linux.resources.memory", "config-linux.md#memory: limit, reservation, swap, swappiness, disableOOMKiller", need_memory, memory, jq(".linux.resources.memory.limit = 134217728")),
        ck("linux.resources.cpu", "config-linux.md#cpu: shares, quota, period, cpus, mems", need_cpu, cpu, jq(".linux.resources.cpu.shares = 1024")),
        ck("linux.resources.cpu-realtime", "config-linux.md#cpu: realtimeRuntime, realtimePeriod", need_rt, cpu_rt, jq("del(.linux.resources.cpu.realtimeRuntime)")),
        ck("linux.resources.pids", "config-linux.md#pids: limit", need_pids, pids, jq(".linux.resources.pids.limit = 128")),
        ck("linux.resources.block-io-throttle", "config-linux.md#block-io: throttle*Device", need_blkio, blkio, jq(".linux.resources.blockIO.throttleReadBpsDevice[0].rate = 2097152")),
        ck("linux.resources.block-io-weight", "config-linux.md#block-io: weight", need_blkio_weight, blkio_weight, jq(".linux.resources.blockIO.weight = 500")),
        ck("linux.resources.hugepage-limits", "config-linux.md#huge-page-limits: pageSize, limit", need_hugetlb, hugetlb, jq(".linux.resources.hugepageLimits[0].limit = 8388608")),
        ck("linux.resources.network", "config-linux.md#network: classID, priorities", need_net_cls, network, jq(".linux.resources.network.classID = 1048578")),
        ck("linux.resources.rdma", "config-linux.md#rdma: hcaHandles, hcaObjects", need_rdma, rdma, jq("del(.linux.resources.rdma)")),
        ck("linux.resources.unified", "config-linux.md#unified: cgroup v2 files (spec 1.1)", need_v2, unified, jq("del(.linux.resources.unified)")),
        rj("linux.intel-rdt.without-resctrl-rejected", "config-linux.md#intelrdt: with no resctrl mounted the runtime MUST generate an error", need_no_resctrl, intel_rdt, jq("del(.linux.intelRdt)")),
        ck("linux.sysctl", "config-linux.md#sysctl: kernel parameters set for the container", always, sysctl, jq("del(.linux.sysctl[\"kernel.shm_rmid_forced\"])")),
        ck("linux.seccomp", "config-linux.md#seccomp: filter installed; ERRNO actions, errnoRet, argument matching", always, seccomp, jq("del(.linux.seccomp)")),
        ck("linux.seccomp.unset", "config-linux.md#seccomp: no filter when seccomp is not set", always, baseline, jq(".linux.seccomp = {\"defaultAction\": \"SCMP_ACT_ALLOW\"}")),
        sc("linux.rootfs-propagation.private", "config-linux.md#rootfs-mount-propagation: private", prop_private, post_create("nsenter -t $PID -m -- /bin/busybox mount --make-shared /")),
        sc("linux.rootfs-propagation.slave", "config-linux.md#rootfs-mount-propagation: slave", prop_slave, jq(".linux.rootfsPropagation = \"private\"")),
        sc("linux.rootfs-propagation.shared", "config-linux.md#rootfs-mount-propagation: shared", prop_shared, jq(".linux.rootfsPropagation = \"private\"")),
        sc("linux.rootfs-propagation.unbindable", "config-linux.md#rootfs-mount-propagation: unbindable", prop_unbindable, jq(".linux.rootfsPropagation = \"private\"")),
        ck("linux.personality", "config-linux.md#personality: execution domain (spec 1.1)", always, personality, jq("del(.linux.personality)")),
        ck("linux.namespaces.time", "config-linux.md#namespaces: time namespace; #offset-for-time-namespace: timeOffsets (spec 1.1)", need_time_ns, time_ns, jq(".linux.namespaces |= map(select(.type != \"time\")) | del(.linux.timeOffsets)")),
        ck("linux.masked-paths", "config-linux.md#masked-paths: masked so that they cannot be read", always, masked, jq("del(.linux.maskedPaths)")),
        ck("linux.readonly-paths", "config-linux.md#readonly-paths: read-only inside the container", always, readonly, jq("del(.linux.readonlyPaths)")),
        rj("linux.mount-label-invalid-rejected", "config-linux.md#mount-label: SELinux context for the mounts", need_selinux, mount_label, jq("del(.linux.mountLabel)")),
    ]
}
