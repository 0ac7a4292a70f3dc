//! Drives a runc-compatible runtime binary (berth by default, or runc/crun), one process per
//! operation, exactly as containerd-shim-runc-v2 calls runc. Errors come back through the JSON
//! `--log` file, as runc and berth write them.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::exits;

/// The runtime binary used when neither the runtime options nor the environment name one.
pub const DEFAULT_BINARY: &str = "berth";
/// Environment variable (in containerd's environment, inherited by the shim) naming the
/// runtime binary; the `BinaryName` runtime option wins over it.
pub const BINARY_ENV: &str = "BERTH_SHIM_RUNTIME";

#[derive(Debug, Clone)]
pub struct Runtime {
    pub binary: PathBuf,
    /// State root of the runtime (`--root`), already including the namespace.
    pub root: PathBuf,
    pub systemd_cgroup: bool,
}

/// The container's stdio, handed to the runtime as its own stdin/stdout/stderr
/// (runc passes them on to the container process).
#[derive(Default)]
pub struct ProcStdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// Options of `create` and `exec`.
#[derive(Default)]
pub struct LaunchOpts<'a> {
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
}

/// Finds the runtime binary: a path is taken as is; a bare name is looked up next to the shim
/// executable first, then on PATH.
pub fn resolve_binary(name: &str) -> Result<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(Error::InvalidArgument(format!(
                "runtime binary {name} is not an executable file"
            )))
        };
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "runtime binary {name:?} not found next to the shim or on PATH"
            ))
        })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// What one runtime invocation produced.
struct Outcome {
    status: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Runtime {
    fn command(&self, log: Option<&Path>) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.root);
        if let Some(log) = log {
            c.arg("--log").arg(log).args(["--log-format", "json"]);
        }
        if self.systemd_cgroup {
            c.arg("--systemd-cgroup");
        }
        c
    }

    /// Runs one runtime command. `stdio` (if any) becomes the runtime's stdio; otherwise stdout
    /// is captured. `input` is written to stdin.
    fn run(
        &self,
        what: &str,
        log: Option<&Path>,
        args: &[OsString],
        stdio: Option<ProcStdio>,
        input: Option<&[u8]>,
    ) -> Result<Vec<u8>> {
        let log_start = log
            .and_then(|l| l.metadata().ok())
            .map(|m| m.len())
            .unwrap_or(0);
        let out = self.spawn_and_wait(log, args, stdio, input)?;
        if out.status == 0 {
            return Ok(out.stdout);
        }
        let msg = log
            .and_then(|l| last_error(l, log_start))
            .or_else(|| {
                let s = String::from_utf8_lossy(&out.stderr).trim().to_string();
                (!s.is_empty()).then_some(s)
            })
            .unwrap_or_else(|| {
                format!(
                    "{} exited with status {}",
                    self.binary.display(),
                    out.status
                )
            });
        Err(Error::Runtime(format!("OCI runtime {what} failed: {msg}")))
    }

    fn spawn_and_wait(
        &self,
        log: Option<&Path>,
        args: &[OsString],
        stdio: Option<ProcStdio>,
        input: Option<&[u8]>,
    ) -> Result<Outcome> {
        if !is_executable(&self.binary) {
            // std's spawn waits for a child whose exec failed itself, racing our reaper
            return Err(Error::InvalidArgument(format!(
                "runtime binary {} is not an executable file",
                self.binary.display()
            )));
        }
        exits::init();
        let mut cmd = self.command(log);
        cmd.args(args);
        let err_file = memfile("runtime-stderr")?;
        let capture = stdio.is_none();
        match stdio {
            Some(s) => {
                cmd.stdin(s.stdin.map(Stdio::from).unwrap_or_else(Stdio::null));
                cmd.stdout(s.stdout.map(Stdio::from).unwrap_or_else(Stdio::null));
                cmd.stderr(s.stderr.map(Stdio::from).unwrap_or_else(Stdio::null));
            }
            None => {
                cmd.stdin(if input.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                });
                cmd.stdout(Stdio::piped());
                cmd.stderr(Stdio::from(
                    err_file.try_clone().map_err(|e| Error::io("dup", e))?,
                ));
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("running {}", self.binary.display()), e))?;
        let pid = child.id() as i32;
        // Register before reading: the exit may be reaped at any time from now on.
        let (tx, rx) = std::sync::mpsc::channel();
        if !exits::direct() {
            exits::route(pid, tx);
        }
        if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
            use std::io::Write;
            let _ = stdin.write_all(data);
        }
        let mut stdout = Vec::new();
        if capture {
            if let Some(mut o) = child.stdout.take() {
                let _ = o.read_to_end(&mut stdout);
            }
        }
        drop(cmd);
        let status = if exits::direct() {
            child.wait().ok().and_then(|s| s.code()).unwrap_or(-1)
        } else {
            rx.recv().map(|e| e.status).unwrap_or(-1)
        };
        let mut stderr = Vec::new();
        let mut f = err_file;
        let _ = f
            .seek(SeekFrom::Start(0))
            .and_then(|_| f.read_to_end(&mut stderr));
        Ok(Outcome {
            status,
            stdout,
            stderr,
        })
    }

    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        opts: &LaunchOpts,
        stdio: ProcStdio,
    ) -> Result<()> {
        let mut a: Vec<OsString> = vec!["create".into(), "--bundle".into(), bundle.into()];
        push_launch_opts(&mut a, opts);
        a.push(id.into());
        self.run(
            "create",
            Some(&bundle.join("log.json")),
            &a,
            Some(stdio),
            None,
        )
        .map(drop)
    }

    pub fn start(&self, id: &str, bundle: &Path) -> Result<()> {
        self.run(
            "start",
            Some(&bundle.join("log.json")),
            &["start".into(), id.into()],
            None,
            None,
        )
        .map(drop)
    }

    pub fn exec(
        &self,
        id: &str,
        bundle: &Path,
        process: &Path,
        opts: &LaunchOpts,
        stdio: ProcStdio,
    ) -> Result<()> {
        let mut a: Vec<OsString> = vec![
            "exec".into(),
            "--process".into(),
            process.into(),
            "--detach".into(),
        ];
        push_launch_opts(&mut a, opts);
        a.push(id.into());
        self.run(
            "exec",
            Some(&bundle.join("log.json")),
            &a,
            Some(stdio),
            None,
        )
        .map(drop)
    }

    pub fn kill(&self, id: &str, bundle: &Path, signal: u32, all: bool) -> Result<()> {
        let mut a: Vec<OsString> = vec!["kill".into()];
        if all {
            a.push("--all".into());
        }
        a.push(id.into());
        a.push(signal.to_string().into());
        self.run("kill", Some(&bundle.join("log.json")), &a, None, None)
            .map(drop)
    }

    pub fn delete(&self, id: &str, bundle: Option<&Path>, force: bool) -> Result<()> {
        let mut a: Vec<OsString> = vec!["delete".into()];
        if force {
            a.push("--force".into());
        }
        a.push(id.into());
        let log = bundle.map(|b| b.join("log.json"));
        self.run("delete", log.as_deref(), &a, None, None).map(drop)
    }

    pub fn pause(&self, id: &str, bundle: &Path) -> Result<()> {
        self.run(
            "pause",
            Some(&bundle.join("log.json")),
            &["pause".into(), id.into()],
            None,
            None,
        )
        .map(drop)
    }

    pub fn resume(&self, id: &str, bundle: &Path) -> Result<()> {
        self.run(
            "resume",
            Some(&bundle.join("log.json")),
            &["resume".into(), id.into()],
            None,
            None,
        )
        .map(drop)
    }

    /// `update --resources -` with the OCI LinuxResources JSON on stdin.
    pub fn update(&self, id: &str, bundle: &Path, resources_json: &[u8]) -> Result<()> {
        let a: Vec<OsString> = vec!["update".into(), "--resources".into(), "-".into(), id.into()];
        self.run(
            "update",
            Some(&bundle.join("log.json")),
            &a,
            None,
            Some(resources_json),
        )
        .map(drop)
    }

    /// Pids of every process in the container.
    pub fn ps(&self, id: &str, bundle: &Path) -> Result<Vec<u32>> {
        let a: Vec<OsString> = vec!["ps".into(), "--format".into(), "json".into(), id.into()];
        let out = self.run("ps", Some(&bundle.join("log.json")), &a, None, None)?;
        let text = String::from_utf8_lossy(&out);
        let text = text.trim();
        if text.is_empty() || text == "null" {
            return Ok(Vec::new());
        }
        serde_json::from_str(text)
            .map_err(|e| Error::Runtime(format!("parsing the runtime's ps output: {e}")))
    }

    /// Output of `<binary> features` (OCI runtime features JSON).
    pub fn features(&self) -> Result<Vec<u8>> {
        let out = self.spawn_and_wait(None, &["features".into()], None, None)?;
        if out.status != 0 {
            return Err(Error::Runtime(format!(
                "{} features failed: {}",
                self.binary.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(out.stdout)
    }

    /// First line of `<binary> --version`.
    pub fn version(&self) -> String {
        let mut c = Command::new(&self.binary);
        c.arg("--version");
        self.spawn_version(c).unwrap_or_default()
    }

    fn spawn_version(&self, mut c: Command) -> Option<String> {
        exits::init();
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = c.spawn().ok()?;
        let pid = child.id() as i32;
        let (tx, rx) = std::sync::mpsc::channel();
        if !exits::direct() {
            exits::route(pid, tx);
        }
        let mut s = String::new();
        child.stdout.take()?.read_to_string(&mut s).ok()?;
        if exits::direct() {
            let _ = child.wait();
        } else {
            let _ = rx.recv();
        }
        s.lines().next().map(str::to_string)
    }
}

fn push_launch_opts(a: &mut Vec<OsString>, o: &LaunchOpts) {
    if let Some(p) = o.pid_file {
        a.push("--pid-file".into());
        a.push(p.into());
    }
    if let Some(s) = o.console_socket {
        a.push("--console-socket".into());
        a.push(s.into());
    }
    if o.no_pivot {
        a.push("--no-pivot".into());
    }
    if o.no_new_keyring {
        a.push("--no-new-keyring".into());
    }
}

/// The last error message the runtime wrote to its JSON log after byte `from`.
fn last_error(log: &Path, from: u64) -> Option<String> {
    let mut f = File::open(log).ok()?;
    f.seek(SeekFrom::Start(from)).ok()?;
    let mut s = String::new();
    f.read_to_string(&mut s).ok()?;
    s.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| matches!(v["level"].as_str(), Some("error" | "fatal")))
        .filter_map(|v| v["msg"].as_str().map(str::to_string))
        .next_back()
}

/// An anonymous in-memory file (to collect a child's stderr without a reader thread).
fn memfile(name: &str) -> Result<File> {
    let cname = std::ffi::CString::new(name).unwrap_or_default();
    // SAFETY: memfd_create takes a valid NUL-terminated name; a non-negative result is a new
    // fd we own.
    let fd = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::io("memfd_create", std::io::Error::last_os_error()));
    }
    // SAFETY: fd was just created and is owned by nothing else.
    Ok(unsafe { File::from_raw_fd(fd) })
}
