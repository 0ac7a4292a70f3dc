//! Which cgroup hierarchies the host has, where they are mounted, and where we are in them.

use super::files::io_err;
use super::CgroupError;
use std::path::{Path, PathBuf};

pub(crate) const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// True when /sys/fs/cgroup itself is cgroup2 (unified mode).
pub(crate) fn is_unified() -> Result<bool, CgroupError> {
    Ok(statfs_type(Path::new(CGROUP_ROOT))? == CGROUP2_SUPER_MAGIC)
}

pub(crate) fn is_cgroup2(p: &Path) -> bool {
    matches!(statfs_type(p), Ok(t) if t == CGROUP2_SUPER_MAGIC)
}

fn statfs_type(p: &Path) -> Result<i64, CgroupError> {
    let st = nix::sys::statfs::statfs(p)
        .map_err(|e| io_err("statfs", p, std::io::Error::from_raw_os_error(e as i32)))?;
    Ok(st.filesystem_type().0 as i64)
}

/// One mounted v1 hierarchy.
#[derive(Debug, Clone)]
pub(crate) struct V1Mount {
    pub mountpoint: PathBuf,
    /// The cgroup that is mounted there (not "/" inside a container with its own cgroup mounts).
    pub root: String,
    /// Controllers co-mounted there ("cpu", "cpuacct"; "name=systemd" for named hierarchies).
    pub controllers: Vec<String>,
}

/// v1 hierarchies from /proc/self/mountinfo, first mount of each wins.
pub(crate) fn v1_mounts() -> Result<Vec<V1Mount>, CgroupError> {
    let p = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(p).map_err(|e| io_err("read", p, e))?;
    let mut out: Vec<V1Mount> = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 || post[0] != "cgroup" {
            continue;
        }
        let controllers: Vec<String> = post[2]
            .split(',')
            .filter(|o| is_v1_controller(o))
            .map(str::to_string)
            .collect();
        if controllers.is_empty()
            || out
                .iter()
                .any(|m| m.controllers.iter().any(|c| controllers.contains(c)))
        {
            continue;
        }
        out.push(V1Mount {
            mountpoint: PathBuf::from(unescape(pre[4])),
            root: unescape(pre[3]),
            controllers,
        });
    }
    Ok(out)
}

fn is_v1_controller(opt: &str) -> bool {
    opt.starts_with("name=")
        || matches!(
            opt,
            "cpu"
                | "cpuacct"
                | "cpuset"
                | "memory"
                | "devices"
                | "freezer"
                | "blkio"
                | "pids"
                | "hugetlb"
                | "net_cls"
                | "net_prio"
                | "perf_event"
                | "rdma"
                | "misc"
        )
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Our own cgroups from /proc/self/cgroup: (controllers, path); the v2 entry has no controllers.
pub(crate) fn own_cgroups() -> Result<Vec<(Vec<String>, String)>, CgroupError> {
    let p = Path::new("/proc/self/cgroup");
    let text = std::fs::read_to_string(p).map_err(|e| io_err("read", p, e))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let ctrls = it.next()?;
            let path = it.next()?;
            let ctrls = if ctrls.is_empty() {
                Vec::new()
            } else {
                ctrls.split(',').map(str::to_string).collect()
            };
            Some((ctrls, path.to_string()))
        })
        .collect())
}

/// Our own v2 cgroup ("0::/path").
pub(crate) fn own_unified_cgroup() -> Result<String, CgroupError> {
    Ok(own_cgroups()?
        .into_iter()
        .find(|(c, _)| c.is_empty())
        .map(|(_, p)| p)
        .unwrap_or_else(|| "/".to_string()))
}

/// Hugepage sizes the kernel supports, named as runc names them ("2MB", "1GB").
pub(crate) fn hugepage_sizes() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut v: Vec<(u64, String)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some((kb, hugepage_name(kb)))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, n)| n).collect()
}

fn hugepage_name(kb: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    let mut size = kb;
    let mut unit = 0;
    while size >= 1024 && size.is_multiple_of(1024) && unit + 1 < UNITS.len() {
        size /= 1024;
        unit += 1;
    }
    format!("{size}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugepage_names_match_runc() {
        assert_eq!(hugepage_name(2048), "2MB");
        assert_eq!(hugepage_name(1048576), "1GB");
        assert_eq!(hugepage_name(64), "64KB");
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
