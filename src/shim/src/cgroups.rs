//! Finding a container's cgroups (from its init pid) and reading them in containerd's metrics
//! format (`io.containerd.cgroups.v1.Metrics`), plus the v1 OOM notification.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use containerd_shim::protos::cgroups::metrics::{
    BlkIOEntry, BlkIOStat, CPUStat, CPUUsage, HugetlbStat, MemoryEntry, MemoryOomControl,
    MemoryStat, Metrics, PidsStat, Throttle,
};

use crate::error::{Error, Result};

/// Where a process's cgroups live.
#[derive(Debug, Clone)]
pub enum Cgroups {
    /// cgroup v1 (or hybrid): controller name -> directory.
    V1(HashMap<String, PathBuf>),
    /// unified cgroup v2 directory.
    V2(PathBuf),
}

/// Reads /proc/<pid>/cgroup and /proc/self/mountinfo.
pub fn of_pid(pid: i32) -> Result<Cgroups> {
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| Error::io(format!("reading cgroups of pid {pid}"), e))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("reading /proc/self/mountinfo", e))?;
    // (controllers or "" for v2, mount root, mount point)
    let mut mounts: Vec<(Vec<String>, String, PathBuf)> = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        match post[0] {
            "cgroup" => {
                let ctrls = post[2]
                    .split(',')
                    .filter(|o| {
                        !matches!(*o, "rw" | "ro" | "relatime" | "noexec" | "nosuid" | "nodev")
                    })
                    .map(str::to_string)
                    .collect();
                mounts.push((ctrls, pre[3].to_string(), PathBuf::from(pre[4])));
            }
            "cgroup2" => mounts.push((Vec::new(), pre[3].to_string(), PathBuf::from(pre[4]))),
            _ => {}
        }
    }
    let join = |root: &str, mp: &Path, path: &str| -> PathBuf {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(path)
            .trim_start_matches('/');
        mp.join(rel)
    };
    let mut v1 = HashMap::new();
    let mut v2 = None;
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => continue,
        };
        if ctrls.is_empty() {
            if let Some((_, root, mp)) = mounts.iter().find(|(c, _, _)| c.is_empty()) {
                v2 = Some(join(root, mp, path));
            }
            continue;
        }
        for c in ctrls.split(',') {
            let c = c.strip_prefix("name=").unwrap_or(c);
            if let Some((_, root, mp)) = mounts
                .iter()
                .find(|(cs, _, _)| cs.iter().any(|x| x == c || x == &format!("name={c}")))
            {
                v1.insert(c.to_string(), join(root, mp, path));
            }
        }
    }
    if v1.contains_key("memory") || v1.contains_key("cpu") || v1.contains_key("pids") {
        return Ok(Cgroups::V1(v1));
    }
    v2.map(Cgroups::V2)
        .ok_or_else(|| Error::NotFound(format!("cgroups of pid {pid}")))
}

fn read_u64(p: &Path) -> u64 {
    std::fs::read_to_string(p)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// "key value" lines.
fn read_kv(p: &Path) -> HashMap<String, u64> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

impl Cgroups {
    pub fn metrics_v1(&self) -> Result<Metrics> {
        let Cgroups::V1(m) = self else {
            return Err(Error::Unimplemented("stats on a cgroup v2 host".into()));
        };
        let mut out = Metrics::new();
        if let Some(d) = m.get("pids") {
            let max = std::fs::read_to_string(d.join("pids.max")).unwrap_or_default();
            out.pids = Some(PidsStat {
                current: read_u64(&d.join("pids.current")),
                limit: max.trim().parse().unwrap_or(0),
                ..Default::default()
            })
            .into();
        }
        let mut cpu = CPUStat::new();
        if let Some(d) = m.get("cpuacct") {
            let stat = read_kv(&d.join("cpuacct.stat"));
            // cpuacct.stat counts USER_HZ (100 Hz) ticks
            let tick_ns = 1_000_000_000 / 100;
            cpu.usage = Some(CPUUsage {
                total: read_u64(&d.join("cpuacct.usage")),
                user: stat.get("user").copied().unwrap_or(0) * tick_ns,
                kernel: stat.get("system").copied().unwrap_or(0) * tick_ns,
                per_cpu: std::fs::read_to_string(d.join("cpuacct.usage_percpu"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect(),
                ..Default::default()
            })
            .into();
        }
        if let Some(d) = m.get("cpu") {
            let st = read_kv(&d.join("cpu.stat"));
            cpu.throttling = Some(Throttle {
                periods: st.get("nr_periods").copied().unwrap_or(0),
                throttled_periods: st.get("nr_throttled").copied().unwrap_or(0),
                throttled_time: st.get("throttled_time").copied().unwrap_or(0),
                ..Default::default()
            })
            .into();
        }
        out.cpu = Some(cpu).into();
        if let Some(d) = m.get("memory") {
            out.memory = Some(memory_v1(d)).into();
            let oc = read_kv(&d.join("memory.oom_control"));
            out.memory_oom_control = Some(MemoryOomControl {
                oom_kill_disable: oc.get("oom_kill_disable").copied().unwrap_or(0),
                under_oom: oc.get("under_oom").copied().unwrap_or(0),
                oom_kill: oc.get("oom_kill").copied().unwrap_or(0),
                ..Default::default()
            })
            .into();
        }
        if let Some(d) = m.get("blkio") {
            out.blkio = Some(blkio_v1(d)).into();
        }
        if let Some(d) = m.get("hugetlb") {
            out.hugetlb = hugetlb_v1(d);
        }
        Ok(out)
    }

    /// The v1 memory cgroup directory (for OOM notification).
    pub fn memory_v1(&self) -> Option<&Path> {
        match self {
            Cgroups::V1(m) => m.get("memory").map(PathBuf::as_path),
            Cgroups::V2(_) => None,
        }
    }

    pub fn unified(&self) -> Option<&Path> {
        match self {
            Cgroups::V2(p) => Some(p),
            Cgroups::V1(_) => None,
        }
    }
}

fn entry(d: &Path, prefix: &str) -> Option<MemoryEntry> {
    if !d.join(format!("{prefix}.usage_in_bytes")).exists() {
        return None;
    }
    Some(MemoryEntry {
        usage: read_u64(&d.join(format!("{prefix}.usage_in_bytes"))),
        limit: read_u64(&d.join(format!("{prefix}.limit_in_bytes"))),
        max: read_u64(&d.join(format!("{prefix}.max_usage_in_bytes"))),
        failcnt: read_u64(&d.join(format!("{prefix}.failcnt"))),
        ..Default::default()
    })
}

fn memory_v1(d: &Path) -> MemoryStat {
    let s = read_kv(&d.join("memory.stat"));
    let g = |k: &str| s.get(k).copied().unwrap_or(0);
    MemoryStat {
        cache: g("cache"),
        rss: g("rss"),
        rss_huge: g("rss_huge"),
        mapped_file: g("mapped_file"),
        dirty: g("dirty"),
        writeback: g("writeback"),
        pg_pg_in: g("pgpgin"),
        pg_pg_out: g("pgpgout"),
        pg_fault: g("pgfault"),
        pg_maj_fault: g("pgmajfault"),
        inactive_anon: g("inactive_anon"),
        active_anon: g("active_anon"),
        inactive_file: g("inactive_file"),
        active_file: g("active_file"),
        unevictable: g("unevictable"),
        hierarchical_memory_limit: g("hierarchical_memory_limit"),
        hierarchical_swap_limit: g("hierarchical_memsw_limit"),
        total_cache: g("total_cache"),
        total_rss: g("total_rss"),
        total_rss_huge: g("total_rss_huge"),
        total_mapped_file: g("total_mapped_file"),
        total_dirty: g("total_dirty"),
        total_writeback: g("total_writeback"),
        total_pg_pg_in: g("total_pgpgin"),
        total_pg_pg_out: g("total_pgpgout"),
        total_pg_fault: g("total_pgfault"),
        total_pg_maj_fault: g("total_pgmajfault"),
        total_inactive_anon: g("total_inactive_anon"),
        total_active_anon: g("total_active_anon"),
        total_inactive_file: g("total_inactive_file"),
        total_active_file: g("total_active_file"),
        total_unevictable: g("total_unevictable"),
        usage: entry(d, "memory").into(),
        swap: entry(d, "memory.memsw").into(),
        kernel: entry(d, "memory.kmem").into(),
        kernel_tcp: entry(d, "memory.kmem.tcp").into(),
        ..Default::default()
    }
}

/// "MAJ:MIN Op value" lines.
fn blkio_entries(p: &Path) -> Vec<BlkIOEntry> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dev, op, v) = match f.as_slice() {
                [dev, op, v] => (*dev, *op, *v),
                [dev, v] => (*dev, "", *v),
                _ => return None,
            };
            let (maj, min) = dev.split_once(':')?;
            Some(BlkIOEntry {
                op: op.to_string(),
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                value: v.parse().ok()?,
                ..Default::default()
            })
        })
        .collect()
}

fn blkio_v1(d: &Path) -> BlkIOStat {
    let pick = |name: &str| {
        let e = blkio_entries(&d.join(format!("blkio.{name}")));
        if e.is_empty() {
            blkio_entries(&d.join(format!(
                "blkio.throttle.{}",
                name.trim_end_matches("_recursive")
            )))
        } else {
            e
        }
    };
    BlkIOStat {
        io_service_bytes_recursive: pick("io_service_bytes_recursive"),
        io_serviced_recursive: pick("io_serviced_recursive"),
        io_queued_recursive: blkio_entries(&d.join("blkio.io_queued_recursive")),
        io_service_time_recursive: blkio_entries(&d.join("blkio.io_service_time_recursive")),
        io_wait_time_recursive: blkio_entries(&d.join("blkio.io_wait_time_recursive")),
        io_merged_recursive: blkio_entries(&d.join("blkio.io_merged_recursive")),
        io_time_recursive: blkio_entries(&d.join("blkio.time_recursive")),
        sectors_recursive: blkio_entries(&d.join("blkio.sectors_recursive")),
        ..Default::default()
    }
}

fn hugetlb_v1(d: &Path) -> Vec<HugetlbStat> {
    let Ok(rd) = std::fs::read_dir(d) else {
        return Vec::new();
    };
    let mut sizes: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.strip_prefix("hugetlb.")?
                .strip_suffix(".usage_in_bytes")
                .map(str::to_string)
        })
        .collect();
    sizes.sort();
    sizes
        .into_iter()
        .map(|s| HugetlbStat {
            usage: read_u64(&d.join(format!("hugetlb.{s}.usage_in_bytes"))),
            max: read_u64(&d.join(format!("hugetlb.{s}.max_usage_in_bytes"))),
            failcnt: read_u64(&d.join(format!("hugetlb.{s}.failcnt"))),
            pagesize: s,
            ..Default::default()
        })
        .collect()
}
