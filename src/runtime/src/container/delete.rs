//! `delete`: remove a stopped (or, with force, any) container and everything it made.

use super::kill::signal_all;
use crate::error::{Error, Result};
use crate::state::{Container, StateError, Status};
use nix::sys::signal::Signal;
use std::path::Path;
use std::time::Duration;

pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let c = match Container::load(root, id) {
        Ok(c) => c,
        Err(StateError::NotExist(_)) if force => {
            // A create that died half way leaves a directory without state.json.
            let dir = root.join(id);
            if crate::id::validate(id).is_ok()
                && dir.is_dir()
                && !dir.join(crate::state::STATE_FILE).exists()
            {
                let _ = std::fs::remove_dir_all(dir);
            }
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    match c.status() {
        Status::Stopped => {}
        Status::Created => kill_and_wait(&c)?,
        s @ (Status::Running | Status::Paused) if !force => {
            return Err(Error::WrongState {
                action: "delete",
                id: id.to_string(),
                status: s,
            })
        }
        _ => kill_and_wait(&c)?,
    }
    destroy(&c)
}

fn kill_and_wait(c: &Container) -> Result<()> {
    signal_all(c, Signal::SIGKILL)?;
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.saved.pid), Signal::SIGKILL);
    if !super::wait_gone(c, Duration::from_secs(10)) {
        return Err(Error::Invalid(format!(
            "container {} init {} did not exit after SIGKILL",
            c.saved.id, c.saved.pid
        )));
    }
    Ok(())
}

/// Removes the cgroup and state, then runs poststop hooks (failures are warnings).
pub fn destroy(c: &Container) -> Result<()> {
    let spec = super::load_spec(c).ok();
    let state = super::hook_state(c, Status::Stopped);
    if let Ok(cg) = c.cgroup() {
        // Processes outside a pid namespace of their own may linger a moment after SIGKILL.
        for _ in 0..50 {
            match cg.destroy() {
                Ok(()) => break,
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
    c.remove_dir()?;
    if let Some(h) = spec.as_ref().and_then(|s| s.hooks.as_ref()) {
        for e in crate::hooks::run_all("poststop", &h.poststop, &state) {
            eprintln!("warning: {e}");
        }
    }
    Ok(())
}
