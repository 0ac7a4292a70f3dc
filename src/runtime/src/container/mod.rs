//! The lifecycle verbs, one file each, over `state::Container`.

mod create;
mod delete;
mod exec;
pub mod foreground;
mod kill;
mod ps;
mod start;

pub use create::{create, CreateOpts};
pub use delete::delete;
pub use exec::{exec, ExecOpts};
pub use kill::{kill, parse_signal};
pub use ps::pids;
pub use start::start;

use crate::error::Result;
use crate::spec::Spec;
use crate::state::{Container, OciState, Status};

/// The copy of config.json kept in the state dir: `exec` and hooks use the config the
/// container was created with, not whatever the bundle holds now.
pub const CONFIG_COPY: &str = "config.json";

pub fn load_spec(c: &Container) -> Result<Spec> {
    let path = c.dir.join(CONFIG_COPY);
    let data = std::fs::read(&path)
        .map_err(crate::error::Error::io(format!("read {}", path.display())))?;
    serde_json::from_slice(&data).map_err(|source| {
        crate::spec::SpecError::Parse {
            path: path.display().to_string(),
            source,
        }
        .into()
    })
}

/// The state as hooks see it on stdin.
pub fn hook_state(c: &Container, status: Status) -> Vec<u8> {
    let mut s: OciState = c.oci_state();
    s.status = status;
    if status == Status::Stopped {
        s.pid = 0;
    }
    serde_json::to_vec(&s).unwrap_or_default()
}

/// Waits up to `timeout` for the container's init to be gone.
pub fn wait_gone(c: &Container, timeout: std::time::Duration) -> bool {
    let end = std::time::Instant::now() + timeout;
    let mut pause = std::time::Duration::from_micros(100);
    while c.init_alive() {
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(10));
    }
    true
}

/// The container's configured process, the base `exec` starts from (as runc does).
pub fn base_process(root: &std::path::Path, id: &str) -> Result<crate::spec::Process> {
    let c = Container::load(root, id)?;
    let spec = load_spec(&c)?;
    spec.process
        .ok_or_else(|| crate::error::Error::Invalid(format!("container {id} has no process")))
}
