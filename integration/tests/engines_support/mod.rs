//! Harness for the engine tests (`shim_*.rs`, `engines_*.rs`): a private containerd (root,
//! state and socket under a temp dir, optionally with the CRI plugin), the busybox test
//! images built offline from busybox-static (hack/engines/build-images.sh), and a file lock
//! so only one engine test runs at a time on the machine.
//!
//! Binaries: the shim is `$BERTH_TEST_SHIM` or `<target>/debug/containerd-shim-berth-v2`
//! (build it first: `cargo build -p containerd-shim-berth-v2`); the runtime it drives is
//! `$BERTH_TEST_RUNTIME` (default: the workspace's target/debug/berth).
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Held for the whole test: engine tests share cgroup names, CNI and the shim socket dir.
pub struct EngineLock(File);

pub fn lock() -> EngineLock {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/tmp/berth-engines.lock")
        .expect("opening /tmp/berth-engines.lock");
    // SAFETY: flock on an fd we own; blocks until the lock is ours.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock /tmp/berth-engines.lock");
    EngineLock(f)
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

pub fn shim_binary() -> PathBuf {
    let p = std::env::var_os("BERTH_TEST_SHIM")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug/containerd-shim-berth-v2"));
    assert!(
        p.is_file(),
        "{} not found: build it first (cargo build -p containerd-shim-berth-v2) or set BERTH_TEST_SHIM",
        p.display()
    );
    p
}

pub fn test_runtime() -> PathBuf {
    let p = std::env::var_os("BERTH_TEST_RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(berth_integration::runtime_bin);
    assert!(
        p.is_file(),
        "runtime {} not found (BERTH_TEST_RUNTIME)",
        p.display()
    );
    p
}

/// Skips (returns false) when a system program the test needs is missing.
pub fn have(prog: &str) -> bool {
    let ok = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIP: {prog} is not installed (apt-get install containerd docker.io umoci skopeo busybox-static)");
    }
    ok
}

/// Directory with busybox-oci.tar, pause-oci.tar, busybox-docker.tar (built once).
pub fn images() -> PathBuf {
    let dir = target_dir().join("engines/images");
    run_ok(Command::new(workspace().join("hack/engines/build-images.sh")).arg(&dir));
    dir
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this test run, for containers, pods and temp dirs.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[derive(Default)]
pub struct ContainerdOpts {
    /// Enable the CRI plugin with runtime handlers "berth" (our shim) and "runc-berth"
    /// (containerd's runc shim with BinaryName = the test runtime).
    pub cri: bool,
    /// Also put the shim on containerd's PATH as containerd-shim-runc-v2 (as dockerd 20.10
    /// needs); the real runc shim is then shadowed.
    pub shadow_runc_shim: bool,
}

/// A containerd of our own, stopped (with every task and shim it started) on drop.
pub struct Containerd {
    pub dir: PathBuf,
    pub sock: PathBuf,
    child: Child,
    bridge: Option<String>,
    started: std::time::SystemTime,
}

impl Containerd {
    pub fn start(opts: ContainerdOpts) -> Containerd {
        let dir = PathBuf::from(format!("/tmp/{}", unique("bctd")));
        let _ = std::fs::remove_dir_all(&dir);
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("creating containerd dir");
        let shim = shim_binary();
        std::os::unix::fs::symlink(&shim, bin.join("containerd-shim-berth-v2"))
            .expect("linking shim");
        if opts.shadow_runc_shim {
            std::os::unix::fs::symlink(&shim, bin.join("containerd-shim-runc-v2"))
                .expect("linking shim");
        }
        let sock = dir.join("c.sock");
        let runtime = test_runtime();
        let mut cfg = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n[grpc]\n  address = \"{s}\"\n",
            d = dir.display(),
            s = sock.display()
        );
        let mut bridge = None;
        if opts.cri {
            let cni = dir.join("cni");
            std::fs::create_dir_all(&cni).expect("cni dir");
            // one bridge per test (the lock serialises them); removed on drop
            let br = format!("bcni{}", std::process::id() % 100000);
            std::fs::write(
                cni.join("10-berth-test.conflist"),
                format!(
                    r#"{{"cniVersion":"1.0.0","name":"berth-test-{br}","plugins":[{{"type":"bridge","bridge":"{br}","isGateway":true,"ipMasq":false,"ipam":{{"type":"host-local","ranges":[[{{"subnet":"10.89.0.0/16"}}]],"dataDir":"{d}/ipam"}}}},{{"type":"portmap","capabilities":{{"portMappings":true}}}}]}}"#,
                    d = dir.display()
                ),
            )
            .expect("writing cni config");
            bridge = Some(br);
            cfg.push_str(&format!(
                r#"[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.6"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
      runtime_type = "io.containerd.berth.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc-berth]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc-berth.options]
        BinaryName = "{rt}"
        SystemdCgroup = false
"#,
                cni = cni.display(),
                rt = runtime.display()
            ));
        } else {
            cfg.push_str("disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n");
        }
        // `disabled_plugins` must be a top-level key: put it before any table
        let cfg = match cfg.find("disabled_plugins") {
            Some(i) => {
                let line = cfg[i..].to_string();
                format!("{line}{}", &cfg[..i])
            }
            None => cfg,
        };
        std::fs::write(dir.join("config.toml"), cfg).expect("writing containerd config");
        let log = File::create(dir.join("containerd.log")).expect("containerd log");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let started = std::time::SystemTime::now();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .env("PATH", path)
            .env("BERTH_SHIM_RUNTIME", &runtime)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("starting containerd");
        let c = Containerd {
            dir,
            sock,
            child,
            bridge,
            started,
        };
        wait_until("containerd to answer", Duration::from_secs(20), || {
            c.sock.exists() && c.ctr_raw("default", &["version"]).status.success()
        });
        c
    }

    pub fn ctr_raw(&self, ns: &str, args: &[&str]) -> Output {
        run(Command::new("ctr")
            .arg("--address")
            .arg(&self.sock)
            .args(["--namespace", ns])
            .args(args))
    }

    /// ctr in namespace "default"; panics with its output on failure.
    pub fn ctr(&self, args: &[&str]) -> String {
        run_ok(
            Command::new("ctr")
                .arg("--address")
                .arg(&self.sock)
                .args(["--namespace", "default"])
                .args(args),
        )
    }

    pub fn ctr_cmd(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(&self.sock)
            .args(["--namespace", "default"]);
        c
    }

    pub fn import_busybox(&self, ns: &str) {
        let img = images();
        run_ok(
            Command::new("ctr")
                .arg("--address")
                .arg(&self.sock)
                .args([
                    "--namespace",
                    ns,
                    "images",
                    "import",
                    "--base-name",
                    "docker.io/library/busybox",
                ])
                .arg(img.join("busybox-oci.tar")),
        );
    }

    pub fn import_pause(&self) {
        let img = images();
        run_ok(
            Command::new("ctr")
                .arg("--address")
                .arg(&self.sock)
                .args([
                    "--namespace",
                    "k8s.io",
                    "images",
                    "import",
                    "--base-name",
                    "registry.k8s.io/pause",
                ])
                .arg(img.join("pause-oci.tar")),
        );
    }

    /// Pids of shims serving this containerd (their command line names our socket).
    pub fn shim_pids(&self) -> Vec<i32> {
        let needle = self.sock.to_string_lossy().to_string();
        let mut pids = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let cmd = String::from_utf8_lossy(&cmd);
            if cmd.contains("containerd-shim") && cmd.contains(&needle) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Mount points under our temp dir.
    pub fn mounts(&self) -> Vec<String> {
        let prefix = self.dir.to_string_lossy().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&prefix))
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for ns in ["default", "k8s.io"] {
            let tasks = String::from_utf8_lossy(&self.ctr_raw(ns, &["tasks", "ls", "-q"]).stdout)
                .to_string();
            for t in tasks.lines().filter(|t| !t.is_empty()) {
                let _ = self.ctr_raw(ns, &["tasks", "kill", "-a", "-s", "SIGKILL", t]);
                for _ in 0..20 {
                    if self.ctr_raw(ns, &["tasks", "delete", t]).status.success() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in self.shim_pids() {
            // SAFETY: a shim of ours left behind by a failed test.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // sockets of shims that had to be killed (they live in /run/containerd/s)
        for ns in std::fs::read_dir(self.dir.join("state/io.containerd.runtime.v2.task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            for b in std::fs::read_dir(ns.path()).into_iter().flatten().flatten() {
                if let Ok(a) = std::fs::read_to_string(b.path().join("address")) {
                    let _ = std::fs::remove_file(a.trim().trim_start_matches("unix://"));
                }
            }
        }
        let mut mounts = self.mounts();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            if let Ok(c) = std::ffi::CString::new(m) {
                // SAFETY: valid NUL-terminated path.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        if self.bridge.is_some() {
            self.remove_pod_netns();
        }
        if let Some(br) = &self.bridge {
            let _ = Command::new("ip")
                .args(["link", "del", br])
                .stderr(Stdio::null())
                .status();
        }
        if std::env::var_os("BERTH_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Containerd {
    /// The CRI plugin pins each pod's network namespace at /var/run/netns/cni-<uuid> and
    /// removes it with the pod; a test that fails before that would leave it (and its veth)
    /// behind. CRI tests are serialised, so every such file made since this containerd
    /// started is ours.
    fn remove_pod_netns(&self) {
        for e in std::fs::read_dir("/var/run/netns")
            .into_iter()
            .flatten()
            .flatten()
        {
            let ours = e.file_name().to_string_lossy().starts_with("cni-")
                && e.metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t >= self.started);
            if ours {
                if let Ok(c) = std::ffi::CString::new(e.path().as_os_str().as_encoded_bytes()) {
                    // SAFETY: valid NUL-terminated path.
                    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
                }
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Makes `path` an executable script with `body`.
pub fn write_script(path: &Path, body: &str) {
    std::fs::write(path, body).expect("writing script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod script");
}

/// A dockerd of our own on top of a `Containerd` (data root, exec root and socket in a temp
/// dir; no iptables rules: published ports go through docker-proxy; its own bridge).
pub struct Dockerd {
    pub dir: PathBuf,
    pub sock: PathBuf,
    child: Child,
    bridge: String,
}

impl Dockerd {
    /// `runtimes`: extra runtimes for daemon.json (`docker run --runtime=NAME`).
    pub fn start(containerd: &Containerd, runtimes: &[(&str, &Path)]) -> Dockerd {
        let dir = PathBuf::from(format!("/tmp/{}", unique("bdkd")));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating dockerd dir");
        let bridge = format!("bdk{}", std::process::id() % 100000);
        let _ = Command::new("ip")
            .args(["link", "del", &bridge])
            .stderr(Stdio::null())
            .status();
        run_ok(Command::new("ip").args(["link", "add", &bridge, "type", "bridge"]));
        run_ok(Command::new("ip").args(["addr", "add", "10.90.0.1/24", "dev", &bridge]));
        run_ok(Command::new("ip").args(["link", "set", &bridge, "up"]));
        let rts: serde_json::Map<String, serde_json::Value> = runtimes
            .iter()
            .map(|(n, p)| (n.to_string(), serde_json::json!({ "path": p })))
            .collect();
        let cfg = serde_json::json!({
            "storage-driver": "overlay2",
            "iptables": false,
            "ip-forward": false,
            "bridge": bridge,
            "runtimes": rts,
            "exec-opts": ["native.cgroupdriver=cgroupfs"],
        });
        std::fs::write(dir.join("daemon.json"), cfg.to_string()).expect("writing daemon.json");
        let sock = dir.join("d.sock");
        let log = File::create(dir.join("dockerd.log")).expect("dockerd log");
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--containerd")
            .arg(&containerd.sock)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("starting dockerd");
        let d = Dockerd {
            dir,
            sock,
            child,
            bridge,
        };
        wait_until("dockerd to answer", Duration::from_secs(30), || {
            d.sock.exists() && d.docker_raw(&["version"]).status.success()
        });
        d
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("/usr/bin/docker");
        c.arg("-H").arg(format!("unix://{}", self.sock.display()));
        c
    }

    pub fn docker_raw(&self, args: &[&str]) -> Output {
        run(self.cmd().args(args))
    }

    pub fn docker(&self, args: &[&str]) -> String {
        run_ok(self.cmd().args(args))
    }

    pub fn load_busybox(&self) {
        let img = images();
        self.docker(&[
            "load",
            "-i",
            &img.join("busybox-docker.tar").to_string_lossy(),
        ]);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = String::from_utf8_lossy(&self.docker_raw(&["ps", "-aq"]).stdout).to_string();
        for id in ids.lines().filter(|l| !l.is_empty()) {
            let _ = self.docker_raw(&["rm", "-f", id]);
        }
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let prefix = self.dir.to_string_lossy().to_string();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            if let Ok(c) = std::ffi::CString::new(m) {
                // SAFETY: valid NUL-terminated path.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
        if std::env::var_os("BERTH_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
