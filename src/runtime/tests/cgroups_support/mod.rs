//! Shared helpers of the cgroups_* tests: a throw-away cgroup with real processes in it.
//! Run as root; the same tests run on the host's v1 hierarchy and in the cgroup v2 VM
//! (hack/vm/test-cgroup2.sh).

#![allow(dead_code)]

use berth_runtime::cgroups::{Hierarchy, Manager};
use berth_runtime::spec::Resources;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A cgroup at /berth-test-<pid>-<name>, destroyed (processes killed first) on drop.
pub struct TestCgroup {
    pub mgr: Manager,
    pub children: Vec<Child>,
}

pub fn name(tag: &str) -> String {
    format!("/berth-test-{}-{tag}", std::process::id())
}

impl TestCgroup {
    pub fn new(tag: &str, r: Option<&Resources>) -> TestCgroup {
        let mgr = Manager::new(Some(&name(tag)), "unused", false).expect("resolve cgroup");
        mgr.create(r).expect("create cgroup");
        TestCgroup {
            mgr,
            children: Vec::new(),
        }
    }

    pub fn v2(&self) -> bool {
        self.mgr.hierarchy() == Hierarchy::V2
    }

    /// Directory of `ctrl` (v1) or the single v2 directory.
    pub fn dir(&self, ctrl: &str) -> PathBuf {
        let p = self.mgr.paths();
        if self.v2() {
            return p[""].clone();
        }
        p.get(ctrl)
            .unwrap_or_else(|| panic!("no {ctrl} hierarchy"))
            .clone()
    }

    pub fn read(&self, ctrl: &str, file: &str) -> String {
        let p = self.dir(ctrl).join(file);
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
            .trim()
            .to_string()
    }

    /// Starts `sh -c script` inside the cgroup: the shell waits on stdin until it has been
    /// moved in, so the script never runs outside the limits.
    pub fn spawn(&mut self, script: &str) -> i32 {
        let mut c = Command::new("sh")
            .arg("-c")
            .arg(format!("read _ ; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let pid = c.id() as i32;
        self.mgr.add_process(pid).expect("add process");
        c.stdin.take().unwrap().write_all(b"go\n").unwrap();
        self.children.push(c);
        pid
    }

    /// Waits for the last spawned process; (exit code or 128+signal, stdout, stderr).
    pub fn wait_last(&mut self) -> (i32, String, String) {
        let c = self.children.pop().expect("a child");
        let out = c.wait_with_output().expect("wait");
        use std::os::unix::process::ExitStatusExt;
        let code = out
            .status
            .code()
            .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0));
        (
            code,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = self.mgr.kill_all(libc::SIGKILL);
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Err(e) = self.mgr.destroy() {
            eprintln!("cleanup: {e}");
        }
    }
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// No directory of this manager exists.
pub fn gone(mgr: &Manager) -> bool {
    mgr.paths().values().all(|p| !Path::new(p).exists())
}

pub fn resources(json: &str) -> Resources {
    serde_json::from_str(json).expect("resources json")
}

/// A block device to throttle: the first entry of /sys/block with a real queue.
pub fn block_device() -> Option<(u64, u64)> {
    let mut v: Vec<_> = std::fs::read_dir("/sys/block").ok()?.flatten().collect();
    v.sort_by_key(|e| e.file_name());
    v.iter().find_map(|e| {
        let name = e.file_name().into_string().ok()?;
        if name.starts_with("zram") || name.starts_with("loop") {
            return None;
        }
        let dev = std::fs::read_to_string(e.path().join("dev")).ok()?;
        let (a, b) = dev.trim().split_once(':')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    })
}
