//! The runtime under test, driven through the runtime-spec CLI (runc's command line):
//! `RUNTIME --root ROOT create --bundle DIR ID`, `start ID`, `state ID`, `kill ID SIG`, `delete ID`.

use anyhow::{Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What crun prints when it refuses a hybrid cgroup layout with controllers on cgroup2.
pub const HYBRID_ERROR: &str = "cgroups in hybrid mode not supported";

pub struct Runtime {
    pub path: PathBuf,
    pub root: PathBuf,
    /// Extra environment (the sabotage wrapper's settings).
    pub env: Vec<(String, String)>,
}

#[derive(Debug, Default)]
pub struct Out {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Out {
    /// A one-line summary for failure messages.
    pub fn brief(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let last = text
            .trim()
            .lines()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
            .join(" | ");
        let status = if self.timed_out {
            "timed out".to_string()
        } else {
            format!("exit {:?}", self.code)
        };
        format!("{status}: {}", last.chars().take(300).collect::<String>())
    }
}

/// Per command: runc and crun answer in well under a second; a hung runtime costs this much.
pub const TIMEOUT: Duration = Duration::from_secs(5);

impl Runtime {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.path);
        c.arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs a runtime command capturing its output.
    pub fn run(&self, args: &[&str]) -> Result<Out> {
        let mut c = self.command(args);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        run_with_timeout(c, TIMEOUT)
    }

    /// `create`, with the container's stdio going to files in the bundle (the runtime hands its
    /// own stdio to the container process, so pipes would stay open until it exits).
    pub fn create(&self, id: &str, bundle: &Path, extra: &[&str]) -> Result<Out> {
        let out = std::fs::File::create(bundle.join("stdout")).context("creating stdout file")?;
        let err = std::fs::File::create(bundle.join("stderr")).context("creating stderr file")?;
        let b = bundle.to_string_lossy().to_string();
        let pid_file = bundle.join("container.pid").to_string_lossy().to_string();
        let _ = std::fs::remove_file(&pid_file);
        let mut args = vec![
            "create",
            "--bundle",
            b.as_str(),
            "--pid-file",
            pid_file.as_str(),
        ];
        args.extend_from_slice(extra);
        args.push(id);
        let mut c = self.command(&args);
        c.stdout(out).stderr(err);
        let mut o = run_with_timeout(c, TIMEOUT)?;
        o.stderr = std::fs::read_to_string(bundle.join("stderr")).unwrap_or_default();
        Ok(o)
    }
}

pub fn run_with_timeout(mut c: Command, timeout: Duration) -> Result<Out> {
    let mut child = c
        .spawn()
        .with_context(|| format!("running {:?}", c.get_program()))?;
    let mut so = child.stdout.take();
    let mut se = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(p) = so.as_mut() {
            let _ = p.read_to_string(&mut s);
        }
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(p) = se.as_mut() {
            let _ = p.read_to_string(&mut s);
        }
        s
    });
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    // A runtime may leave a grandchild holding the pipes (a container started with `run`);
    // don't wait for those readers past the deadline.
    let join = |t: std::thread::JoinHandle<String>| {
        let until = Instant::now() + Duration::from_millis(500);
        while !t.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        if t.is_finished() {
            t.join().unwrap_or_default()
        } else {
            String::new()
        }
    };
    Ok(Out {
        ok: status.success() && !timed_out,
        code: status.code(),
        stdout: join(t_out),
        stderr: join(t_err),
        timed_out,
    })
}
