//! containerd-shim-berth-v2 under a real containerd 1.6, driven with `ctr --runtime
//! io.containerd.berth.v2`: run, detached tasks, exec, tty, kill, pause/resume, update, stats,
//! OOM and lifecycle events, log URIs, and clean failure.

mod engines_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use engines_support::{have, lock, unique, wait_until, write_script, Containerd, ContainerdOpts};

const IMAGE: &str = "docker.io/library/busybox:latest";
const SHIM: &str = "io.containerd.berth.v2";

fn setup() -> Option<(engines_support::EngineLock, Containerd)> {
    if !have("containerd") || !have("ctr") || !have("umoci") || !have("skopeo") {
        return None;
    }
    let l = lock();
    let c = Containerd::start(ContainerdOpts::default());
    c.import_busybox("default");
    Some((l, c))
}

fn task_status(c: &Containerd, id: &str) -> String {
    c.ctr(&["tasks", "ls"])
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        .unwrap_or_default()
}

/// Waits until no shim of this containerd is left and nothing is mounted under its dir.
fn assert_nothing_left(c: &Containerd) {
    wait_until("shims to exit", Duration::from_secs(10), || {
        c.shim_pids().is_empty()
    });
    assert!(c.mounts().is_empty(), "mounts left: {:?}", c.mounts());
}

/// `ctr events` in the background; lines arrive on the channel.
struct Events {
    child: std::process::Child,
    rx: mpsc::Receiver<String>,
}

impl Events {
    fn start(c: &Containerd) -> Events {
        let mut child = c
            .ctr_cmd()
            .arg("events")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ctr events");
        let out = child.stdout.take().expect("events stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        // let the subscription settle before anything happens
        std::thread::sleep(Duration::from_millis(300));
        Events { child, rx }
    }

    /// Topics of events mentioning `needle`, until `last` is seen or the timeout.
    fn topics_until(&self, needle: &str, last: &str, timeout: Duration) -> Vec<String> {
        let end = Instant::now() + timeout;
        let mut topics = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let Ok(l) = self.rx.recv_timeout(left) else {
                break;
            };
            if !l.contains(needle) {
                continue;
            }
            if let Some(t) = l.split_whitespace().find(|w| w.starts_with("/tasks/")) {
                // exits are told apart by process id: /tasks/exit:<id>
                let who = l
                    .split("\"id\":\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .filter(|_| t == "/tasks/exit");
                topics.push(match who {
                    Some(w) => format!("{t}:{w}"),
                    None => t.to_string(),
                });
                if t == last {
                    break;
                }
            }
        }
        topics
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn run_rm_prints_output_and_returns_the_exit_code() {
    let Some((_l, c)) = setup() else { return };
    let id = unique("run");
    let out = c
        .ctr_cmd()
        .args([
            "run",
            "--rm",
            "--runtime",
            SHIM,
            IMAGE,
            &id,
            "sh",
            "-c",
            "echo hello-out; echo hello-err >&2; exit 3",
        ])
        .output()
        .expect("ctr run");
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello-out");
    assert!(String::from_utf8_lossy(&out.stderr).contains("hello-err"));
    assert_nothing_left(&c);
}

#[test]
fn stdin_and_its_end_reach_the_container() {
    let Some((_l, c)) = setup() else { return };
    let id = unique("stdin");
    let mut child = c
        .ctr_cmd()
        .args([
            "run",
            "--rm",
            "--runtime",
            SHIM,
            IMAGE,
            &id,
            "sh",
            "-c",
            "cat; echo got-eof",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ctr run");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"ping\n")
        .expect("write stdin");
    let out = child.wait_with_output().expect("ctr run");
    assert!(out.status.success());
    // the end of input reaches the container: cat returns
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ping\ngot-eof\n");
}

#[test]
fn detached_task_runs_until_killed() {
    let Some((_l, c)) = setup() else { return };
    let id = unique("det");
    c.ctr(&[
        "run",
        "-d",
        "--runtime",
        SHIM,
        IMAGE,
        &id,
        "sh",
        "-c",
        "trap 'exit 42' TERM; while :; do sleep 0.1; done",
    ]);
    assert_eq!(task_status(&c, &id), "RUNNING");
    assert_eq!(c.shim_pids().len(), 1, "one shim per container");
    c.ctr(&["tasks", "kill", "-s", "SIGTERM", &id]);
    wait_until("the task to stop", Duration::from_secs(10), || {
        task_status(&c, &id) == "STOPPED"
    });
    let del = c.ctr(&["tasks", "delete", &id]);
    assert!(del.contains("42") || del.is_empty(), "delete output: {del}");
    c.ctr(&["containers", "delete", &id]);
    assert_nothing_left(&c);
}

#[test]
fn kill_of_a_stopped_task_fails_with_not_found() {
    let Some((_l, c)) = setup() else { return };
    let id = unique("killed");
    c.ctr(&["run", "-d", "--runtime", SHIM, IMAGE, &id, "true"]);
    wait_until("the task to stop", Duration::from_secs(10), || {
        task_status(&c, &id) == "STOPPED"
    });
    let out = c.ctr_raw("default", &["tasks", "kill", &id]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("process already finished"), "stderr: {err}");
}

#[test]
fn exec_runs_in_the_container_and_returns_its_exit_code() {
    let Some((_l, c)) = setup() else { return };
    let id = unique("exec");
    c.ctr(&[
        "run",
        "-d",
        "--runtime",
        SHIM,
        IMAGE,
        &id,
        "sh",
        "-c",
        "echo $$ > /tmp/init-pid; exec sleep 1000",
    ]);
    wait_until("the init to write its pid", Duration::from_secs(5), || {
        c.ctr_raw(
            "default",
            &[
                "tasks",
                "exec",
                "--exec-id",
                "w",
                &id,
                "test",
                "-s",
                "/tmp/init-pid",
            ],
        )
        .status
        .success()
    });
    let out = c
        .ctr_cmd()
        .args([
            "tasks",
            "exec",
            "--exec-id",
            "e1",
            &id,
            "sh",
            "-c",
            "echo in-exec $(cat /tmp/init-pid); exit 5",
        ])
        .output()
        .expect("ctr exec");
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "in-exec 1",
        "the exec sees the init's filesystem and pid namespace"
    );
    // a detached exec shows up in ps, tagged with its exec id
    c.ctr(&[
        "tasks",
        "exec",
        "-d",
        "--exec-id",
        "e2",
        &id,
        "sleep",
        "1000",
    ]);
    wait_until("the exec in ps", Duration::from_secs(5), || {
        c.ctr(&["tasks", "ps", &id]).contains("e2")
    });
    assert_eq!(
        c.ctr(&["tasks", "ps", &id]).lines().count(),
        3,
        "header, init and exec"
    );
}

#[test]
fn tty_run_and_tty_exec_get_a_terminal() {
    let Some((_l, c)) = setup() else { return };
    if !have("script") {
        return;
    }
    let id = unique("tty");
    let cmd = format!(
        "ctr --address {} run --rm -t --runtime {SHIM} {IMAGE} {id} sh -c 'tty; exit 6'",
        c.sock.display()
    );
    let out = Command::new("script")
        .args(["-eqc", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script");
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("/dev/pts/0"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // an exec with its own terminal
    let id = unique("ttyx");
    c.ctr(&["run", "-d", "--runtime", SHIM, IMAGE, &id, "sleep", "1000"]);
    let cmd = format!(
        "ctr --address {} tasks exec -t --exec-id tx {id} sh -c 'tty; exit 8'",
        c.sock.display()
    );
    let out = Command::new("script")
        .args(["-eqc", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script");
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("/dev/pts/"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn pause_and_resume_change_the_task_status() {
    let Some((_l, c)) = setup() else { return };
    let id = unique("pause");
    c.ctr(&["run", "-d", "--runtime", SHIM, IMAGE, &id, "sleep", "1000"]);
    c.ctr(&["tasks", "pause", &id]);
    assert_eq!(task_status(&c, &id), "PAUSED");
    let err = c.ctr_raw("default", &["tasks", "pause", &id]);
    assert!(!err.status.success(), "pausing twice must fail");
    c.ctr(&["tasks", "resume", &id]);
    assert_eq!(task_status(&c, &id), "RUNNING");
}

#[test]
fn stats_report_cgroup_metrics() {
    let Some((_l, c)) = setup() else { return };
    let id = unique("stats");
    c.ctr(&["run", "-d", "--runtime", SHIM, IMAGE, &id, "sleep", "1000"]);
    let m = c.ctr(&["tasks", "metrics", &id]);
    for key in ["memory.usage_in_bytes", "cpuacct.usage", "pids.current"] {
        assert!(m.contains(key), "metrics lack {key}:\n{m}");
    }
    let pids = m
        .lines()
        .find(|l| l.starts_with("pids.current"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("");
    assert_eq!(pids, "1");
}

#[test]
fn events_arrive_in_lifecycle_order() {
    let Some((_l, c)) = setup() else { return };
    let ev = Events::start(&c);
    let id = unique("events");
    c.ctr(&["run", "-d", "--runtime", SHIM, IMAGE, &id, "sleep", "1000"]);
    c.ctr(&["tasks", "exec", "--exec-id", "ev1", &id, "true"]);
    // an exec still running when the init dies: its exit is reported first
    c.ctr(&[
        "tasks",
        "exec",
        "-d",
        "--exec-id",
        "ev2",
        &id,
        "sleep",
        "1000",
    ]);
    c.ctr(&["tasks", "kill", "-s", "SIGKILL", &id]);
    wait_until("the task to stop", Duration::from_secs(10), || {
        task_status(&c, &id) == "STOPPED"
    });
    c.ctr(&["tasks", "delete", &id]);
    let topics = ev.topics_until(&id, "/tasks/delete", Duration::from_secs(10));
    let want = [
        "/tasks/create".to_string(),
        "/tasks/start".to_string(),
        "/tasks/exec-added".to_string(),
        "/tasks/exec-started".to_string(),
        "/tasks/exit:ev1".to_string(),
        "/tasks/exec-added".to_string(),
        "/tasks/exec-started".to_string(),
        "/tasks/exit:ev2".to_string(),
        format!("/tasks/exit:{id}"),
        "/tasks/delete".to_string(),
    ];
    assert_eq!(topics, want, "events for {id}");
}

#[test]
fn oom_kill_publishes_an_oom_event() {
    let Some((_l, c)) = setup() else { return };
    let ev = Events::start(&c);
    let id = unique("oom");
    let out = c
        .ctr_cmd()
        .args([
            "run",
            "--rm",
            "--memory-limit",
            "16777216",
            "--runtime",
            SHIM,
            IMAGE,
            &id,
            "sh",
            "-c",
            "x=aaaaaaaa; while :; do x=$x$x; done",
        ])
        .output()
        .expect("ctr run");
    assert_eq!(
        out.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let topics = ev.topics_until(&id, "/tasks/oom", Duration::from_secs(10));
    assert!(
        topics.iter().any(|t| t == "/tasks/oom"),
        "events: {topics:?}"
    );
}

#[test]
fn file_and_binary_log_uris_receive_the_output() {
    let Some((_l, c)) = setup() else { return };
    let id = unique("logf");
    let file = c.dir.join("logs/out.log");
    let uri = format!("file://{}", file.display());
    c.ctr(&[
        "run",
        "--rm",
        "--log-uri",
        &uri,
        "--runtime",
        SHIM,
        IMAGE,
        &id,
        "sh",
        "-c",
        "echo to-file; echo err-file >&2",
    ]);
    let text = std::fs::read_to_string(&file).expect("log file");
    assert!(
        text.contains("to-file") && text.contains("err-file"),
        "{text}"
    );

    let logger = c.dir.join("logger.sh");
    write_script(
        &logger,
        "#!/bin/sh\n# binary:// logger: stdout on fd 3, stderr on fd 4, ready when fd 5 closes\nexec 5>&-\ncat <&3 > \"$1/$CONTAINER_NAMESPACE-$CONTAINER_ID.out\" &\ncat <&4 > \"$1/$CONTAINER_NAMESPACE-$CONTAINER_ID.err\" &\nwait\n",
    );
    let id = unique("logb");
    let uri = format!("binary://{}?{}", logger.display(), c.dir.display());
    c.ctr(&[
        "run",
        "--rm",
        "--log-uri",
        &uri,
        "--runtime",
        SHIM,
        IMAGE,
        &id,
        "sh",
        "-c",
        "echo to-bin; echo err-bin >&2",
    ]);
    let out_file = c.dir.join(format!("default-{id}.out"));
    wait_until("the logger output", Duration::from_secs(5), || {
        std::fs::read_to_string(&out_file)
            .map(|s| s.contains("to-bin"))
            .unwrap_or(false)
    });
    let err = std::fs::read_to_string(c.dir.join(format!("default-{id}.err"))).unwrap_or_default();
    assert!(err.contains("err-bin"), "stderr log: {err}");
}

#[test]
fn failed_create_shows_the_runtime_error_and_leaves_nothing() {
    let Some((_l, c)) = setup() else { return };
    let sockets = || {
        std::fs::read_dir("/run/containerd/s")
            .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let before = sockets();
    let id = unique("bad");
    let out = c
        .ctr_cmd()
        .args([
            "run",
            "--rm",
            "--runtime",
            SHIM,
            IMAGE,
            &id,
            "/no/such/binary",
        ])
        .output()
        .expect("ctr run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("OCI runtime create failed") && err.contains("/no/such/binary"),
        "stderr: {err}"
    );
    assert_eq!(err.lines().count(), 1, "one error line, got: {err}");
    assert_nothing_left(&c);
    let new: Vec<_> = sockets()
        .into_iter()
        .filter(|s| !before.contains(s))
        .collect();
    assert!(new.is_empty(), "shim sockets left: {new:?}");
    let bundle = c
        .dir
        .join(format!("state/io.containerd.runtime.v2.task/default/{id}"));
    assert!(!bundle.exists(), "bundle left: {}", bundle.display());
}

#[test]
fn missing_runtime_binary_fails_create_with_a_clear_error() {
    let Some((_l, c)) = setup() else { return };
    let id = unique("nort");
    let cfg = c.dir.join("shim.toml");
    std::fs::write(&cfg, "BinaryName = \"/no/such/runtime\"\n").expect("writing runtime config");
    let out = c
        .ctr_cmd()
        .args(["run", "--rm", "--runtime", SHIM, "--runtime-config-path"])
        .arg(&cfg)
        .args([IMAGE, &id, "true"])
        .output()
        .expect("ctr run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("runtime binary /no/such/runtime is not an executable file"),
        "stderr: {err}"
    );
    assert_nothing_left(&c);
}

#[test]
fn shim_reports_version_and_runtime_info() {
    let shim = engines_support::shim_binary();
    let v = Command::new(&shim).arg("-v").output().expect("shim -v");
    assert!(v.status.success());
    assert!(String::from_utf8_lossy(&v.stdout).contains("containerd-shim-berth-v2"));
    let info = Command::new(&shim)
        .arg("-info")
        .env("BERTH_SHIM_RUNTIME", engines_support::test_runtime())
        .stdin(Stdio::null())
        .output()
        .expect("shim -info");
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        text.contains("io.containerd.berth.v2") && text.contains("ociVersionMin"),
        "{text}"
    );
    let bad = Command::new(&shim)
        .arg("-info")
        .env("BERTH_SHIM_RUNTIME", "/no/such/runtime")
        .stdin(Stdio::null())
        .output()
        .expect("shim -info");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(
        err.trim(),
        "containerd-shim-berth-v2: runtime binary /no/such/runtime is not an executable file"
    );
}

#[test]
fn killed_shim_is_cleaned_up_by_the_delete_subcommand() {
    let Some((_l, c)) = setup() else { return };
    let id = unique("crash");
    c.ctr(&["run", "-d", "--runtime", SHIM, IMAGE, &id, "sleep", "1000"]);
    let init: i32 = c
        .ctr(&["tasks", "ls"])
        .lines()
        .find(|l| l.starts_with(&id))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .expect("task pid");
    let shims = c.shim_pids();
    assert_eq!(shims.len(), 1);
    let address = std::fs::read_to_string(c.dir.join(format!(
        "state/io.containerd.runtime.v2.task/default/{id}/address"
    )))
    .expect("shim address file");
    let socket = std::path::PathBuf::from(address.trim().trim_start_matches("unix://"));
    assert!(socket.exists(), "shim socket {}", socket.display());
    // SAFETY: the shim of our own containerd.
    unsafe { libc::kill(shims[0], libc::SIGKILL) };
    // containerd notices, runs `containerd-shim-berth-v2 delete`, which force-deletes the
    // container through the runtime and unmounts its rootfs
    wait_until(
        "the container's init to be gone",
        Duration::from_secs(15),
        || {
            !std::path::Path::new(&format!("/proc/{init}")).exists()
                || std::fs::read_to_string(format!("/proc/{init}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true)
        },
    );
    wait_until("the task to be gone", Duration::from_secs(15), || {
        !c.ctr(&["tasks", "ls"]).contains(&id)
    });
    assert_nothing_left(&c);
    assert!(
        !socket.exists(),
        "socket of the killed shim left: {}",
        socket.display()
    );
}

#[test]
fn checkpoint_is_reported_as_not_implemented() {
    let Some((_l, c)) = setup() else { return };
    let id = unique("ckpt");
    c.ctr(&["run", "-d", "--runtime", SHIM, IMAGE, &id, "sleep", "1000"]);
    let out = c.ctr_raw("default", &["tasks", "checkpoint", &id]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not implemented"), "stderr: {err}");
    assert_eq!(task_status(&c, &id), "RUNNING", "the task keeps running");
}
