//! Which namespaces a new process joins (by path, opened up front) and which it creates.

use super::sync::ChildError;
use crate::spec::{IdMapping, NamespaceType, Spec};
use std::os::fd::{AsRawFd, OwnedFd};

pub struct NsPlan {
    /// Namespaces to join, opened before the fork, user namespace first.
    pub join: Vec<(NamespaceType, OwnedFd)>,
    /// CLONE_NEW* flags to create, without cgroup and time (created later by the child).
    pub new_flags: libc::c_int,
    pub new_user: bool,
    pub new_cgroup: bool,
    pub new_time: bool,
    /// The final process must be a fork after setns/unshare (pid and time namespaces only
    /// apply to children).
    pub need_fork: bool,
}

impl NsPlan {
    /// One clone(2) with all the flags does it: nothing to join and no time namespace.
    pub fn fast(&self) -> bool {
        self.join.is_empty() && !self.new_time
    }

    fn open(t: NamespaceType, path: &str) -> Result<OwnedFd, ChildError> {
        let fd = nix::fcntl::open(
            path,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| ChildError::sys(format!("open {} namespace {path}", t.as_str()), e))?;
        // SAFETY: fd from open above, owned from here on.
        Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
    }

    pub fn for_spec(spec: &Spec) -> Result<NsPlan, ChildError> {
        let mut plan = NsPlan {
            join: Vec::new(),
            new_flags: 0,
            new_user: false,
            new_cgroup: false,
            new_time: false,
            need_fork: false,
        };
        for t in NamespaceType::ALL {
            let Some(ns) = spec.namespace(t) else {
                continue;
            };
            match ns.path.as_deref() {
                Some(p) => {
                    plan.join.push((t, Self::open(t, p)?));
                    if t == NamespaceType::Pid {
                        plan.need_fork = true;
                    }
                }
                None => match t {
                    NamespaceType::Cgroup => plan.new_cgroup = true,
                    NamespaceType::Time => {
                        plan.new_time = true;
                        plan.need_fork = true;
                    }
                    NamespaceType::User => {
                        plan.new_user = true;
                        plan.new_flags |= t.clone_flag();
                    }
                    NamespaceType::Pid => {
                        plan.new_flags |= t.clone_flag();
                        plan.need_fork = true;
                    }
                    _ => plan.new_flags |= t.clone_flag(),
                },
            }
        }
        if plan.fast() {
            // clone(2) with CLONE_NEWPID makes the child pid 1 directly.
            plan.need_fork = false;
        }
        Ok(plan)
    }

    /// For exec: join every namespace of the container's init that differs from ours.
    pub fn for_exec(init_pid: i32) -> Result<NsPlan, ChildError> {
        let mut plan = NsPlan {
            join: Vec::new(),
            new_flags: 0,
            new_user: false,
            new_cgroup: false,
            new_time: false,
            need_fork: false,
        };
        for t in NamespaceType::ALL {
            let theirs = format!("/proc/{init_pid}/ns/{}", t.proc_name());
            let ours = format!("/proc/self/ns/{}", t.proc_name());
            let (Ok(a), Ok(b)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else {
                continue;
            };
            use std::os::unix::fs::MetadataExt;
            if a.ino() == b.ino() && a.dev() == b.dev() {
                continue;
            }
            let path = if t == NamespaceType::Pid || t == NamespaceType::Time {
                // pid_for_children of init is its own pid namespace; time likewise.
                format!("/proc/{init_pid}/ns/{}", t.proc_name())
            } else {
                theirs
            };
            plan.join.push((t, Self::open(t, &path)?));
            if t == NamespaceType::Pid || t == NamespaceType::Time {
                plan.need_fork = true;
            }
        }
        Ok(plan)
    }

    /// Child side: setns into every namespace to join, user namespace first.
    pub fn join_all(&self) -> Result<(), ChildError> {
        for (t, fd) in &self.join {
            nix::sched::setns(fd, nix::sched::CloneFlags::from_bits_retain(t.clone_flag()))
                .map_err(|e| ChildError::sys(format!("join {} namespace", t.as_str()), e))?;
            if *t == NamespaceType::User {
                become_root()?;
            }
        }
        Ok(())
    }

    pub fn joins(&self, t: NamespaceType) -> bool {
        self.join.iter().any(|(x, _)| *x == t)
    }

    pub fn raw_join_fds(&self) -> Vec<i32> {
        self.join.iter().map(|(_, fd)| fd.as_raw_fd()).collect()
    }
}

/// uid/gid 0 inside a user namespace we just entered.
pub fn become_root() -> Result<(), ChildError> {
    nix::unistd::setresgid(0.into(), 0.into(), 0.into())
        .map_err(|e| ChildError::sys("setresgid 0 in user namespace", e))?;
    nix::unistd::setresuid(0.into(), 0.into(), 0.into())
        .map_err(|e| ChildError::sys("setresuid 0 in user namespace", e))
}

fn map_text(m: &[IdMapping]) -> String {
    m.iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect()
}

/// Parent side: writes the id maps of a child's new user namespace. Unprivileged (rootless),
/// a single mapping of our own uid/gid is written directly (after `setgroups deny`, which
/// the kernel requires for gid_map); anything else goes through the setuid newuidmap and
/// newgidmap helpers, which check /etc/subuid and /etc/subgid.
pub fn write_id_maps(pid: i32, uid: &[IdMapping], gid: &[IdMapping]) -> Result<(), ChildError> {
    if nix::unistd::geteuid().is_root() {
        for (file, maps) in [("uid_map", uid), ("gid_map", gid)] {
            write_proc(pid, file, &map_text(maps))?;
        }
        return Ok(());
    }
    let own = |m: &[IdMapping], id: u32| m.len() == 1 && m[0].size == 1 && m[0].host_id == id;
    let uid_direct = own(uid, nix::unistd::geteuid().as_raw());
    let gid_direct = own(gid, nix::unistd::getegid().as_raw());
    if uid_direct {
        write_proc(pid, "uid_map", &map_text(uid))?;
    } else {
        run_helper("newuidmap", pid, uid)?;
    }
    if gid_direct {
        write_proc(pid, "setgroups", "deny")?;
        write_proc(pid, "gid_map", &map_text(gid))?;
    } else {
        run_helper("newgidmap", pid, gid)?;
    }
    Ok(())
}

fn write_proc(pid: i32, file: &str, text: &str) -> Result<(), ChildError> {
    let path = format!("/proc/{pid}/{file}");
    std::fs::write(&path, text).map_err(|e| {
        ChildError::sys(
            format!("write {path}"),
            nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    })
}

/// `newuidmap PID ID HOSTID SIZE...` (or newgidmap).
fn run_helper(tool: &str, pid: i32, maps: &[IdMapping]) -> Result<(), ChildError> {
    let mut cmd = std::process::Command::new(tool);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([m.container_id, m.host_id, m.size].map(|n| n.to_string()));
    }
    let out = cmd.stdin(std::process::Stdio::null()).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ChildError::new(format!(
                "{tool} not found: rootless containers mapping more than one id need it (package uidmap)"
            ))
        } else {
            ChildError::new(format!("run {tool}: {e}"))
        }
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err = err.trim().lines().last().unwrap_or("").trim();
        return Err(ChildError::new(format!("{tool} failed: {err}")));
    }
    Ok(())
}

/// Child side, right after unsharing the time namespace and before forking into it.
pub fn write_time_offsets(spec: &Spec) -> Result<(), ChildError> {
    let offs = &spec.linux().time_offsets;
    if offs.is_empty() {
        return Ok(());
    }
    let text: String = offs
        .iter()
        .map(|(clock, o)| format!("{clock} {} {}\n", o.secs, o.nanosecs))
        .collect();
    std::fs::write("/proc/self/timens_offsets", text).map_err(|e| {
        ChildError::sys(
            "write /proc/self/timens_offsets",
            nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    })
}
