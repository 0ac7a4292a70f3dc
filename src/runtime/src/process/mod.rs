//! Bringing a process into a container: clone, the parent side of the sync protocol, and the
//! child side (`init` for a new container, `exec` for one more process in a running one).

mod clone3;
pub mod finalize;
pub mod init;
pub mod namespaces;
mod sched;
pub use sched::validate as validate_sched;
pub mod sync;

use crate::cgroups;
use crate::spec::{IdMapping, Mount, Spec};
use namespaces::NsPlan;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use sync::{Channel, ChildError, Msg};

/// What the parent does while the child sets up, beyond the protocol itself.
pub trait ParentSide {
    /// prestart + createRuntime hooks; returns the state JSON the child's hooks will see.
    fn create_runtime(&mut self, init_pid: i32) -> Result<String, ChildError>;

    /// Hands a seccomp notify fd of process `pid` to `linux.seccomp.listenerPath`.
    fn seccomp_listener(&mut self, pid: i32, fd: std::os::fd::OwnedFd) -> Result<(), ChildError>;
}

/// The runtime-spec state of a container process, as hooks and seccomp agents see it.
pub fn send_seccomp_fd(
    spec: &Spec,
    state: &crate::state::OciState,
    fd: std::os::fd::OwnedFd,
) -> Result<(), ChildError> {
    let Some(sc) = spec.linux().seccomp.as_ref() else {
        return Ok(());
    };
    let Some(path) = sc.listener_path.as_deref() else {
        // Without a listener the fd has no reader: dropping it makes notified syscalls fail
        // with ENOSYS, which is what the kernel does without an agent.
        return Ok(());
    };
    let json = serde_json::to_vec(state).unwrap_or_default();
    crate::seccomp::send_to_listener(
        path,
        std::os::fd::AsFd::as_fd(&fd),
        &json,
        sc.listener_metadata.as_deref(),
    )
    .map_err(|e| ChildError::new(format!("send seccomp notify fd to {path}: {e}")))
}

/// Parent's view of the user namespace maps to write when the child asks.
pub struct Maps<'a> {
    pub uid: &'a [IdMapping],
    pub gid: &'a [IdMapping],
    /// The config's mounts and bundle, for the idmapped mounts the parent makes.
    pub mounts: &'a [Mount],
    pub bundle: &'a std::path::Path,
    /// Whether the container has a user namespace of its own (for `idmap` without mappings).
    pub userns: bool,
}

impl Maps<'_> {
    /// No maps and no mounts: for exec.
    pub fn none() -> Maps<'static> {
        Maps {
            uid: &[],
            gid: &[],
            mounts: &[],
            bundle: std::path::Path::new(""),
            userns: false,
        }
    }
}

/// Runs `child` in a new process under `plan`, drives the protocol until the child reports
/// `Ready`, and returns the pid of the final process (the container's init, or the exec'd
/// process). On any failure every process started is killed and reaped.
pub fn spawn(
    plan: &NsPlan,
    cgroup: Option<&cgroups::Manager>,
    maps: Maps,
    parent: &mut dyn ParentSide,
    child: &mut dyn FnMut(&Channel) -> Result<std::convert::Infallible, ChildError>,
) -> Result<i32, ChildError> {
    let (pch, cch) = Channel::pair().map_err(|e| ChildError::sys("socketpair", e))?;
    let flags = if plan.fast() { plan.new_flags } else { 0 };
    // On cgroup v2 the child is born in its cgroup; elsewhere it is moved there before Go.
    let cg_fd = cgroup.and_then(|c| c.dir_fd().ok().flatten());
    let mut placed = false;
    let forked = match &cg_fd {
        Some(fd) => match clone3::clone_into_cgroup(flags, std::os::fd::AsRawFd::as_raw_fd(fd)) {
            Ok(f) => {
                placed = true;
                Ok(f)
            }
            Err(
                nix::errno::Errno::ENOSYS | nix::errno::Errno::E2BIG | nix::errno::Errno::EINVAL,
            ) => crate::sys::clone_fork(flags),
            Err(e) => Err(e),
        },
        None => crate::sys::clone_fork(flags),
    };
    drop(cg_fd);
    let stage = match forked.map_err(|e| ChildError::sys("clone", e))? {
        crate::sys::Forked::Child => {
            drop(pch);
            // Until its execve, no other process (in the container, say) may open this
            // process's /proc/PID/exe or memory; execve makes it dumpable again.
            // SAFETY: prctl with integer arguments only.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
            let err = match child(&cch) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let _ = cch.send(&Msg::Error(err));
            // SAFETY: leave the forked child without running the parent's atexit handlers.
            unsafe { libc::_exit(1) }
        }
        crate::sys::Forked::Parent(pid) => pid,
    };
    drop(cch);
    let mut procs = Procs {
        stage,
        init: (!plan.need_fork).then_some(stage),
        done: false,
    };
    let r = drive(&pch, &mut procs, cgroup.filter(|_| !placed), maps, parent);
    match r {
        Ok(pid) => {
            procs.done = true;
            Ok(pid)
        }
        Err(e) => Err(e),
    }
}

/// The processes a spawn started; killed and reaped unless the spawn succeeded.
struct Procs {
    stage: i32,
    init: Option<i32>,
    done: bool,
}

impl Drop for Procs {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        for pid in [Some(self.stage), self.init].into_iter().flatten() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = waitpid(Pid::from_raw(self.stage), None);
        if let Some(i) = self.init.filter(|i| *i != self.stage) {
            // Reaped here if we are its subreaper; otherwise someone else reaps it.
            let _ = waitpid(Pid::from_raw(i), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        }
    }
}

fn drive(
    ch: &Channel,
    procs: &mut Procs,
    cgroup: Option<&cgroups::Manager>,
    maps: Maps,
    parent: &mut dyn ParentSide,
) -> Result<i32, ChildError> {
    if let Some(cg) = cgroup {
        cg.add_process(procs.stage)
            .map_err(|e| ChildError::new(format!("add process to cgroup: {e}")))?;
    }
    ch.send(&Msg::Go)
        .map_err(|e| ChildError::sys("sync with child", e))?;
    loop {
        let (msg, mut fds) = ch
            .recv_with_fds()
            .map_err(|e| ChildError::sys("sync with child", e))?;
        match msg {
            None => return Err(exited_early(procs)),
            Some(Msg::MapRequest) => {
                namespaces::write_id_maps(procs.stage, maps.uid, maps.gid)?;
                ch.send(&Msg::MapDone)
                    .map_err(|e| ChildError::sys("sync with child", e))?;
            }
            Some(Msg::IdmapRequest) => {
                let pid = procs.init.unwrap_or(procs.stage);
                for m in maps
                    .mounts
                    .iter()
                    .filter(|m| crate::rootfs::idmap::wanted(m))
                {
                    let fd =
                        crate::rootfs::idmap::make(m, maps.bundle, maps.userns.then_some(pid))?;
                    ch.send_with_fd(&Msg::IdmapFd, Some(std::os::fd::AsRawFd::as_raw_fd(&fd)))
                        .map_err(|e| ChildError::sys("sync with child", e))?;
                }
                ch.send(&Msg::IdmapDone)
                    .map_err(|e| ChildError::sys("sync with child", e))?;
            }
            Some(Msg::InitPid(pid)) => {
                procs.init = Some(pid);
                // Stage 1 exits right after sending the pid.
                let _ = waitpid(Pid::from_raw(procs.stage), None);
            }
            Some(Msg::CreateRuntime) => {
                let pid = procs.init.unwrap_or(procs.stage);
                let state = parent.create_runtime(pid)?;
                ch.send(&Msg::HooksDone(state))
                    .map_err(|e| ChildError::sys("sync with child", e))?;
            }
            Some(Msg::SeccompFd) => {
                let fd = fds
                    .pop()
                    .ok_or_else(|| ChildError::new("seccomp notify fd missing"))?;
                parent.seccomp_listener(procs.init.unwrap_or(procs.stage), fd)?;
                ch.send(&Msg::SeccompDone)
                    .map_err(|e| ChildError::sys("sync with child", e))?;
            }
            Some(Msg::Ready) => {
                return procs
                    .init
                    .ok_or_else(|| ChildError::new("child reported ready without a pid"));
            }
            Some(Msg::Error(e)) => return Err(e),
            Some(other) => {
                return Err(ChildError::new(format!(
                    "unexpected message from child: {other:?}"
                )))
            }
        }
    }
}

/// Child side: asks the parent for the config's idmapped mounts, in config order.
pub fn request_idmapped(
    spec: &Spec,
    ch: &Channel,
) -> Result<Vec<std::os::fd::OwnedFd>, ChildError> {
    let mut out = Vec::new();
    if !spec.mounts.iter().any(crate::rootfs::idmap::wanted) {
        return Ok(out);
    }
    ch.send(&Msg::IdmapRequest)
        .map_err(|e| ChildError::sys("sync with parent", e))?;
    loop {
        let (msg, mut fds) = ch
            .recv_with_fds()
            .map_err(|e| ChildError::sys("sync with parent", e))?;
        match msg {
            Some(Msg::IdmapFd) => out.push(
                fds.pop()
                    .ok_or_else(|| ChildError::new("idmapped mount fd missing"))?,
            ),
            Some(Msg::IdmapDone) => return Ok(out),
            Some(Msg::Error(e)) => return Err(e),
            _ => {
                return Err(ChildError::new(
                    "parent went away while making idmapped mounts",
                ))
            }
        }
    }
}

fn exited_early(procs: &Procs) -> ChildError {
    let status = waitpid(Pid::from_raw(procs.stage), None);
    let how = match status {
        Ok(WaitStatus::Exited(_, c)) => format!("exit status {c}"),
        Ok(WaitStatus::Signaled(_, s, _)) => format!("killed by {s}"),
        _ => "unknown status".to_string(),
    };
    ChildError::new(format!(
        "container process exited before it was ready ({how})"
    ))
}

/// The child side shared by init and exec: wait for the parent, enter/create namespaces,
/// and fork into pid/time namespaces. Returns in the final process.
pub fn enter_namespaces(
    plan: &NsPlan,
    spec: Option<&Spec>,
    ch: &Channel,
) -> Result<(), ChildError> {
    match ch
        .recv()
        .map_err(|e| ChildError::sys("sync with parent", e))?
    {
        Some(Msg::Go) => {}
        Some(Msg::Error(e)) => return Err(e),
        _ => return Err(ChildError::new("parent went away")),
    }
    plan.join_all()?;
    if plan.new_user {
        if !plan.fast() {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
                .map_err(|e| ChildError::sys("create user namespace", e))?;
        }
        // A non-dumpable process's /proc files belong to root: a rootless parent (or
        // newuidmap acting for it) could not open our uid_map. Dumpable only while it writes,
        // before anything of the container exists, as runc does.
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
        ch.send(&Msg::MapRequest)
            .map_err(|e| ChildError::sys("sync with parent", e))?;
        let reply = ch
            .recv()
            .map_err(|e| ChildError::sys("sync with parent", e))?;
        // SAFETY: as above.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        match reply {
            Some(Msg::MapDone) => {}
            Some(Msg::Error(e)) => return Err(e),
            _ => return Err(ChildError::new("parent went away while writing id maps")),
        }
        namespaces::become_root()?;
    }
    if !plan.fast() {
        let rest = plan.new_flags & !libc::CLONE_NEWUSER;
        if rest != 0 {
            nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(rest))
                .map_err(|e| ChildError::sys("create namespaces", e))?;
        }
    }
    if plan.new_time {
        nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(0x80))
            .map_err(|e| ChildError::sys("create time namespace", e))?;
        if let Some(s) = spec {
            namespaces::write_time_offsets(s)?;
        }
    }
    if plan.need_fork {
        // The new process must not talk to the parent before the parent knows its pid: it
        // waits on a pipe until stage 1 has sent InitPid.
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| ChildError::sys("pipe", e))?;
        match crate::sys::clone_fork(0)
            .map_err(|e| ChildError::sys("fork into pid namespace", e))?
        {
            crate::sys::Forked::Parent(pid) => {
                let _ = ch.send(&Msg::InitPid(pid));
                let _ = nix::unistd::write(&w, b"1");
                // SAFETY: stage 1 is done; leave without atexit handlers.
                unsafe { libc::_exit(0) }
            }
            crate::sys::Forked::Child => {
                drop(w);
                let mut b = [0u8; 1];
                match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&r), &mut b) {
                    Ok(1) => {}
                    _ => return Err(ChildError::new("stage 1 exited before reporting the pid")),
                }
            }
        }
    }
    Ok(())
}
