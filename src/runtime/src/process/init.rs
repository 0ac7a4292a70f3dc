//! The child side: a container's init (`create`) and an extra process (`exec`).

use super::finalize::{self, Exec};
use super::namespaces::NsPlan;
use super::sync::{Channel, ChildError, Msg};
use crate::rootfs::{self, paths};
use crate::seccomp::Filter;
use crate::spec::{NamespaceType, Process, Spec};
use nix::errno::Errno;
use std::convert::Infallible;
use std::os::fd::OwnedFd;
use std::path::Path;

pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    /// O_PATH fd of the state dir, opened by the parent: the container user (or mapped root)
    /// may not be able to reach the runtime root, but can open the fifo through this.
    pub state_dir: std::os::fd::RawFd,
    pub console_socket: Option<&'a OwnedFd>,
    pub preserve_fds: i32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub seccomp: Option<&'a Filter>,
    pub cgroup_path: &'a str,
    pub plan: &'a NsPlan,
    pub id: &'a str,
}

/// Whether the parent and init exchange the state for hooks (they decide the same way).
pub fn needs_hook_sync(spec: &Spec) -> bool {
    spec.hooks.as_ref().is_some_and(|h| {
        !h.prestart.is_empty()
            || !h.create_runtime.is_empty()
            || !h.create_container.is_empty()
            || !h.start_container.is_empty()
    })
}

fn write_file(path: &str, data: &str) -> Result<(), ChildError> {
    std::fs::write(path, data).map_err(|e| {
        ChildError::sys(
            format!("write {path}"),
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    })
}

pub fn init_main(a: &InitArgs, ch: &Channel) -> Result<Infallible, ChildError> {
    super::enter_namespaces(a.plan, Some(a.spec), ch)?;
    if a.plan.new_cgroup {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| ChildError::sys("create cgroup namespace", e))?;
    }
    nix::unistd::setsid().map_err(|e| ChildError::sys("setsid", e))?;
    let process = a
        .spec
        .process
        .as_ref()
        .ok_or_else(|| ChildError::new("config has no process"))?;
    if let Some(adj) = process.oom_score_adj {
        write_file("/proc/self/oom_score_adj", &adj.to_string())?;
    }
    let userns = a.spec.namespace(NamespaceType::User).is_some();
    let idmapped = super::request_idmapped(a.spec, ch)?;
    rootfs::prepare(rootfs::Prepare {
        spec: a.spec,
        rootfs: a.rootfs,
        bundle: a.bundle,
        userns,
        cgroupns: a.plan.new_cgroup,
        cgroup_path: a.cgroup_path,
        idmapped,
    })?;
    let state_json = if needs_hook_sync(a.spec) {
        ch.send(&Msg::CreateRuntime)
            .map_err(|e| ChildError::sys("sync with parent", e))?;
        match ch
            .recv()
            .map_err(|e| ChildError::sys("sync with parent", e))?
        {
            Some(Msg::HooksDone(s)) => s,
            Some(Msg::Error(e)) => return Err(e),
            _ => return Err(ChildError::new("parent went away while running hooks")),
        }
    } else {
        String::new()
    };
    if let Some(h) = &a.spec.hooks {
        crate::hooks::run(
            "createContainer",
            &h.create_container,
            state_json.as_bytes(),
        )
        .map_err(|e| ChildError::new(e.to_string()))?;
    }
    let propagation = a.spec.linux().rootfs_propagation.as_deref();
    rootfs::pivot(a.rootfs, a.no_pivot, propagation)?;
    if process.terminal {
        let sock = a
            .console_socket
            .ok_or_else(|| ChildError::new("terminal requested but no console socket"))?;
        let (master, slave) = crate::console::open_pty()?;
        bind_console(&master)?;
        crate::console::send_master(sock, &master)?;
        drop(master);
        crate::console::attach_slave(&slave, process.console_size)?;
    }
    if let Some(h) = a.spec.hostname.as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(|e| ChildError::sys(format!("sethostname {h}"), e))?;
    }
    if let Some(d) = a.spec.domainname.as_deref().filter(|d| !d.is_empty()) {
        // SAFETY: pointer and length of a valid byte string.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            return Err(ChildError::sys(format!("setdomainname {d}"), Errno::last()));
        }
    }
    let linux = a.spec.linux();
    for (k, v) in &linux.sysctl {
        crate::sys::write_procfs(&format!("sys/{}", k.replace('.', "/")), v)
            .map_err(|e| ChildError::new(format!("sysctl {k}: {}", e.msg)))?;
    }
    rootfs::readonly_paths(&linux.readonly_paths)?;
    rootfs::mask_paths(&linux.masked_paths)?;
    if a.spec.root.as_ref().is_some_and(|r| r.readonly) {
        rootfs::readonly_root()?;
    }
    rootfs::propagate_root(propagation)?;
    if let Some(p) = &linux.personality {
        let persona = if p.domain == "LINUX32" { 0x0008 } else { 0 };
        // SAFETY: personality with a plain integer.
        if unsafe { libc::personality(persona) } == -1 {
            return Err(ChildError::sys("personality", Errno::last()));
        }
    }
    if !a.no_new_keyring {
        join_session_keyring(a.id);
    }
    let mut exec = prepare_exec(process, a.seccomp, a.preserve_fds)?;
    hand_over_notify_fd(&mut exec, ch)?;
    ch.send(&Msg::Ready)
        .map_err(|e| ChildError::sys("sync with parent", e))?;
    // Blocks until `berth start` opens the fifo for reading.
    let fifo = crate::sys::openat2(a.state_dir, crate::state::FIFO, libc::O_WRONLY, 0, 0)
        .map_err(|e| ChildError::sys("open exec fifo", e))?;
    nix::unistd::write(&fifo, b"0").map_err(|e| ChildError::sys("write exec fifo", e))?;
    drop(fifo);
    let _ = nix::unistd::close(a.state_dir);
    if let Some(h) = &a.spec.hooks {
        crate::hooks::run("startContainer", &h.start_container, state_json.as_bytes())
            .map_err(|e| ChildError::new(e.to_string()))?;
    }
    Err(finish(process, a.seccomp, &exec))
}

/// The bits after `Ready` where the parent may be gone: errors go to stderr.
fn finish(process: &Process, seccomp: Option<&Filter>, exec: &Exec) -> ChildError {
    if process.no_new_privileges {
        if let Some(f) = seccomp.filter(|f| !f.uses_notify()) {
            if let Err(e) = finalize::install_seccomp(f) {
                return e;
            }
        }
    }
    exec.exec()
}

/// Credentials, caps, fds and signals, up to the point where only execve is left.
fn prepare_exec(
    process: &Process,
    seccomp: Option<&Filter>,
    preserve_fds: i32,
) -> Result<Exec, ChildError> {
    reset_signals();
    // While we still have every capability, as runc does.
    crate::lsm::apply_exec(process)?;
    let exec = finalize::apply(process, seccomp)?;
    // Only stdio and the preserved fds survive execve (CVE-2024-21626).
    crate::sys::cloexec_from(3 + preserve_fds);
    for fd in 3..3 + preserve_fds {
        // SAFETY: F_SETFD on an fd number.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    Ok(exec)
}

/// Sends the seccomp notify fd to the parent, which passes it to the agent.
fn hand_over_notify_fd(exec: &mut Exec, ch: &Channel) -> Result<(), ChildError> {
    let Some(fd) = exec.notify.take() else {
        return Ok(());
    };
    ch.send_with_fd(&Msg::SeccompFd, Some(std::os::fd::AsRawFd::as_raw_fd(&fd)))
        .map_err(|e| ChildError::sys("send seccomp notify fd", e))?;
    drop(fd);
    match ch
        .recv()
        .map_err(|e| ChildError::sys("sync with parent", e))?
    {
        Some(Msg::SeccompDone) => Ok(()),
        Some(Msg::Error(e)) => Err(e),
        _ => Err(ChildError::new(
            "parent went away while passing the seccomp fd",
        )),
    }
}

/// The container's process starts with default dispositions and nothing blocked (Rust's
/// runtime ignores SIGPIPE; `berth run` blocks the signals it forwards).
fn reset_signals() {
    for sig in 1..32 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: resetting a disposition to SIG_DFL.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    let empty = nix::sys::signal::SigSet::empty();
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&empty),
        None,
    );
}

/// /dev/console is the pty slave, as runc sets it up. The slave is taken from the master
/// (TIOCGPTPEER), not looked up by path, and /dev/console must be a plain file or device
/// node, not a symlink, and not on procfs or sysfs: a swapped /dev/pts or /dev/console can't
/// turn the bind into one of a /proc file (CVE-2025-52565).
fn bind_console(master: &OwnedFd) -> Result<(), ChildError> {
    use std::os::fd::{AsRawFd, FromRawFd};
    const TIOCGPTPEER: libc::c_ulong = 0x5441;
    // SAFETY: ioctl on a pty master returning a new fd for its slave.
    let r = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            TIOCGPTPEER as _,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if r < 0 {
        return Err(ChildError::sys("open pty slave", Errno::last()));
    }
    // SAFETY: the ioctl returned a new fd.
    let slave = unsafe { OwnedFd::from_raw_fd(r) };
    let root = crate::sys::openat2(libc::AT_FDCWD, "/", libc::O_PATH, 0, 0)
        .map_err(|e| ChildError::sys("open /", e))?;
    let target = match crate::sys::openat2(
        root.as_raw_fd(),
        "dev/console",
        libc::O_PATH,
        0,
        crate::sys::RESOLVE_IN_ROOT | crate::sys::RESOLVE_NO_SYMLINKS,
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => paths::open_or_create(&root, "/dev/console", paths::Kind::File)?,
        Err(Errno::ELOOP) => {
            return Err(ChildError::new(
                "/dev/console in the rootfs is a symlink: refusing to bind the console over it",
            ))
        }
        Err(e) => return Err(ChildError::sys("open /dev/console", e)),
    };
    let st = nix::sys::stat::fstat(target.as_raw_fd())
        .map_err(|e| ChildError::sys("stat /dev/console", e))?;
    let fmt = st.st_mode & libc::S_IFMT;
    let on_pseudo = crate::sys::is_procfs(&target)
        || nix::sys::statfs::fstatfs(&target)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::SYSFS_MAGIC);
    if (fmt != libc::S_IFREG && fmt != libc::S_IFCHR) || on_pseudo {
        return Err(ChildError::new(
            "/dev/console in the rootfs is not a plain file or device node: refusing to bind the console over it",
        ));
    }
    nix::mount::mount(
        Some(paths::fd_path(&slave).as_str()),
        paths::fd_path(&target).as_str(),
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| ChildError::sys("bind the pty slave to /dev/console", e))
}

/// A session keyring of the container's own, so containers don't share the host's keys.
fn join_session_keyring(id: &str) {
    let Ok(name) = std::ffi::CString::new(format!("_ses.{id}")) else {
        return;
    };
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl with a valid C string. Failure (ENOSYS, EDQUOT) leaves the old keyring,
    // which is what runc does too.
    unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
}

pub struct ExecArgs<'a> {
    pub process: &'a Process,
    pub console_socket: Option<&'a OwnedFd>,
    pub preserve_fds: i32,
    pub seccomp: Option<&'a Filter>,
    pub plan: &'a NsPlan,
}

pub fn exec_main(a: &ExecArgs, ch: &Channel) -> Result<Infallible, ChildError> {
    super::enter_namespaces(a.plan, None, ch)?;
    nix::unistd::setsid().map_err(|e| ChildError::sys("setsid", e))?;
    if a.process.terminal {
        let sock = a
            .console_socket
            .ok_or_else(|| ChildError::new("terminal requested but no console socket"))?;
        let (master, slave) = crate::console::open_pty()?;
        crate::console::send_master(sock, &master)?;
        drop(master);
        crate::console::attach_slave(&slave, a.process.console_size)?;
    }
    let mut exec = prepare_exec(a.process, a.seccomp, a.preserve_fds)?;
    hand_over_notify_fd(&mut exec, ch)?;
    ch.send(&Msg::Ready)
        .map_err(|e| ChildError::sys("sync with parent", e))?;
    Err(finish(a.process, a.seccomp, &exec))
}
