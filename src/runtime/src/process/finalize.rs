//! The last steps before execve, shared by a container's init and `exec`: limits, user and
//! groups, capabilities, no_new_privs, seccomp, cwd, and finding the executable.

use super::sync::ChildError;
use crate::caps::{self, CapSets};
use crate::seccomp::Filter;
use crate::spec::Process;
use nix::errno::Errno;
use std::ffi::CString;

/// What execve needs, prepared before the process may block on exec.fifo.
pub struct Exec {
    pub path: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    /// The seccomp notify fd, when the filter was loaded already and uses SCMP_ACT_NOTIFY.
    pub notify: Option<std::os::fd::OwnedFd>,
}

impl Exec {
    pub fn exec(&self) -> ChildError {
        let e = nix::unistd::execve(&self.path, &self.argv, &self.envp).unwrap_err();
        ChildError::sys(format!("exec {}", self.path.to_string_lossy()), e)
    }
}

fn cstr(s: &str, what: &str) -> Result<CString, ChildError> {
    CString::new(s).map_err(|_| ChildError::new(format!("{what} contains a NUL byte")))
}

/// Applies everything about the process that needs privileges, then drops to the container
/// user with its capabilities. Seccomp is loaded here when no_new_privs is off (it still needs
/// CAP_SYS_ADMIN then); otherwise the caller loads it as late as possible.
pub fn apply(p: &Process, seccomp: Option<&Filter>) -> Result<Exec, ChildError> {
    crate::rlimits::apply(&p.rlimits).map_err(|e| ChildError::new(e.to_string()))?;
    super::sched::apply(p.scheduler.as_ref(), p.io_priority.as_ref())?;
    if let Some(m) = p.user.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m as libc::mode_t));
    } else {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    }
    let sets =
        CapSets::from_spec(p.capabilities.as_ref()).map_err(|e| ChildError::new(e.to_string()))?;
    // A notify fd must reach the agent through our parent, which is only there before
    // Ready: such filters load here too (we still have CAP_SYS_ADMIN, so no_new_privs is not
    // needed for it).
    let mut notify = None;
    if let Some(f) = seccomp.filter(|f| !p.no_new_privileges || f.uses_notify()) {
        notify = crate::seccomp::install(f).map_err(|e| ChildError::new(e.to_string()))?;
    }
    // Try cwd before the switch of user (runc does both: some cwds are only reachable as root).
    let cwd_ok = nix::unistd::chdir(p.cwd.as_str()).is_ok();
    caps::drop_bounding(sets.bounding).map_err(|e| ChildError::new(e.to_string()))?;
    caps::keep_caps(true).map_err(|e| ChildError::new(e.to_string()))?;
    let gids: Vec<nix::unistd::Gid> = p.user.additional_gids.iter().map(|g| (*g).into()).collect();
    match nix::unistd::setgroups(&gids) {
        Ok(()) => {}
        // setgroups is denied in a user namespace whose gid_map was written unprivileged.
        Err(Errno::EPERM) if gids.is_empty() => {}
        Err(e) => return Err(ChildError::sys("setgroups", e)),
    }
    let (uid, gid) = (p.user.uid, p.user.gid);
    nix::unistd::setresgid(gid.into(), gid.into(), gid.into())
        .map_err(|e| ChildError::sys(format!("setresgid {gid}"), e))?;
    nix::unistd::setresuid(uid.into(), uid.into(), uid.into())
        .map_err(|e| ChildError::sys(format!("setresuid {uid}"), e))?;
    caps::apply(&sets).map_err(|e| ChildError::new(e.to_string()))?;
    if !cwd_ok {
        nix::unistd::chdir(p.cwd.as_str()).map_err(|e| {
            ChildError::sys(format!("chdir to cwd {:?} set in config.json", p.cwd), e)
        })?;
    }
    check_cwd_inside()?;
    if p.no_new_privileges {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(ChildError::sys("set no_new_privs", Errno::last()));
        }
    }
    let env = environment(p)?;
    let path = find_executable(p, &env)?;
    let argv = p
        .args
        .iter()
        .map(|a| cstr(a, "process.args"))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = env
        .iter()
        .map(|e| cstr(e, "process.env"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Exec {
        path: cstr(&path, "executable path")?,
        argv,
        envp,
        notify,
    })
}

pub fn install_seccomp(f: &Filter) -> Result<(), ChildError> {
    crate::seccomp::install(f)
        .map(|_| ())
        .map_err(|e| ChildError::new(e.to_string()))
}

/// CVE-2024-21626: a cwd reached through a leaked host fd shows up as "(unreachable)".
fn check_cwd_inside() -> Result<(), ChildError> {
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        Ok(p) => Err(ChildError::new(format!(
            "current working directory {} is outside of the container's root",
            p.display()
        ))),
        Err(e) => Err(ChildError::sys("getcwd", e)),
    }
}

/// process.env plus HOME from the container's /etc/passwd when it is missing (as runc).
fn environment(p: &Process) -> Result<Vec<String>, ChildError> {
    let mut env = p.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let home = passwd_home(p.user.uid).unwrap_or_else(|| "/".to_string());
        env.push(format!("HOME={home}"));
    }
    Ok(env)
}

fn passwd_home(uid: u32) -> Option<String> {
    let data = std::fs::read_to_string("/etc/passwd").ok()?;
    data.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
    })
}

/// Looks args[0] up in the process's PATH, as runc does before the container is started, so
/// a missing binary fails `create` rather than `start`.
fn find_executable(p: &Process, env: &[String]) -> Result<String, ChildError> {
    let name = p
        .args
        .first()
        .ok_or_else(|| ChildError::new("process.args is empty"))?;
    let executable = |path: &str| -> Result<(), Errno> {
        let c = CString::new(path).map_err(|_| Errno::EINVAL)?;
        let st = nix::sys::stat::stat(c.as_c_str())?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            return Err(Errno::EACCES);
        }
        nix::unistd::access(c.as_c_str(), nix::unistd::AccessFlags::X_OK)
    };
    if name.contains('/') {
        return match executable(name) {
            Ok(()) => Ok(name.clone()),
            Err(e) => Err(ChildError::sys(format!("exec: {name:?}"), e)),
        };
    }
    let path_var = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = format!("{}/{}", dir.trim_end_matches('/'), name);
        if executable(&cand).is_ok() {
            return Ok(cand);
        }
    }
    Err(ChildError {
        msg: format!("exec: {name:?}: executable file not found in $PATH"),
        errno: Some(libc::ENOENT),
    })
}
