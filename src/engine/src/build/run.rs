//! A RUN step: an OCI bundle over the step's merged rootfs, run in the foreground with
//! `<runtime> --root <root>/runtime run`, its stdout and stderr streamed into the build output.
//! The runtime deletes the container's state when it exits (no `--keep`).
//
// Spec generation here is a reduced copy of the container code's (`container::spec::generate`
// needs a `Container`); both could later share a builder taking plain parameters.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{json, Value};

use super::BuildError;
use crate::container::spec::DEFAULT_CAPS;
use crate::container::user::ExecUser;
use crate::engine::Engine;

/// Files bind-mounted from the host with `--network host`: name resolution as on the host.
pub const HOST_FILES: &[&str] = &["/etc/resolv.conf", "/etc/hosts"];

/// Every mount destination of the step's spec outside /dev (whose own tmpfs holds the rest).
pub fn mountpoints(host_network: bool) -> Vec<&'static str> {
    let mut v = vec!["/proc", "/dev", "/sys"];
    if host_network {
        v.extend(HOST_FILES.iter().filter(|f| Path::new(f).exists()));
    }
    v
}

pub struct RunSpec<'a> {
    pub id: &'a str,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: ExecUser,
    pub host_network: bool,
}

fn spec(rootfs: &Path, s: &RunSpec) -> Value {
    let caps: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]}),
    ];
    let mut namespaces = vec![
        json!({"type": "mount"}),
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
    ];
    if s.host_network {
        for f in HOST_FILES {
            if Path::new(f).exists() {
                mounts.push(json!({"destination": f, "type": "bind", "source": f, "options": ["rbind", "rprivate", "ro"]}));
            }
        }
    } else {
        namespaces.push(json!({"type": "network"}));
    }
    let mut process = json!({
        "terminal": false,
        "user": {"uid": s.user.uid, "gid": s.user.gid},
        "args": s.args,
        "env": s.env,
        "cwd": s.cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": false,
    });
    if !s.user.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(s.user.additional_gids);
    }
    json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": rootfs.display().to_string(), "readonly": false},
        "hostname": &s.id[..12],
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": format!("/bay/{}", s.id),
            "seccomp": crate::container::seccomp::default_profile(&caps),
            "maskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    })
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// SIGINT/SIGTERM handlers (without SA_RESTART, so the blocked read returns) for the time a
/// step runs; the previous dispositions come back on drop.
struct SignalGuard {
    old: [(libc::c_int, libc::sigaction); 2],
}

impl SignalGuard {
    fn install() -> SignalGuard {
        // SAFETY: zeroed sigaction structs are valid; the handler only touches an atomic.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            let mut old: [(libc::c_int, libc::sigaction); 2] = [
                (libc::SIGINT, std::mem::zeroed()),
                (libc::SIGTERM, std::mem::zeroed()),
            ];
            for (sig, o) in old.iter_mut() {
                libc::sigaction(*sig, &sa, o);
            }
            SignalGuard { old }
        }
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for (sig, o) in &self.old {
            // SAFETY: restoring a disposition sigaction gave us.
            unsafe { libc::sigaction(*sig, o, std::ptr::null_mut()) };
        }
    }
}

/// Runs the step; returns the process's exit code. `out` gets its output as it comes.
pub fn run(
    engine: &Engine,
    bundle: &Path,
    rootfs: &Path,
    s: &RunSpec,
    out: &mut dyn Write,
) -> Result<i32, BuildError> {
    let cfg = spec(rootfs, s);
    fs::write(
        bundle.join("config.json"),
        serde_json::to_vec(&cfg).map_err(|e| BuildError::Io(e.to_string()))?,
    )
    .map_err(|e| BuildError::Io(format!("writing bundle: {e}")))?;
    let runtime = engine
        .runtime_path()
        .map_err(|e| BuildError::Io(e.to_string()))?;
    let (mut r, w) = std::io::pipe().map_err(|e| BuildError::Io(format!("pipe: {e}")))?;
    let w2 = w
        .try_clone()
        .map_err(|e| BuildError::Io(format!("pipe: {e}")))?;
    let mut cmd = std::process::Command::new(&runtime);
    cmd.arg("--root")
        .arg(engine.runtime_root())
        .arg("run")
        .arg("--bundle")
        .arg(bundle)
        .arg(s.id)
        .stdin(Stdio::null())
        .stdout(w)
        .stderr(w2);
    let mut child = cmd.spawn().map_err(|e| {
        BuildError::Io(format!(
            "running the OCI runtime {}: {e}",
            runtime.display()
        ))
    })?;
    // The Command holds the write ends until dropped; the read loop ends at EOF.
    drop(cmd);
    // Ctrl-C or SIGTERM: kill the step's container so the build unwinds and cleans up,
    // instead of dying with the overlay mounted.
    let _signals = SignalGuard::install();
    let mut killed = false;
    let mut buf = [0u8; 16384];
    loop {
        if !killed && INTERRUPTED.load(Ordering::Relaxed) {
            killed = true;
            let _ = engine.runtime_kill(s.id, "KILL");
        }
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let _ = out.write_all(&buf[..n]);
                let _ = out.flush();
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let st = child
        .wait()
        .map_err(|e| BuildError::Io(format!("waiting for the OCI runtime: {e}")))?;
    if INTERRUPTED.load(Ordering::Relaxed) {
        return Err(BuildError::Invalid("build interrupted".into()));
    }
    Ok(st.code().unwrap_or(128 + 9))
}
