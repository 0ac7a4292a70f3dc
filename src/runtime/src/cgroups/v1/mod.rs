//! cgroup v1 (cgroupfs) driver: one directory per mounted hierarchy. On hybrid hosts the same
//! cgroup is also created in the cgroup2 hierarchy (as runc does), which is used for what only
//! exists there (hugetlb on this kind of host).

mod apply;
mod stats;

use super::files;
use super::{mounts, paths, CgroupError, Stats};
use crate::spec::Resources;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Controllers we create directories in. Named hierarchies other than systemd's are left alone.
const KNOWN: [&str; 15] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "rdma",
    "misc",
    "name=systemd",
];

const HYBRID_UNIFIED: &str = "/sys/fs/cgroup/unified";

#[derive(Debug, Clone)]
pub struct V1 {
    /// Directory of the cgroup per controller; co-mounted controllers share a directory.
    dirs: BTreeMap<String, PathBuf>,
    /// Cgroup path per controller relative to its hierarchy's root ("" key: hybrid unified).
    rel: BTreeMap<String, String>,
    /// Hybrid hosts: the cgroup's directory in the cgroup2 hierarchy.
    unified: Option<PathBuf>,
}

impl V1 {
    pub fn new(cgroups_path: Option<&str>, id: &str) -> Result<V1, CgroupError> {
        let saved = cgroups_path
            .filter(|p| p.starts_with('{'))
            .map(|p| {
                serde_json::from_str::<BTreeMap<String, String>>(p).map_err(|e| {
                    CgroupError::Invalid(format!("invalid saved cgroup paths {p:?}: {e}"))
                })
            })
            .transpose()?;
        let inner = paths::inner_path(cgroups_path, id);
        let own = mounts::own_cgroups()?;
        let own_of = |ctrl: &str| -> String {
            own.iter()
                .find(|(c, _)| c.iter().any(|x| x == ctrl))
                .map(|(_, p)| p.clone())
                .unwrap_or_else(|| "/".to_string())
        };
        let mut dirs = BTreeMap::new();
        let mut rel = BTreeMap::new();
        for m in mounts::v1_mounts()? {
            for ctrl in m.controllers.iter().filter(|c| KNOWN.contains(&c.as_str())) {
                let r = match &saved {
                    Some(s) => match s.get(ctrl) {
                        Some(p) => paths::clean_path(p),
                        None => continue,
                    },
                    None if inner.starts_with('/') => inner.clone(),
                    None => paths::join(&paths::rel_to_root(&m.root, &own_of(ctrl)), &inner),
                };
                dirs.insert(ctrl.clone(), m.mountpoint.join(r.trim_start_matches('/')));
                rel.insert(ctrl.clone(), r);
            }
        }
        if rel.values().any(|r| r == "/") {
            return Err(super::v2::root_cgroup_error(cgroups_path));
        }
        if dirs.is_empty() {
            return Err(CgroupError::Unsupported(
                "no cgroup hierarchy is mounted under /sys/fs/cgroup".into(),
            ));
        }
        let mut unified = None;
        if mounts::is_cgroup2(Path::new(HYBRID_UNIFIED)) {
            let r = match &saved {
                Some(s) => s.get("").map(|p| paths::clean_path(p)),
                None if inner.starts_with('/') => Some(inner.clone()),
                None => Some(paths::join(&mounts::own_unified_cgroup()?, &inner)),
            };
            if let Some(r) = r {
                unified = Some(Path::new(HYBRID_UNIFIED).join(r.trim_start_matches('/')));
                rel.insert(String::new(), r);
            }
        }
        Ok(V1 { dirs, rel, unified })
    }

    /// One path when every hierarchy agrees, else a JSON map controller → path.
    pub fn path(&self) -> String {
        let first = self.rel.values().next().cloned().unwrap_or_default();
        if self.rel.values().all(|p| *p == first) {
            first
        } else {
            serde_json::to_string(&self.rel).unwrap_or(first)
        }
    }

    pub fn dir(&self, ctrl: &str) -> Option<&Path> {
        self.dirs.get(ctrl).map(PathBuf::as_path)
    }

    /// Controller → directory, plus "" for the hybrid unified directory.
    pub fn paths(&self) -> BTreeMap<String, PathBuf> {
        let mut m = self.dirs.clone();
        if let Some(u) = &self.unified {
            m.insert(String::new(), u.clone());
        }
        m
    }

    fn unique_dirs(&self) -> Vec<&Path> {
        let mut v: Vec<&Path> = self.dirs.values().map(PathBuf::as_path).collect();
        v.sort();
        v.dedup();
        v
    }

    fn need(&self, ctrl: &str, what: &str) -> Result<&Path, CgroupError> {
        self.dir(ctrl).ok_or_else(|| {
            CgroupError::Unsupported(format!(
                "cannot apply {what}: the {ctrl} cgroup controller is not mounted on this host"
            ))
        })
    }

    pub fn create(&self, r: Option<&Resources>) -> Result<(), CgroupError> {
        let empty = Resources::default();
        let r = r.unwrap_or(&empty);
        apply::check(self, r)?;
        let rules = super::devices::container_rules(&r.devices)?;
        // Without the devices controller the container could open any device node: fatal,
        // as in runc.
        let devices = self.need("devices", "device rules")?;
        let mut created = Vec::new();
        let res = self.make_dirs(&mut created).and_then(|()| {
            apply::devices(devices, &rules)?;
            apply::resources(self, r, true)
        });
        if res.is_err() {
            files::remove_dirs(&created);
        }
        res
    }

    fn make_dirs(&self, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
        for d in self.unique_dirs() {
            created.extend(files::mkdir_all(d)?);
        }
        if let Some(cs) = self.dir("cpuset") {
            init_cpuset(cs)?;
        }
        if let Some(u) = &self.unified {
            // Best effort: the v1 hierarchies are authoritative; only hugetlb may need it.
            if let Ok(c) = files::mkdir_all(u) {
                created.extend(c);
            }
        }
        Ok(())
    }

    pub fn set(&self, r: &Resources) -> Result<(), CgroupError> {
        apply::check(self, r)?;
        apply::resources(self, r, false)
    }

    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        for d in self.unique_dirs() {
            files::write(d, "cgroup.procs", &pid.to_string())?;
        }
        if let Some(u) = &self.unified {
            // The unified directory is optional on hybrid hosts (see make_dirs).
            let _ = files::write(u, "cgroup.procs", &pid.to_string());
        }
        Ok(())
    }

    pub fn freeze(&self) -> Result<(), CgroupError> {
        let d = self.need("freezer", "pause")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut delay = Duration::from_micros(100);
        loop {
            // Re-writing FROZEN retries tasks that were busy on the previous attempt.
            files::write(d, "freezer.state", "FROZEN")?;
            if files::read(d, "freezer.state")? == "FROZEN" {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = files::write(d, "freezer.state", "THAWED");
                return Err(CgroupError::Unsupported(format!(
                    "freezing {} timed out: some tasks could not be frozen",
                    d.display()
                )));
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(10));
        }
    }

    pub fn thaw(&self) -> Result<(), CgroupError> {
        let d = self.need("freezer", "resume")?;
        files::write(d, "freezer.state", "THAWED")
    }

    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        let Some(d) = self.dir("freezer") else {
            return Ok(false);
        };
        Ok(files::read_opt(d, "freezer.state")?.as_deref() == Some("FROZEN"))
    }

    /// Processes are listed from one hierarchy, the first of these that is mounted (runc uses
    /// devices; every process is in every hierarchy).
    fn procs_dir(&self) -> Option<&Path> {
        [
            "devices",
            "pids",
            "freezer",
            "memory",
            "cpu",
            "name=systemd",
        ]
        .iter()
        .find_map(|c| self.dir(c))
        .or_else(|| self.dirs.values().next().map(PathBuf::as_path))
    }

    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut v = Vec::new();
        if let Some(d) = self.procs_dir() {
            files::pids_recursive(d, &mut v)?;
        }
        Ok(v)
    }

    pub fn exists(&self) -> bool {
        self.procs_dir().is_some_and(Path::is_dir)
    }

    pub fn stats(&self) -> Result<Stats, CgroupError> {
        stats::collect(self)
    }

    pub fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        let d = self.need("memory", "OOM counting")?;
        Ok(files::keyed(
            &files::read_flat_keyed(d, "memory.oom_control")?,
            "oom_kill",
        ))
    }

    pub fn destroy(&self) -> Result<(), CgroupError> {
        let mut first = None;
        for d in self
            .unique_dirs()
            .into_iter()
            .chain(self.unified.as_deref())
        {
            if let Err(e) = files::remove_cgroup(d) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// A new v1 cpuset cgroup has empty cpus/mems and refuses processes (ENOSPC) until they are
/// set: fill every empty level from its parent, top down, as runc does.
fn init_cpuset(dir: &Path) -> Result<(), CgroupError> {
    let mut chain: Vec<&Path> = dir
        .ancestors()
        .take_while(|p| p.join("cpuset.cpus").exists())
        .collect();
    chain.reverse();
    for w in chain.windows(2) {
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if files::read(w[1], file)?.is_empty() {
                let v = files::read(w[0], file)?;
                files::write(w[1], file, &v)?;
            }
        }
    }
    Ok(())
}

pub(crate) fn not_supported(what: &str, file: &Path) -> CgroupError {
    CgroupError::Unsupported(format!(
        "{what} is not supported by this kernel ({} is missing)",
        file.display()
    ))
}

pub(crate) fn ensure_file(dir: &Path, file: &str, what: &str) -> Result<(), CgroupError> {
    let p = dir.join(file);
    if p.exists() {
        Ok(())
    } else {
        Err(not_supported(what, &p))
    }
}
