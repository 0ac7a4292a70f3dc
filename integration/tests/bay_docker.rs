//! Interop with Debian's dockerd (docker.io): images move between bay and docker through
//! save/load archives and through a registry, keeping their IDs and digests. Each test runs a
//! private dockerd (own data root, exec root and socket; vfs; no networking setup).

mod bay_common;

use bay_common::{run_ok, skopeo_digest, Bay, Registry, TempDir};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DOCKERD: &str = "/usr/sbin/dockerd";

/// Two private dockerds starting at once wait on each other for many seconds: run the
/// interop tests one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Dockerd {
    dir: TempDir,
    child: Child,
}

impl Dockerd {
    /// None when dockerd is not installed (apt install docker.io): the interop tests then skip.
    fn start() -> Option<Dockerd> {
        if !Path::new(DOCKERD).exists() {
            eprintln!("skipping: {DOCKERD} not installed");
            return None;
        }
        let dir = TempDir::new("dockerd");
        let p = dir.path();
        let child = Command::new(DOCKERD)
            .arg("--data-root")
            .arg(p.join("data"))
            .arg("--exec-root")
            .arg(p.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", p.join("docker.sock").display()))
            .arg("--pidfile")
            .arg(p.join("docker.pid"))
            .args([
                "--bridge",
                "none",
                "--iptables=false",
                "--ip6tables=false",
                "--storage-driver",
                "vfs",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(p.join("dockerd.log")).unwrap())
            .spawn()
            .expect("starting dockerd");
        let d = Dockerd { dir, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !d
            .docker()
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(
                Instant::now() < deadline,
                "dockerd did not start: see {}",
                d.dir.path().join("dockerd.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(d)
    }

    fn docker(&self) -> Command {
        let mut c = Command::new("docker");
        c.arg("-H").arg(format!(
            "unix://{}",
            self.dir.path().join("docker.sock").display()
        ));
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        run_ok(self.docker().args(args))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SAFETY: signalling our own unreaped child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

#[test]
fn bay_save_loads_in_docker_and_docker_save_loads_in_bay_with_the_same_id() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(d) = Dockerd::start() else { return };
    let bay = Bay::new();
    let id = bay.import_busybox("interop:1", "to docker");
    let tar = d.path("bay.tar");
    bay.ok(&["save", "-o", tar.to_str().unwrap(), "interop:1"]);
    assert_eq!(
        d.ok(&["load", "-i", tar.to_str().unwrap()]).trim(),
        "Loaded image: interop:1"
    );
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Id}}", "interop:1"])
            .trim(),
        id
    );

    d.ok(&["tag", "interop:1", "from-docker:2"]);
    let dtar = d.path("docker.tar");
    d.ok(&["save", "-o", dtar.to_str().unwrap(), "from-docker:2"]);
    let other = Bay::new();
    assert_eq!(
        other.ok(&["load", "-i", dtar.to_str().unwrap()]),
        "Loaded image: from-docker:2\n"
    );
    assert_eq!(
        other
            .ok(&["inspect", "-f", "{{.Id}}", "from-docker:2"])
            .trim(),
        id
    );
    // saved by ID in docker: bay loads it untagged with the same ID
    let by_id = d.path("by-id.tar");
    d.ok(&["save", "-o", by_id.to_str().unwrap(), &id[7..19]]);
    let third = Bay::new();
    assert_eq!(
        third.ok(&["load", "-i", by_id.to_str().unwrap()]),
        format!("Loaded image ID: {id}\n")
    );
}

#[test]
fn images_cross_a_registry_between_docker_and_bay() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(d) = Dockerd::start() else { return };
    let reg = Registry::start();
    let bay = Bay::new();
    let id = bay.import_busybox("x:1", "registry interop");
    let tar = d.path("x.tar");
    bay.ok(&["save", "-o", tar.to_str().unwrap(), "x:1"]);
    d.ok(&["load", "-i", tar.to_str().unwrap()]);
    let by_docker = format!("{}/by-docker:1", reg.host());
    d.ok(&["tag", "x:1", &by_docker]);
    d.ok(&["push", &by_docker]);
    let fresh = Bay::new();
    let out = fresh.ok(&["pull", &by_docker]);
    assert!(
        out.contains(&format!(
            "Digest: {}\n",
            skopeo_digest(&by_docker, &["--tls-verify=false"])
        )),
        "{out}"
    );
    assert_eq!(
        fresh.ok(&["inspect", "-f", "{{.Id}}", &by_docker]).trim(),
        id
    );

    let by_bay = format!("{}/by-bay:1", reg.host());
    fresh.ok(&["tag", &by_docker, &by_bay]);
    let push = fresh.ok(&["push", &by_bay]);
    assert!(push.contains("Mounted from by-docker"), "{push}");
    let d2 = Dockerd::start().unwrap();
    d2.ok(&["pull", &by_bay]);
    assert_eq!(
        d2.ok(&["image", "inspect", "-f", "{{.Id}}", &by_bay])
            .trim(),
        id
    );
}
