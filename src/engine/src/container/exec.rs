//! `exec`: a new process in a running container, through the runtime's `exec`. The process
//! inherits the container's environment, user, working directory and capabilities, like
//! docker's; the caller's stdio is passed straight through (the runtime handles `-t`).

use std::fs;
use std::process::Stdio;

use serde_json::json;

use super::error::{ContainerError, Result};
use super::model::{Container, Status};
use super::{runtime, spec, sys, user};
use crate::engine::Engine;

#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
}

impl Engine {
    /// Runs the process; its exit code (docker's 126/127 when it could not be started).
    pub fn exec(&self, c: &Container, o: &ExecOptions) -> Result<i64> {
        if c.status == Status::Paused {
            return Err(ContainerError::Conflict(format!(
                "container {} is paused, unpause the container before exec",
                c.id
            )));
        }
        if !c.status.is_up() || !self.monitor_alive(c) {
            return Err(ContainerError::Conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        if o.cmd.is_empty() {
            return Err(ContainerError::InvalidArgument(
                "no command specified".into(),
            ));
        }
        let merged = self.rootfs_paths(&c.id).merged;
        let u = user::resolve(&merged, o.user.as_deref().unwrap_or(&c.config.user))?;
        let mut env = super::monitor::process_env(c, &u.home);
        env = super::create::merge_env(&env, &o.env);
        if o.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        let caps = spec::capabilities(c)?;
        let cwd = o
            .workdir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| {
                if c.config.working_dir.is_empty() {
                    "/".into()
                } else {
                    c.config.working_dir.clone()
                }
            });
        let mut process = json!({
            "terminal": o.tty,
            "user": {"uid": u.uid, "gid": u.gid},
            "args": o.cmd,
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        });
        if !u.additional_gids.is_empty() {
            process["user"]["additionalGids"] = json!(u.additional_gids);
        }
        let tag = crate::digest::hex(
            &sys::random32().map_err(|e| ContainerError::io("reading random bytes", e))?[..8],
        );
        let dir = self.container_dir(&c.id);
        let pfile = dir.join(format!("exec-{tag}.json"));
        let lfile = dir.join(format!("exec-{tag}.log"));
        fs::write(&pfile, process.to_string())
            .map_err(|e| ContainerError::io(format!("writing {}", pfile.display()), e))?;
        let mut cmd = self.runtime_command()?;
        cmd.arg("--log")
            .arg(&lfile)
            .args(["--log-format", "json", "exec", "--process"]);
        cmd.arg(&pfile);
        if o.detach {
            cmd.arg("--detach");
        }
        cmd.arg(&c.id);
        if !o.interactive {
            cmd.stdin(Stdio::null());
        }
        if o.detach {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        let st = cmd.status();
        let _ = fs::remove_file(&pfile);
        let log = fs::read_to_string(&lfile).unwrap_or_default();
        let _ = fs::remove_file(&lfile);
        let st = st.map_err(|e| ContainerError::io("running the OCI runtime", e))?;
        if st.success() {
            return Ok(0);
        }
        let runtime_error = log.lines().rev().find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            (v["level"] == "error").then(|| v["msg"].as_str().unwrap_or_default().to_string())
        });
        if let Some(msg) = runtime_error {
            let code = runtime::start_error_code(&msg);
            return Ok(if code == 125 { 126 } else { code as i64 });
        }
        use std::os::unix::process::ExitStatusExt;
        Ok(match (st.code(), st.signal()) {
            (Some(c), _) => c as i64,
            (None, Some(s)) => 128 + s as i64,
            _ => 255,
        })
    }
}
