//! The per-container monitor: a small process (the `bay` binary's hidden `container-monitor`
//! verb) that outlives the CLI. It mounts the rootfs, writes the OCI bundle, runs the
//! runtime's create and start, owns the container's stdout/stderr (docker's json-file log,
//! and the attached client's terminal for foreground runs), reaps the container as child
//! subreaper, records the exit, unmounts and deletes the runtime state, and removes
//! `--rm` containers.
//!
//! It talks to the CLI that started it over a pipe on fd 3, one line per event:
//! `ok` once the container runs, `error <code> <message>` if it could not start, `running`
//! if another monitor already runs it, and
//! `exit <code>` after the container exited and everything was cleaned up.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::error::{ContainerError, Result};
use super::model::{Container, Status};
use super::spec::EtcFiles;
use super::{logs, rootfs, runtime, spec, sys, user};
use crate::engine::Engine;

/// How the CLI attached to the container.
#[derive(Clone, Copy, Debug, Default)]
pub struct Attach {
    /// Pass the monitor's stdin to the container (`-i`).
    pub stdin: bool,
    /// Copy the container's output to the monitor's stdout/stderr too.
    pub output: bool,
}

struct Running {
    pid: i32,
    pumps: Vec<JoinHandle<()>>,
    clients: super::attach::Clients,
}

/// The process environment: PATH and HOSTNAME first, the container's Env over them, HOME
/// appended when missing (docker's order).
pub(crate) fn process_env(c: &Container, home: &str) -> Vec<String> {
    let mut base = vec![
        format!("PATH={}", spec::DEFAULT_PATH),
        format!("HOSTNAME={}", c.config.hostname),
    ];
    if c.config.tty {
        base.push("TERM=xterm".into());
    }
    let mut env = super::create::merge_env(&base, c.config.env.as_deref().unwrap_or(&[]));
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    env
}

fn decode_status(st: libc::c_int) -> i64 {
    if libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st) as i64
    } else if libc::WIFSIGNALED(st) {
        128 + libc::WTERMSIG(st) as i64
    } else {
        255
    }
}

/// Accepts the runtime's connection on the console socket and takes the pty master, giving
/// up if the runtime exits first.
fn accept_console(
    l: &std::os::unix::net::UnixListener,
    child: &mut std::process::Child,
) -> Option<OwnedFd> {
    let _ = l.set_nonblocking(true);
    loop {
        match l.accept() {
            Ok((s, _)) => {
                let _ = s.set_nonblocking(false);
                return sys::recv_fd(&s).ok();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return None;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(_) => return None,
        }
    }
}

/// Waits for `pid` (our child, as subreaper) and returns docker's exit code for it.
fn reap(pid: i32) -> i64 {
    loop {
        let mut st = 0;
        // SAFETY: waitpid writes only to `st`.
        let r = unsafe { libc::waitpid(-1, &mut st, 0) };
        if r == pid {
            return decode_status(st);
        }
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            // Not our child after all: poll until it is gone.
            while sys::alive(pid as i64) {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            return 255;
        }
    }
}

impl Engine {
    /// Body of the monitor process. `status` is the pipe to the CLI.
    pub fn run_monitor(&self, id: &str, mut status: File, attach: Attach) -> Result<()> {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        // SIGWINCH (sent by the CLI of an `-it` run) is taken by sigwait in one thread; block it
        // before any thread exists so that all inherit the mask. Children get a clean mask.
        sys::block_signal(libc::SIGWINCH);
        // One monitor per container: a second `start` racing the first must not create,
        // or clean up, what the first one owns. The lock lives as long as this process.
        let lock_path = self.container_dir(id).join("monitor.lock");
        let _lock = match sys::lock_exclusive(&lock_path) {
            Ok(Some(f)) => f,
            Ok(None) => {
                let _ = writeln!(status, "running");
                return Ok(());
            }
            Err(e) => {
                return Err(ContainerError::io(
                    format!("locking {}", lock_path.display()),
                    e,
                ))
            }
        };
        let mut c = self
            .container_by_id(id)?
            .ok_or_else(|| ContainerError::NoSuchContainer(id.to_string()))?;
        if c.status.is_up() && self.monitor_alive(&c) {
            let _ = writeln!(status, "running");
            return Ok(());
        }
        let running = match self.launch(&c, attach) {
            Ok(r) => r,
            Err(e) => {
                let _ = self.runtime_delete(id);
                self.network_teardown(id);
                let _ = self.unmount_rootfs(id);
                let (code, msg) = match &e {
                    ContainerError::Start { code, msg } => (*code, msg.clone()),
                    other => (125, other.to_string()),
                };
                if c.host_config.auto_remove {
                    let _ = self.forget(&c);
                } else {
                    c.exit_code = code as i64;
                    c.error = msg.clone();
                    let _ = self.save_state(&c);
                }
                let _ = writeln!(status, "error {code} {}", msg.replace('\n', " "));
                return Ok(());
            }
        };
        let (s, n) = crate::timefmt::now();
        c.status = Status::Running;
        c.pid = running.pid as i64;
        c.monitor_pid = std::process::id() as i64;
        c.started_at = crate::timefmt::format_rfc3339(s, n);
        c.exit_code = 0;
        c.error.clear();
        self.save_state(&c)?;
        let _ = writeln!(status, "ok");
        let code = reap(running.pid);
        for p in running.pumps {
            let _ = p.join();
        }
        running.clients.close(code);
        let _ = self.runtime_delete(id);
        self.network_teardown(id);
        let unmounted = self.unmount_rootfs(id);
        let (s, n) = crate::timefmt::now();
        // Re-read: the row may have been removed (rm -f) meanwhile.
        if let Some(mut now) = self.container_by_id(id)? {
            if now.host_config.auto_remove {
                let _ = self.forget(&now);
            } else {
                now.status = Status::Exited;
                now.pid = 0;
                now.monitor_pid = 0;
                now.exit_code = code;
                now.finished_at = crate::timefmt::format_rfc3339(s, n);
                if let Err(e) = &unmounted {
                    now.error = e.to_string();
                }
                self.save_state(&now)?;
            }
        }
        let _ = writeln!(status, "exit {code}");
        Ok(())
    }

    /// Prepares the bundle and runs the runtime's create and start.
    fn launch(&self, c: &Container, attach: Attach) -> Result<Running> {
        let dir = self.container_dir(&c.id);
        let merged = self.mount_rootfs(&c.id, &c.image)?;
        let u = user::resolve(&merged, &c.config.user)?;
        if !c.config.working_dir.is_empty() {
            rootfs::mkdir_in_root(&merged, &c.config.working_dir)?;
        }
        let host_net = c.host_config.network_mode == "host";
        let etc = EtcFiles {
            hostname: dir.join("hostname").display().to_string(),
            hosts: dir.join("hosts").display().to_string(),
            resolv_conf: dir.join("resolv.conf").display().to_string(),
        };
        let write = |p: &str, data: String| {
            fs::write(p, data).map_err(|e| ContainerError::io(format!("writing {p}"), e))
        };
        write(&etc.hostname, format!("{}\n", c.config.hostname))?;
        let net = self.network_setup(c)?;
        write(&etc.hosts, net.hosts.clone())?;
        write(&etc.resolv_conf, net.resolv_conf.clone())?;
        for m in &c.all_mounts() {
            if m.kind == "bind" && m.create_source && !std::path::Path::new(&m.source).exists() {
                fs::create_dir_all(&m.source).map_err(|e| {
                    ContainerError::io(format!("creating bind source {}", m.source), e)
                })?;
            }
        }
        let env = process_env(c, &u.home);
        let mut cfg = spec::generate(c, &merged.display().to_string(), &u, env, &etc)?;
        if let Some(ns) = &net.netns {
            crate::network::container::patch_spec(&mut cfg, ns);
        }
        let cfg_path = dir.join("config.json");
        write(
            &cfg_path.display().to_string(),
            serde_json::to_string(&cfg).unwrap_or_default(),
        )?;
        let log = Arc::new(Mutex::new(
            logs::open_log(&self.log_path(&c.id))
                .map_err(|e| ContainerError::io("opening the container log", e))?,
        ));
        let (out_r, out_w) = io::pipe().map_err(|e| ContainerError::io("creating a pipe", e))?;
        let (mut err_r, err_w) =
            io::pipe().map_err(|e| ContainerError::io("creating a pipe", e))?;
        let pid_file = dir.join("init.pid");
        let _ = fs::remove_file(&pid_file);
        let mut cmd = self.runtime_command()?;
        cmd.arg("create")
            .arg("--bundle")
            .arg(&dir)
            .arg("--pid-file")
            .arg(&pid_file);
        // -t: the runtime sends the pty master over a socket (a short path: sun_path is small).
        let console = if c.config.tty {
            let path = std::env::temp_dir().join(format!(
                "bay-{}-{}.sock",
                c.short_id(),
                std::process::id()
            ));
            let _ = fs::remove_file(&path);
            let l = std::os::unix::net::UnixListener::bind(&path)
                .map_err(|e| ContainerError::io(format!("binding {}", path.display()), e))?;
            cmd.arg("--console-socket").arg(&path);
            Some((l, path))
        } else {
            None
        };
        // -i without an attached terminal (-di): a pipe the monitor holds open and attach
        // clients write to, as docker's stdin.
        let (stdin_keep, stdin) = if attach.stdin && !c.config.tty {
            (None, Stdio::inherit())
        } else if c.config.open_stdin && !c.config.tty {
            let (r, w) = io::pipe().map_err(|e| ContainerError::io("creating a pipe", e))?;
            (Some(File::from(OwnedFd::from(w))), Stdio::from(r))
        } else {
            (None, Stdio::null())
        };
        cmd.arg(&c.id).stdin(stdin).stdout(out_w).stderr(err_w);
        let mut child = cmd
            .spawn()
            .map_err(|e| ContainerError::io("running the OCI runtime", e))?;
        let master = match &console {
            Some((l, _)) => accept_console(l, &mut child),
            None => None,
        };
        if let Some((_, path)) = &console {
            let _ = fs::remove_file(path);
        }
        let st = child
            .wait()
            .map_err(|e| ContainerError::io("running the OCI runtime", e))?;
        // `cmd` still holds the write ends; drop it so a failed create reads to EOF.
        drop(cmd);
        if !st.success() {
            let mut msg = String::new();
            let _ = err_r.read_to_string(&mut msg);
            let msg = msg
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("the runtime failed to create the container")
                .trim()
                .to_string();
            return Err(ContainerError::Start {
                code: runtime::start_error_code(&msg),
                msg: format!("failed to create task: OCI runtime create failed: {msg}"),
            });
        }
        let pid: i32 = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| ContainerError::Runtime("the runtime wrote no init pid".into()))?;
        if !host_net {
            crate::network::netns::loopback_up(std::path::Path::new(&format!(
                "/proc/{pid}/ns/net"
            )))
            .map_err(|e| ContainerError::io("bringing up loopback", e))?;
        }
        let tee = |fd: i32| -> Option<File> {
            if !attach.output {
                return None;
            }
            // SAFETY: dup of our own stdout/stderr; the new fd is owned by the File.
            let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
            (d >= 0).then(|| File::from(unsafe { OwnedFd::from_raw_fd(d) }))
        };
        let clients = super::attach::Clients::default();
        let mut stdin_target = stdin_keep.map(|w| Arc::new(Mutex::new(w)));
        let mut pumps = Vec::new();
        let (l1, t1, k1) = (log.clone(), tee(1), clients.clone());
        pumps.push(std::thread::spawn(move || {
            logs::pump(out_r, "stdout", l1, t1, k1)
        }));
        let (l2, t2, k2) = (log.clone(), tee(2), clients.clone());
        pumps.push(std::thread::spawn(move || {
            logs::pump(err_r, "stderr", l2, t2, k2)
        }));
        if c.config.tty {
            let master = master
                .ok_or_else(|| ContainerError::Runtime("the runtime sent no pty master".into()))?;
            let master = File::from(master);
            if attach.stdin {
                use std::os::fd::AsRawFd;
                sys::copy_winsize(0, master.as_raw_fd());
                let mut to = master
                    .try_clone()
                    .map_err(|e| ContainerError::io("duplicating the pty", e))?;
                // Not joined: it may sit in read(0) after the container is gone.
                std::thread::spawn(move || {
                    let _ = io::copy(&mut io::stdin().lock(), &mut to);
                });
                let pty = master
                    .try_clone()
                    .map_err(|e| ContainerError::io("duplicating the pty", e))?;
                std::thread::spawn(move || {
                    while sys::wait_signal(libc::SIGWINCH) {
                        sys::copy_winsize(0, pty.as_raw_fd());
                    }
                });
            }
            if c.config.open_stdin {
                let to = master
                    .try_clone()
                    .map_err(|e| ContainerError::io("duplicating the pty", e))?;
                stdin_target = Some(Arc::new(Mutex::new(to)));
            }
            let (l3, t3, k3) = (log, tee(1), clients.clone());
            pumps.push(std::thread::spawn(move || {
                logs::pump(master, "stdout", l3, t3, k3)
            }));
        }
        super::attach::serve(&c.id, clients.clone(), stdin_target)
            .map_err(|e| ContainerError::io("serving attach", e))?;
        if let Err(e) = self.runtime_run(&["start", &c.id]) {
            let _ = self.runtime_kill(&c.id, "KILL");
            reap(pid);
            for p in pumps {
                let _ = p.join();
            }
            return Err(ContainerError::Start {
                code: runtime::start_error_code(&e.to_string()),
                msg: format!("failed to start task: OCI runtime start failed: {e}"),
            });
        }
        Ok(Running {
            pid,
            pumps,
            clients,
        })
    }

    /// Removes a stopped container's files and row.
    pub(crate) fn forget(&self, c: &Container) -> Result<()> {
        self.network_forget(&c.id);
        self.unmount_rootfs(&c.id)?;
        let dir = self.container_dir(&c.id);
        // The row goes first: once it is gone nobody starts the container again, and a
        // concurrent remover (the monitor of a --rm container, `rm -f`) finds nothing to do.
        self.store.db.tx(|q| q.delete_container(&c.id))?;
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ContainerError::io(format!("removing {}", dir.display()), e)),
        }
        Ok(())
    }
}

/// Runs `cmd` detached from the caller's session; used by `start` for the monitor.
pub(crate) fn spawn_detached(
    mut cmd: Command,
    status_w: OwnedFd,
) -> io::Result<std::process::Child> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let fd = status_w.as_raw_fd();
    // SAFETY: only async-signal-safe calls (setsid, dup2, fcntl) run between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            if fd == 3 {
                let fl = libc::fcntl(3, libc::F_GETFD);
                libc::fcntl(3, libc::F_SETFD, fl & !libc::FD_CLOEXEC);
            } else if libc::dup2(fd, 3) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn();
    drop(status_w);
    child
}
