//! Writing `linux.resources` into v2 control files, with runc's v1→v2 conversions.

use super::super::files;
use super::super::mounts::CGROUP_ROOT;
use super::super::{convert, validation, CgroupError};
use crate::spec::{BlockIo, Cpu, Memory, Resources};
use std::path::Path;

fn unsupported(what: &str) -> CgroupError {
    CgroupError::Unsupported(format!("{what} is not supported on cgroup v2"))
}

fn need(ctrls: &[String], ctrl: &str, what: &str) -> Result<(), CgroupError> {
    if ctrls.iter().any(|c| c == ctrl) {
        Ok(())
    } else {
        Err(CgroupError::Unsupported(format!(
            "cannot apply {what}: the {ctrl} cgroup controller is not available on this host"
        )))
    }
}

/// Checks that need to know the host, before anything is created.
pub(super) fn check(r: &Resources) -> Result<(), CgroupError> {
    validation::check(r)?;
    let ctrls: Vec<String> = files::read(Path::new(CGROUP_ROOT), "cgroup.controllers")?
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if let Some(m) = &r.memory {
        if m.swappiness.is_some() {
            return Err(unsupported("memory.swappiness"));
        }
        if m.kernel.is_some_and(|k| k != 0) {
            return Err(unsupported("memory.kernel (kernel memory limit)"));
        }
        if m.kernel_tcp.is_some_and(|k| k != 0) {
            return Err(unsupported("memory.kernelTCP"));
        }
        if m.disable_oom_killer == Some(true) {
            return Err(unsupported("memory.disableOOMKiller"));
        }
        if m.use_hierarchy == Some(false) {
            return Err(unsupported(
                "memory.useHierarchy false (v2 is always hierarchical)",
            ));
        }
        convert::swap_to_v2(m.swap.unwrap_or(0), m.limit.unwrap_or(0))?;
        if m.limit.is_some_and(|x| x != 0)
            || m.swap.is_some_and(|x| x != 0)
            || m.reservation.is_some_and(|x| x != 0)
        {
            need(&ctrls, "memory", "memory limits")?;
        }
    }
    if let Some(c) = &r.cpu {
        if c.realtime_period.is_some_and(|x| x != 0) || c.realtime_runtime.is_some_and(|x| x != 0) {
            return Err(unsupported(
                "cpu.realtimePeriod/realtimeRuntime (realtime scheduling)",
            ));
        }
        if c.shares.is_some_and(|x| x != 0)
            || c.quota.is_some_and(|x| x != 0)
            || c.period.is_some_and(|x| x != 0)
            || c.burst.is_some()
            || c.idle.is_some()
        {
            need(&ctrls, "cpu", "cpu limits")?;
        }
        if c.cpus.as_deref().is_some_and(|s| !s.is_empty())
            || c.mems.as_deref().is_some_and(|s| !s.is_empty())
        {
            need(&ctrls, "cpuset", "cpu.cpus/cpu.mems")?;
        }
    }
    if r.pids.as_ref().is_some_and(|p| p.limit != 0) {
        need(&ctrls, "pids", "pids.limit")?;
    }
    if let Some(b) = &r.block_io {
        if b.leaf_weight.is_some_and(|w| w != 0)
            || b.weight_device
                .iter()
                .any(|d| d.leaf_weight.is_some_and(|w| w != 0))
        {
            return Err(unsupported("blockIO leafWeight"));
        }
        if b.weight.is_some_and(|w| w != 0)
            || !b.weight_device.is_empty()
            || !b.throttle_read_bps_device.is_empty()
            || !b.throttle_write_bps_device.is_empty()
            || !b.throttle_read_iops_device.is_empty()
            || !b.throttle_write_iops_device.is_empty()
        {
            need(&ctrls, "io", "blockIO limits")?;
        }
    }
    if !r.hugepage_limits.is_empty() {
        need(&ctrls, "hugetlb", "hugepageLimits")?;
    }
    if let Some(n) = &r.network {
        if n.class_id.is_some() || !n.priorities.is_empty() {
            return Err(unsupported("network classID/priorities (net_cls/net_prio)"));
        }
    }
    if !r.rdma.is_empty() {
        need(&ctrls, "rdma", "rdma limits")?;
    }
    for k in r.unified.keys() {
        let (c, _) = k.split_once('.').unwrap_or((k, ""));
        if c != "cgroup" && !ctrls.iter().any(|x| x == c) {
            return Err(CgroupError::Invalid(format!(
                "unified resource {k:?} can't be set: controller {c:?} not available"
            )));
        }
    }
    Ok(())
}

pub(super) fn resources(d: &Path, r: &Resources) -> Result<(), CgroupError> {
    if let Some(p) = &r.pids {
        if let Some(v) = convert::v2_num(if p.limit < 0 { -1 } else { p.limit }) {
            files::write(d, "pids.max", &v)?;
        }
    }
    if let Some(m) = &r.memory {
        memory(d, m)?;
    }
    if let Some(b) = &r.block_io {
        io(d, b)?;
    }
    if let Some(c) = &r.cpu {
        cpu(d, c)?;
        if let Some(cpus) = c.cpus.as_deref().filter(|s| !s.is_empty()) {
            files::write(d, "cpuset.cpus", cpus)?;
        }
        if let Some(mems) = c.mems.as_deref().filter(|s| !s.is_empty()) {
            files::write(d, "cpuset.mems", mems)?;
        }
    }
    for h in &r.hugepage_limits {
        files::write(
            d,
            &format!("hugetlb.{}.max", h.page_size),
            &h.limit.to_string(),
        )?;
    }
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
    for (k, v) in &r.unified {
        if !d.join(k).exists() {
            return Err(CgroupError::Invalid(format!(
                "unified resource {k:?} can't be set: no such cgroup file"
            )));
        }
        files::write(d, k, v)?;
    }
    Ok(())
}

fn memory(d: &Path, m: &Memory) -> Result<(), CgroupError> {
    let limit = m.limit.unwrap_or(0);
    let swap_in = m.swap.unwrap_or(0);
    let reservation = m.reservation.unwrap_or(0);
    if limit == 0 && swap_in == 0 && reservation == 0 {
        return Ok(());
    }
    let swap = convert::swap_to_v2(swap_in, limit)?;
    let mut swap_str = convert::v2_num(swap);
    if swap_str.is_none() && swap == 0 && swap_in > 0 {
        // memory == memory+swap: no swap at all.
        swap_str = Some("0".into());
    }
    if let Some(s) = swap_str {
        if d.join("memory.swap.max").exists() {
            files::write(d, "memory.swap.max", &s)?;
        } else if s != "max" && s != "0" {
            return Err(CgroupError::Unsupported(
                "memory.swap is not supported by this kernel (no swap accounting)".into(),
            ));
        }
    }
    if let Some(v) = convert::v2_num(limit) {
        files::write(d, "memory.max", &v)?;
    }
    if let Some(v) = convert::v2_num(reservation) {
        files::write(d, "memory.low", &v)?;
    }
    Ok(())
}

fn cpu(d: &Path, c: &Cpu) -> Result<(), CgroupError> {
    if let Some(s) = c.shares.filter(|&s| s != 0) {
        files::write(d, "cpu.weight", &convert::shares_to_weight(s).to_string())?;
    }
    let quota = c.quota.unwrap_or(0);
    let period = c.period.unwrap_or(0);
    if quota != 0 || period != 0 {
        let mut v = if quota > 0 {
            quota.to_string()
        } else if quota == 0 {
            // Only the period changes (`update --cpu-period`): keep the current quota, as v1 does.
            files::read(d, "cpu.max")?
                .split_whitespace()
                .next()
                .unwrap_or("max")
                .to_string()
        } else {
            "max".to_string()
        };
        if period != 0 {
            v.push_str(&format!(" {period}"));
        }
        files::write(d, "cpu.max", &v)?;
    }
    if let Some(b) = c.burst {
        if !d.join("cpu.max.burst").exists() {
            return Err(CgroupError::Unsupported(
                "cpu.burst is not supported by this kernel".into(),
            ));
        }
        files::write(d, "cpu.max.burst", &b.to_string())?;
    }
    if let Some(i) = c.idle {
        if !d.join("cpu.idle").exists() {
            return Err(CgroupError::Unsupported(
                "cpu.idle is not supported by this kernel".into(),
            ));
        }
        files::write(d, "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

fn io(d: &Path, b: &BlockIo) -> Result<(), CgroupError> {
    // BFQ takes blkio weights as they are; io.weight needs runc's conversion.
    let bfq = d.join("io.bfq.weight").exists();
    if let Some(w) = b.weight.filter(|&w| w != 0) {
        if bfq {
            files::write(d, "io.bfq.weight", &w.to_string())?;
        } else {
            files::write(
                d,
                "io.weight",
                &format!("default {}", convert::blkio_weight_to_io_weight(w)),
            )?;
        }
    }
    for wd in &b.weight_device {
        if let Some(w) = wd.weight.filter(|&w| w != 0) {
            if bfq {
                files::write(
                    d,
                    "io.bfq.weight",
                    &format!("{}:{} {w}", wd.major, wd.minor),
                )
                .map_err(|e| files::device_weight_err(e, wd.major, wd.minor))?;
            } else {
                let v = convert::blkio_weight_to_io_weight(w);
                files::write(d, "io.weight", &format!("{}:{} {v}", wd.major, wd.minor))
                    .map_err(|e| files::device_weight_err(e, wd.major, wd.minor))?;
            }
        }
    }
    for (key, list) in [
        ("rbps", &b.throttle_read_bps_device),
        ("wbps", &b.throttle_write_bps_device),
        ("riops", &b.throttle_read_iops_device),
        ("wiops", &b.throttle_write_iops_device),
    ] {
        for t in list {
            files::write(
                d,
                "io.max",
                &format!("{}:{} {key}={}", t.major, t.minor, t.rate),
            )?;
        }
    }
    Ok(())
}
