//! Statistics from v2 control files, mapped onto runc's v1-shaped Stats as runc 1.1 does.

use super::super::files::{keyed, read_flat_keyed, read_opt, read_u64};
use super::super::mounts::hugepage_sizes;
use super::super::stats::{BlkioEntry, Hugetlb, MemoryEntry, Stats};
use super::super::CgroupError;
use std::path::Path;

pub(super) fn collect(d: &Path) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();
    let cpu = read_flat_keyed(d, "cpu.stat")?;
    s.cpu.usage.total = keyed(&cpu, "usage_usec") * 1000;
    s.cpu.usage.user = keyed(&cpu, "user_usec") * 1000;
    s.cpu.usage.kernel = keyed(&cpu, "system_usec") * 1000;
    s.cpu.throttling.periods = keyed(&cpu, "nr_periods");
    s.cpu.throttling.throttled_periods = keyed(&cpu, "nr_throttled");
    s.cpu.throttling.throttled_time = keyed(&cpu, "throttled_usec") * 1000;

    if d.join("memory.current").exists() {
        let raw = read_flat_keyed(d, "memory.stat")?;
        s.memory.cache = keyed(&raw, "file");
        s.memory.raw = raw.into_iter().collect();
        let events = read_flat_keyed(d, "memory.events")?;
        s.memory.usage = MemoryEntry {
            limit: read_u64(d, "memory.max")?,
            usage: read_u64(d, "memory.current")?,
            max: 0,
            failcnt: keyed(&events, "max"),
        };
        // v1 reports memory+swap; do the same so consumers see one meaning.
        if d.join("memory.swap.current").exists() {
            let swap_limit = read_u64(d, "memory.swap.max")?;
            s.memory.swap = MemoryEntry {
                limit: if swap_limit == u64::MAX || s.memory.usage.limit == u64::MAX {
                    u64::MAX
                } else {
                    swap_limit + s.memory.usage.limit
                },
                usage: read_u64(d, "memory.swap.current")? + s.memory.usage.usage,
                max: 0,
                failcnt: 0,
            };
        }
    }

    if d.join("pids.current").exists() {
        s.pids.current = read_u64(d, "pids.current")?;
        let max = read_u64(d, "pids.max")?;
        s.pids.limit = if max == u64::MAX { 0 } else { max };
    } else {
        let mut v = Vec::new();
        super::super::files::pids_recursive(d, &mut v)?;
        s.pids.current = v.len() as u64;
    }

    if let Some(io) = read_opt(d, "io.stat")? {
        for line in io.lines() {
            let mut f = line.split_whitespace();
            let Some((maj, min)) = f.next().and_then(|x| x.split_once(':')) else {
                continue;
            };
            let (Ok(major), Ok(minor)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
                continue;
            };
            for kv in f {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                let value: u64 = v.parse().unwrap_or(0);
                let (list, op) = match k {
                    "rbytes" => (&mut s.blkio.io_service_bytes_recursive, "Read"),
                    "wbytes" => (&mut s.blkio.io_service_bytes_recursive, "Write"),
                    "rios" => (&mut s.blkio.io_serviced_recursive, "Read"),
                    "wios" => (&mut s.blkio.io_serviced_recursive, "Write"),
                    _ => continue,
                };
                list.push(BlkioEntry {
                    major,
                    minor,
                    op: op.into(),
                    value,
                });
            }
        }
    }
    hugetlb_stats(d, &mut s)?;
    Ok(s)
}

/// hugetlb.<size>.current and the "max" event count (also used on hybrid v1 hosts).
pub(crate) fn hugetlb_stats(d: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    for size in hugepage_sizes() {
        if !d.join(format!("hugetlb.{size}.current")).exists() {
            continue;
        }
        let events = read_flat_keyed(d, &format!("hugetlb.{size}.events"))?;
        s.hugetlb.insert(
            size.clone(),
            Hugetlb {
                usage: read_u64(d, &format!("hugetlb.{size}.current"))?,
                max: 0,
                failcnt: keyed(&events, "max"),
            },
        );
    }
    Ok(())
}
