//! The context a case runs in: bundles, the runtime under test, and cleanup that leaves nothing
//! behind (containers, processes, cgroups).

use super::{fail, Outcome, Stop};
use crate::ensure;
use crate::host::Host;
use crate::reap::{self, Exit};
use crate::runtime::{Out, Runtime, HYBRID_ERROR};
use crate::tap;
use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    /// Extra facts for the checker (merged into host.json).
    pub facts: Map<String, Value>,
    /// Other root filesystems in the bundle that need the checker's inputs too.
    pub mirrors: Vec<PathBuf>,
}

impl Bundle {
    pub fn path(&self) -> String {
        self.dir.to_string_lossy().into_owned()
    }
    /// Records that the bind mount at `dest` shows a marker with `token`.
    pub fn marker(&mut self, dest: &str, token: &str) {
        let m = self.facts.entry("markers").or_insert_with(|| json!({}));
        m[dest] = json!(token);
    }
}

pub struct Ctx<'a> {
    pub rt: &'a Runtime,
    pub host: &'a Host,
    pub base_rootfs: &'a Path,
    pub checker: &'a Path,
    pub dir: PathBuf,
    pub tag: String,
    ids: Vec<String>,
    /// pid files of every create, so no container process outlives its case.
    pid_files: Vec<PathBuf>,
    bundles: usize,
    /// Set when the runtime refused the host's cgroup layout (crun on hybrid v1/v2).
    pub hybrid_refused: bool,
}

pub struct Launched {
    pub id: String,
    pub pid: i32,
}

impl<'a> Ctx<'a> {
    pub fn new(
        rt: &'a Runtime,
        host: &'a Host,
        base_rootfs: &'a Path,
        checker: &'a Path,
        dir: PathBuf,
        tag: String,
    ) -> Ctx<'a> {
        Ctx {
            rt,
            host,
            base_rootfs,
            checker,
            dir,
            tag,
            ids: Vec::new(),
            pid_files: Vec::new(),
            bundles: 0,
            hybrid_refused: false,
        }
    }

    /// A container id unique to this run (ids double as default cgroup names).
    pub fn id(&mut self, suffix: &str) -> String {
        let id = format!("{}-{suffix}", self.tag);
        self.ids.push(id.clone());
        id
    }

    /// A fresh bundle directory with a copy of the base rootfs and the checker installed.
    pub fn bundle(&mut self) -> Result<Bundle> {
        self.bundles += 1;
        let dir = self.dir.join(format!("bundle{}", self.bundles));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let rootfs = dir.join("rootfs");
        // Hard links keep this cheap; every file a case writes is created fresh.
        let st = std::process::Command::new("cp")
            .arg("-al")
            .arg(self.base_rootfs)
            .arg(&rootfs)
            .status()?;
        anyhow::ensure!(
            st.success(),
            "copying the base rootfs to {}",
            rootfs.display()
        );
        let conf = rootfs.join("conformance");
        std::fs::create_dir_all(&conf)?;
        std::fs::hard_link(self.checker, conf.join("checker"))
            .or_else(|_| std::fs::copy(self.checker, conf.join("checker")).map(|_| ()))?;
        let token = format!("rootfs-{}-{}", self.tag, self.bundles);
        std::fs::write(conf.join("rootfs-marker"), &token)?;
        let mut facts = Map::new();
        facts.insert("rootfs_marker".into(), json!(token));
        Ok(Bundle {
            dir,
            rootfs,
            facts,
            mirrors: Vec::new(),
        })
    }

    /// Writes config.json, and the checker's copy of it plus host facts into the rootfs.
    pub fn write_config(&self, b: &Bundle, cfg: &Value) -> Result<()> {
        let text = serde_json::to_string_pretty(cfg)?;
        std::fs::write(b.dir.join("config.json"), &text)?;
        let conf = b.rootfs.join("conformance");
        std::fs::write(conf.join("config.json"), &text)?;
        let mut facts = self.host.facts();
        for (k, v) in &b.facts {
            facts[k] = v.clone();
        }
        let mut paths = Map::new();
        for ns in cfg["linux"]["namespaces"].as_array().into_iter().flatten() {
            if let Some(p) = ns["path"].as_str() {
                paths.insert(p.to_string(), json!(crate::host::ns_inode(p)));
            }
        }
        facts["ns_paths"] = Value::Object(paths);
        std::fs::write(conf.join("host.json"), serde_json::to_string(&facts)?)?;
        for m in &b.mirrors {
            for f in ["config.json", "host.json"] {
                std::fs::copy(conf.join(f), m.join("conformance").join(f))?;
            }
        }
        Ok(())
    }

    fn note(&mut self, o: &Out) {
        if o.stderr.contains(HYBRID_ERROR) || o.stdout.contains(HYBRID_ERROR) {
            self.hybrid_refused = true;
        }
    }

    pub fn create(&mut self, id: &str, b: &Bundle) -> Result<Out> {
        self.create_with(id, b, &[])
    }

    pub fn create_with(&mut self, id: &str, b: &Bundle, extra: &[&str]) -> Result<Out> {
        self.pid_files.push(b.dir.join("container.pid"));
        let o = self.rt.create(id, &b.dir, extra)?;
        self.note(&o);
        Ok(o)
    }

    pub fn cmd(&mut self, args: &[&str]) -> Result<Out> {
        let o = self.rt.run(args)?;
        self.note(&o);
        Ok(o)
    }

    pub fn start(&mut self, id: &str) -> Result<Out> {
        self.cmd(&["start", id])
    }
    pub fn kill(&mut self, id: &str, sig: &str) -> Result<Out> {
        self.cmd(&["kill", id, sig])
    }
    pub fn delete(&mut self, id: &str) -> Result<Out> {
        self.cmd(&["delete", id])
    }

    /// `state ID` parsed; errors when the command fails or prints no JSON object.
    pub fn state(&mut self, id: &str) -> Result<Value, Stop> {
        let o = self.cmd(&["state", id])?;
        if !o.ok {
            return fail(format!("state {id} failed: {}", o.brief()));
        }
        serde_json::from_str::<Value>(&o.stdout)
            .ok()
            .filter(|v| v.is_object())
            .map_or_else(
                || fail(format!("state {id} printed no JSON object: {:?}", o.stdout)),
                Ok,
            )
    }

    pub fn status(&mut self, id: &str) -> Result<String, Stop> {
        Ok(self.state(id)?["status"].as_str().unwrap_or("").to_string())
    }

    /// `create` that must succeed, with the state checked to be `created`.
    pub fn launch(&mut self, b: &Bundle, suffix: &str) -> Result<Launched, Stop> {
        let id = self.id(suffix);
        let o = self.create(&id, b)?;
        ensure!(o.ok, "create failed: {}", o.brief());
        let st = self.state(&id)?;
        ensure!(
            st["status"] == "created",
            "status after create is {}, want created",
            st["status"]
        );
        let pid = st["pid"].as_i64().unwrap_or(0) as i32;
        ensure!(pid > 0, "state after create has no pid: {st}");
        Ok(Launched { id, pid })
    }

    /// Waits for the container process to exit; the code when we are its reaper.
    pub fn wait(&mut self, l: &Launched, timeout: Duration) -> Result<Option<i32>, Stop> {
        match reap::wait_exit(l.pid, timeout) {
            Exit::Code(c) => Ok(Some(c)),
            Exit::TimedOut => fail(format!(
                "container process {} still running after {timeout:?}",
                l.pid
            )),
            Exit::NotChild => {
                let until = std::time::Instant::now() + timeout;
                while std::time::Instant::now() < until {
                    if self.status(&l.id)? == "stopped" {
                        return Ok(None);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                fail(format!("container {} not stopped after {timeout:?}", l.id))
            }
        }
    }

    /// Starts a launched checker container, waits for it, checks its TAP, deletes it.
    pub fn finish_checker(&mut self, l: &Launched, b: &Bundle) -> Outcome {
        let o = self.start(&l.id)?;
        ensure!(o.ok, "start failed: {}", o.brief());
        let code = self.wait(l, Duration::from_secs(10))?;
        let out = std::fs::read_to_string(b.dir.join("stdout")).unwrap_or_default();
        let report = tap::parse(&out);
        let d = self.delete(&l.id)?;
        if !report.complete {
            let err = std::fs::read_to_string(b.dir.join("stderr")).unwrap_or_default();
            return fail(format!(
                "checker did not finish (exit {code:?}): {}",
                err.trim().lines().last().unwrap_or("no output")
            ));
        }
        if !report.failures.is_empty() {
            return fail(report.failures.join("; "));
        }
        ensure!(code.unwrap_or(0) == 0, "checker exited with {code:?}");
        ensure!(
            d.ok,
            "delete of the stopped container failed: {}",
            d.brief()
        );
        // A check the container could not make leaves the case unproven, not passed.
        if let Some(first) = report.skips.first() {
            return Err(Stop::Skip(format!("checker could not check {first}")));
        }
        Ok(())
    }

    /// Removes every container this case created, whatever state it is in.
    pub fn cleanup(&mut self) {
        // Through the real runtime: a sabotage must not get in the way of cleaning up.
        let rt = Runtime {
            path: self.rt.path.clone(),
            root: self.rt.root.clone(),
            env: self
                .rt
                .env
                .iter()
                .filter(|(k, _)| k == "SABOTAGE_REAL")
                .cloned()
                .collect(),
        };
        for id in std::mem::take(&mut self.ids) {
            let Ok(st) = rt.run(&["state", &id]) else {
                continue;
            };
            if !st.ok {
                continue;
            }
            let pid = serde_json::from_str::<Value>(&st.stdout)
                .ok()
                .and_then(|v| v["pid"].as_i64())
                .unwrap_or(0) as i32;
            let _ = rt.run(&["kill", &id, "9"]);
            // Reap before delete: on cgroup v1 a zombie pins its cgroup and rmdir fails.
            if pid > 0 {
                reap::wait_exit(pid, Duration::from_secs(2));
            }
            let _ = rt.run(&["delete", "--force", &id]);
        }
        // Whatever the runtime did or failed to do, no container process outlives its case.
        for f in std::mem::take(&mut self.pid_files) {
            let pid: i32 = std::fs::read_to_string(&f)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            if pid > 0 && reap::alive(pid) {
                // SAFETY: kill has no memory-safety preconditions; pid came from this case's create.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                reap::wait_exit(pid, Duration::from_secs(2));
            }
        }
        reap::reap_all();
        remove_cgroups(&format!("{}-", self.tag));
    }
}

/// Removes cgroups a runtime left behind for this case's containers (their names start with the
/// case's tag), deepest first; rmdir only ever removes empty cgroups.
fn remove_cgroups(prefix: &str) {
    fn walk(dir: &Path, depth: usize, prefix: &str, inside: bool, out: &mut Vec<PathBuf>) {
        if depth > 4 {
            return;
        }
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let mine = inside || e.file_name().to_string_lossy().starts_with(prefix);
            // Only descend into what is ours, or into the first levels of a hierarchy.
            if mine || depth < 2 {
                walk(&e.path(), depth + 1, prefix, mine, out);
            }
            if mine {
                out.push(e.path());
            }
        }
    }
    let mut found = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), 0, prefix, false, &mut found);
    // Processes still in this case's cgroups are this case's (a runtime's init stuck after a
    // failed create, say): kill them. A process that was killed may take a moment to leave.
    for d in &found {
        for pid in std::fs::read_to_string(d.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
        {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    for _ in 0..20 {
        reap::reap_all();
        found.retain(|d| std::fs::remove_dir(d).is_err() && d.exists());
        if found.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
