//! bay containers end to end: real containers through bay's monitor and target/debug/berth
//! (build both first: `cargo build -p bay -p berth`). Each test has a private store and
//! checks that nothing is left behind: mounts, processes, runtime state, container dirs.

mod bay_common;

use std::time::{Duration, Instant};

use bay_common::{CtrBay, Out};

fn one_line(o: &Out) {
    assert_eq!(
        o.stderr.trim_end().lines().count(),
        1,
        "want a one-line error, got {:?}",
        o.stderr
    );
}

fn inspect(b: &CtrBay, name: &str, fmt: &str) -> String {
    b.ok(&["inspect", "-f", fmt, name]).trim().to_string()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn detached_run_is_up_logs_in_order_and_stop_kills_after_timeout() {
    let b = CtrBay::new();
    let id = b.ok(&[
        "run",
        "-d",
        "--name",
        "loop",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.05; done",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "run -d prints the full ID: {id}");
    let ps = b.ok(&["ps"]);
    let lines: Vec<&str> = ps.lines().collect();
    assert!(
        lines[0].starts_with("CONTAINER ID   IMAGE     COMMAND"),
        "header: {ps}"
    );
    assert!(lines[0].contains("CREATED") && lines[0].ends_with("NAMES"));
    assert!(lines[1].starts_with(&id[..12]), "{ps}");
    assert!(lines[1].contains(" Up "), "{ps}");
    // dockerd single-quotes an argument with a space in it
    assert!(lines[1].contains("\"sh -c 'i=0; while t…\""), "{ps}");
    assert!(lines[1].ends_with("loop"), "{ps}");
    wait_for("5 log lines", || {
        b.ok(&["logs", "loop"]).lines().count() >= 5
    });
    let logs = b.ok(&["logs", "loop"]);
    for (i, l) in logs.lines().enumerate() {
        assert_eq!(l, format!("line {}", i + 1), "logs in order: {logs}");
    }
    let tail = b.ok(&["logs", "--tail", "2", "-t", "loop"]);
    assert_eq!(tail.lines().count(), 2);
    assert!(tail.lines().all(|l| l.contains("Z line ")), "{tail}");
    // The log file is docker's json-file format.
    let log = inspect(&b, "loop", "{{.LogPath}}");
    assert!(log.ends_with(&format!("{id}-json.log")));
    let first = std::fs::read_to_string(&log).unwrap();
    let v: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(v["log"], "line 1\n");
    assert_eq!(v["stream"], "stdout");
    // sh as PID 1 ignores SIGTERM: stop kills it after the timeout.
    let t = Instant::now();
    assert_eq!(b.ok(&["stop", "-t", "1", "loop"]).trim(), "loop");
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        inspect(&b, "loop", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    let ps = b.ok(&["ps", "-a"]);
    assert!(ps.contains("Exited (137) "), "{ps}");
    assert_eq!(b.ok(&["ps", "-q"]), "");
    assert_eq!(b.ok(&["rm", "loop"]).trim(), "loop");
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    b.assert_clean();
}

#[test]
fn stop_of_a_container_that_handles_sigterm_exits_143() {
    let b = CtrBay::new();
    b.ok(&[
        "run",
        "-d",
        "--name",
        "tt",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 143' TERM; while true; do sleep 0.05; done",
    ]);
    let t = Instant::now();
    b.ok(&["stop", "tt"]);
    assert!(t.elapsed() < Duration::from_secs(5), "SIGTERM was handled");
    assert_eq!(inspect(&b, "tt", "{{.State.ExitCode}}"), "143");
    b.assert_clean();
}

#[test]
fn foreground_run_streams_output_and_returns_the_exit_code() {
    let b = CtrBay::new();
    let o = b.run(&[
        "run",
        "--name",
        "fg",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert_eq!(o.stdout, "out\n");
    assert_eq!(o.stderr, "err\n");
    assert_eq!(
        inspect(&b, "fg", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 3"
    );
    let ps = b.ok(&["ps", "-a"]);
    assert!(ps.contains("Exited (3) "), "{ps}");
    assert_eq!(b.ok(&["logs", "fg"]), "out\n");
    b.assert_clean();
}

#[test]
fn run_rm_leaves_nothing_behind() {
    let b = CtrBay::new();
    let o = b.run(&["run", "--rm", "busybox", "sh", "-c", "echo bye; exit 4"]);
    assert_eq!((o.code, o.stdout.as_str()), (4, "bye\n"));
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    // Detached --rm: gone once stopped.
    b.ok(&[
        "run", "-d", "--rm", "--name", "rr", "busybox", "sh", "-c", "sleep 30",
    ]);
    b.ok(&["kill", "rr"]);
    wait_for("the --rm container to go", || {
        b.ok(&["ps", "-aq"]).is_empty()
    });
    b.assert_clean();
}

#[test]
fn env_workdir_user_entrypoint_and_hostname_are_seen_inside() {
    let b = CtrBay::new();
    let out = b.ok(&[
        "run",
        "--rm",
        "-e",
        "FOO=bar",
        "-e",
        "PATH=/bin:/custom",
        "-w",
        "/work/dir",
        "-u",
        "1000:1001",
        "-h",
        "myhost",
        "busybox",
        "sh",
        "-c",
        "echo $FOO; echo $PATH; pwd; id -u; id -g; hostname; cat /etc/hostname; echo $HOSTNAME; echo $HOME",
    ]);
    assert_eq!(
        out,
        "bar\n/bin:/custom\n/work/dir\n1000\n1001\nmyhost\nmyhost\nmyhost\n/\n"
    );
    // Defaults: root, cwd /, HOSTNAME = short ID, HOME=/root, docker's PATH.
    let id = b.ok(&[
        "create",
        "busybox",
        "sh",
        "-c",
        "id -u; pwd; hostname; echo $HOME; echo $PATH",
    ]);
    let id = id.trim();
    b.ok(&["start", id]);
    assert_eq!(b.ok(&["wait", id]).trim(), "0");
    assert_eq!(
        b.ok(&["logs", id]),
        format!(
            "0\n/\n{}\n/root\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
            &id[..12]
        )
    );
    // --entrypoint replaces the image's and takes the command as its arguments.
    let out = b.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "/bin/busybox",
        "busybox",
        "echo",
        "via",
        "entrypoint",
    ]);
    assert_eq!(out, "via entrypoint\n");
    let out = b.ok(&[
        "run",
        "--rm",
        "--env-file",
        "/dev/null",
        "-l",
        "a=b",
        "busybox",
        "sh",
        "-c",
        "true",
    ]);
    assert_eq!(out, "");
    b.assert_clean();
}

#[test]
fn bind_mounts_are_writable_or_read_only_and_missing_sources_are_created() {
    let b = CtrBay::new();
    let host = b.dir.path().join("data/sub");
    let ro = b.dir.path().join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::write(ro.join("f"), "from host\n").unwrap();
    let rw_spec = format!("{}:/data", host.display());
    let ro_spec = format!("{}:/ro:ro", ro.display());
    let o = b.run(&[
        "run",
        "--rm",
        "-v",
        &rw_spec,
        "-v",
        &ro_spec,
        "busybox",
        "sh",
        "-c",
        "echo written > /data/x; cat /ro/f; echo no > /ro/f",
    ]);
    assert_ne!(o.code, 0);
    assert_eq!(o.stdout, "from host\n");
    assert!(o.stderr.contains("Read-only file system"), "{}", o.stderr);
    assert_eq!(
        std::fs::read_to_string(host.join("x")).unwrap(),
        "written\n"
    );
    assert_eq!(
        std::fs::read_to_string(ro.join("f")).unwrap(),
        "from host\n"
    );
    let spec = format!("type=bind,source={},target=/m,readonly", ro.display());
    b.ok(&[
        "create",
        "--name",
        "mm",
        "--mount",
        &spec,
        "--mount",
        "type=tmpfs,target=/t",
        "busybox",
        "true",
    ]);
    let mounts: serde_json::Value =
        serde_json::from_str(&inspect(&b, "mm", "{{json .Mounts}}")).unwrap();
    assert_eq!(mounts[0]["Type"], "bind");
    assert_eq!(mounts[0]["RW"], false);
    assert_eq!(mounts[1]["Type"], "tmpfs");
    b.assert_clean();
}

#[test]
fn containers_resolve_by_id_prefix_and_name() {
    let b = CtrBay::new();
    let id = b.ok(&[
        "create", "--name", "named", "busybox", "sh", "-c", "echo hi",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64);
    let ps = b.ok(&["ps", "-a"]);
    assert!(ps.contains("Created"), "{ps}");
    assert_eq!(b.ok(&["start", &id[..5]]).trim(), &id[..5]);
    assert_eq!(b.ok(&["wait", "named"]).trim(), "0");
    assert_eq!(b.ok(&["logs", &id[..8]]), "hi\n");
    assert_eq!(inspect(&b, "/named", "{{.Id}}"), id);
    assert_eq!(inspect(&b, &id[..3], "{{.Name}}"), "/named");
    assert_eq!(
        b.ok(&[
            "container",
            "inspect",
            "-f",
            "{{.Config.Hostname}}",
            "named"
        ])
        .trim(),
        &id[..12]
    );
    let full: serde_json::Value = serde_json::from_str(&b.ok(&["inspect", "named"])).unwrap();
    let c = &full[0];
    assert_eq!(c["Path"], "sh");
    assert_eq!(c["Args"], serde_json::json!(["-c", "echo hi"]));
    assert_eq!(c["GraphDriver"]["Name"], "overlay2");
    assert!(c["GraphDriver"]["Data"]["MergedDir"]
        .as_str()
        .unwrap()
        .ends_with("/merged"));
    assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "no");
    assert!(c["State"]["FinishedAt"].as_str().unwrap().len() > 20);
    assert_eq!(b.ok(&["ps", "-aq", "--no-trunc"]).trim(), id);
    assert_eq!(b.ok(&["rm", &id[..6]]).trim(), &id[..6]);
    b.assert_clean();
}

#[test]
fn ps_lists_latest_and_last_n_and_quiet() {
    let b = CtrBay::new();
    let a = b.ok(&["create", "--name", "aa", "busybox", "true"]);
    std::thread::sleep(Duration::from_millis(20));
    let c = b.ok(&["create", "--name", "cc", "busybox", "true"]);
    assert_eq!(b.ok(&["ps", "-q"]), "");
    assert_eq!(b.ok(&["ps", "-lq"]).trim(), &c.trim()[..12]);
    assert_eq!(
        b.ok(&["ps", "-n", "2", "-q"]),
        format!("{}\n{}\n", &c[..12], &a[..12])
    );
    assert_eq!(
        b.ok(&["container", "ls", "-a", "--format", "{{.Names}} {{.State}}"]),
        "cc created\naa created\n"
    );
    let o = b.ok(&["container", "prune", "-f"]);
    assert!(o.starts_with("Deleted Containers:\n"), "{o}");
    assert!(o.contains(a.trim()) && o.contains(c.trim()));
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    b.assert_clean();
}

#[test]
fn rmi_is_refused_while_a_container_uses_the_image() {
    let b = CtrBay::new();
    let id = b.ok(&["create", "busybox", "true"]);
    let o = b.fails(&["rmi", "busybox"]);
    one_line(&o);
    assert!(
        o.stderr.contains(
            "conflict: unable to remove repository reference \"busybox\" (must force) - container "
        ) && o
            .stderr
            .contains(&format!("{} is using its referenced image", &id[..12])),
        "{}",
        o.stderr
    );
    b.ok(&["rm", id.trim()]);
    b.ok(&["rmi", "busybox"]);
    b.assert_clean();
}

#[test]
fn unknown_image_tries_a_pull_and_fails_with_125() {
    let b = CtrBay::new();
    let image = format!("127.0.0.1:{}/nosuch", bay_common::free_port());
    let o = b.run(&["run", &image, "true"]);
    assert_eq!(o.code, 125, "{}", o.stderr);
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", o.stderr);
    assert_eq!(
        lines[0],
        format!("Unable to find image '{image}:latest' locally")
    );
    assert!(
        lines[1].starts_with("bay: Error response from daemon: "),
        "{}",
        o.stderr
    );
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    b.assert_clean();
}

#[test]
fn unknown_container_is_a_one_line_error() {
    let b = CtrBay::new();
    for verb in [
        vec!["start", "nosuch"],
        vec!["stop", "nosuch"],
        vec!["rm", "nosuch"],
        vec!["kill", "nosuch"],
        vec!["logs", "nosuch"],
        vec!["wait", "nosuch"],
        vec!["container", "inspect", "nosuch"],
    ] {
        let o = b.fails(&verb);
        assert_eq!(o.code, 1, "{verb:?}");
        one_line(&o);
        assert!(
            o.stderr.contains("No such container: nosuch"),
            "{verb:?}: {}",
            o.stderr
        );
    }
    let o = b.fails(&["inspect", "nosuch"]);
    assert_eq!(o.stderr.trim(), "Error: No such object: nosuch");
    b.assert_clean();
}

#[test]
fn duplicate_name_is_a_conflict() {
    let b = CtrBay::new();
    let id = b.ok(&["create", "--name", "dup", "busybox", "true"]);
    let o = b.fails(&["run", "--name", "dup", "busybox", "true"]);
    assert_eq!(o.code, 125);
    one_line(&o);
    assert_eq!(
        o.stderr.trim(),
        format!("bay: Error response from daemon: Conflict. The container name \"/dup\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.", id.trim())
    );
    assert_eq!(b.ok(&["ps", "-aq"]).lines().count(), 1);
    b.assert_clean();
}

#[test]
fn rm_of_a_running_container_needs_force() {
    let b = CtrBay::new();
    b.ok(&[
        "run", "-d", "--name", "busy", "busybox", "sh", "-c", "sleep 60",
    ]);
    let o = b.fails(&["rm", "busy"]);
    one_line(&o);
    assert_eq!(
        o.stderr.trim(),
        "Error response from daemon: cannot remove container \"/busy\": container is running: stop the container before removing or force remove"
    );
    assert_eq!(b.ok(&["rm", "busy", "-f"]).trim(), "busy");
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    b.assert_clean();
}

#[test]
fn unsupported_and_bad_flags_fail_before_anything_is_created() {
    let b = CtrBay::new();
    for (args, want) in [
        (
            vec!["run", "-p", "bogus:80", "busybox", "true"],
            "invalid hostPort: bogus",
        ),
        (
            vec!["run", "--network", "nosuchnet", "busybox", "true"],
            "network nosuchnet not found",
        ),
        (
            vec!["run", "--restart", "always", "busybox", "true"],
            "restart policy \"always\" is not supported yet",
        ),
        (
            vec!["run", "-v", "/a:relative", "busybox", "true"],
            "mount path must be absolute",
        ),
        (
            vec!["run", "-v", "/a:/b:/c:/d", "busybox", "true"],
            "too many colons",
        ),
        (
            vec!["run", "-v", "/a:/b:bogus", "busybox", "true"],
            "invalid mode: bogus",
        ),
        (
            vec![
                "create",
                "--mount",
                "type=bind,source=/nonexistent-bay,target=/x",
                "busybox",
            ],
            "bind source path does not exist",
        ),
        (
            vec!["run", "--cap-add", "BOGUS", "busybox", "true"],
            "unknown capability",
        ),
        (
            vec!["run", "--name", "bad/name", "busybox", "true"],
            "Invalid container name",
        ),
    ] {
        let o = b.run(&args);
        assert_eq!(o.code, 125, "{args:?}: {}", o.stderr);
        one_line(&o);
        assert!(o.stderr.starts_with("bay: "), "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(want), "{args:?}: {}", o.stderr);
    }
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    b.assert_clean();
}

#[test]
fn missing_or_unrunnable_command_exits_127_or_126() {
    let b = CtrBay::new();
    let o = b.run(&["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(o.code, 127, "{}", o.stderr);
    one_line(&o);
    assert!(
        o.stderr.contains("executable file not found"),
        "{}",
        o.stderr
    );
    let o = b.run(&["run", "--name", "dir", "busybox", "/etc"]);
    assert_eq!(o.code, 126, "{}", o.stderr);
    one_line(&o);
    // Without --rm the container stays, created, with the error recorded.
    assert_eq!(
        inspect(&b, "dir", "{{.State.Status}} {{.State.ExitCode}}"),
        "created 126"
    );
    b.assert_clean();
}

#[test]
fn kill_with_a_signal_and_restart() {
    let b = CtrBay::new();
    b.ok(&[
        "run",
        "-d",
        "--name",
        "kk",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 10' USR1; echo started; while true; do sleep 0.05; done",
    ]);
    wait_for("the trap", || b.ok(&["logs", "kk"]).contains("started"));
    assert_eq!(b.ok(&["kill", "-s", "USR1", "kk"]).trim(), "kk");
    assert_eq!(b.ok(&["wait", "kk"]).trim(), "10");
    let o = b.fails(&["kill", "kk"]);
    one_line(&o);
    assert!(o.stderr.contains("is not running"), "{}", o.stderr);
    assert_eq!(b.ok(&["restart", "-t", "0", "kk"]).trim(), "kk");
    assert_eq!(inspect(&b, "kk", "{{.State.Running}}"), "true");
    // The log carries on across restarts, as docker's does.
    wait_for("the second start's output", || {
        b.ok(&["logs", "kk"]).matches("started").count() == 2
    });
    b.assert_clean();
}

#[test]
fn network_none_has_only_loopback_and_host_shares_the_host() {
    let b = CtrBay::new();
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "ls /sys/class/net; cat /sys/class/net/lo/operstate",
    ]);
    assert_eq!(out.lines().next(), Some("lo"), "{out}");
    assert_eq!(out.lines().count(), 2, "{out}");
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "ping -c1 -W1 127.0.0.1 >/dev/null && echo lo-up",
    ]);
    assert_eq!(out, "lo-up\n");
    let host: Vec<String> = bay_common::dir_entries(std::path::Path::new("/sys/class/net"));
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "sh",
        "-c",
        "ls /sys/class/net",
    ]);
    // Other tests add and remove bridges and veths meanwhile: compare the stable ones.
    for h in host
        .iter()
        .filter(|h| !h.starts_with("veth") && !h.starts_with("bay") && !h.starts_with("br-"))
    {
        assert!(out.lines().any(|l| l == h), "{h} missing: {out}");
    }
    b.assert_clean();
}

#[test]
fn read_only_rootfs_and_capabilities() {
    let b = CtrBay::new();
    let o = b.run(&[
        "run",
        "--rm",
        "--read-only",
        "busybox",
        "sh",
        "-c",
        "touch /x",
    ]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("Read-only file system"), "{}", o.stderr);
    // Default caps: docker's 14 (CapEff 0xa80425fb); --cap-drop ALL clears them.
    let out = b.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "grep CapEff /proc/self/status",
    ]);
    assert!(out.contains("00000000a80425fb"), "{out}");
    let out = b.ok(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "NET_ADMIN",
        "busybox",
        "sh",
        "-c",
        "grep CapEff /proc/self/status",
    ]);
    assert!(out.contains("0000000000001000"), "{out}");
    let out = b.ok(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "grep CapEff /proc/self/status",
    ]);
    assert!(!out.contains("00000000a80425fb"), "{out}");
    b.assert_clean();
}

#[test]
fn tty_and_stdin_reach_the_container() {
    let b = CtrBay::new();
    // -t: the process runs on a pty (output uses the terminal's CRLF), TERM is set.
    let out = b.ok(&[
        "run",
        "--rm",
        "-t",
        "busybox",
        "sh",
        "-c",
        "tty; echo $TERM",
    ]);
    assert_eq!(out, "/dev/pts/0\r\nxterm\r\n");
    // -i: the caller's stdin is the container's.
    let o = b.run_stdin(
        &["run", "-i", "--rm", "busybox", "sh"],
        b"echo typed in; exit 6\n",
    );
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (6, "typed in\n"),
        "{}",
        o.stderr
    );
    // -it needs a terminal on stdin.
    let o = b.fails(&["run", "-it", "--rm", "busybox", "sh"]);
    assert_eq!(o.stderr.trim(), "the input device is not a TTY");
    // -dt and -di keep a shell alive, as docker's do.
    b.ok(&["run", "-dt", "--name", "dt", "busybox", "sh"]);
    b.ok(&["run", "-di", "--name", "di", "busybox", "sh"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        b.ok(&["ps", "--format", "{{.Names}} {{.State}}"]),
        "di running\ndt running\n"
    );
    b.assert_clean();
}

#[test]
fn exec_runs_in_the_container_with_its_environment() {
    let b = CtrBay::new();
    b.ok(&[
        "run", "-d", "--name", "ex", "-e", "A=1", "busybox", "sh", "-c", "sleep 60",
    ]);
    let o = b.run(&["exec", "ex", "sh", "-c", "echo $A $HOSTNAME; pwd; exit 7"]);
    let id = inspect(&b, "ex", "{{.Id}}");
    assert_eq!(o.code, 7);
    assert_eq!(o.stdout, format!("1 {}\n/\n", &id[..12]));
    let out = b.ok(&[
        "exec",
        "-w",
        "/tmp",
        "-u",
        "1000",
        "-e",
        "B=2",
        "ex",
        "sh",
        "-c",
        "pwd; id -u; echo $A$B",
    ]);
    assert_eq!(out, "/tmp\n1000\n12\n");
    let o = b.run_stdin(&["exec", "-i", "ex", "sh"], b"echo from stdin\n");
    assert_eq!(o.stdout, "from stdin\n");
    let o = b.run(&["exec", "ex", "nosuchcmd"]);
    assert_eq!(o.code, 127, "{}", o.stderr);
    one_line(&o);
    // pause/unpause: exec is refused while paused.
    assert_eq!(b.ok(&["pause", "ex"]).trim(), "ex");
    assert!(b.ok(&["ps"]).contains("(Paused)"));
    assert_eq!(
        inspect(&b, "ex", "{{.State.Status}} {{.State.Paused}}"),
        "paused true"
    );
    let o = b.fails(&["exec", "ex", "true"]);
    one_line(&o);
    assert!(o.stderr.contains("is paused"), "{}", o.stderr);
    assert_eq!(b.ok(&["unpause", "ex"]).trim(), "ex");
    assert_eq!(b.ok(&["exec", "ex", "sh", "-c", "echo back"]), "back\n");
    // A paused container still stops.
    b.ok(&["pause", "ex"]);
    b.ok(&["stop", "-t", "1", "ex"]);
    let o = b.fails(&["exec", "ex", "true"]);
    assert!(o.stderr.contains("is not running"), "{}", o.stderr);
    let o = b.fails(&["attach", "ex"]);
    one_line(&o);
    assert!(
        o.stderr
            .contains("You cannot attach to a stopped container"),
        "{}",
        o.stderr
    );
    b.assert_clean();
}

#[test]
fn logs_follow_until_the_container_exits() {
    let b = CtrBay::new();
    b.ok(&[
        "run",
        "-d",
        "--name",
        "fl",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo out $i; echo err $i >&2; sleep 0.1; done",
    ]);
    let o = b.run(&["logs", "-f", "fl"]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stdout, "out 1\nout 2\nout 3\n");
    assert_eq!(o.stderr, "err 1\nerr 2\nerr 3\n");
    // The two streams of one moment may land in either order; the last two are these.
    let o = b.run(&["logs", "--since", "1h", "--tail", "2", "fl"]);
    assert_eq!(
        (o.stdout.as_str(), o.stderr.as_str()),
        ("out 3\n", "err 3\n")
    );
    let future = b.run(&["logs", "--since", "2999-01-01T00:00:00Z", "fl"]);
    assert_eq!(future.stdout + &future.stderr, "");
    b.assert_clean();
}

/// A docker-archive image: the busybox rootfs plus `n` one-file layers.
fn many_layer_archive(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    use std::process::Command;
    let (_keep, base) = bay_common::busybox_tar("many");
    let mut layers = vec![base];
    for i in 0..n {
        let d = dir.join(format!("src{i}"));
        std::fs::create_dir_all(d.join("layers")).unwrap();
        std::fs::write(d.join(format!("layers/{i}")), format!("{i}\n")).unwrap();
        let t = dir.join(format!("layer{i}.tar"));
        bay_common::run_ok(
            Command::new("tar")
                .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
                .arg(&d)
                .arg("-cf")
                .arg(&t)
                .arg("."),
        );
        layers.push(t);
    }
    let out = dir.join("image");
    std::fs::create_dir_all(&out).unwrap();
    let mut names = Vec::new();
    let mut diff_ids = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let name = format!("l{i}.tar");
        std::fs::copy(l, out.join(&name)).unwrap();
        diff_ids.push(bay_common::sha256_file(l));
        names.push(name);
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    std::fs::write(out.join("config.json"), config.to_string()).unwrap();
    let manifest = serde_json::json!([{"Config": "config.json", "RepoTags": ["many:latest"], "Layers": names}]);
    std::fs::write(out.join("manifest.json"), manifest.to_string()).unwrap();
    let tar = dir.join("many.tar");
    bay_common::run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&out)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    tar
}

#[test]
fn images_with_many_layers_run() {
    let b = CtrBay::new();
    let dir = bay_common::TempDir::new("many");
    let tar = many_layer_archive(dir.path(), 120);
    b.ok(&["load", "-q", "-i", tar.to_str().unwrap()]);
    let out = b.ok(&[
        "run",
        "--rm",
        "many",
        "sh",
        "-c",
        "ls /layers | wc -l; cat /layers/119",
    ]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["120", "119"]);
    b.assert_clean();
}

#[test]
fn concurrent_starts_run_the_container_once() {
    let b = CtrBay::new();
    b.ok(&[
        "create", "--name", "race", "busybox", "sh", "-c", "sleep 30",
    ]);
    let kids: Vec<_> = (0..3)
        .map(|_| {
            b.command()
                .args(["start", "race"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for k in kids {
        let o = k.wait_with_output().unwrap();
        assert!(o.status.success());
        assert_eq!(String::from_utf8_lossy(&o.stdout), "race\n");
    }
    let monitors = bay_common::processes_under(&b.root());
    assert_eq!(
        monitors
            .iter()
            .filter(|p| p.contains("container-monitor"))
            .count(),
        1,
        "{monitors:?}"
    );
    assert_eq!(inspect(&b, "race", "{{.State.Status}}"), "running");
    b.assert_clean();
}

#[test]
fn run_pulls_a_missing_image_first() {
    let b = CtrBay::new();
    let reg = bay_common::Registry::start();
    let name = format!("{}/team/bb:1", reg.host());
    b.ok(&["tag", "busybox", &name]);
    b.ok(&["push", &name]);
    let fresh = CtrBay {
        bay: bay_common::Bay::new(),
    };
    let o = fresh.run(&["run", "--rm", &name, "sh", "-c", "echo pulled and ran"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "pulled and ran\n");
    assert!(
        o.stderr
            .starts_with(&format!("Unable to find image '{name}' locally\n")),
        "{}",
        o.stderr
    );
    assert!(fresh.ok(&["images", "-q"]).trim().len() == 12);
    fresh.assert_clean();
    b.assert_clean();
}

#[test]
fn foreground_run_forwards_signals_to_the_container() {
    let b = CtrBay::new();
    let child = b
        .command()
        .args([
            "run",
            "--name",
            "sig",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got TERM; exit 9' TERM; echo ready; while true; do sleep 0.05; done",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the container", || {
        b.run(&["logs", "sig"]).stdout.contains("ready")
    });
    // SAFETY: kill on the pid of a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(9));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "ready\ngot TERM\n");
    b.assert_clean();
}

#[test]
fn attach_sends_input_and_returns_the_exit_code() {
    let b = CtrBay::new();
    b.ok(&["run", "-di", "--name", "at", "busybox", "sh"]);
    let o = b.run_stdin(
        &["attach", "at"],
        b"echo hi from attach; echo to-err >&2; exit 3\n",
    );
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert_eq!(o.stdout, "hi from attach\n");
    assert_eq!(o.stderr, "to-err\n");
    assert_eq!(b.ok(&["logs", "at"]), "hi from attach\n");
    // A tty container's output, without sending input.
    b.ok(&[
        "run",
        "-dt",
        "--name",
        "tk",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo tick $i; sleep 0.2; done",
    ]);
    let o = b.run(&["attach", "--no-stdin", "tk"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.ends_with("tick 5\r\n"), "{:?}", o.stdout);
    b.assert_clean();
}

#[test]
fn wait_reports_the_exit_code_of_an_auto_removed_container() {
    let b = CtrBay::new();
    b.ok(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "wr",
        "busybox",
        "sh",
        "-c",
        "sleep 0.3; exit 42",
    ]);
    assert_eq!(b.ok(&["wait", "wr"]).trim(), "42");
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    b.assert_clean();
}

#[test]
fn top_diff_export_rename_and_port() {
    let b = CtrBay::new();
    b.ok(&[
        "run", "-d", "--name", "fs", "busybox", "sh", "-c", "sleep 60",
    ]);
    let top = b.ok(&["top", "fs"]);
    assert!(top.starts_with("UID "), "{top}");
    assert!(top.contains("sleep 60"), "{top}");
    let top = b.ok(&["top", "fs", "-o", "pid,comm"]);
    let lines: Vec<&str> = top.lines().collect();
    assert_eq!(lines.len(), 2, "{top}");
    assert!(
        lines[0].trim() == "PID COMMAND" && lines[1].ends_with(" sleep"),
        "{top}"
    );
    assert_eq!(b.ok(&["diff", "fs"]), "");
    b.ok(&[
        "exec",
        "fs",
        "sh",
        "-c",
        "echo x > /tmp/new; rm /etc/extra; mkdir /srv",
    ]);
    assert_eq!(
        b.ok(&["diff", "fs"]),
        "C /etc\nD /etc/extra\nA /srv\nC /tmp\nA /tmp/new\n"
    );
    b.ok(&["rename", "fs", "fs2"]);
    let o = b.fails(&["rename", "fs", "x2"]);
    assert!(o.stderr.contains("No such container: fs"), "{}", o.stderr);
    assert_eq!(b.ok(&["port", "fs2"]), "");
    let o = b.fails(&["port", "fs2", "80"]);
    assert_eq!(
        o.stderr.trim(),
        "Error: No public port '80/tcp' published for fs2"
    );
    b.ok(&["stop", "-t", "0", "fs2"]);
    // A stopped container exports too (its rootfs is mounted for the copy only).
    let tar = b.dir.path().join("fs.tar");
    b.ok(&["export", "-o", tar.to_str().unwrap(), "fs2"]);
    assert!(bay_common::mounts_under(&b.root()).is_empty());
    let list = bay_common::run_ok(std::process::Command::new("tar").arg("-tf").arg(&tar));
    assert!(list.lines().any(|l| l == "tmp/new"), "{list}");
    assert!(list.lines().any(|l| l == "bin/busybox"), "{list}");
    assert!(!list.lines().any(|l| l == "etc/extra"), "{list}");
    let o = b.fails(&["top", "fs2"]);
    assert!(o.stderr.contains("is not running"), "{}", o.stderr);
    b.assert_clean();
}

#[test]
fn default_seccomp_refuses_namespaces_unless_unconfined_or_privileged() {
    let b = CtrBay::new();
    let probe = "grep Seccomp: /proc/self/status; unshare -U true 2>/dev/null && echo unshared || echo refused";
    assert_eq!(
        b.ok(&["run", "--rm", "busybox", "sh", "-c", probe]),
        "Seccomp:\t2\nrefused\n"
    );
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "--security-opt",
            "seccomp=unconfined",
            "busybox",
            "sh",
            "-c",
            probe
        ]),
        "Seccomp:\t0\nunshared\n"
    );
    assert_eq!(
        b.ok(&["run", "--rm", "--privileged", "busybox", "sh", "-c", probe]),
        "Seccomp:\t0\nunshared\n"
    );
    let out = b.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "sh",
        "-c",
        "grep NoNewPrivs /proc/self/status",
    ]);
    assert_eq!(out, "NoNewPrivs:\t1\n");
    let o = b.fails(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=/p.json",
        "busybox",
        "true",
    ]);
    assert_eq!(o.code, 125);
    one_line(&o);
    b.assert_clean();
}

#[test]
fn commit_makes_an_image_of_the_changes() {
    let b = CtrBay::new();
    b.ok(&["run", "-d", "--name", "cm", "busybox", "sh", "-c", "echo hello > /tmp/1.txt; rm /etc/extra; mkdir -p /opt/d; echo f > /opt/d/f; echo ready; sleep 60"]);
    wait_for("the changes", || b.ok(&["logs", "cm"]).contains("ready"));
    let id = b.ok(&["commit", "-a", "me", "-m", "add files", "cm", "mybb:1"]);
    assert!(id.starts_with("sha256:") && id.trim().len() == 71, "{id}");
    let out = b.ok(&[
        "run",
        "--rm",
        "mybb:1",
        "sh",
        "-c",
        "cat /tmp/1.txt /opt/d/f; ls /etc/extra 2>&1 || echo gone",
    ]);
    assert_eq!(out.lines().next(), Some("hello"));
    assert!(out.ends_with("gone\n"), "{out}");
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.Author}}", "mybb:1"]).trim(),
        "me"
    );
    // The committed image keeps the container's command.
    assert!(b
        .ok(&["inspect", "-f", "{{json .Config.Cmd}}", "mybb:1"])
        .contains("sleep 60"));
    let hist = b.ok(&["history", "mybb:1"]);
    assert!(hist.contains("add files"), "{hist}");
    b.ok(&["rm", "-f", "cm"]);
    b.ok(&["rmi", "mybb:1"]);
    assert!(b.tmp_entries().is_empty());
    b.assert_clean();
}

#[test]
fn cp_copies_both_ways_and_symlinks_stay_inside_the_container() {
    let b = CtrBay::new();
    let d = b.dir.path().join("cp");
    std::fs::create_dir_all(d.join("dir/sub")).unwrap();
    std::fs::write(d.join("dir/sub/b"), "b\n").unwrap();
    std::fs::write(d.join("file"), "f\n").unwrap();
    b.ok(&["run", "-d", "--name", "cp1", "busybox", "sh", "-c", "mkdir /data; echo inside > /data/x; ln -s /etc /data/etclink; ln -s / /data/root; echo ready; sleep 60"]);
    wait_for("the files", || b.ok(&["logs", "cp1"]).contains("ready"));
    let p = |x: &str| d.join(x).to_str().unwrap().to_string();
    // Host to container: into a directory, to a new name, a whole tree.
    b.ok(&["cp", &p("file"), "cp1:/tmp"]);
    b.ok(&["cp", &p("file"), "cp1:/tmp/renamed"]);
    b.ok(&["cp", &p("dir"), "cp1:/tmp/"]);
    // A symlink in the container resolves inside it: /data/etclink is the container's /etc.
    b.ok(&["cp", &p("file"), "cp1:/data/etclink/evil"]);
    assert!(!std::path::Path::new("/etc/evil").exists());
    let out = b.ok(&[
        "exec",
        "cp1",
        "sh",
        "-c",
        "cat /tmp/file /tmp/renamed /tmp/dir/sub/b /etc/evil",
    ]);
    assert_eq!(out, "f\nf\nb\nf\n");
    // Container to host: a tree (symlinks copied as symlinks), a file into a directory.
    b.ok(&["cp", "cp1:/data", &p("out")]);
    assert_eq!(
        std::fs::read_to_string(d.join("out/x")).unwrap(),
        "inside\n"
    );
    assert_eq!(
        std::fs::read_link(d.join("out/etclink")).unwrap(),
        std::path::Path::new("/etc")
    );
    b.ok(&["cp", "cp1:/data/x", &p("dir")]);
    assert_eq!(
        std::fs::read_to_string(d.join("dir/x")).unwrap(),
        "inside\n"
    );
    let o = b.fails(&["cp", "cp1:/nonexistent", &p("dir")]);
    one_line(&o);
    assert!(
        o.stderr
            .contains("Could not find the file /nonexistent in container cp1"),
        "{}",
        o.stderr
    );
    // Stopped containers too (mounted for the copy only).
    b.ok(&["stop", "-t", "0", "cp1"]);
    b.ok(&["cp", "cp1:/tmp/renamed", &p("stopped")]);
    assert_eq!(std::fs::read_to_string(d.join("stopped")).unwrap(), "f\n");
    assert!(bay_common::mounts_under(&b.root()).is_empty());
    b.assert_clean();
}

/// The window size of the terminal on fd 0 of `pid`.
fn pty_size(pid: &str) -> (u16, u16) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(format!("/proc/{pid}/fd/0")).unwrap();
    // SAFETY: winsize is plain old data; TIOCGWINSZ fills it.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::ioctl(f.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) },
        0
    );
    (ws.ws_row, ws.ws_col)
}

#[test]
fn interactive_tty_run_follows_window_size_and_returns_the_exit_code() {
    use std::io::{Read, Write};
    use std::os::fd::FromRawFd;
    use std::os::unix::process::CommandExt;
    let b = CtrBay::new();
    let (mut master, mut slave) = (0, 0);
    let mut ws = libc::winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes the two descriptors; the winsize outlives the call.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &ws,
        )
    };
    assert_eq!(r, 0);
    // SAFETY: the descriptors are ours from openpty.
    let (master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    let mut cmd = b.command();
    cmd.args(["run", "-it", "--name", "tty", "busybox", "sh"])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    // Our copies of the slave must go, or the master never reads EOF.
    drop(cmd);
    let mut out = master.try_clone().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    wait_for("the container", || {
        b.run(&["inspect", "-f", "{{.State.Running}}", "tty"])
            .stdout
            .trim()
            == "true"
    });
    let pid = inspect(&b, "tty", "{{.State.Pid}}");
    assert_eq!(pty_size(&pid), (24, 80));
    ws.ws_row = 50;
    ws.ws_col = 132;
    // SAFETY: TIOCSWINSZ reads the winsize; the kernel sends SIGWINCH to bay.
    unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&master),
            libc::TIOCSWINSZ,
            &ws,
        )
    };
    wait_for("the resize", || pty_size(&pid) == (50, 132));
    (&master)
        .write_all(b"echo typed-$((40+2))\nexit 5\n")
        .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(5));
    drop(master);
    let text = String::from_utf8_lossy(&reader.join().unwrap()).to_string();
    assert!(text.contains("typed-42"), "{text:?}");
    b.assert_clean();
}
