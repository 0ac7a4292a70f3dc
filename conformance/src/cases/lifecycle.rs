//! runtime.md: state, lifecycle, operations and errors.

use super::{
    always, fake_ok, jq, noop, post_create, post_delete, pre_start, state_jq, Bundle, Case, Ctx,
    Kind, Launched, Outcome, Stop,
};
use crate::ensure;
use crate::reap;
use crate::spec::{base, sh};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// A bundle whose process is a shell script; the root is writable so the script can leave marks.
fn shell_bundle(
    ctx: &mut Ctx,
    script: &str,
    edit: impl FnOnce(&mut Value),
) -> Result<Bundle, Stop> {
    let b = ctx.bundle()?;
    let mut cfg = base();
    cfg["process"]["args"] = sh(script);
    cfg["root"]["readonly"] = json!(false);
    edit(&mut cfg);
    ctx.write_config(&b, &cfg)?;
    Ok(b)
}

const LOOP: &str = "echo x >> /ran; touch /ready; while :; do sleep 0.05; done";

fn wait_file(p: &Path, timeout: Duration) -> bool {
    let until = Instant::now() + timeout;
    while Instant::now() < until {
        if p.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// create + start of a looping container, waiting until its script runs.
fn running(ctx: &mut Ctx, suffix: &str) -> Result<(Bundle, Launched), Stop> {
    let b = shell_bundle(ctx, LOOP, |_| {})?;
    let l = ctx.launch(&b, suffix)?;
    let o = ctx.start(&l.id)?;
    ensure!(o.ok, "start failed: {}", o.brief());
    ensure!(
        wait_file(&b.rootfs.join("ready"), Duration::from_secs(5)),
        "the container process never ran"
    );
    Ok((b, l))
}

fn stopped(ctx: &mut Ctx, suffix: &str) -> Result<(Bundle, Launched), Stop> {
    let b = shell_bundle(ctx, "exit 0", |_| {})?;
    let l = ctx.launch(&b, suffix)?;
    let o = ctx.start(&l.id)?;
    ensure!(o.ok, "start failed: {}", o.brief());
    ctx.wait(&l, Duration::from_secs(5))?;
    Ok((b, l))
}

fn semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn state_created(ctx: &mut Ctx) -> Outcome {
    let b = shell_bundle(ctx, "exit 0", |c| {
        c["annotations"] = json!({"org.example.conformance": "yes", "empty": ""})
    })?;
    let l = ctx.launch(&b, "s")?;
    let st = ctx.state(&l.id)?;
    ensure!(
        st["id"] == l.id.as_str(),
        "state id {} want {}",
        st["id"],
        l.id
    );
    ensure!(
        st["ociVersion"].as_str().is_some_and(semver),
        "state ociVersion {} is not SemVer",
        st["ociVersion"]
    );
    ensure!(
        reap::alive(l.pid),
        "state pid {} is not a live process",
        l.pid
    );
    ensure!(
        st["bundle"] == b.path().as_str(),
        "state bundle {} want the absolute bundle path {}",
        st["bundle"],
        b.path()
    );
    ensure!(
        st["annotations"] == json!({"org.example.conformance": "yes", "empty": ""}),
        "state annotations {} want the config's",
        st["annotations"]
    );
    Ok(())
}

fn not_run_at_create(ctx: &mut Ctx) -> Outcome {
    let b = shell_bundle(ctx, "echo x >> /ran", |_| {})?;
    let l = ctx.launch(&b, "n")?;
    std::thread::sleep(Duration::from_millis(150));
    ensure!(
        !b.rootfs.join("ran").exists(),
        "the user process ran before start"
    );
    let o = ctx.start(&l.id)?;
    ensure!(o.ok, "start failed: {}", o.brief());
    ctx.wait(&l, Duration::from_secs(5))?;
    ensure!(
        b.rootfs.join("ran").exists(),
        "the user process did not run after start"
    );
    Ok(())
}

fn start_running(ctx: &mut Ctx) -> Outcome {
    let (_b, l) = running(ctx, "r")?;
    let s = ctx.status(&l.id)?;
    ensure!(s == "running", "status after start is {s}, want running");
    let o = ctx.kill(&l.id, "9")?;
    ensure!(o.ok, "kill failed: {}", o.brief());
    ctx.wait(&l, Duration::from_secs(5))?;
    let s = ctx.status(&l.id)?;
    ensure!(
        s == "stopped",
        "status after the process was killed is {s}, want stopped"
    );
    Ok(())
}

fn start_twice(ctx: &mut Ctx) -> Outcome {
    let (b, l) = running(ctx, "t")?;
    let o = ctx.start(&l.id)?;
    ensure!(!o.ok, "a second start of a running container succeeded");
    let st = ctx.state(&l.id)?;
    ensure!(
        st["status"] == "running" && st["pid"] == l.pid,
        "the failed start changed the container: {st}"
    );
    std::thread::sleep(Duration::from_millis(100));
    let runs = std::fs::read_to_string(b.rootfs.join("ran"))
        .unwrap_or_default()
        .lines()
        .count();
    ensure!(runs == 1, "the user process ran {runs} times");
    Ok(())
}

fn start_stopped(ctx: &mut Ctx) -> Outcome {
    let (_b, l) = stopped(ctx, "ss")?;
    let o = ctx.start(&l.id)?;
    ensure!(!o.ok, "start of a stopped container succeeded");
    let s = ctx.status(&l.id)?;
    ensure!(s == "stopped", "status after the failed start is {s}");
    Ok(())
}

fn op_on_missing(ctx: &mut Ctx, verb: &str) -> Outcome {
    let id = format!("{}-missing", ctx.tag);
    let mut args = vec![verb, id.as_str()];
    if verb == "kill" {
        args.push("9");
    }
    let o = ctx.cmd(&args)?;
    ensure!(!o.ok, "{verb} of a container that does not exist succeeded");
    Ok(())
}

fn op_without_id(ctx: &mut Ctx, verb: &str) -> Outcome {
    let o = ctx.cmd(&[verb])?;
    ensure!(!o.ok, "{verb} without a container id succeeded");
    Ok(())
}

fn start_missing(ctx: &mut Ctx) -> Outcome {
    op_on_missing(ctx, "start")
}
fn kill_missing(ctx: &mut Ctx) -> Outcome {
    op_on_missing(ctx, "kill")
}
fn state_missing(ctx: &mut Ctx) -> Outcome {
    op_on_missing(ctx, "state")
}
fn delete_missing(ctx: &mut Ctx) -> Outcome {
    op_on_missing(ctx, "delete")
}
fn start_no_id(ctx: &mut Ctx) -> Outcome {
    op_without_id(ctx, "start")
}
fn kill_no_id(ctx: &mut Ctx) -> Outcome {
    op_without_id(ctx, "kill")
}
fn state_no_id(ctx: &mut Ctx) -> Outcome {
    op_without_id(ctx, "state")
}
fn delete_no_id(ctx: &mut Ctx) -> Outcome {
    op_without_id(ctx, "delete")
}

fn create_no_id(ctx: &mut Ctx) -> Outcome {
    let b = shell_bundle(ctx, "exit 0", |_| {})?;
    let o = ctx.cmd(&["create", "--bundle", &b.path()])?;
    ensure!(!o.ok, "create without a container id succeeded");
    Ok(())
}

fn create_no_config(ctx: &mut Ctx) -> Outcome {
    let b = ctx.bundle()?;
    let id = ctx.id("nc");
    let o = ctx.create(&id, &b)?;
    ensure!(!o.ok, "create of a bundle without config.json succeeded");
    ensure!(
        !ctx.cmd(&["state", &id])?.ok,
        "a container exists after the failed create"
    );
    Ok(())
}

fn start_without_process(ctx: &mut Ctx) -> Outcome {
    let b = ctx.bundle()?;
    let mut cfg = base();
    cfg.as_object_mut().map(|o| o.remove("process"));
    ctx.write_config(&b, &cfg)?;
    let id = ctx.id("np");
    let o = ctx.create(&id, &b)?;
    if o.ok {
        let s = ctx.start(&id)?;
        ensure!(!s.ok, "start of a container without process succeeded");
    }
    Ok(())
}

fn kill_running(ctx: &mut Ctx) -> Outcome {
    let script = "trap 'exit 42' USR1; touch /ready; while :; do sleep 0.05; done";
    let b = shell_bundle(ctx, script, |_| {})?;
    let l = ctx.launch(&b, "k")?;
    ensure!(ctx.start(&l.id)?.ok, "start failed");
    ensure!(
        wait_file(&b.rootfs.join("ready"), Duration::from_secs(5)),
        "the container process never ran"
    );
    let o = ctx.kill(&l.id, "10")?;
    ensure!(o.ok, "kill {} 10 failed: {}", l.id, o.brief());
    let code = ctx.wait(&l, Duration::from_secs(5))?;
    if let Some(c) = code {
        ensure!(
            c == 42,
            "exit status {c}: SIGUSR1 did not reach the process's handler (want 42)"
        );
    }
    let s = ctx.status(&l.id)?;
    ensure!(
        s == "stopped",
        "status after the process exited is {s}, want stopped"
    );
    Ok(())
}

fn kill_created(ctx: &mut Ctx) -> Outcome {
    let b = shell_bundle(ctx, "exit 0", |_| {})?;
    let l = ctx.launch(&b, "kc")?;
    let o = ctx.kill(&l.id, "9")?;
    ensure!(o.ok, "kill of a created container failed: {}", o.brief());
    ctx.wait(&l, Duration::from_secs(5))?;
    let s = ctx.status(&l.id)?;
    ensure!(
        s == "stopped",
        "status after killing a created container is {s}, want stopped"
    );
    Ok(())
}

fn kill_stopped(ctx: &mut Ctx) -> Outcome {
    let (_b, l) = stopped(ctx, "ks")?;
    let o = ctx.kill(&l.id, "9")?;
    ensure!(!o.ok, "kill of a stopped container succeeded");
    let s = ctx.status(&l.id)?;
    ensure!(s == "stopped", "status after the failed kill is {s}");
    Ok(())
}

fn exit_code(ctx: &mut Ctx) -> Outcome {
    let b = shell_bundle(ctx, "exit 7", |_| {})?;
    let l = ctx.launch(&b, "x")?;
    ensure!(ctx.start(&l.id)?.ok, "start failed");
    match ctx.wait(&l, Duration::from_secs(5))? {
        Some(c) => ensure!(c == 7, "exit status {c}, want 7"),
        None => {
            return super::skip(
                "the container process is not reparented to the caller; exit status not observable",
            )
        }
    }
    let s = ctx.status(&l.id)?;
    ensure!(s == "stopped", "status after exit is {s}, want stopped");
    Ok(())
}

/// Paths of the container's cgroups in every v1 hierarchy, or the unified one.
fn cgroup_dirs(pid: i32) -> Vec<std::path::PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
            if path == "/" {
                return None;
            }
            let dir = match ctrl {
                "" if Path::new("/sys/fs/cgroup/unified").exists() => {
                    format!("/sys/fs/cgroup/unified{path}")
                }
                "" => format!("/sys/fs/cgroup{path}"),
                c => format!(
                    "/sys/fs/cgroup/{}{path}",
                    c.split(',').next()?.trim_start_matches("name=")
                ),
            };
            Some(std::path::PathBuf::from(dir)).filter(|p| p.exists())
        })
        .collect()
}

fn delete_stopped(ctx: &mut Ctx) -> Outcome {
    let b = shell_bundle(ctx, "exit 0", |_| {})?;
    let l = ctx.launch(&b, "d")?;
    let cgroups = cgroup_dirs(l.pid);
    ensure!(ctx.start(&l.id)?.ok, "start failed");
    ctx.wait(&l, Duration::from_secs(5))?;
    let o = ctx.delete(&l.id)?;
    ensure!(o.ok, "delete of a stopped container failed: {}", o.brief());
    ensure!(
        !ctx.cmd(&["state", &l.id])?.ok,
        "state still answers after delete"
    );
    let left: Vec<_> = cgroups.iter().filter(|p| p.exists()).collect();
    ensure!(
        left.is_empty(),
        "cgroups created for the container remain: {left:?}"
    );
    ensure!(
        b.dir.join("config.json").exists() && b.rootfs.join("bin/busybox").exists(),
        "delete removed the bundle, which the container did not create"
    );
    let again = ctx.create(&l.id, &b)?;
    ensure!(
        again.ok,
        "the id of a deleted container cannot be reused: {}",
        again.brief()
    );
    Ok(())
}

fn delete_running(ctx: &mut Ctx) -> Outcome {
    let (_b, l) = running(ctx, "dr")?;
    let o = ctx.delete(&l.id)?;
    ensure!(!o.ok, "delete of a running container succeeded");
    ensure!(
        reap::alive(l.pid),
        "the failed delete killed the container process"
    );
    let s = ctx.status(&l.id)?;
    ensure!(s == "running", "status after the failed delete is {s}");
    Ok(())
}

fn delete_created(ctx: &mut Ctx) -> Outcome {
    let b = shell_bundle(ctx, "exit 0", |_| {})?;
    let l = ctx.launch(&b, "dc")?;
    let o = ctx.delete(&l.id)?;
    ensure!(
        !o.ok,
        "delete of a created (not stopped) container succeeded"
    );
    let s = ctx.status(&l.id)?;
    ensure!(
        s == "created" && reap::alive(l.pid),
        "the failed delete changed the container (status {s})"
    );
    Ok(())
}

fn keeps_foreign(ctx: &mut Ctx) -> Outcome {
    let mut helper = std::process::Command::new("unshare")
        .args(["--net", "sleep", "30"])
        .spawn()
        .map_err(|e| Stop::Skip(format!("unshare not available: {e}")))?;
    let hpid = helper.id();
    let res = (|| {
        crate::host::wait_unshared(hpid, "net");
        let ns = format!("/proc/{hpid}/ns/net");
        let ino = crate::host::ns_inode(&ns);
        let b = ctx.bundle()?;
        std::fs::create_dir_all(b.dir.join("shared")).map_err(anyhow::Error::from)?;
        std::fs::write(b.dir.join("shared/keep"), "keep").map_err(anyhow::Error::from)?;
        let mut cfg = base();
        cfg["process"]["args"] = sh("exit 0");
        cfg["mounts"].as_array_mut().into_iter().for_each(|m| m.push(json!({"destination": "/shared", "type": "bind", "source": "shared", "options": ["rbind", "rw"]})));
        for n in cfg["linux"]["namespaces"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            if n["type"] == "network" {
                n["path"] = json!(ns);
            }
        }
        ctx.write_config(&b, &cfg)?;
        let l = ctx.launch(&b, "f")?;
        ensure!(ctx.start(&l.id)?.ok, "start failed");
        ctx.wait(&l, Duration::from_secs(5))?;
        let o = ctx.delete(&l.id)?;
        ensure!(o.ok, "delete failed: {}", o.brief());
        ensure!(
            std::fs::read_to_string(b.dir.join("shared/keep")).is_ok(),
            "delete removed a bind mount source the container did not create"
        );
        ensure!(
            crate::host::ns_inode(&ns) == ino && reap::alive(hpid as i32),
            "delete destroyed a joined network namespace"
        );
        Ok(())
    })();
    let _ = helper.kill();
    let _ = helper.wait();
    res
}

fn duplicate_id(ctx: &mut Ctx) -> Outcome {
    let b = shell_bundle(ctx, "exit 0", |_| {})?;
    let l = ctx.launch(&b, "dup")?;
    let b2 = shell_bundle(ctx, "exit 0", |_| {})?;
    let o = ctx.create(&l.id, &b2)?;
    ensure!(!o.ok, "a second create with the same id succeeded");
    let st = ctx.state(&l.id)?;
    ensure!(
        st["status"] == "created" && st["pid"] == l.pid && st["bundle"] == b.path().as_str(),
        "the failed create changed the first container: {st}"
    );
    Ok(())
}

fn invalid_id(ctx: &mut Ctx) -> Outcome {
    let b = shell_bundle(ctx, "exit 0", |_| {})?;
    let id = format!("../{}-escape", ctx.tag);
    let o = ctx.create(&id, &b)?;
    if o.ok {
        let _ = ctx.cmd(&["delete", "--force", &id]);
    }
    ensure!(!o.ok, "create accepted the id {id:?}");
    Ok(())
}

fn failure_leaves_nothing(ctx: &mut Ctx) -> Outcome {
    let cg = format!("/{}-failed", ctx.tag);
    let b = ctx.bundle()?;
    let mut cfg = base();
    cfg["linux"]["cgroupsPath"] = json!(cg);
    cfg["mounts"].as_array_mut().into_iter().for_each(|m| {
        m.push(json!({"destination": "/bad", "type": "conformance-nosuchfs", "source": "none"}))
    });
    ctx.write_config(&b, &cfg)?;
    let id = ctx.id("fl");
    let o = ctx.create(&id, &b)?;
    ensure!(
        !o.ok,
        "create with an unmountable filesystem type succeeded"
    );
    ensure!(
        !ctx.cmd(&["state", &id])?.ok,
        "a container is left behind after the failed create"
    );
    let left: Vec<String> = ["memory", "pids", "cpu", "unified", ""]
        .iter()
        .map(|c| {
            if c.is_empty() {
                format!("/sys/fs/cgroup{cg}")
            } else {
                format!("/sys/fs/cgroup/{c}{cg}")
            }
        })
        .filter(|p| Path::new(p).exists())
        .collect();
    for p in &left {
        let _ = std::fs::remove_dir(p);
    }
    ensure!(
        left.is_empty(),
        "the failed create left cgroups behind: {left:?}"
    );
    let mut good = base();
    good["process"]["args"] = sh("exit 0");
    ctx.write_config(&b, &good)?;
    let again = ctx.create(&id, &b)?;
    ensure!(
        again.ok,
        "the id cannot be used after a failed create: {}",
        again.brief()
    );
    Ok(())
}

fn config_changes_ignored(ctx: &mut Ctx) -> Outcome {
    let b = ctx.bundle()?;
    let cfg = base();
    ctx.write_config(&b, &cfg)?;
    let l = ctx.launch(&b, "cc")?;
    let mut changed = cfg.clone();
    changed["hostname"] = json!("changed-after-create");
    changed["process"]["env"] = json!(["CHANGED=1"]);
    std::fs::write(
        b.dir.join("config.json"),
        serde_json::to_string(&changed).map_err(anyhow::Error::from)?,
    )
    .map_err(anyhow::Error::from)?;
    ctx.finish_checker(&l, &b)
}

pub fn cases() -> Vec<Case> {
    let sc = |name, spec, f: fn(&mut Ctx) -> Outcome, sabotage| Case {
        name,
        spec,
        needs: always,
        kind: Kind::Scenario(f),
        sabotage,
    };
    vec![
        sc("runtime.state.created", "runtime.md#state: ociVersion, id, status, pid, bundle, annotations; create: status MUST be created", state_created, state_jq(".status = \"running\"")),
        sc("runtime.create.process-not-run", "runtime.md#create: the user-specified program MUST NOT be run at this time", not_run_at_create, post_create("\"$REAL\" --root \"$ROOT\" start \"$ID\"")),
        sc("runtime.start.running", "runtime.md#start: MUST run the program, status MUST be running; runtime.md#kill: stopped once the process is stopped", start_running, state_jq("if .status == \"running\" then .status = \"created\" else . end")),
        sc("runtime.start.twice-fails", "runtime.md#start: starting a started container MUST have no effect and MUST generate an error", start_twice, fake_ok("start")),
        sc("runtime.start.stopped-fails", "runtime.md#start: starting a container that is not created MUST generate an error", start_stopped, fake_ok("start")),
        sc("runtime.start.missing-fails", "runtime.md#start: starting a container that does not exist MUST generate an error", start_missing, fake_ok("start")),
        sc("runtime.start.no-id-fails", "runtime.md#start: MUST generate an error if not provided the container ID", start_no_id, fake_ok("start")),
        sc("runtime.start.no-process-fails", "config.md#process: REQUIRED when start is called", start_without_process, jq(".process = {\"args\": [\"/bin/true\"], \"cwd\": \"/\", \"user\": {\"uid\": 0, \"gid\": 0}}")),
        sc("runtime.kill.running", "runtime.md#kill: MUST send the specified signal; status stopped afterwards", kill_running, noop("kill")),
        sc("runtime.kill.created", "runtime.md#kill: a created container can be signalled", kill_created, noop("kill")),
        sc("runtime.kill.stopped-fails", "runtime.md#kill: signalling a container neither created nor running MUST have no effect and MUST error", kill_stopped, fake_ok("kill")),
        sc("runtime.kill.missing-fails", "runtime.md#kill: unknown container MUST generate an error", kill_missing, fake_ok("kill")),
        sc("runtime.kill.no-id-fails", "runtime.md#kill: MUST generate an error if not provided the container ID", kill_no_id, fake_ok("kill")),
        sc("runtime.exit.code", "runtime.md#lifecycle: the process exits (status stopped); the exit status reaches its reaper", exit_code, jq(".process.args = [\"/bin/sh\", \"-c\", \"exit 8\"]")),
        sc("runtime.state.missing-fails", "runtime.md#query-state: querying a container that does not exist MUST generate an error", state_missing, fake_ok("state")),
        sc("runtime.state.no-id-fails", "runtime.md#query-state: MUST generate an error if not provided the ID", state_no_id, fake_ok("state")),
        sc("runtime.delete.stopped", "runtime.md#delete: MUST delete the resources created during create; the id MAY be reused", delete_stopped, noop("delete")),
        sc("runtime.delete.running-fails", "runtime.md#delete: deleting a running container MUST generate an error and have no effect", delete_running, fake_ok("delete")),
        sc("runtime.delete.created-fails", "runtime.md#delete: deleting a container that is not stopped MUST have no effect and MUST error", delete_created, fake_ok("delete")),
        sc("runtime.delete.missing-fails", "runtime.md#delete: deleting a container that does not exist MUST generate an error", delete_missing, fake_ok("delete")),
        sc("runtime.delete.no-id-fails", "runtime.md#delete: MUST generate an error if not provided the ID", delete_no_id, fake_ok("delete")),
        sc("runtime.delete.keeps-foreign-resources", "runtime.md#delete: resources not created by the container MUST NOT be deleted", keeps_foreign, post_delete("rm -rf \"$BUNDLE/shared\"")),
        sc("runtime.create.duplicate-id-fails", "runtime.md#create: an id that is not unique MUST error and no new container is created", duplicate_id, fake_ok("create")),
        sc("runtime.create.invalid-id-fails", "runtime.md#create: an id that is not valid MUST generate an error", invalid_id, fake_ok("create")),
        sc("runtime.create.no-id-fails", "runtime.md#create: MUST error if not provided the container ID", create_no_id, fake_ok("create")),
        sc("runtime.create.no-config-fails", "runtime.md#lifecycle: unable to create the environment MUST generate an error", create_no_config, fake_ok("create")),
        sc("runtime.create.failure-leaves-nothing", "runtime.md#errors: an error MUST leave the environment as if the operation were never attempted", failure_leaves_nothing, fake_ok("create")),
        sc("runtime.create.config-changes-ignored", "runtime.md#lifecycle: updates to config.json after create MUST NOT affect the container", config_changes_ignored, pre_start("\"$REAL\" --root \"$ROOT\" delete --force \"$ID\" && \"$REAL\" --root \"$ROOT\" create --bundle \"$BUNDLE\" \"$ID\" >\"$BUNDLE/stdout\" 2>&1")),
    ]
}
