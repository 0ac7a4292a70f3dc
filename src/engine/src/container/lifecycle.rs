//! start, stop, kill, rm, wait, prune: the CLI side of a container's life. Starting spawns
//! the monitor and waits for its first report; everything after that is the monitor's.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::error::{ContainerError, Result};
use super::model::{Container, Status};
use super::monitor::{spawn_detached, Attach};
use super::sys;
use crate::engine::Engine;

/// A started container whose monitor still reports to us.
pub struct Started {
    reader: BufReader<File>,
    child: Child,
}

impl Started {
    /// The monitor's pid (it resizes the pty on SIGWINCH).
    pub fn monitor_pid(&self) -> u32 {
        self.child.id()
    }

    /// Blocks until the container exited and the monitor cleaned up; its exit code.
    pub fn wait_exit(mut self) -> Result<i64> {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|e| ContainerError::io("reading from the monitor", e))?;
            if n == 0 {
                let _ = self.child.wait();
                return Err(ContainerError::Runtime(
                    "the container monitor exited without reporting the exit code".into(),
                ));
            }
            if let Some(code) = line.trim().strip_prefix("exit ") {
                let _ = self.child.wait();
                return Ok(code.parse().unwrap_or(255));
            }
        }
    }
}

fn poll_until(deadline: Option<Instant>, mut done: impl FnMut() -> Result<bool>) -> Result<bool> {
    let mut delay = Duration::from_millis(5);
    loop {
        if done()? {
            return Ok(true);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

impl Engine {
    /// Starts a created or exited container under a new monitor. A running container is
    /// left alone (as docker does).
    pub fn start_container(&self, c: &Container, attach: Attach) -> Result<Option<Started>> {
        if c.status.is_up() && self.monitor_alive(c) {
            return Ok(None);
        }
        if self.monitor.is_empty() {
            return Err(ContainerError::Runtime(
                "no container monitor configured".into(),
            ));
        }
        let (r, w) = std::io::pipe().map_err(|e| ContainerError::io("creating a pipe", e))?;
        let mut cmd = Command::new(&self.monitor[0]);
        cmd.args(&self.monitor[1..]);
        if attach.stdin {
            cmd.arg("--stdin");
        }
        if attach.output {
            cmd.arg("--attach");
        }
        cmd.arg(&c.id).current_dir("/");
        cmd.stdin(if attach.stdin {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
        if attach.output {
            cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        } else {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.container_dir(&c.id).join("monitor.log"));
            cmd.stdout(Stdio::null());
            cmd.stderr(match log {
                Ok(f) => Stdio::from(f),
                Err(_) => Stdio::null(),
            });
        }
        let child = spawn_detached(cmd, w.into())
            .map_err(|e| ContainerError::io("starting the container monitor", e))?;
        let mut reader = BufReader::new(File::from(std::os::fd::OwnedFd::from(r)));
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| ContainerError::io("reading from the monitor", e))?;
        let line = line.trim();
        if line == "ok" {
            return Ok(Some(Started { reader, child }));
        }
        let mut child = child;
        let _ = child.wait();
        if line == "running" {
            return Ok(None);
        }
        if let Some(rest) = line.strip_prefix("error ") {
            let (code, msg) = rest.split_once(' ').unwrap_or(("125", rest));
            return Err(ContainerError::Start {
                code: code.parse().unwrap_or(125),
                msg: msg.to_string(),
            });
        }
        let detail = std::fs::read_to_string(self.container_dir(&c.id).join("monitor.log"))
            .ok()
            .and_then(|s| s.lines().last().map(String::from))
            .unwrap_or_default();
        Err(ContainerError::Runtime(format!(
            "the container monitor exited before the container started{}",
            if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            }
        )))
    }

    /// Is the container's monitor process still there? (A killed monitor leaves a row that
    /// says running.)
    pub fn monitor_alive(&self, c: &Container) -> bool {
        sys::alive(c.monitor_pid)
    }

    /// The container with its status derived: "running" with a dead monitor is reported
    /// as exited.
    pub fn refresh(&self, mut c: Container) -> Container {
        if c.status.is_up() && !self.monitor_alive(&c) {
            c.status = Status::Exited;
            c.exit_code = if c.exit_code == 0 { 255 } else { c.exit_code };
            c.pid = 0;
        }
        c
    }

    /// Sends a signal to a running container.
    pub fn kill_container(&self, c: &Container, signal: &str) -> Result<()> {
        if !c.status.is_up() || !self.monitor_alive(c) {
            return Err(ContainerError::Conflict(format!(
                "cannot kill container: {}: container {} is not running",
                c.name, c.id
            )));
        }
        let sig = normalize_signal(signal)?;
        self.runtime_kill(&c.id, &sig)
    }

    /// Waits until the container is no longer running (or is gone); true if it stopped.
    pub fn wait_stopped(&self, id: &str, timeout: Option<Duration>) -> Result<bool> {
        let deadline = timeout.map(|t| Instant::now() + t);
        poll_until(deadline, || {
            Ok(match self.container_by_id(id)? {
                None => true,
                Some(c) => !c.status.is_up() || !self.monitor_alive(&c),
            })
        })
    }

    /// docker stop: the stop signal, then SIGKILL after `timeout` seconds.
    pub fn stop_container(&self, c: &Container, timeout: Option<i64>) -> Result<()> {
        if !c.status.is_up() || !self.monitor_alive(c) {
            return Ok(());
        }
        let sig = c
            .config
            .stop_signal
            .clone()
            .unwrap_or_else(|| "SIGTERM".into());
        let secs = timeout.unwrap_or(10);
        if secs != 0 {
            let _ = self.runtime_kill(&c.id, &normalize_signal(&sig)?);
            self.thaw(c);
            let t = if secs < 0 {
                None
            } else {
                Some(Duration::from_secs(secs as u64))
            };
            if self.wait_stopped(&c.id, t)? {
                return Ok(());
            }
        }
        let _ = self.runtime_kill(&c.id, "KILL");
        self.thaw(c);
        self.wait_stopped(&c.id, None)?;
        Ok(())
    }

    /// A paused container gets signals only once thawed (docker thaws on stop and rm -f).
    fn thaw(&self, c: &Container) {
        if c.status == Status::Paused {
            let _ = self.runtime_run(&["resume", &c.id]);
        }
    }

    /// docker rm: refuses a running container unless `force` (which kills it first).
    pub fn remove_container(&self, c: &Container, force: bool) -> Result<()> {
        if c.status.is_up() && self.monitor_alive(c) {
            if !force {
                return Err(ContainerError::Conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    c.name
                )));
            }
            let _ = self.runtime_kill(&c.id, "KILL");
            self.thaw(c);
            self.wait_stopped(&c.id, None)?;
        }
        // A --rm container may already be gone: that is success too.
        match self.container_by_id(&c.id)? {
            None => Ok(()),
            Some(now) => {
                let _ = self.runtime_delete(&now.id);
                self.forget(&now)
            }
        }
    }

    /// docker pause/unpause: freezes or thaws the container's processes.
    pub fn pause_container(&self, c: &Container, pause: bool) -> Result<()> {
        if !c.status.is_up() || !self.monitor_alive(c) {
            return Err(ContainerError::Conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        match (pause, c.status) {
            (true, Status::Paused) => {
                return Err(ContainerError::Conflict(format!(
                    "container {} is already paused",
                    c.id
                )))
            }
            (false, Status::Running) => {
                return Err(ContainerError::Conflict(format!(
                    "container {} is not paused",
                    c.id
                )))
            }
            _ => {}
        }
        self.runtime_run(&[if pause { "pause" } else { "resume" }, &c.id])?;
        let mut now = c.clone();
        now.status = if pause {
            Status::Paused
        } else {
            Status::Running
        };
        // The monitor may have recorded an exit meanwhile; only flip a live state.
        self.store.db.tx(|q| {
            if let Some(row) = q.container(&c.id)? {
                if matches!(row.state.as_str(), "running" | "paused") {
                    q.set_container_state(&c.id, &now.state())?;
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    /// docker wait: blocks until the container stops; its exit code.
    pub fn wait_container(&self, c: &Container) -> Result<i64> {
        // The monitor tells attached clients the code, which outlives a --rm removal.
        let mut told = None;
        if c.status == Status::Running {
            if let Ok(mut sock) = self.attach(c) {
                told = super::attach::read_exit(&mut sock);
            }
        }
        self.wait_stopped(&c.id, None)?;
        Ok(match self.container_by_id(&c.id)? {
            Some(now) => self.refresh(now).exit_code,
            None => told.unwrap_or(c.exit_code),
        })
    }

    /// container prune: removes every stopped container; their IDs.
    pub fn prune_containers(&self) -> Result<Vec<String>> {
        let mut gone = Vec::new();
        for c in self.containers()? {
            let c = self.refresh(c);
            if !c.status.is_up() {
                self.remove_container(&c, false)?;
                gone.push(c.id);
            }
        }
        Ok(gone)
    }
}

/// `9`, `KILL`, `SIGKILL`, `kill` → `SIGKILL`-style names the runtime accepts.
pub fn normalize_signal(s: &str) -> Result<String> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n.to_string());
        }
    } else {
        let up = s.to_uppercase();
        let name = up.strip_prefix("SIG").unwrap_or(&up);
        const KNOWN: &[&str] = &[
            "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "IOT", "BUS", "FPE", "KILL", "USR1",
            "SEGV", "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP",
            "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "POLL", "PWR",
            "SYS",
        ];
        if KNOWN.contains(&name) {
            return Ok(format!("SIG{name}"));
        }
    }
    Err(ContainerError::InvalidArgument(format!(
        "invalid signal: {s}"
    )))
}
