//! Facts about the host that decide what can be tested and what the checker should expect.

use serde_json::{json, Map, Value};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub struct Host {
    /// Inodes of the driver's own namespaces (the runtime namespaces), by /proc/self/ns name.
    pub ns: Map<String, Value>,
    pub oom_score_adj: i64,
    pub seccomp: String,
    pub apparmor: bool,
    pub selinux: bool,
    pub cap_sys_resource: bool,
    /// cgroup v2 only (no v1 hierarchies).
    pub cgroup_v2: bool,
    /// Controllers mounted as v1 hierarchies under /sys/fs/cgroup.
    pub v1_controllers: Vec<String>,
    pub resctrl: bool,
    /// major:minor of a real block device, for blkio throttling.
    pub block_device: Option<(u64, u64)>,
}

fn status_field(name: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .and_then(|r| r.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

pub fn ns_inode(path: &str) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

impl Host {
    pub fn probe() -> Host {
        let mut ns = Map::new();
        for (_, name) in NS_TYPES {
            if let Some(ino) = ns_inode(&format!("/proc/self/ns/{name}")) {
                ns.insert(name.to_string(), json!(ino));
            }
        }
        let bnd = u64::from_str_radix(&status_field("CapBnd"), 16).unwrap_or(0);
        let eff = u64::from_str_radix(&status_field("CapEff"), 16).unwrap_or(0);
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let v1_controllers: Vec<String> = mounts
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                let sep = f.iter().position(|x| *x == "-")?;
                (f.get(sep + 1) == Some(&"cgroup") && f[4].starts_with("/sys/fs/cgroup/"))
                    .then(|| f[4].trim_start_matches("/sys/fs/cgroup/").to_string())
            })
            .collect();
        let block_device = std::fs::read_dir("/sys/block").ok().and_then(|d| {
            d.flatten()
                .filter(|e| {
                    !e.file_name().to_string_lossy().starts_with("loop")
                        && !e.file_name().to_string_lossy().starts_with("ram")
                })
                .find_map(|e| {
                    let s = std::fs::read_to_string(e.path().join("dev")).ok()?;
                    let (a, b) = s.trim().split_once(':')?;
                    Some((a.parse().ok()?, b.parse().ok()?))
                })
        });
        Host {
            ns,
            oom_score_adj: std::fs::read_to_string("/proc/self/oom_score_adj")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
            seccomp: status_field("Seccomp"),
            apparmor: Path::new("/sys/kernel/security/apparmor").exists(),
            selinux: Path::new("/sys/fs/selinux/enforce").exists(),
            cap_sys_resource: bnd & eff & (1 << 24) != 0,
            cgroup_v2: Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
            v1_controllers,
            resctrl: mounts.lines().any(|l| l.contains(" - resctrl ")),
            block_device,
        }
    }

    pub fn has_v1(&self, controller: &str) -> bool {
        self.v1_controllers.iter().any(|c| c == controller)
    }

    /// The facts the in-container checker reads (/conformance/host.json).
    pub fn facts(&self) -> Value {
        json!({ "ns": self.ns, "oom_score_adj": self.oom_score_adj, "seccomp": self.seccomp })
    }
}

/// Namespace types of the spec and their /proc/PID/ns names.
pub const NS_TYPES: [(&str, &str); 8] = [
    ("pid", "pid"),
    ("network", "net"),
    ("mount", "mnt"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("user", "user"),
    ("cgroup", "cgroup"),
    ("time", "time"),
];

/// Moves hugetlb from cgroup2 to a v1 hierarchy, the fix crun needs on this machine's hybrid
/// layout (see docs/conformance.md). Only done when CONFORMANCE_CGROUP_FIX=1 asks for it.
pub fn apply_cgroup_fix() -> anyhow::Result<bool> {
    let controllers =
        std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers").unwrap_or_default();
    if !controllers.split_whitespace().any(|c| c == "hugetlb") {
        return Ok(false);
    }
    // A v1 mount of hugetlb is refused (EBUSY) while cgroup2 has it enabled for children.
    let _ = std::fs::write("/sys/fs/cgroup/unified/cgroup.subtree_control", "-hugetlb");
    std::fs::create_dir_all("/sys/fs/cgroup/hugetlb")?;
    let st = std::process::Command::new("mount")
        .args([
            "-t",
            "cgroup",
            "-o",
            "hugetlb",
            "cgroup",
            "/sys/fs/cgroup/hugetlb",
        ])
        .status()?;
    anyhow::ensure!(st.success(), "mounting hugetlb as a v1 hierarchy failed (is hugetlb still enabled in a cgroup.subtree_control under /sys/fs/cgroup/unified?)");
    Ok(true)
}

/// Waits (up to 2 s) until process `pid` has left the driver's namespace of kind `ns`, so a
/// helper started with unshare(1) can be joined by path.
pub fn wait_unshared(pid: u32, ns: &str) {
    let mine = ns_inode(&format!("/proc/self/ns/{ns}"));
    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < until {
        let theirs = ns_inode(&format!("/proc/{pid}/ns/{ns}"));
        if theirs.is_some() && theirs != mine {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}
