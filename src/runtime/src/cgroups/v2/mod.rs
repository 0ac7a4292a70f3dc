//! cgroup v2 (unified) driver: one directory under /sys/fs/cgroup.

mod apply;
mod stats;

pub(crate) use stats::hugetlb_stats;

use super::files::{self, io_err};
use super::{bpf, devices, mounts, paths, CgroupError, Stats};
use crate::spec::Resources;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct V2 {
    dir: PathBuf,
    /// The cgroup path below the hierarchy root.
    rel: String,
}

impl V2 {
    pub fn new(cgroups_path: Option<&str>, id: &str) -> Result<V2, CgroupError> {
        let inner = paths::inner_path(cgroups_path, id);
        let rel = if inner.starts_with('/') {
            inner
        } else {
            // The caller's own cgroup usually holds processes, so no controller could be
            // enabled below it: runc uses its parent.
            paths::join(&paths::parent(&mounts::own_unified_cgroup()?), &inner)
        };
        if rel == "/" {
            return Err(root_cgroup_error(cgroups_path));
        }
        let dir = Path::new(mounts::CGROUP_ROOT).join(rel.trim_start_matches('/'));
        Ok(V2 { dir, rel })
    }

    pub fn path(&self) -> String {
        self.rel.clone()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn create(&self, r: Option<&Resources>) -> Result<(), CgroupError> {
        let empty = Resources::default();
        let r = r.unwrap_or(&empty);
        apply::check(r)?;
        let rules = devices::container_rules(&r.devices)?;
        let mut created = Vec::new();
        let res = self.make_dirs(&mut created).and_then(|()| {
            bpf::apply(&self.dir, &rules)?;
            apply::resources(&self.dir, r)
        });
        if res.is_err() {
            files::remove_dirs(&created);
        }
        res
    }

    /// Creates every missing level and enables all of the root's controllers on each level
    /// above the container's, as runc does.
    fn make_dirs(&self, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
        let root = Path::new(mounts::CGROUP_ROOT);
        let ctrls = files::read(root, "cgroup.controllers")?;
        let mut levels: Vec<&Path> = self
            .dir
            .ancestors()
            .take_while(|p| p.starts_with(root))
            .collect();
        levels.reverse();
        for (i, level) in levels.iter().enumerate() {
            if i > 0 {
                match std::fs::create_dir(level) {
                    Ok(()) => created.push(level.to_path_buf()),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io_err("create cgroup", level, e)),
                }
                if files::read_opt(level, "cgroup.type")?.as_deref() == Some("domain invalid") {
                    return Err(CgroupError::Unsupported(format!(
                        "cannot use cgroup {}: it is in an invalid state (a parent has processes)",
                        level.display()
                    )));
                }
            }
            if i + 1 < levels.len() {
                enable_controllers(level, &ctrls)?;
            }
        }
        Ok(())
    }

    pub fn set(&self, r: &Resources) -> Result<(), CgroupError> {
        apply::check(r)?;
        apply::resources(&self.dir, r)
    }

    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        files::write(&self.dir, "cgroup.procs", &pid.to_string())
    }

    /// The cgroup directory, for clone3(CLONE_INTO_CGROUP).
    pub fn dir_fd(&self) -> Result<OwnedFd, CgroupError> {
        let fd = nix::fcntl::open(
            &self.dir,
            nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| {
            io_err(
                "open",
                &self.dir,
                std::io::Error::from_raw_os_error(e as i32),
            )
        })?;
        // SAFETY: open returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        let want = if frozen { "1" } else { "0" };
        files::write(&self.dir, "cgroup.freeze", want)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut delay = Duration::from_micros(100);
        loop {
            let ev = files::read_flat_keyed(&self.dir, "cgroup.events")?;
            if files::keyed(&ev, "frozen").to_string() == want {
                return Ok(());
            }
            if Instant::now() > deadline {
                if frozen {
                    let _ = files::write(&self.dir, "cgroup.freeze", "0");
                }
                return Err(CgroupError::Unsupported(format!(
                    "{} {} timed out",
                    if frozen { "freezing" } else { "thawing" },
                    self.dir.display()
                )));
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(10));
        }
    }

    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.set_frozen(true)
    }

    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.set_frozen(false)
    }

    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        Ok(files::read_opt(&self.dir, "cgroup.freeze")?.as_deref() == Some("1"))
    }

    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut v = Vec::new();
        files::pids_recursive(&self.dir, &mut v)?;
        Ok(v)
    }

    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    /// SIGKILLs every process of the cgroup at once (linux 5.14+). False when unavailable.
    pub fn kill(&self) -> Result<bool, CgroupError> {
        if !self.dir.join("cgroup.kill").exists() {
            return Ok(false);
        }
        files::write(&self.dir, "cgroup.kill", "1")?;
        Ok(true)
    }

    pub fn stats(&self) -> Result<Stats, CgroupError> {
        stats::collect(&self.dir)
    }

    pub fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        Ok(files::keyed(
            &files::read_flat_keyed(&self.dir, "memory.events")?,
            "oom_kill",
        ))
    }

    pub fn destroy(&self) -> Result<(), CgroupError> {
        files::remove_cgroup(&self.dir)
    }
}

/// A container can't own a hierarchy's root cgroup: it could neither be limited nor removed.
pub(crate) fn root_cgroup_error(cgroups_path: Option<&str>) -> CgroupError {
    CgroupError::Invalid(format!(
        "invalid cgroupsPath {:?}: it resolves to the root cgroup",
        cgroups_path.unwrap_or_default()
    ))
}

/// Enables the controllers in `ctrls` below `dir`, all at once, else one by one (some may be
/// unavailable when nested); a missing one is reported when a resource needs it.
fn enable_controllers(dir: &Path, ctrls: &str) -> Result<(), CgroupError> {
    let have = files::read(dir, "cgroup.subtree_control")?;
    let missing: Vec<String> = ctrls
        .split_whitespace()
        .filter(|c| !have.split_whitespace().any(|h| h == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if files::write(dir, "cgroup.subtree_control", &missing.join(" ")).is_err() {
        for c in &missing {
            let _ = files::write(dir, "cgroup.subtree_control", c);
        }
    }
    Ok(())
}
