//! Shared helpers for the bay end-to-end tests: the `bay` binary, a private store per test,
//! a real Debian `docker-registry` on a free loopback port, and busybox test images.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

static BUILD: Once = Once::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The bay binary: `$BAY_BIN`, else `target/<profile>/bay` beside this test (built on demand).
pub fn bay_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BAY_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test exe path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "bay"]);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("running cargo build -p bay");
        assert!(st.success(), "cargo build -p bay failed");
    });
    dir.join("bay")
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("bay-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("creating temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One bay store with its own client config (credentials) and registries config.
pub struct Bay {
    pub dir: TempDir,
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Bay {
    pub fn new() -> Bay {
        Bay {
            dir: TempDir::new("store"),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn docker_config(&self) -> PathBuf {
        self.dir.path().join("docker-config")
    }

    pub fn registries_config(&self) -> PathBuf {
        self.dir.path().join("registries.json")
    }

    pub fn set_registries(&self, json: &serde_json::Value) {
        std::fs::write(self.registries_config(), json.to_string())
            .expect("writing registries config");
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(bay_bin());
        c.env("BAY_ROOT", self.root())
            .env("BAY_REGISTRIES_CONFIG", self.registries_config())
            .env("DOCKER_CONFIG", self.docker_config())
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        out(self.command().args(args).output().expect("running bay"))
    }

    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Out {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running bay");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("writing stdin");
        out(child.wait_with_output().expect("waiting for bay"))
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.code, 0, "bay {args:?} failed: {}{}", o.stdout, o.stderr);
        o.stdout
    }

    /// Runs and asserts failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> Out {
        let o = self.run(args);
        assert_ne!(o.code, 0, "bay {args:?} should fail: {}", o.stdout);
        o
    }

    /// Everything under root/tmp: must be empty after any command, failed or not.
    pub fn tmp_entries(&self) -> Vec<String> {
        std::fs::read_dir(self.root().join("tmp"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn snapshots(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.root().join("snapshots"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    pub fn blobs(&self) -> Vec<String> {
        std::fs::read_dir(self.root().join("blobs/sha256"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Imports a busybox rootfs as `name`; returns the image ID.
    pub fn import_busybox(&self, name: &str, extra: &str) -> String {
        let t = busybox_tar(extra);
        let out = self.ok(&["import", t.1.to_str().expect("path"), name]);
        out.trim().to_string()
    }
}

fn out(o: Output) -> Out {
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).to_string(),
        stderr: String::from_utf8_lossy(&o.stderr).to_string(),
    }
}

/// A tarball of a tiny busybox root filesystem; `extra` goes into /etc/extra so that
/// different calls give different layers. Returns the temp dir (keep it alive) and the tar.
pub fn busybox_tar(extra: &str) -> (TempDir, PathBuf) {
    let d = TempDir::new("rootfs");
    let root = d.path().join("rootfs");
    for sub in ["bin", "etc", "tmp"] {
        std::fs::create_dir_all(root.join(sub)).expect("mkdir");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("copy busybox (install busybox-static)");
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).expect("symlink");
    std::fs::write(root.join("etc/extra"), extra).expect("write");
    let tar = d.path().join("rootfs.tar");
    run_ok(
        Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    (d, tar)
}

pub fn run_ok(c: &mut Command) -> String {
    let o = c.output().unwrap_or_else(|e| panic!("running {c:?}: {e}"));
    assert!(
        o.status.success(),
        "{c:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A Debian `docker-registry` on 127.0.0.1, stopped on drop.
pub struct Registry {
    pub port: u16,
    pub dir: TempDir,
    child: Child,
}

pub struct Tls {
    pub ca: PathBuf,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with(false, None)
    }

    /// `tls`: HTTPS with a fresh self-signed CA (at `dir/ca.crt`); `htpasswd`: (user, password).
    pub fn start_with(tls: bool, htpasswd: Option<(&str, &str)>) -> Registry {
        let dir = TempDir::new("registry");
        let p = dir.path();
        let port = free_port();
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            p.join("data").display()
        );
        if tls {
            make_certs(p);
            cfg.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                p.join("server.crt").display(),
                p.join("server.key").display()
            ));
        }
        if let Some((u, pw)) = htpasswd {
            let line = run_ok(Command::new("htpasswd").args(["-Bbn", u, pw]));
            std::fs::write(p.join("htpasswd"), line).expect("htpasswd");
            cfg.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                p.join("htpasswd").display()
            ));
        }
        std::fs::write(p.join("config.yml"), cfg).expect("registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(p.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(p.join("registry.log")).expect("log"))
            .spawn()
            .expect("starting docker-registry (apt install docker-registry)");
        let r = Registry { port, dir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// Path of a blob's data in the registry's storage.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // SAFETY: kill on the pid of a child we spawned and have not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn make_certs(p: &Path) {
    let q = |args: &[&str]| {
        run_ok(Command::new("openssl").current_dir(p).args(args));
    };
    q(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=bay test CA",
    ]);
    q(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(p.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
    q(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

/// `sha256:<hex>` of a file, via coreutils.
pub fn sha256_file(p: &Path) -> String {
    let out = run_ok(Command::new("sha256sum").arg(p));
    format!("sha256:{}", out.split_whitespace().next().expect("sum"))
}

/// The `Digest: sha256:…` that skopeo reports for an image in a registry.
pub fn skopeo_digest(image: &str, extra: &[&str]) -> String {
    let out = run_ok(
        Command::new("skopeo")
            .arg("inspect")
            .args(extra)
            .arg(format!("docker://{image}")),
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("skopeo json");
    v["Digest"].as_str().expect("digest").to_string()
}

/// A bay store for container tests: on drop, force-removes every container so a failed
/// test leaks no mounts or processes.
pub struct CtrBay {
    pub bay: Bay,
}

impl std::ops::Deref for CtrBay {
    type Target = Bay;
    fn deref(&self) -> &Bay {
        &self.bay
    }
}

impl CtrBay {
    /// A store holding a busybox image named `busybox`.
    pub fn new() -> CtrBay {
        let bay = Bay::new();
        bay.import_busybox("busybox", "containers");
        CtrBay { bay }
    }

    /// Removes all containers and asserts that nothing is left behind: no mounts under the
    /// root, no runtime state, no monitor or container processes, no container dirs.
    pub fn assert_clean(&self) {
        let ids = self.bay.ok(&["ps", "-aq", "--no-trunc"]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            self.bay.ok(&args);
        }
        let root = self.bay.root();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mounts = mounts_under(&root);
            let procs = processes_under(&root);
            let state = dir_entries(&root.join("runtime"));
            let dirs = dir_entries(&root.join("containers"));
            if mounts.is_empty() && procs.is_empty() && state.is_empty() && dirs.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "left behind: mounts {mounts:?}, processes {procs:?}, runtime state {state:?}, container dirs {dirs:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for CtrBay {
    fn drop(&mut self) {
        let ids = self.bay.run(&["ps", "-aq", "--no-trunc"]).stdout;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = self.bay.run(&args);
        }
    }
}

pub fn dir_entries(p: &Path) -> Vec<String> {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Mountpoints at or under `root` (from /proc/self/mountinfo).
pub fn mounts_under(root: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let r = root.display().to_string();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&r))
        .map(String::from)
        .collect()
}

/// Processes that are about `root`: monitors (their command line names it) and container
/// processes (their root directory is under it).
pub fn processes_under(root: &Path) -> Vec<String> {
    let r = root.display().to_string();
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let in_root = std::fs::read_link(e.path().join("root"))
            .map(|p| p.starts_with(root))
            .unwrap_or(false);
        if (cmdline.contains(&r) && cmdline.contains("container-monitor")) || in_root {
            out.push(format!("{name}: {cmdline}"));
        }
    }
    out
}
