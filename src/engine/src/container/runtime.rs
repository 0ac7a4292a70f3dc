//! The OCI runtime binary (berth by default; runc and crun work too) and the runc-CLI verbs
//! bay calls on it. Its state lives under `<root>/runtime`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::error::{ContainerError, Result};
use crate::engine::Engine;

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

impl Engine {
    /// `--runtime`/`BAY_RUNTIME`, else `berth` next to the running binary, else `berth` or
    /// `runc` on PATH.
    pub fn runtime_path(&self) -> Result<PathBuf> {
        if let Some(p) = &self.runtime {
            return Ok(p.clone());
        }
        if let Some(p) = std::env::var_os("BAY_RUNTIME") {
            return Ok(PathBuf::from(p));
        }
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(PathBuf::from))
        {
            let p = dir.join("berth");
            if p.is_file() {
                return Ok(p);
            }
        }
        on_path("berth").or_else(|| on_path("runc")).ok_or_else(|| {
            ContainerError::Runtime(
                "no OCI runtime found: install berth or runc, or pass --runtime PATH".into(),
            )
        })
    }

    pub(crate) fn runtime_command(&self) -> Result<Command> {
        let mut c = Command::new(self.runtime_path()?);
        c.arg("--root").arg(self.runtime_root());
        Ok(c)
    }

    /// Runs a runtime verb, returning its stderr as the error.
    pub(crate) fn runtime_run(&self, args: &[&str]) -> Result<()> {
        let out = self
            .runtime_command()?
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| ContainerError::io("running the OCI runtime", e))?;
        if out.status.success() {
            Ok(())
        } else {
            let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
            Err(ContainerError::Runtime(if msg.is_empty() {
                format!(
                    "runtime {} failed: {}",
                    args.first().unwrap_or(&""),
                    out.status
                )
            } else {
                msg.lines().last().unwrap_or_default().to_string()
            }))
        }
    }

    /// Sends a signal (name or number) to the container's init.
    pub fn runtime_kill(&self, id: &str, signal: &str) -> Result<()> {
        self.runtime_run(&["kill", id, signal])
    }

    /// Forgets the runtime's state of the container, killing what is left.
    pub fn runtime_delete(&self, id: &str) -> Result<()> {
        self.runtime_run(&["delete", "--force", id])
    }
}

/// docker's exit code for a runtime error while starting a process: 127 when the command
/// was not found, 126 when it could not be invoked, 125 otherwise.
pub fn start_error_code(msg: &str) -> u8 {
    let m = msg.to_lowercase();
    if m.contains("executable file not found") || m.contains("no such file or directory") {
        127
    } else if m.contains("permission denied")
        || m.contains("is a directory")
        || m.contains("exec format error")
    {
        126
    } else {
        125
    }
}
