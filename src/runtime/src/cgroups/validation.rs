//! Checks of `linux.resources` that need no cgroup: run before anything is created, so bad
//! input fails with one clear line and leaves nothing behind.

use super::{devices, mounts, CgroupError};
use crate::spec::Resources;

fn invalid(msg: String) -> CgroupError {
    CgroupError::Invalid(msg)
}

fn limit(name: &str, v: Option<i64>) -> Result<(), CgroupError> {
    match v {
        Some(n) if n < -1 => Err(invalid(format!(
            "invalid {name} {n}: must be -1 (unlimited) or a non-negative number"
        ))),
        _ => Ok(()),
    }
}

fn weight(name: &str, v: Option<u16>) -> Result<(), CgroupError> {
    match v {
        Some(w) if w != 0 && !(10..=1000).contains(&w) => Err(invalid(format!(
            "invalid {name} {w}: must be between 10 and 1000"
        ))),
        _ => Ok(()),
    }
}

fn device_number(name: &str, major: i64, minor: i64) -> Result<(), CgroupError> {
    if major < 0 || minor < 0 || major > u32::MAX as i64 || minor > u32::MAX as i64 {
        return Err(invalid(format!("invalid {name} device {major}:{minor}")));
    }
    Ok(())
}

/// A cpuset list: "0-3,5".
pub(crate) fn check_cpu_list(name: &str, s: &str) -> Result<(), CgroupError> {
    let ok = !s.is_empty()
        && s.trim().split(',').all(|part| {
            let num = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
            match part.split_once('-') {
                Some((a, b)) => num(a) && num(b),
                None => num(part),
            }
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "invalid {name} {s:?}: expected a list like \"0-2,4\""
        )))
    }
}

pub(crate) fn check(r: &Resources) -> Result<(), CgroupError> {
    devices::parse_rules(&r.devices)?;
    if let Some(m) = &r.memory {
        limit("memory.limit", m.limit)?;
        limit("memory.reservation", m.reservation)?;
        limit("memory.swap", m.swap)?;
        limit("memory.kernel", m.kernel)?;
        limit("memory.kernelTCP", m.kernel_tcp)?;
        if let Some(s) = m.swappiness {
            if s > 100 {
                return Err(invalid(format!(
                    "invalid memory.swappiness {s}: valid range is 0-100"
                )));
            }
        }
    }
    if let Some(c) = &r.cpu {
        limit("cpu.quota", c.quota)?;
        limit("cpu.realtimeRuntime", c.realtime_runtime)?;
        if let Some(i) = c.idle {
            if i != 0 && i != 1 {
                return Err(invalid(format!("invalid cpu.idle {i}: must be 0 or 1")));
            }
        }
        if let Some(s) = c.shares {
            if s != 0 && !(2..=262144).contains(&s) {
                return Err(invalid(format!(
                    "invalid cpu.shares {s}: must be between 2 and 262144"
                )));
            }
        }
        if let Some(cpus) = c.cpus.as_deref().filter(|s| !s.is_empty()) {
            check_cpu_list("cpu.cpus", cpus)?;
        }
        if let Some(mems) = c.mems.as_deref().filter(|s| !s.is_empty()) {
            check_cpu_list("cpu.mems", mems)?;
        }
    }
    if let Some(p) = &r.pids {
        limit("pids.limit", Some(p.limit))?;
    }
    if let Some(b) = &r.block_io {
        weight("blockIO.weight", b.weight)?;
        weight("blockIO.leafWeight", b.leaf_weight)?;
        for d in &b.weight_device {
            device_number("blockIO.weightDevice", d.major, d.minor)?;
            weight("blockIO.weightDevice weight", d.weight)?;
            weight("blockIO.weightDevice leafWeight", d.leaf_weight)?;
        }
        for (name, list) in [
            ("blockIO.throttleReadBpsDevice", &b.throttle_read_bps_device),
            (
                "blockIO.throttleWriteBpsDevice",
                &b.throttle_write_bps_device,
            ),
            (
                "blockIO.throttleReadIOPSDevice",
                &b.throttle_read_iops_device,
            ),
            (
                "blockIO.throttleWriteIOPSDevice",
                &b.throttle_write_iops_device,
            ),
        ] {
            for d in list {
                device_number(name, d.major, d.minor)?;
            }
        }
    }
    if !r.hugepage_limits.is_empty() {
        let sizes = mounts::hugepage_sizes();
        for h in &r.hugepage_limits {
            if !sizes.contains(&h.page_size) {
                return Err(invalid(format!(
                    "invalid hugepageLimits pageSize {:?}: this host supports {}",
                    h.page_size,
                    if sizes.is_empty() {
                        "no huge pages".to_string()
                    } else {
                        sizes.join(", ")
                    }
                )));
            }
        }
    }
    for (k, v) in &r.unified {
        if k.contains('/') || k.starts_with('.') || !k.contains('.') {
            return Err(invalid(format!(
                "invalid unified key {k:?}: must be a cgroup file name like \"memory.high\""
            )));
        }
        if v.contains('\n') && k != "cgroup.subtree_control" {
            // One value per write; embedded newlines would be parsed as several writes.
            return Err(invalid(format!(
                "invalid unified value for {k:?}: contains a newline"
            )));
        }
    }
    for name in r.rdma.keys() {
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(invalid(format!("invalid rdma device name {name:?}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Memory, Pids};

    #[test]
    fn negative_limits_are_rejected() {
        let r = Resources {
            memory: Some(Memory {
                limit: Some(-5),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            check(&r).unwrap_err().to_string(),
            "invalid memory.limit -5: must be -1 (unlimited) or a non-negative number"
        );
        let r = Resources {
            pids: Some(Pids { limit: -1 }),
            ..Default::default()
        };
        assert!(check(&r).is_ok());
    }

    #[test]
    fn cpu_lists_are_checked() {
        assert!(check_cpu_list("cpu.cpus", "0-1,3").is_ok());
        assert!(check_cpu_list("cpu.cpus", "0-").is_err());
        assert!(check_cpu_list("cpu.cpus", "a").is_err());
    }

    #[test]
    fn unified_keys_must_be_file_names() {
        let mut r = Resources::default();
        r.unified.insert("../memory.max".into(), "1".into());
        assert!(check(&r).is_err());
        r.unified.clear();
        r.unified.insert("memorymax".into(), "1".into());
        assert!(check(&r).is_err());
    }
}
