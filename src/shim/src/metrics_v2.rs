//! cgroup v2 statistics as containerd's `io.containerd.cgroups.v2.Metrics` protobuf
//! (containerd/cgroups cgroup2/stats/metrics.proto). containerd-shim-protos 0.8 carries only
//! the v1 message, so this encodes the v2 one by hand: proto3, varint fields and nested
//! messages, zero values omitted.

use std::collections::HashMap;
use std::path::Path;

pub const TYPE_URL: &str = "io.containerd.cgroups.v2.Metrics";

/// Protobuf wire encoding of one message.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn u64(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.varint(u64::from(field) << 3);
            self.varint(v);
        }
    }

    fn msg(&mut self, field: u32, m: Msg) {
        if !m.0.is_empty() {
            self.varint((u64::from(field) << 3) | 2);
            self.varint(m.0.len() as u64);
            self.0.extend_from_slice(&m.0);
        }
    }
}

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

/// A single-value file; "max" is unlimited (u64::MAX, as containerd reports it).
fn read_value(p: &Path) -> u64 {
    match std::fs::read_to_string(p) {
        Ok(s) if s.trim() == "max" => u64::MAX,
        Ok(s) => s.trim().parse().unwrap_or(0),
        Err(_) => 0,
    }
}

const MEMORY_STAT_FIELDS: [&str; 31] = [
    "anon",
    "file",
    "kernel_stack",
    "slab",
    "sock",
    "shmem",
    "file_mapped",
    "file_dirty",
    "file_writeback",
    "anon_thp",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "slab_reclaimable",
    "slab_unreclaimable",
    "pgfault",
    "pgmajfault",
    "workingset_refault",
    "workingset_activate",
    "workingset_nodereclaim",
    "pgrefill",
    "pgscan",
    "pgsteal",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pglazyfreed",
    "thp_fault_alloc",
    "thp_collapse_alloc",
];

/// Encodes the metrics of the cgroup v2 directory `d`.
pub fn collect(d: &Path) -> Vec<u8> {
    let mut m = Msg::default();

    let mut pids = Msg::default();
    pids.u64(1, read_value(&d.join("pids.current")));
    let max = read_value(&d.join("pids.max"));
    pids.u64(2, if max == u64::MAX { 0 } else { max });
    m.msg(1, pids);

    let cs = read_kv(&d.join("cpu.stat"));
    let mut cpu = Msg::default();
    for (i, k) in [
        "usage_usec",
        "user_usec",
        "system_usec",
        "nr_periods",
        "nr_throttled",
        "throttled_usec",
    ]
    .iter()
    .enumerate()
    {
        cpu.u64(i as u32 + 1, cs.get(*k).copied().unwrap_or(0));
    }
    cpu.u64(8, cs.get("nr_bursts").copied().unwrap_or(0));
    cpu.u64(9, cs.get("burst_usec").copied().unwrap_or(0));
    m.msg(2, cpu);

    let ms = read_kv(&d.join("memory.stat"));
    let mut mem = Msg::default();
    for (i, k) in MEMORY_STAT_FIELDS.iter().enumerate() {
        mem.u64(i as u32 + 1, ms.get(*k).copied().unwrap_or(0));
    }
    mem.u64(32, read_value(&d.join("memory.current")));
    mem.u64(33, read_value(&d.join("memory.max")));
    mem.u64(34, read_value(&d.join("memory.swap.current")));
    mem.u64(35, read_value(&d.join("memory.swap.max")));
    mem.u64(36, read_value(&d.join("memory.peak")));
    mem.u64(37, read_value(&d.join("memory.swap.peak")));
    m.msg(4, mem);

    let mut io = Msg::default();
    for line in std::fs::read_to_string(d.join("io.stat"))
        .unwrap_or_default()
        .lines()
    {
        let mut f = line.split_whitespace();
        let Some((maj, min)) = f.next().and_then(|dev| dev.split_once(':')) else {
            continue;
        };
        let kv: HashMap<&str, u64> = f
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                Some((k, v.parse().ok()?))
            })
            .collect();
        let mut e = Msg::default();
        e.u64(1, maj.parse().unwrap_or(0));
        e.u64(2, min.parse().unwrap_or(0));
        for (i, k) in ["rbytes", "wbytes", "rios", "wios"].iter().enumerate() {
            e.u64(i as u32 + 3, kv.get(k).copied().unwrap_or(0));
        }
        io.msg(1, e);
    }
    m.msg(6, io);

    let ev = read_kv(&d.join("memory.events"));
    let mut events = Msg::default();
    for (i, k) in ["low", "high", "max", "oom", "oom_kill", "oom_group_kill"]
        .iter()
        .enumerate()
    {
        events.u64(i as u32 + 1, ev.get(*k).copied().unwrap_or(0));
    }
    m.msg(8, events);
    m.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimal decoder: (field, value or nested bytes).
    fn decode(mut b: &[u8]) -> Vec<(u32, Result<u64, Vec<u8>>)> {
        fn varint(b: &mut &[u8]) -> u64 {
            let (mut v, mut s) = (0u64, 0);
            loop {
                let x = b[0];
                *b = &b[1..];
                v |= u64::from(x & 0x7f) << s;
                if x < 0x80 {
                    return v;
                }
                s += 7;
            }
        }
        let mut out = Vec::new();
        while !b.is_empty() {
            let tag = varint(&mut b);
            let field = (tag >> 3) as u32;
            if tag & 7 == 2 {
                let n = varint(&mut b) as usize;
                out.push((field, Err(b[..n].to_vec())));
                b = &b[n..];
            } else {
                out.push((field, Ok(varint(&mut b))));
            }
        }
        out
    }

    fn nested(m: &[(u32, Result<u64, Vec<u8>>)], field: u32) -> Vec<(u32, Result<u64, Vec<u8>>)> {
        match m.iter().find(|(f, _)| *f == field) {
            Some((_, Err(b))) => decode(b),
            _ => panic!("no message field {field}"),
        }
    }

    fn value(m: &[(u32, Result<u64, Vec<u8>>)], field: u32) -> u64 {
        m.iter()
            .find(|(f, _)| *f == field)
            .and_then(|(_, v)| v.clone().ok())
            .unwrap_or(0)
    }

    #[test]
    fn v2_metrics_encode_the_cgroup_files_with_containerd_field_numbers() {
        let d = std::env::temp_dir().join(format!("berth-shim-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let w = |n: &str, s: &str| std::fs::write(d.join(n), s).unwrap();
        w("pids.current", "3\n");
        w("pids.max", "max\n");
        w(
            "cpu.stat",
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\n",
        );
        w("memory.stat", "anon 4096\nfile 8192\npgfault 300\n");
        w("memory.current", "123456\n");
        w("memory.max", "max\n");
        w("memory.events", "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n");
        w(
            "io.stat",
            "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
        );
        let m = decode(&collect(&d));
        std::fs::remove_dir_all(&d).unwrap();
        let pids = nested(&m, 1);
        assert_eq!((value(&pids, 1), value(&pids, 2)), (3, 0));
        let cpu = nested(&m, 2);
        assert_eq!(
            (value(&cpu, 1), value(&cpu, 2), value(&cpu, 3)),
            (1500, 1000, 500)
        );
        let mem = nested(&m, 4);
        assert_eq!(
            (value(&mem, 1), value(&mem, 2), value(&mem, 18)),
            (4096, 8192, 300)
        );
        assert_eq!((value(&mem, 32), value(&mem, 33)), (123456, u64::MAX));
        let io = nested(&nested(&m, 6), 1);
        assert_eq!(
            (value(&io, 1), value(&io, 2), value(&io, 3), value(&io, 4)),
            (8, 0, 10, 20)
        );
        let ev = nested(&m, 8);
        assert_eq!((value(&ev, 3), value(&ev, 4), value(&ev, 5)), (2, 1, 1));
    }
}
