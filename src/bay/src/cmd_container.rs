//! Container lifecycle verbs: run, create, start, stop, restart, kill, rm, wait, pause,
//! unpause, rename, and the hidden monitor verb. Output, messages and exit codes follow
//! docker's CLI (listing is in cmd_container_list, process and file access in
//! cmd_container_io).

use std::io::Write;

use anyhow::{anyhow, bail, Result};
use bay_engine::container::lifecycle::Started;
use bay_engine::container::monitor::Attach;
use bay_engine::container::{Container, ContainerError, CreateOptions};
use bay_engine::registry::pull::PullOptions;
use bay_engine::registry::{Progress, Status as LayerStatus};
use bay_engine::{Engine, Reference};

use crate::{
    CreateArgs, Exit, KillArgs, MonitorArgs, NamesArgs, RenameArgs, RmArgs, StartArgs, StopArgs,
};

/// docker's `docker: Error response from daemon: …` line for run/create, with its exit code.
fn run_error(e: ContainerError) -> anyhow::Error {
    let (code, msg) = match &e {
        ContainerError::Start { code, msg } => {
            (*code, format!("Error response from daemon: {msg}"))
        }
        ContainerError::NotSupported(m) => (125, m.clone()),
        other => (125, format!("Error response from daemon: {other}")),
    };
    eprintln!("bay: {msg}");
    Exit(code).into()
}

/// Pull progress for `run`/`create` goes to stderr, as docker's does.
struct StderrProgress;

impl Progress for StderrProgress {
    fn message(&self, line: &str) {
        eprintln!("{line}");
    }
    fn layer(&self, id: &str, status: LayerStatus, _current: u64, _total: u64) {
        if !status.is_progress() {
            eprintln!("{id}: {}", status.text());
        }
    }
}

/// `KEY=VALUE` as given; a bare `KEY` takes the caller's value or is dropped, as docker does.
pub(crate) fn env_entry(e: &str, out: &mut Vec<String>) {
    if e.contains('=') {
        out.push(e.to_string());
    } else if let Ok(v) = std::env::var(e) {
        out.push(format!("{e}={v}"));
    }
}

pub(crate) fn read_env_files(files: &[String], env: &mut Vec<String>) -> Result<()> {
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| {
            eprintln!("bay: open {f}: {}", std::io::Error::from(e.kind()));
            anyhow::Error::new(Exit(125))
        })?;
        for line in text.lines() {
            let l = line.trim_start();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            env_entry(l, env);
        }
    }
    Ok(())
}

fn options(a: &CreateArgs) -> Result<CreateOptions> {
    let (image, cmd) = a
        .argv
        .split_first()
        .ok_or_else(|| anyhow!("\"create\" requires at least 1 argument"))?;
    let mut env = Vec::new();
    read_env_files(&a.env_file, &mut env)?;
    for e in &a.env {
        env_entry(e, &mut env);
    }
    Ok(CreateOptions {
        name: a.name.clone(),
        image: image.clone(),
        cmd: cmd.to_vec(),
        entrypoint: a.entrypoint.clone(),
        env,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        hostname: a.hostname.clone(),
        labels: a.label.clone(),
        volumes: a.volume.clone(),
        mounts: a.mount.clone(),
        tmpfs: a.tmpfs.clone(),
        network: a.network.clone(),
        publish: a.publish.clone(),
        publish_all: a.publish_all,
        ip: a.ip.clone(),
        network_aliases: a.network_alias.clone(),
        dns: a.dns.clone(),
        add_hosts: a.add_host.clone(),
        privileged: a.privileged,
        read_only: a.read_only,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        auto_remove: a.rm,
        restart: a.restart.clone(),
        init: a.init,
        tty: a.tty,
        interactive: a.interactive,
        stop_signal: a.stop_signal.clone(),
        security_opt: a.security_opt.clone(),
    })
}

/// Creates the container, pulling its image first if it is not in the store.
fn create(engine: &Engine, a: &CreateArgs) -> Result<Container> {
    let o = options(a)?;
    engine.validate_create(&o).map_err(run_error)?;
    match engine.resolve(&o.image) {
        Ok(_) => {}
        Err(bay_engine::Error::NoSuchImage(_)) => {
            let mut shown = Reference::parse(&o.image)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| o.image.clone());
            let last = shown.rsplit('/').next().unwrap_or_default();
            if !last.contains(':') && !shown.contains('@') {
                shown.push_str(":latest");
            }
            eprintln!("Unable to find image '{shown}' locally");
            if let Err(e) = engine.pull(&o.image, &PullOptions { platform: None }, &StderrProgress)
            {
                return Err(run_error(ContainerError::Engine(e)));
            }
        }
        Err(e) => return Err(run_error(ContainerError::Engine(e))),
    }
    engine.create_container(&o).map_err(run_error)
}

pub fn create_cmd(engine: &Engine, a: CreateArgs) -> Result<()> {
    if a.detach {
        bail!("unknown shorthand flag: 'd' in -d");
    }
    let c = create(engine, &a)?;
    println!("{}", c.id);
    Ok(())
}

/// Forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to the container while the CLI waits on it
/// (docker's --sig-proxy).
pub(crate) fn proxy_signals(
    engine_root: std::path::PathBuf,
    runtime: Option<std::path::PathBuf>,
    id: String,
    monitor: Option<u32>,
) {
    let mut sigs = vec![libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];
    // With a terminal, window size changes go to the monitor, which resizes the pty.
    if monitor.is_some() {
        sigs.push(libc::SIGWINCH);
    }
    // SAFETY: sigset manipulation on a local set; pthread_sigmask blocks them in this thread
    // (inherited by the thread below) so that sigwait receives them.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in &sigs {
            libc::sigaddset(&mut set, *s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || loop {
        let mut sig = 0;
        // SAFETY: sigwait writes the signal number into `sig`.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            return;
        }
        if sig == libc::SIGWINCH {
            if let Some(pid) = monitor {
                // SAFETY: kill has no memory effects; pid is our monitor child.
                unsafe { libc::kill(pid as i32, libc::SIGWINCH) };
            }
            continue;
        }
        let mut c = std::process::Command::new(
            runtime
                .clone()
                .unwrap_or_else(|| std::path::PathBuf::from("berth")),
        );
        c.arg("--root")
            .arg(engine_root.join("runtime"))
            .args(["kill", &id, &sig.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let _ = c.status();
    });
}

fn wait_foreground(engine: &Engine, c: &Container, started: Started) -> Result<()> {
    let rt = engine.runtime_path().ok();
    let monitor = (c.config.tty && c.config.open_stdin).then(|| started.monitor_pid());
    proxy_signals(engine.root().to_path_buf(), rt, c.id.clone(), monitor);
    let code = started.wait_exit().map_err(run_error)?;
    let _ = std::io::stdout().flush();
    if code == 0 {
        Ok(())
    } else {
        Err(Exit(code.clamp(0, 255) as u8).into())
    }
}

/// Puts the terminal on fd 0 in raw mode until dropped (for `-it`).
pub(crate) struct RawTerminal(Option<libc::termios>);

impl RawTerminal {
    pub(crate) fn enable() -> RawTerminal {
        // SAFETY: termios is plain old data; the calls only read/write it and fd 0.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return RawTerminal(None);
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            RawTerminal(Some(saved))
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            // SAFETY: restores the attributes read in enable().
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
    }
}

pub fn run(engine: &Engine, a: CreateArgs) -> Result<()> {
    if a.tty && a.interactive && !a.detach && !crate::isatty(0) {
        eprintln!("the input device is not a TTY");
        return Err(Exit(1).into());
    }
    let c = create(engine, &a)?;
    let attach = if a.detach {
        Attach::default()
    } else {
        Attach {
            stdin: a.interactive,
            output: true,
        }
    };
    let started = engine.start_container(&c, attach).map_err(run_error)?;
    if a.detach {
        println!("{}", c.id);
        return Ok(());
    }
    let _raw = (a.tty && a.interactive).then(RawTerminal::enable);
    match started {
        Some(s) => wait_foreground(engine, &c, s),
        None => Ok(()),
    }
}

/// Runs `f` on each named container; docker prints each error and exits 1 at the end.
fn each(
    engine: &Engine,
    names: &[String],
    mut f: impl FnMut(&Container, &str) -> Result<(), ContainerError>,
) -> Result<()> {
    let mut failed = false;
    for n in names {
        let res = engine.container(n).and_then(|c| f(&engine.refresh(c), n));
        if let Err(e) = res {
            eprintln!("Error response from daemon: {e}");
            failed = true;
        }
    }
    if failed {
        Err(Exit(1).into())
    } else {
        Ok(())
    }
}

pub fn start(engine: &Engine, a: StartArgs) -> Result<()> {
    if a.attach || a.interactive {
        let [n] = a.containers.as_slice() else {
            bail!("you cannot start and attach multiple containers at once");
        };
        let c = engine.refresh(engine.container(n)?);
        let started = engine
            .start_container(
                &c,
                Attach {
                    stdin: a.interactive,
                    output: true,
                },
            )
            .map_err(|e| {
                eprintln!("Error response from daemon: {e}");
                anyhow::Error::new(Exit(1))
            })?;
        return match started {
            Some(s) => wait_foreground(engine, &c, s),
            None => Ok(()),
        };
    }
    let mut failed = false;
    for n in &a.containers {
        let res = engine
            .container(n)
            .and_then(|c| engine.start_container(&engine.refresh(c), Attach::default()));
        match res {
            Ok(_) => println!("{n}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}

pub fn stop(engine: &Engine, a: StopArgs) -> Result<()> {
    each(engine, &a.containers, |c, n| {
        engine.stop_container(c, a.time)?;
        println!("{n}");
        Ok(())
    })
}

pub fn restart(engine: &Engine, a: StopArgs) -> Result<()> {
    each(engine, &a.containers, |c, n| {
        engine.stop_container(c, a.time)?;
        let now = engine
            .container_by_id(&c.id)?
            .ok_or_else(|| ContainerError::NoSuchContainer(n.to_string()))?;
        engine.start_container(&now, Attach::default())?;
        println!("{n}");
        Ok(())
    })
}

pub fn kill(engine: &Engine, a: KillArgs) -> Result<()> {
    each(engine, &a.containers, |c, n| {
        engine.kill_container(c, &a.signal)?;
        println!("{n}");
        Ok(())
    })
}

pub fn rm(engine: &Engine, a: RmArgs) -> Result<()> {
    // -v and -l have nothing to remove yet (no volumes or links exist); docker accepts both.
    each(engine, &a.containers, |c, n| {
        engine.remove_container(c, a.force)?;
        println!("{n}");
        Ok(())
    })
}

pub fn wait(engine: &Engine, a: NamesArgs) -> Result<()> {
    each(engine, &a.containers, |c, _| {
        let code = engine.wait_container(c)?;
        println!("{code}");
        Ok(())
    })
}

/// The hidden `container-monitor` verb: fd 3 is the status pipe from `start`.
pub fn monitor(engine: &Engine, a: MonitorArgs) -> Result<()> {
    use std::os::fd::FromRawFd;
    // SAFETY: `start` passes the status pipe as fd 3; nothing else in this process owns it.
    let status = unsafe { std::fs::File::from_raw_fd(3) };
    // SAFETY: fcntl on the fd we now own.
    unsafe { libc::fcntl(3, libc::F_SETFD, libc::FD_CLOEXEC) };
    engine.run_monitor(
        &a.id,
        status,
        Attach {
            stdin: a.stdin,
            output: a.attach,
        },
    )?;
    Ok(())
}

pub fn pause(engine: &Engine, a: NamesArgs, pause: bool) -> Result<()> {
    each(engine, &a.containers, |c, n| {
        engine.pause_container(c, pause)?;
        println!("{n}");
        Ok(())
    })
}

pub fn rename(engine: &Engine, a: RenameArgs) -> Result<()> {
    let c = engine.container(&a.container)?;
    engine.rename_container(&c, &a.new_name)?;
    Ok(())
}
