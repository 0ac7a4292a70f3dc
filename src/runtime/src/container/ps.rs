//! The processes of a container: from its cgroup, or from its pid namespace.

use crate::error::Result;
use crate::state::Container;

/// Pids (in the host's pid namespace) of every process in the container.
pub fn pids(c: &Container) -> Result<Vec<i32>> {
    let mut pids = c.cgroup().and_then(|cg| cg.pids()).unwrap_or_default();
    if pids.is_empty() && c.init_alive() {
        pids = if c.saved.own_pidns {
            same_pidns(c.saved.pid)
        } else {
            vec![c.saved.pid]
        };
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

fn same_pidns(init: i32) -> Vec<i32> {
    use std::os::unix::fs::MetadataExt;
    let Ok(target) = std::fs::metadata(format!("/proc/{init}/ns/pid")) else {
        return Vec::new();
    };
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/pid"))
                .map(|m| m.ino() == target.ino() && m.dev() == target.dev())
                .unwrap_or(false)
        })
        .collect()
}
