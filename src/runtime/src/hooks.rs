//! OCI hooks: each runs with the container state on stdin, its own env, and an optional timeout.

use crate::spec::Hook;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{kind} hook #{index} {path}: {msg}")]
    Failed {
        kind: &'static str,
        index: usize,
        path: String,
        msg: String,
    },
}

/// Runs `hooks` in order; stops at the first failure.
pub fn run(kind: &'static str, hooks: &[Hook], state_json: &[u8]) -> Result<(), HookError> {
    for (index, h) in hooks.iter().enumerate() {
        run_one(h, state_json).map_err(|msg| HookError::Failed {
            kind,
            index,
            path: h.path.clone(),
            msg,
        })?;
    }
    Ok(())
}

/// Runs every hook even when one fails, returning the failures: for poststart and poststop,
/// where the spec says a failure is logged as a warning and the lifecycle goes on.
pub fn run_all(kind: &'static str, hooks: &[Hook], state_json: &[u8]) -> Vec<HookError> {
    hooks
        .iter()
        .enumerate()
        .filter_map(|(index, h)| {
            run_one(h, state_json).err().map(|msg| HookError::Failed {
                kind,
                index,
                path: h.path.clone(),
                msg,
            })
        })
        .collect()
}

fn run_one(h: &Hook, state_json: &[u8]) -> Result<(), String> {
    let mut cmd = Command::new(&h.path);
    if let Some((arg0, rest)) = h.args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear()
        .envs(h.env.iter().filter_map(|e| e.split_once('=')))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that doesn't read its stdin gets EPIPE here; that's fine.
        let _ = stdin.write_all(state_json);
    }
    let deadline = h
        .timeout
        .map(|t| Instant::now() + Duration::from_secs(t.max(0) as u64));
    let mut pause = Duration::from_micros(200);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) => {}
            Err(e) => return Err(format!("wait: {e}")),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {}s", h.timeout.unwrap_or(0)));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    let out = child.wait_with_output().map_err(|e| format!("wait: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = stderr.trim().replace('\n', " ");
    let status = match out.status.code() {
        Some(c) => format!("exit status {c}"),
        None => "killed by a signal".to_string(),
    };
    if stderr.is_empty() {
        Err(status)
    } else {
        Err(format!("{status}: {stderr}"))
    }
}
