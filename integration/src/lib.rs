//! Shared harness for the end-to-end tests: a runtime binary (berth by default, or runc/crun
//! through `BERTH_TEST_RUNTIME`), throw-away bundles from the busybox rootfs, and a private
//! `--root` per test so each can check it left nothing behind.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The runtime under test: `BERTH_TEST_RUNTIME`, else the workspace's debug berth.
pub fn runtime_bin() -> PathBuf {
    if let Ok(p) = std::env::var("BERTH_TEST_RUNTIME") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace().join("target"));
    target.join("debug/berth")
}

/// Whether the runtime under test is berth (error texts are only checked for berth).
pub fn is_berth() -> bool {
    runtime_bin()
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("berth"))
}

/// Whether the runtime under test is crun, whose `list`/`ps` output and signal parsing differ
/// from runc's (berth follows runc).
pub fn is_crun() -> bool {
    runtime_bin()
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("crun"))
}

/// The busybox rootfs template, built once by hack/rootfs.sh.
pub fn template() -> PathBuf {
    let dir = workspace().join("target/bundle");
    let lock = workspace().join("target/.bundle.lock");
    let _ = std::fs::create_dir_all(workspace().join("target"));
    let f = std::fs::File::create(&lock).expect("create bundle lock");
    // SAFETY: flock on an fd we own; serialises the one-time build across test binaries.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) };
    if !dir.join("rootfs/bin/busybox").exists() {
        let st = Command::new("bash")
            .arg(workspace().join("hack/rootfs.sh"))
            .arg(&dir)
            .stdout(Stdio::null())
            .status()
            .expect("run hack/rootfs.sh");
        assert!(st.success(), "hack/rootfs.sh failed");
    }
    dir
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A bundle plus a private state root; everything is removed on drop.
pub struct Env {
    pub dir: PathBuf,
    pub bundle: PathBuf,
    pub root: PathBuf,
    pub config: Value,
    ids: std::cell::RefCell<Vec<String>>,
}

impl Env {
    pub fn new(name: &str) -> Env {
        let t = template();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let dir = PathBuf::from(format!("/tmp/berth-it-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let bundle = dir.join("bundle");
        std::fs::create_dir_all(&bundle).unwrap();
        let st = Command::new("cp")
            .arg("-al")
            .arg(t.join("rootfs"))
            .arg(bundle.join("rootfs"))
            .status()
            .expect("cp rootfs");
        assert!(st.success());
        // /etc is written by tests (hosts, passwd): give the bundle real copies.
        let _ = std::fs::remove_dir_all(bundle.join("rootfs/etc"));
        let st = Command::new("cp")
            .arg("-a")
            .arg(t.join("rootfs/etc"))
            .arg(bundle.join("rootfs/etc"))
            .status()
            .unwrap();
        assert!(st.success());
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(t.join("config.json")).unwrap()).unwrap();
        // Tests write into their own rootfs copy; read-only roots are tested explicitly.
        config["root"]["readonly"] = false.into();
        let env = Env {
            root: dir.join("root"),
            dir,
            bundle,
            config,
            ids: Default::default(),
        };
        env.set_args(&["true"]);
        env
    }

    /// Container ids are unique per test so parallel tests never collide.
    pub fn id(&self, s: &str) -> String {
        let id = format!(
            "{s}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        self.ids.borrow_mut().push(id.clone());
        id
    }

    pub fn write_config(&self) {
        std::fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) {
        f(&mut self.config);
        self.write_config();
    }

    pub fn set_args(&self, args: &[&str]) {
        let mut c = self.config.clone();
        c["process"]["args"] = serde_json::json!(args);
        std::fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(&c).unwrap(),
        )
        .unwrap();
    }

    pub fn args(&mut self, args: &[&str]) {
        self.config["process"]["args"] = serde_json::json!(args);
        self.write_config();
    }

    pub fn sh(&mut self, script: &str) {
        self.args(&["sh", "-c", script]);
    }

    /// The runtime with `--root` and `cwd` set to the bundle.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(runtime_bin());
        c.arg("--root").arg(&self.root).current_dir(&self.bundle);
        c
    }

    /// Runs the runtime. stdout and stderr go through files, not pipes: a detached
    /// container inherits them and would hold a pipe open for its whole life.
    pub fn rt(&self, args: &[&str]) -> Output {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let _ = std::fs::create_dir_all(&self.dir);
        let (op, ep) = (
            self.dir.join(format!(".out{n}")),
            self.dir.join(format!(".err{n}")),
        );
        let status = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&op).expect("create stdout file"))
            .stderr(std::fs::File::create(&ep).expect("create stderr file"))
            .status()
            .expect("run the runtime");
        let out = Output {
            status,
            stdout: std::fs::read(&op).unwrap_or_default(),
            stderr: std::fs::read(&ep).unwrap_or_default(),
        };
        let _ = std::fs::remove_file(op);
        let _ = std::fs::remove_file(ep);
        out
    }

    /// Runs the runtime and asserts success.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.rt(args);
        assert!(
            out.status.success(),
            "{:?} failed: {}{}",
            args,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the runtime, asserts failure, returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.rt(args);
        assert!(
            !out.status.success(),
            "{:?} should have failed: {}",
            args,
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `run` in the foreground: (exit code, stdout, stderr).
    pub fn run(&self, id: &str) -> (i32, String, String) {
        let out = self.rt(&["run", id]);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs the configured process and returns its stdout, asserting exit 0.
    pub fn output(&self) -> String {
        let id = self.id("out");
        let (code, out, err) = self.run(&id);
        assert_eq!(code, 0, "container failed: {out}{err}");
        out
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state is json")
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Container directories left under this test's root.
    pub fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(&self.root)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn assert_clean(&self) {
        assert_eq!(self.leftovers(), Vec::<String>::new(), "state left behind");
        for id in self.ids.borrow().iter() {
            assert!(!cgroup_exists(id), "cgroup of {id} left behind");
        }
    }

    /// Waits for the container to reach `status` (at most ~5 s).
    pub fn wait_status(&self, id: &str, status: &str) {
        for _ in 0..500 {
            // The container may not exist yet when a `run` was just spawned.
            let out = self.rt(&["state", id]);
            let st: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            if st["status"] == status {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("container {id} never became {status}: {}", self.status(id));
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self
                .cmd()
                .args(["delete", "-f", id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether a cgroup directory named after `id` exists in the memory hierarchy (v1) or the
/// unified one.
pub fn cgroup_exists(id: &str) -> bool {
    [
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup",
    ]
    .iter()
    .any(|h| Path::new(h).join(id).exists())
}

pub fn contains(hay: &str, needle: &str) -> bool {
    hay.contains(needle)
}
