use crate::Global;
use anyhow::{bail, Context};
use berth_runtime::spec::{BlockIo, Cpu, Memory, Pids, Resources};
use berth_runtime::state::{Container, Status};
use std::io::Read;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Read the new resources (linux.resources JSON) from FILE, or stdin with "-"
    #[arg(short = 'r', long, value_name = "FILE")]
    pub resources: Option<String>,
    /// Block IO weight (10-1000)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    /// CPU realtime period in microseconds
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs allowed (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Kernel memory limit (deprecated by the kernel)
    #[arg(long = "kernel-memory", allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP memory limit
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Memory limit (bytes, or with k/m/g suffix; -1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids (-1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema (not supported)
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported)
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    /// Container id
    pub id: String,
}

/// Bytes with docker's binary suffixes (b, k, m, g, t; case-insensitive); -1 is unlimited.
fn parse_bytes(flag: &str, s: &str) -> anyhow::Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let lower = s.to_ascii_lowercase();
    let t = lower.trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .with_context(|| format!("invalid value {s:?} for --{flag}"))?;
    if n < 0.0 {
        bail!("invalid value {s:?} for --{flag}: must not be negative");
    }
    Ok((n * mult as f64) as i64)
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
        ..Default::default()
    };
    if cpu.shares.is_some()
        || cpu.quota.is_some()
        || cpu.period.is_some()
        || cpu.realtime_runtime.is_some()
        || cpu.realtime_period.is_some()
        || cpu.cpus.is_some()
        || cpu.mems.is_some()
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

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        bail!("intel RDT is not supported by berth");
    }
    let res = match &a.resources {
        Some(src) => {
            let mut data = Vec::new();
            if src == "-" {
                std::io::stdin()
                    .read_to_end(&mut data)
                    .context("read resources from stdin")?;
            } else {
                data = std::fs::read(src).with_context(|| format!("read resources file {src}"))?;
            }
            serde_json::from_slice::<Resources>(&data).context("parse resources")?
        }
        None => from_flags(&a)?,
    };
    let c = Container::load(&g.root, &a.id)?;
    if c.status() == Status::Stopped {
        bail!("cannot update container {}: it is stopped", a.id);
    }
    c.cgroup()?
        .set(&res)
        .with_context(|| format!("update container {}", a.id))?;
    Ok(0)
}
