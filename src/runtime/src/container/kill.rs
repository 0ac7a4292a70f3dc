//! `kill`: a signal to the container's init, or with `all` to every process in it.

use crate::error::{Error, Result};
use crate::state::{Container, Status};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::path::Path;

/// Parses `KILL`, `SIGKILL`, `kill` or `9`.
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| Error::Invalid(format!("unknown signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>()
        .map_err(|_| Error::Invalid(format!("unknown signal {s:?}")))
}

pub fn kill(root: &Path, id: &str, sig: Signal, all: bool) -> Result<()> {
    let c = Container::load(root, id)?;
    let status = c.status();
    if status == Status::Stopped {
        // containerd's runc shim recognises exactly runc's "container not running" and treats
        // it as "process already finished".
        return Err(Error::Invalid(format!(
            "cannot kill container {id}: container not running"
        )));
    }
    if all {
        signal_all(&c, sig)?;
        return Ok(());
    }
    nix::sys::signal::kill(Pid::from_raw(c.saved.pid), sig).map_err(|e| Error::Io {
        op: format!("kill container {id} init {}", c.saved.pid),
        source: e.into(),
    })
}

/// Signals every process of the container. Like runc, the cgroup is frozen meanwhile so no
/// process can fork past the signal, and thawed afterwards so the signal is delivered.
pub fn signal_all(c: &Container, sig: Signal) -> Result<()> {
    let cg = if c.saved.no_cgroup {
        None
    } else {
        Some(c.cgroup()?)
    };
    let froze = cg.as_ref().is_some_and(|cg| cg.freeze().is_ok());
    for pid in super::pids(c)? {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
    }
    if let Some(cg) = cg.filter(|cg| froze || cg.is_frozen().unwrap_or(false)) {
        let _ = cg.thaw();
    }
    Ok(())
}
