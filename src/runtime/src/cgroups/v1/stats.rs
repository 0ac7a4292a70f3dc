//! Statistics from v1 control files, field by field as runc 1.1 collects them.

use super::super::files::{keyed, read_flat_keyed, read_opt, read_u64};
use super::super::mounts::hugepage_sizes;
use super::super::stats::{parse_cpu_list, BlkioEntry, Hugetlb, MemoryEntry, Stats};
use super::super::CgroupError;
use super::V1;
use std::path::Path;

/// USER_HZ: cpuacct.stat counts in these ticks.
const CLOCK_TICKS: u64 = 100;

pub(super) fn collect(v: &V1) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();
    if let Some(d) = v.dir("cpu") {
        let st = read_flat_keyed(d, "cpu.stat")?;
        s.cpu.throttling.periods = keyed(&st, "nr_periods");
        s.cpu.throttling.throttled_periods = keyed(&st, "nr_throttled");
        s.cpu.throttling.throttled_time = keyed(&st, "throttled_time");
    }
    if let Some(d) = v.dir("cpuacct") {
        cpuacct(d, &mut s)?;
    }
    if let Some(d) = v.dir("cpuset") {
        cpuset(d, &mut s)?;
    }
    if let Some(d) = v.dir("memory") {
        memory(d, &mut s)?;
    }
    if let Some(d) = v.dir("pids") {
        s.pids.current = read_u64(d, "pids.current")?;
        let max = read_u64(d, "pids.max")?;
        s.pids.limit = if max == u64::MAX { 0 } else { max };
    }
    if let Some(d) = v.dir("blkio") {
        blkio(d, &mut s)?;
    }
    if let Some(d) = v.dir("hugetlb") {
        for size in hugepage_sizes() {
            let f = |n: &str| read_u64(d, &format!("hugetlb.{size}.{n}"));
            s.hugetlb.insert(
                size.clone(),
                Hugetlb {
                    usage: f("usage_in_bytes")?,
                    max: f("max_usage_in_bytes")?,
                    failcnt: f("failcnt")?,
                },
            );
        }
    } else if let Some(u) = &v.unified {
        super::super::v2::hugetlb_stats(u, &mut s)?;
    }
    Ok(s)
}

fn cpuacct(d: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    s.cpu.usage.total = read_u64(d, "cpuacct.usage")?;
    if let Some(p) = read_opt(d, "cpuacct.usage_percpu")? {
        s.cpu.usage.percpu = p
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
    }
    let st = read_flat_keyed(d, "cpuacct.stat")?;
    s.cpu.usage.user = keyed(&st, "user") * 1_000_000_000 / CLOCK_TICKS;
    s.cpu.usage.kernel = keyed(&st, "system") * 1_000_000_000 / CLOCK_TICKS;
    // "cpu user system" per CPU, in nanoseconds.
    if let Some(all) = read_opt(d, "cpuacct.usage_all")? {
        for line in all.lines().skip(1) {
            let f: Vec<u64> = line
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if f.len() == 3 {
                s.cpu.usage.percpu_user.push(f[1]);
                s.cpu.usage.percpu_kernel.push(f[2]);
            }
        }
    }
    Ok(())
}

fn cpuset(d: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let c = &mut s.cpuset;
    c.cpus = parse_cpu_list(&read_opt(d, "cpuset.cpus")?.unwrap_or_default());
    c.mems = parse_cpu_list(&read_opt(d, "cpuset.mems")?.unwrap_or_default());
    c.cpu_exclusive = read_u64(d, "cpuset.cpu_exclusive")?;
    c.mem_exclusive = read_u64(d, "cpuset.mem_exclusive")?;
    c.mem_hardwall = read_u64(d, "cpuset.mem_hardwall")?;
    c.memory_migrate = read_u64(d, "cpuset.memory_migrate")?;
    c.memory_spread_page = read_u64(d, "cpuset.memory_spread_page")?;
    c.memory_spread_slab = read_u64(d, "cpuset.memory_spread_slab")?;
    c.memory_pressure = read_u64(d, "cpuset.memory_pressure")?;
    c.sched_load_balance = read_u64(d, "cpuset.sched_load_balance")?;
    c.sched_relax_domain_level = read_opt(d, "cpuset.sched_relax_domain_level")?
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    Ok(())
}

fn entry(d: &Path, prefix: &str) -> Result<MemoryEntry, CgroupError> {
    let f = |n: &str| read_u64(d, &format!("{prefix}{n}"));
    Ok(MemoryEntry {
        limit: f("limit_in_bytes")?,
        usage: f("usage_in_bytes")?,
        max: f("max_usage_in_bytes")?,
        failcnt: f("failcnt")?,
    })
}

fn memory(d: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let raw = read_flat_keyed(d, "memory.stat")?;
    s.memory.cache = keyed(&raw, "cache");
    s.memory.raw = raw.into_iter().collect();
    s.memory.usage = entry(d, "memory.")?;
    s.memory.swap = entry(d, "memory.memsw.")?;
    s.memory.kernel = entry(d, "memory.kmem.")?;
    s.memory.kernel_tcp = entry(d, "memory.kmem.tcp.")?;
    Ok(())
}

/// "MAJ:MIN Op Value" lines; the trailing "Total N" line is skipped, as runc does.
fn blkio_entries(d: &Path, file: &str) -> Result<Vec<BlkioEntry>, CgroupError> {
    let Some(text) = read_opt(d, file)? else {
        return Ok(Vec::new());
    };
    Ok(text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 3 {
                return None;
            }
            let (maj, min) = f[0].split_once(':')?;
            Some(BlkioEntry {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                op: f[1].to_string(),
                value: f[2].parse().ok()?,
            })
        })
        .collect())
}

fn blkio(d: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let b = &mut s.blkio;
    if d.join("blkio.io_serviced_recursive").exists() {
        // CFQ: the full set.
        b.sectors_recursive = blkio_entries(d, "blkio.sectors_recursive")?;
        b.io_service_bytes_recursive = blkio_entries(d, "blkio.io_service_bytes_recursive")?;
        b.io_serviced_recursive = blkio_entries(d, "blkio.io_serviced_recursive")?;
        b.io_queued_recursive = blkio_entries(d, "blkio.io_queued_recursive")?;
        b.io_service_time_recursive = blkio_entries(d, "blkio.io_service_time_recursive")?;
        b.io_wait_time_recursive = blkio_entries(d, "blkio.io_wait_time_recursive")?;
        b.io_merged_recursive = blkio_entries(d, "blkio.io_merged_recursive")?;
        b.io_time_recursive = blkio_entries(d, "blkio.time_recursive")?;
        return Ok(());
    }
    // BFQ only counts I/O to devices scheduled by BFQ; fall back to the throttle counters,
    // which see all I/O, when it has nothing.
    let bfq = blkio_entries(d, "blkio.bfq.io_service_bytes_recursive")?;
    if !bfq.is_empty() {
        b.io_service_bytes_recursive = bfq;
        b.io_serviced_recursive = blkio_entries(d, "blkio.bfq.io_serviced_recursive")?;
    } else {
        b.io_service_bytes_recursive =
            blkio_entries(d, "blkio.throttle.io_service_bytes_recursive")?;
        b.io_serviced_recursive = blkio_entries(d, "blkio.throttle.io_serviced_recursive")?;
    }
    Ok(())
}
