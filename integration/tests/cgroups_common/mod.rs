//! Harness of the cgroups_* end-to-end tests: a busybox bundle (hack/rootfs.sh) with an
//! absolute cgroupsPath, driven through the berth binary (or runc/crun side by side).
//! The berth binary is $BERTH_BIN, else `berth` next to the test's target directory
//! (build it first: `cargo build -p berth`).

#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn berth() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test> → target/<profile>/berth
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("berth")
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn unified() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// A container under test; deleted (forcefully) with its files on drop.
pub struct Ctr {
    pub id: String,
    pub runtime: PathBuf,
    pub tmp: PathBuf,
    pub bundle: PathBuf,
    /// Bind-mounted read-write at /out in the container.
    pub out: PathBuf,
    /// Absolute cgroupsPath.
    pub cgroup: String,
}

impl Ctr {
    /// A bundle running `sh -c script` with `resources` as linux.resources (devices default).
    pub fn new(tag: &str, script: &str, resources: Value) -> Ctr {
        Ctr::with_runtime(&berth(), tag, script, resources)
    }

    pub fn with_runtime(runtime: &Path, tag: &str, script: &str, resources: Value) -> Ctr {
        let pid = std::process::id();
        let tmp = std::env::temp_dir().join(format!("berth-it-cg-{pid}-{tag}"));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        let bundle = tmp.join("bundle");
        let st = match std::env::var_os("BERTH_TEST_BUNDLE") {
            // A prebuilt bundle (the cgroup v2 VM: building one under TCG is slow).
            Some(src) => Command::new("cp").arg("-a").arg(src).arg(&bundle).status(),
            None => Command::new("bash")
                .arg(repo_root().join("hack/rootfs.sh"))
                .arg(&bundle)
                .stdout(Stdio::null())
                .status(),
        }
        .expect("make bundle");
        assert!(st.success(), "bundle");
        let out = tmp.join("out");
        std::fs::create_dir_all(&out).unwrap();
        let cfg_path = bundle.join("config.json");
        let mut cfg: Value =
            serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
        let cgroup = format!("/berth-it-{pid}-{tag}");
        cfg["process"]["args"] = json!(["sh", "-c", script]);
        cfg["linux"]["cgroupsPath"] = cgroup.clone().into();
        let mut res = resources;
        if res.get("devices").is_none() {
            res["devices"] = json!([{"allow": false, "access": "rwm"}]);
        }
        cfg["linux"]["resources"] = res;
        cfg["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/out", "type": "bind", "source": out, "options": ["rbind", "rw"]}));
        std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
        Ctr {
            id: format!("cg-{tag}-{pid}"),
            runtime: runtime.to_path_buf(),
            tmp,
            bundle,
            out,
            cgroup,
        }
    }

    pub fn root(&self) -> PathBuf {
        self.tmp.join("state")
    }

    /// Runs the runtime with --root; stdout and stderr go to files, as a detached container
    /// would hold pipes open.
    pub fn cmd(&self, args: &[&str]) -> Output {
        self.cmd_stdin(args, None)
    }

    pub fn cmd_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let so = self.tmp.join("cmd.stdout");
        let se = self.tmp.join("cmd.stderr");
        let mut c = Command::new(&self.runtime);
        c.arg("--root")
            .arg(self.root())
            .args(args)
            .stdout(std::fs::File::create(&so).unwrap())
            .stderr(std::fs::File::create(&se).unwrap());
        let status = if let Some(input) = stdin {
            c.stdin(Stdio::piped());
            let mut child = c.spawn().expect("spawn runtime");
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            child.wait().unwrap()
        } else {
            c.stdin(Stdio::null()).status().expect("run runtime")
        };
        Output {
            status,
            stdout: std::fs::read(&so).unwrap_or_default(),
            stderr: std::fs::read(&se).unwrap_or_default(),
        }
    }

    /// `cmd` that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.cmd(args);
        assert!(
            o.status.success(),
            "{} {args:?} failed: {}",
            self.runtime.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn run_detached(&self) {
        self.ok(&[
            "run",
            "-d",
            "--bundle",
            self.bundle.to_str().unwrap(),
            &self.id,
        ]);
    }

    pub fn status(&self) -> String {
        let o = self.cmd(&["state", &self.id]);
        if !o.status.success() {
            return "gone".into();
        }
        let v: Value = serde_json::from_slice(&o.stdout).expect("state json");
        v["status"].as_str().unwrap_or_default().to_string()
    }

    /// The container's cgroup directory of `ctrl` (v1) or the v2 directory.
    pub fn cgroup_dir(&self, ctrl: &str) -> PathBuf {
        let rel = self.cgroup.trim_start_matches('/');
        if unified() {
            Path::new("/sys/fs/cgroup").join(rel)
        } else {
            Path::new("/sys/fs/cgroup").join(ctrl).join(rel)
        }
    }

    pub fn read(&self, ctrl: &str, file: &str) -> String {
        let p = self.cgroup_dir(ctrl).join(file);
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
            .trim()
            .to_string()
    }

    pub fn cgroup_gone(&self) -> bool {
        ["memory", "pids", "cpu", "freezer", "devices"]
            .iter()
            .all(|c| !self.cgroup_dir(c).exists())
    }

    pub fn out_file(&self, name: &str) -> String {
        std::fs::read_to_string(self.out.join(name)).unwrap_or_default()
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = self.cmd(&["delete", "--force", &self.id]);
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One line, non-empty: the error contract of every berth command.
pub fn one_line_error(o: &Output) -> String {
    assert!(!o.status.success(), "expected failure");
    let e = String::from_utf8_lossy(&o.stderr).trim().to_string();
    assert!(!e.is_empty(), "empty error");
    assert_eq!(e.lines().count(), 1, "error is not one line: {e}");
    e
}
