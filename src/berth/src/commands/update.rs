//! `berth update`: new resource limits for a live container, with every runc 1.1 flag, or a
//! linux.resources JSON document from `-r FILE` / `-r -`. Only what is given is changed.

use crate::Global;
use anyhow::{bail, Context};
use berth_runtime::spec::{BlockIo, Cpu, Memory, Pids, Resources};
use berth_runtime::state::{Container, Status};
use std::io::Read;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Path to a file with the resources to update (linux.resources JSON), or "-" for stdin
    #[arg(short = 'r', long, value_name = "FILE")]
    pub resources: Option<String>,
    /// Per cgroup block IO weight, 10 to 1000
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds (hardcapping)
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds per period (-1: unlimited)
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight vs. other containers)
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    /// CPU realtime period in microseconds
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds per period
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU(s) to use (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory node(s) to use (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Kernel memory limit in bytes
    #[arg(long = "kernel-memory", allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Kernel memory limit in bytes for TCP buffers
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Memory limit in bytes (k, m, g suffixes; -1: unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Set cgroup SCHED_IDLE or not: 0 default behaviour, 1 SCHED_IDLE
    #[arg(long = "cpu-idle", allow_hyphen_values = true)]
    pub cpu_idle: Option<i64>,
    /// Memory reservation or soft limit in bytes
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Total memory usage (memory + swap); -1 for unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids allowed in the container (-1: unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT/CAT L3 cache schema (not supported)
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT/MBA memory bandwidth schema (not supported)
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    /// Container id
    pub id: String,
}

/// A size as docker's go-units RAMInBytes reads it: a number with an optional binary suffix
/// (k, m, g, t, p; optional "i" and "b"; case-insensitive); "-1" is unlimited.
pub fn parse_bytes(flag: &str, s: &str) -> anyhow::Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let bad = || anyhow::anyhow!("invalid value for --{flag}: invalid size: {s:?}");
    let lower = s.to_ascii_lowercase();
    let mut t = lower.as_str();
    t = t.strip_suffix('b').unwrap_or(t);
    t = t.strip_suffix('i').unwrap_or(t);
    let (num, shift) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 10),
        Some('m') => (&t[..t.len() - 1], 20),
        Some('g') => (&t[..t.len() - 1], 30),
        Some('t') => (&t[..t.len() - 1], 40),
        Some('p') => (&t[..t.len() - 1], 50),
        _ if t.len() != lower.len() && lower.ends_with("ib") => return Err(bad()),
        _ => (t, 0),
    };
    let num = num.strip_suffix(' ').unwrap_or(num);
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    let v = n * (1u64 << shift) as f64;
    if v > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as i64)
}

fn from_flags(a: &Args) -> anyhow::Result<Resources> {
    let mut r = Resources::default();
    let mb = |f: &str, v: &Option<String>| v.as_deref().map(|s| parse_bytes(f, s)).transpose();
    let mem = Memory {
        limit: mb("memory", &a.memory)?,
        reservation: mb("memory-reservation", &a.memory_reservation)?,
        swap: mb("memory-swap", &a.memory_swap)?,
        kernel: mb("kernel-memory", &a.kernel_memory)?,
        kernel_tcp: mb("kernel-memory-tcp", &a.kernel_memory_tcp)?,
        ..Default::default()
    };
    if mem.limit.is_some()
        || mem.reservation.is_some()
        || mem.swap.is_some()
        || mem.kernel.is_some()
        || mem.kernel_tcp.is_some()
    {
        r.memory = Some(mem);
    }
    let cpu = Cpu {
        shares: a.cpu_share,
        quota: a.cpu_quota,
        period: a.cpu_period,
        realtime_runtime: a.cpu_rt_runtime,
        realtime_period: a.cpu_rt_period,
        cpus: a.cpuset_cpus.clone(),
        mems: a.cpuset_mems.clone(),
        idle: a.cpu_idle,
        ..Default::default()
    };
    if cpu.shares.is_some()
        || cpu.quota.is_some()
        || cpu.period.is_some()
        || cpu.realtime_runtime.is_some()
        || cpu.realtime_period.is_some()
        || cpu.cpus.is_some()
        || cpu.mems.is_some()
        || cpu.idle.is_some()
    {
        r.cpu = Some(cpu);
    }
    if let Some(l) = a.pids_limit {
        r.pids = Some(Pids { limit: l });
    }
    if let Some(w) = a.blkio_weight {
        r.block_io = Some(BlockIo {
            weight: Some(w),
            ..Default::default()
        });
    }
    Ok(r)
}

fn read_resources(src: &str) -> anyhow::Result<Resources> {
    let mut data = Vec::new();
    if src == "-" {
        std::io::stdin()
            .read_to_end(&mut data)
            .context("read resources from stdin")?;
    } else {
        data = std::fs::read(src).with_context(|| format!("read resources file {src}"))?;
    }
    serde_json::from_slice::<Resources>(&data)
        .with_context(|| format!("parse resources from {src}"))
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        bail!("intel RDT is not supported by berth");
    }
    let mut res = match &a.resources {
        Some(src) => read_resources(src)?,
        None => from_flags(&a)?,
    };
    // Like runc, update leaves device rules alone: containerd's CRI resends the spec's whole
    // device list with every UpdateContainerResources.
    res.devices.clear();
    let c = Container::load(&g.root, &a.id)?;
    if c.status() == Status::Stopped {
        bail!("cannot update container {}: it is stopped", a.id);
    }
    c.cgroup()?
        .set(&res)
        .with_context(|| format!("update container {}", a.id))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_go_units() {
        assert_eq!(parse_bytes("memory", "1024").unwrap(), 1024);
        assert_eq!(parse_bytes("memory", "64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("memory", "1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("memory", "2KiB").unwrap(), 2048);
        assert_eq!(parse_bytes("memory", "1.5k").unwrap(), 1536);
        assert_eq!(parse_bytes("memory", "10 MB").unwrap(), 10 << 20);
        assert_eq!(parse_bytes("memory", "-1").unwrap(), -1);
        assert_eq!(
            parse_bytes("memory", "abc").unwrap_err().to_string(),
            "invalid value for --memory: invalid size: \"abc\""
        );
        assert!(parse_bytes("memory", "-2").is_err());
        assert!(parse_bytes("memory", "").is_err());
    }
}
