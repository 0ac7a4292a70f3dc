//! config.md#posix-platform-hooks and runtime.md#lifecycle: hook order, the state on stdin,
//! failures and timeouts.

use super::{always, jq, Bundle, Case, Ctx, Kind, Outcome};
use crate::ensure;
use crate::spec::{base, sh};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// A hook that records its stdin, argv and environment in `dir` and appends its name to the log.
fn recorder(name: &str, dir: &str) -> Value {
    let script = "cat > \"$LOGDIR/$HOOK.json\"; echo \"$0 $*\" > \"$LOGDIR/$HOOK.args\"; env > \"$LOGDIR/$HOOK.env\"; readlink /proc/self/ns/mnt > \"$LOGDIR/$HOOK.mntns\"; echo \"$HOOK\" >> \"$LOGDIR/log\"";
    json!({"path": "/bin/sh", "args": ["sh", "-c", script, format!("argv0-{name}"), "arg1"], "env": [format!("LOGDIR={dir}"), format!("HOOK={name}")]})
}

fn failing(name: &str, dir: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", "cat > /dev/null; echo \"$HOOK\" >> \"$LOGDIR/log\"; exit 3"], "env": [format!("LOGDIR={dir}"), format!("HOOK={name}")]})
}

fn log(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn mark(dir: &Path, what: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("log"))
    {
        let _ = writeln!(f, "{what}");
    }
}

/// A bundle with a writable /shared bind mount from `<bundle>/shared`, where hooks log.
fn hook_bundle(
    ctx: &mut Ctx,
    hooks: impl FnOnce(&str) -> Value,
    script: &str,
) -> Result<(Bundle, std::path::PathBuf, Value), super::Stop> {
    let b = ctx.bundle()?;
    let shared = b.dir.join("shared");
    std::fs::create_dir_all(&shared).map_err(anyhow::Error::from)?;
    let mut cfg = base();
    cfg["process"]["args"] = sh(script);
    cfg["annotations"] = json!({"org.example.hooks": "1"});
    if let Some(m) = cfg["mounts"].as_array_mut() {
        m.push(json!({"destination": "/shared", "type": "bind", "source": shared.to_string_lossy(), "options": ["rbind", "rw"]}));
    }
    cfg["hooks"] = hooks(&shared.to_string_lossy());
    ctx.write_config(&b, &cfg)?;
    Ok((b, shared, cfg))
}

fn order_and_state(ctx: &mut Ctx, check_order: bool) -> Outcome {
    let (b, shared, _) = hook_bundle(
        ctx,
        |d| {
            json!({
                "prestart": [recorder("prestart-1", d), recorder("prestart-2", d)],
                "createRuntime": [recorder("createRuntime", d)],
                "createContainer": [recorder("createContainer", d)],
                "startContainer": [recorder("startContainer", "/shared")],
                "poststart": [recorder("poststart", d)],
                "poststop": [recorder("poststop", d)]
            })
        },
        "echo process >> /shared/log",
    )?;
    let l = ctx.launch(&b, "h")?;
    mark(&shared, "<create returned>");
    let st = ctx.state(&l.id)?;
    mark(&shared, "<start called>");
    let o = ctx.start(&l.id)?;
    ensure!(o.ok, "start failed: {}", o.brief());
    mark(&shared, "<start returned>");
    ctx.wait(&l, Duration::from_secs(5))?;
    mark(&shared, "<delete called>");
    let o = ctx.delete(&l.id)?;
    ensure!(o.ok, "delete failed: {}", o.brief());
    mark(&shared, "<delete returned>");

    let got: Vec<String> = log(&shared)
        .into_iter()
        .filter(|l| l != "process")
        .collect();
    if !check_order {
        return hook_states(&shared, &b, &l, &st, ctx.host.ns["mnt"].as_u64());
    }
    let want = [
        "prestart-1",
        "prestart-2",
        "createRuntime",
        "createContainer",
        "<create returned>",
        "<start called>",
        "startContainer",
        "poststart",
        "<start returned>",
        "<delete called>",
        "poststop",
        "<delete returned>",
    ];
    ensure!(got == want, "hook order {got:?}, want {want:?}");
    let all = log(&shared);
    let p = all.iter().position(|x| x == "process");
    let s = all.iter().position(|x| x == "<start called>");
    ensure!(
        p.is_some() && p > s,
        "the process ran before start: {all:?}"
    );
    Ok(())
}

fn hook_states(
    shared: &Path,
    b: &Bundle,
    l: &super::Launched,
    st: &Value,
    host_mnt: Option<u64>,
) -> Outcome {
    let mut problems = Vec::new();
    let mut check = |ok: bool, msg: String| {
        if !ok {
            problems.push(msg);
        }
    };
    for hook in [
        "prestart-1",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        let text = std::fs::read_to_string(shared.join(format!("{hook}.json"))).unwrap_or_default();
        let hs: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if hs.is_null() {
            check(false, format!("{hook}: no state JSON on stdin ({text:?})"));
            continue;
        }
        check(
            hs["id"] == l.id.as_str(),
            format!("{hook}: state id {}, want {}", hs["id"], l.id),
        );
        check(
            hs["bundle"] == b.path().as_str(),
            format!("{hook}: state bundle {}, want {}", hs["bundle"], b.path()),
        );
        check(
            hs["ociVersion"].is_string(),
            format!("{hook}: state has no ociVersion"),
        );
        check(
            hs["annotations"]["org.example.hooks"] == "1",
            format!("{hook}: state annotations {}", hs["annotations"]),
        );
        let status = hs["status"].as_str().unwrap_or("");
        if hook == "poststop" {
            check(
                status == "stopped",
                format!("poststop: state status {status:?}, want stopped"),
            );
        } else {
            // Runtimes MAY add statuses for states of their own ("starting", say).
            check(!status.is_empty() && status != "stopped", format!("{hook}: state status {status:?}, want the container's status before it stopped"));
            check(
                hs["pid"] == st["pid"],
                format!(
                    "{hook}: state pid {}, want the container's host pid {}",
                    hs["pid"], st["pid"]
                ),
            );
        }
        let args = std::fs::read_to_string(shared.join(format!("{hook}.args"))).unwrap_or_default();
        check(
            args.trim() == format!("argv0-{hook} arg1"),
            format!("{hook}: argv {args:?}, want the hook's args"),
        );
        // createContainer and startContainer run in the container's namespaces, the rest in
        // the runtime's.
        let ns = std::fs::read_to_string(shared.join(format!("{hook}.mntns"))).unwrap_or_default();
        let ino: Option<u64> = ns
            .trim()
            .split('[')
            .nth(1)
            .and_then(|x| x.trim_end_matches(']').parse().ok());
        let in_container = hook == "createContainer" || hook == "startContainer";
        check(
            ino.is_some() && (ino != host_mnt) == in_container,
            format!(
                "{hook}: ran in mount namespace {ns:?}, want {} the runtime's",
                if in_container { "not" } else { "" }
            ),
        );
        let env = std::fs::read_to_string(shared.join(format!("{hook}.env"))).unwrap_or_default();
        check(
            env.lines().any(|l| l == format!("HOOK={hook}")),
            format!("{hook}: the hook's env is missing"),
        );
        check(
            !env.contains("CONFORMANCE_LEAK"),
            format!("{hook}: the runtime's own environment leaked into the hook"),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        super::fail(problems.join("; "))
    }
}

fn order(ctx: &mut Ctx) -> Outcome {
    order_and_state(ctx, true)
}

fn state(ctx: &mut Ctx) -> Outcome {
    order_and_state(ctx, false)
}

fn create_hook_fails(ctx: &mut Ctx, kind: &str) -> Outcome {
    let k = kind.to_string();
    let (b, shared, _) = hook_bundle(
        ctx,
        // startContainer runs inside the container, where the log is at /shared.
        |d| {
            let dir = if k == "startContainer" { "/shared" } else { d };
            json!({ k.clone(): [failing("bad", dir)] })
        },
        "echo process >> /shared/log",
    )?;
    let id = ctx.id("hf");
    let o = ctx.create(&id, &b)?;
    let mut errored = !o.ok;
    if o.ok {
        errored = !ctx.start(&id)?.ok;
    }
    std::thread::sleep(Duration::from_millis(100));
    let ran = log(&shared).contains(&"bad".to_string());
    let process = log(&shared).contains(&"process".to_string());
    ensure!(ran, "the {kind} hook never ran");
    ensure!(
        errored,
        "a failing {kind} hook generated no error from create or start (user process ran: {process})"
    );
    ensure!(
        !process,
        "the user process ran although a {kind} hook failed"
    );
    let st = ctx.cmd(&["state", &id])?;
    if st.ok {
        let v: Value = serde_json::from_str(&st.stdout).unwrap_or(Value::Null);
        ensure!(
            v["status"] == "stopped",
            "after the failed {kind} hook the container is {}",
            v["status"]
        );
    }
    Ok(())
}

fn prestart_fails(ctx: &mut Ctx) -> Outcome {
    create_hook_fails(ctx, "prestart")
}

fn create_container_fails(ctx: &mut Ctx) -> Outcome {
    create_hook_fails(ctx, "createContainer")
}

fn start_container_fails(ctx: &mut Ctx) -> Outcome {
    create_hook_fails(ctx, "startContainer")
}

fn create_runtime_fails(ctx: &mut Ctx) -> Outcome {
    create_hook_fails(ctx, "createRuntime")
}

fn poststart_fails(ctx: &mut Ctx) -> Outcome {
    let (b, shared, _) = hook_bundle(
        ctx,
        |d| json!({"poststart": [failing("bad", d), recorder("after", d)]}),
        "echo process >> /shared/log; sleep 0.3",
    )?;
    let l = ctx.launch(&b, "ps")?;
    let o = ctx.start(&l.id)?;
    ensure!(
        o.ok,
        "start failed because a poststart hook failed (MUST only warn): {}",
        o.brief()
    );
    ensure!(
        log(&shared).contains(&"after".to_string()),
        "the poststart hook after the failing one did not run"
    );
    ctx.wait(&l, Duration::from_secs(5))?;
    ensure!(
        log(&shared).contains(&"process".to_string()),
        "the user process did not run"
    );
    Ok(())
}

fn poststop_fails(ctx: &mut Ctx) -> Outcome {
    let (b, shared, _) = hook_bundle(
        ctx,
        |d| json!({"poststop": [failing("bad", d), recorder("after", d)]}),
        "exit 0",
    )?;
    let l = ctx.launch(&b, "pp")?;
    ensure!(ctx.start(&l.id)?.ok, "start failed");
    ctx.wait(&l, Duration::from_secs(5))?;
    let o = ctx.delete(&l.id)?;
    ensure!(
        o.ok,
        "delete failed because a poststop hook failed (MUST only warn): {}",
        o.brief()
    );
    ensure!(
        log(&shared).contains(&"after".to_string()),
        "the poststop hook after the failing one did not run"
    );
    ensure!(
        !ctx.cmd(&["state", &l.id])?.ok,
        "the container still exists after delete"
    );
    Ok(())
}

fn timeout(ctx: &mut Ctx) -> Outcome {
    let (b, _shared, _) = hook_bundle(
        ctx,
        |_| json!({"prestart": [{"path": "/bin/sleep", "args": ["sleep", "6"], "timeout": 1}]}),
        "exit 0",
    )?;
    let id = ctx.id("to");
    let t = Instant::now();
    let o = ctx.create(&id, &b)?;
    let took = t.elapsed();
    ensure!(
        !o.ok,
        "create succeeded although the prestart hook ran past its 1s timeout"
    );
    ensure!(
        took < Duration::from_secs(4),
        "create took {took:?}: the hook ran past its 1s timeout without being aborted"
    );
    Ok(())
}

fn relative_path(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["hooks"] = json!({"prestart": [{"path": "sh", "args": ["sh", "-c", "true"]}]});
}

fn zero_timeout(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["hooks"] = json!({"prestart": [{"path": "/bin/true", "timeout": 0}]});
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
        sc("hooks.order", "config.md#posix-platform-hooks: hooks MUST be called in the listed order; runtime.md#lifecycle: prestart, createRuntime, createContainer during create, startContainer and poststart during start, poststop during delete", order, jq(".hooks.prestart |= reverse")),
        sc("hooks.state-on-stdin", "config.md#posix-platform-hooks: the state MUST be passed to hooks over stdin; path/args/env semantics", state, jq(".hooks |= map_values(map(.args[2] = \"exec </dev/null; \" + .args[2]))")),
        sc("hooks.prestart-failure", "runtime.md#lifecycle: a failing prestart hook MUST generate an error and stop the container", prestart_fails, jq(".hooks.prestart[0].args[2] = \"echo bad >> $LOGDIR/log\"")),
        sc("hooks.create-runtime-failure", "runtime.md#lifecycle: a failing createRuntime hook MUST generate an error and stop the container", create_runtime_fails, jq(".hooks.createRuntime[0].args[2] = \"echo bad >> $LOGDIR/log\"")),
        sc("hooks.create-container-failure", "runtime.md#lifecycle: a failing createContainer hook MUST generate an error and stop the container", create_container_fails, jq(".hooks.createContainer[0].args[2] = \"echo bad >> $LOGDIR/log\"")),
        sc("hooks.start-container-failure", "runtime.md#lifecycle: a failing startContainer hook MUST generate an error and stop the container", start_container_fails, jq(".hooks.startContainer[0].args[2] = \"echo bad >> $LOGDIR/log\"")),
        sc("hooks.poststart-failure-warns", "runtime.md#lifecycle: a failing poststart hook MUST only log a warning; remaining hooks and lifecycle continue", poststart_fails, jq("del(.hooks.poststart[1])")),
        sc("hooks.poststop-failure-warns", "runtime.md#lifecycle: a failing poststop hook MUST only log a warning; remaining hooks and lifecycle continue", poststop_fails, jq("del(.hooks.poststop[1])")),
        sc("hooks.timeout", "config.md#posix-platform-hooks: timeout is the number of seconds before aborting the hook", timeout, jq("del(.hooks.prestart[0].timeout)")),
        Case { name: "hooks.path-relative-rejected", spec: "config.md#posix-platform-hooks: path MUST be absolute", needs: always, kind: Kind::Rejected(relative_path), sabotage: jq(".hooks.prestart[0].path = \"/bin/sh\"") },
        Case { name: "hooks.timeout-zero-rejected", spec: "config.md#posix-platform-hooks: timeout, if set, MUST be greater than zero", needs: always, kind: Kind::Rejected(zero_timeout), sabotage: jq(".hooks.prestart[0].timeout = 5") },
    ]
}
