//! Writing `linux.resources` into v1 control files, in runc's order and with its quirks.

use super::super::devices::Rule;
use super::super::files;
use super::super::{validation, CgroupError};
use super::{ensure_file, V1};
use crate::spec::{BlockIo, Cpu, Memory, Resources};
use std::path::Path;

/// Checks that need to know the host: every requested resource has a controller.
pub(super) fn check(v: &V1, r: &Resources) -> Result<(), CgroupError> {
    validation::check(r)?;
    if !r.unified.is_empty() {
        return Err(CgroupError::Unsupported(
            "cannot apply unified resources: they need cgroup v2 and this host uses cgroup v1"
                .into(),
        ));
    }
    if r.memory.as_ref().is_some_and(memory_set) {
        v.need("memory", "memory limits")?;
    }
    if let Some(c) = &r.cpu {
        if c.shares.is_some_and(|s| s != 0)
            || c.quota.is_some_and(|q| q != 0)
            || c.period.is_some_and(|p| p != 0)
            || c.burst.is_some()
            || c.realtime_period.is_some_and(|p| p != 0)
            || c.realtime_runtime.is_some_and(|p| p != 0)
            || c.idle.is_some()
        {
            v.need("cpu", "cpu limits")?;
        }
        if c.cpus.as_deref().is_some_and(|s| !s.is_empty())
            || c.mems.as_deref().is_some_and(|s| !s.is_empty())
        {
            v.need("cpuset", "cpu.cpus/cpu.mems")?;
        }
    }
    if r.pids.as_ref().is_some_and(|p| p.limit != 0) {
        v.need("pids", "pids.limit")?;
    }
    if r.block_io.as_ref().is_some_and(blkio_set) {
        v.need("blkio", "blockIO limits")?;
    }
    if !r.hugepage_limits.is_empty() && v.dir("hugetlb").is_none() && !unified_has(v, "hugetlb") {
        v.need("hugetlb", "hugepageLimits")?;
    }
    if let Some(n) = &r.network {
        if n.class_id.is_some() {
            v.need("net_cls", "network.classID")?;
        }
        if !n.priorities.is_empty() {
            v.need("net_prio", "network.priorities")?;
        }
    }
    if !r.rdma.is_empty() {
        v.need("rdma", "rdma limits")?;
    }
    Ok(())
}

fn unified_has(v: &V1, ctrl: &str) -> bool {
    v.unified.as_ref().is_some_and(|_| {
        files::read_opt(Path::new(super::HYBRID_UNIFIED), "cgroup.controllers")
            .ok()
            .flatten()
            .is_some_and(|c| c.split_whitespace().any(|x| x == ctrl))
    })
}

fn memory_set(m: &Memory) -> bool {
    m.limit.is_some_and(|x| x != 0)
        || m.reservation.is_some_and(|x| x != 0)
        || m.swap.is_some_and(|x| x != 0)
        || m.kernel.is_some_and(|x| x != 0)
        || m.kernel_tcp.is_some_and(|x| x != 0)
        || m.swappiness.is_some()
        || m.disable_oom_killer == Some(true)
        || m.use_hierarchy.is_some()
}

fn blkio_set(b: &BlockIo) -> bool {
    b.weight.is_some_and(|w| w != 0)
        || b.leaf_weight.is_some_and(|w| w != 0)
        || !b.weight_device.is_empty()
        || !b.throttle_read_bps_device.is_empty()
        || !b.throttle_write_bps_device.is_empty()
        || !b.throttle_read_iops_device.is_empty()
        || !b.throttle_write_iops_device.is_empty()
}

/// Device rules, in order: the kernel keeps its own allow/deny list with the same meaning.
pub(crate) fn devices(dir: &Path, rules: &[Rule]) -> Result<(), CgroupError> {
    for r in rules {
        let file = if r.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        files::write(dir, file, &r.v1_line())?;
    }
    Ok(())
}

pub(super) fn resources(v: &V1, r: &Resources, creating: bool) -> Result<(), CgroupError> {
    if let (Some(m), Some(d)) = (&r.memory, v.dir("memory")) {
        memory(d, m)?;
    }
    if let Some(c) = &r.cpu {
        if let Some(d) = v.dir("cpu") {
            cpu(d, c)?;
        }
        if let Some(d) = v.dir("cpuset") {
            if let Some(cpus) = c.cpus.as_deref().filter(|s| !s.is_empty()) {
                files::write(d, "cpuset.cpus", cpus)?;
            }
            if let Some(mems) = c.mems.as_deref().filter(|s| !s.is_empty()) {
                files::write(d, "cpuset.mems", mems)?;
            }
        }
    }
    if let (Some(p), Some(d)) = (&r.pids, v.dir("pids")) {
        if p.limit != 0 {
            let val = if p.limit > 0 {
                p.limit.to_string()
            } else {
                "max".into()
            };
            files::write(d, "pids.max", &val)?;
        }
    }
    if let (Some(b), Some(d)) = (&r.block_io, v.dir("blkio")) {
        blkio(d, b)?;
    }
    for h in &r.hugepage_limits {
        if let Some(d) = v.dir("hugetlb") {
            files::write(
                d,
                &format!("hugetlb.{}.limit_in_bytes", h.page_size),
                &h.limit.to_string(),
            )?;
        } else if let Some(u) = &v.unified {
            if creating || !u.join("cgroup.subtree_control").exists() {
                enable_unified(u, "hugetlb")?;
            }
            files::write(
                u,
                &format!("hugetlb.{}.max", h.page_size),
                &h.limit.to_string(),
            )?;
        }
    }
    if let Some(n) = &r.network {
        if let (Some(id), Some(d)) = (n.class_id, v.dir("net_cls")) {
            files::write(d, "net_cls.classid", &id.to_string())?;
        }
        if let Some(d) = v.dir("net_prio") {
            for p in &n.priorities {
                files::write(
                    d,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name, p.priority),
                )?;
            }
        }
    }
    if let Some(d) = v.dir("rdma") {
        for (dev, l) in &r.rdma {
            let n = |v: Option<u32>| v.map_or("max".to_string(), |n| n.to_string());
            files::write(
                d,
                "rdma.max",
                &format!(
                    "{dev} hca_handle={} hca_object={}",
                    n(l.hca_handles),
                    n(l.hca_objects)
                ),
            )?;
        }
    }
    Ok(())
}

/// Enables `ctrl` on every level of the hybrid unified hierarchy above `dir`.
fn enable_unified(dir: &Path, ctrl: &str) -> Result<(), CgroupError> {
    let root = Path::new(super::HYBRID_UNIFIED);
    let mut chain: Vec<&Path> = dir
        .ancestors()
        .take_while(|p| p.starts_with(root))
        .skip(1)
        .collect();
    chain.reverse();
    for p in chain {
        let cur = files::read(p, "cgroup.subtree_control")?;
        if !cur.split_whitespace().any(|c| c == ctrl) {
            files::write(p, "cgroup.subtree_control", &format!("+{ctrl}"))?;
        }
    }
    Ok(())
}

fn memory(d: &Path, m: &Memory) -> Result<(), CgroupError> {
    let limit = m.limit.unwrap_or(0);
    let mut swap = m.swap.unwrap_or(0);
    // Unlimited memory with swap not given: unlimited swap too (when swap accounting exists).
    if limit == -1 && swap == 0 && d.join("memory.memsw.limit_in_bytes").exists() {
        swap = -1;
    }
    // memsw must stay >= memory at every step, so the order depends on the direction.
    let swap_first = limit != 0
        && swap != 0
        && (swap == -1 || files::read_u64(d, "memory.limit_in_bytes")? < swap as u64);
    if swap_first {
        set_swap(d, swap)?;
        set_memory(d, limit)?;
    } else {
        set_memory(d, limit)?;
        set_swap(d, swap)?;
    }
    if let Some(r) = m.reservation.filter(|&r| r != 0) {
        files::write(d, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if let Some(k) = m.kernel.filter(|&k| k != 0) {
        ensure_file(d, "memory.kmem.limit_in_bytes", "memory.kernel")?;
        files::write(d, "memory.kmem.limit_in_bytes", &k.to_string())?;
        // Since linux 5.16 the file still exists but ignores what is written.
        let got = files::read_u64(d, "memory.kmem.limit_in_bytes")?;
        if k > 0 && got > k as u64 {
            return Err(CgroupError::Unsupported(
                "memory.kernel is not supported by this kernel: kernel memory limits are ignored since linux 5.16".into(),
            ));
        }
    }
    if let Some(k) = m.kernel_tcp.filter(|&k| k != 0) {
        ensure_file(d, "memory.kmem.tcp.limit_in_bytes", "memory.kernelTCP")?;
        files::write(d, "memory.kmem.tcp.limit_in_bytes", &k.to_string())?;
    }
    if m.disable_oom_killer == Some(true) {
        files::write(d, "memory.oom_control", "1")?;
    }
    if let Some(s) = m.swappiness {
        files::write(d, "memory.swappiness", &s.to_string())?;
    }
    if let Some(h) = m.use_hierarchy {
        files::write(d, "memory.use_hierarchy", if h { "1" } else { "0" }).map_err(|e| {
            if !h {
                CgroupError::Unsupported(
                    "memory.useHierarchy false is not supported by this kernel (hierarchy is always on)".into(),
                )
            } else {
                e
            }
        })?;
    }
    Ok(())
}

fn set_memory(d: &Path, limit: i64) -> Result<(), CgroupError> {
    if limit == 0 {
        return Ok(());
    }
    files::write(d, "memory.limit_in_bytes", &limit.to_string()).map_err(|e| match e {
        CgroupError::Write { ref source, .. } if source.raw_os_error() == Some(libc::EBUSY) => {
            let usage = files::read_u64(d, "memory.usage_in_bytes").unwrap_or(0);
            let peak = files::read_u64(d, "memory.max_usage_in_bytes").unwrap_or(0);
            CgroupError::Invalid(format!(
                "unable to set memory limit to {limit} (current usage: {usage}, peak usage: {peak})"
            ))
        }
        e => e,
    })
}

fn set_swap(d: &Path, swap: i64) -> Result<(), CgroupError> {
    if swap == 0 {
        return Ok(());
    }
    ensure_file(
        d,
        "memory.memsw.limit_in_bytes",
        "memory.swap (swap accounting)",
    )?;
    files::write(d, "memory.memsw.limit_in_bytes", &swap.to_string())
}

fn cpu(d: &Path, c: &Cpu) -> Result<(), CgroupError> {
    if let Some(s) = c.shares.filter(|&s| s != 0) {
        files::write(d, "cpu.shares", &s.to_string())?;
        let got = files::read_u64(d, "cpu.shares")?;
        if s > got {
            return Err(CgroupError::Invalid(format!(
                "the maximum allowed cpu-shares is {got}"
            )));
        } else if s < got {
            return Err(CgroupError::Invalid(format!(
                "the minimum allowed cpu-shares is {got}"
            )));
        }
    }
    let quota = c.quota.unwrap_or(0);
    let mut period_pending = None;
    if let Some(p) = c.period.filter(|&p| p != 0) {
        if let Err(e) = files::write(d, "cpu.cfs_period_us", &p.to_string()) {
            // A period below the current one can be refused (EINVAL) while the old quota is in
            // place; retry once the new quota is written.
            match &e {
                CgroupError::Write { source, .. }
                    if source.raw_os_error() == Some(libc::EINVAL) && quota != 0 =>
                {
                    period_pending = Some(p)
                }
                _ => return Err(e),
            }
        }
    }
    if quota != 0 {
        files::write(d, "cpu.cfs_quota_us", &quota.to_string())?;
        if let Some(p) = period_pending {
            files::write(d, "cpu.cfs_period_us", &p.to_string())?;
        }
    }
    if let Some(b) = c.burst {
        ensure_file(d, "cpu.cfs_burst_us", "cpu.burst")?;
        files::write(d, "cpu.cfs_burst_us", &b.to_string())?;
    }
    if let Some(p) = c.realtime_period.filter(|&p| p != 0) {
        ensure_file(d, "cpu.rt_period_us", "cpu.realtimePeriod")?;
        files::write(d, "cpu.rt_period_us", &p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime.filter(|&r| r != 0) {
        ensure_file(d, "cpu.rt_runtime_us", "cpu.realtimeRuntime")?;
        files::write(d, "cpu.rt_runtime_us", &r.to_string())?;
    }
    if let Some(i) = c.idle {
        ensure_file(d, "cpu.idle", "cpu.idle")?;
        files::write(d, "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

fn blkio(d: &Path, b: &BlockIo) -> Result<(), CgroupError> {
    // CFQ's files when present, else BFQ's (linux 5.0+ has only BFQ), as runc picks them.
    let (weight, weight_device) = if d.join("blkio.weight").exists() {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    };
    if let Some(w) = b.weight.filter(|&w| w != 0) {
        ensure_file(d, weight, "blockIO.weight")?;
        files::write(d, weight, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight.filter(|&w| w != 0) {
        ensure_file(d, "blkio.leaf_weight", "blockIO.leafWeight")?;
        files::write(d, "blkio.leaf_weight", &w.to_string())?;
    }
    for wd in &b.weight_device {
        if let Some(w) = wd.weight.filter(|&w| w != 0) {
            ensure_file(d, weight_device, "blockIO.weightDevice")?;
            files::write(d, weight_device, &format!("{}:{} {w}", wd.major, wd.minor))
                .map_err(|e| files::device_weight_err(e, wd.major, wd.minor))?;
        }
        if let Some(w) = wd.leaf_weight.filter(|&w| w != 0) {
            ensure_file(
                d,
                "blkio.leaf_weight_device",
                "blockIO.weightDevice leafWeight",
            )?;
            files::write(
                d,
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", wd.major, wd.minor),
            )?;
        }
    }
    for (file, list) in [
        (
            "blkio.throttle.read_bps_device",
            &b.throttle_read_bps_device,
        ),
        (
            "blkio.throttle.write_bps_device",
            &b.throttle_write_bps_device,
        ),
        (
            "blkio.throttle.read_iops_device",
            &b.throttle_read_iops_device,
        ),
        (
            "blkio.throttle.write_iops_device",
            &b.throttle_write_iops_device,
        ),
    ] {
        for t in list {
            files::write(d, file, &format!("{}:{} {}", t.major, t.minor, t.rate))?;
        }
    }
    Ok(())
}
