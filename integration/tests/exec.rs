//! exec into created and running containers, with every flag; terminals through a console
//! socket; foreground terminals.

use berth_integration::*;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

fn running(e: &mut Env) -> String {
    e.sh("sleep 100");
    let id = e.id("ex");
    e.ok(&["run", "-d", &id]);
    id
}

#[test]
fn exec_runs_in_the_containers_namespaces_and_returns_exit_code() {
    let mut e = Env::new("exec");
    let id = running(&mut e);
    let out = e.rt(&[
        "exec",
        &id,
        "sh",
        "-c",
        "hostname; readlink /proc/1/exe; echo $$; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "berth");
    assert_eq!(lines[1], "/bin/busybox");
    assert_ne!(lines[2], "1");
    e.ok(&["delete", "-f", &id]);
    e.assert_clean();
}

#[test]
fn exec_flags_set_env_cwd_user_and_caps() {
    let mut e = Env::new("execflags");
    let id = running(&mut e);
    let out = e.ok(&[
        "exec",
        "-e",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "-u",
        "1000:1000",
        "-g",
        "10",
        &id,
        "sh",
        "-c",
        "echo $FOO; pwd; id -u; id -g; id -G",
    ]);
    assert_eq!(out, "bar\n/tmp\n1000\n1000\n1000 10\n");
    let out = e.ok(&[
        "exec",
        "--cap",
        "CAP_NET_ADMIN",
        &id,
        "cat",
        "/proc/self/status",
    ]);
    let eff = out.lines().find(|l| l.starts_with("CapEff:")).unwrap();
    let bits = u64::from_str_radix(eff.split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert!(bits & (1 << 12) != 0, "CAP_NET_ADMIN missing: {eff}");
    let out = e.ok(&[
        "exec",
        "--no-new-privs",
        &id,
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]);
    assert!(out.contains('1'));
    e.ok(&["delete", "-f", &id]);
}

#[test]
fn exec_with_process_file() {
    let mut e = Env::new("execproc");
    let id = running(&mut e);
    let p = e.dir.join("process.json");
    std::fs::write(
        &p,
        serde_json::to_vec(&serde_json::json!({
            "args": ["sh", "-c", "echo from-file $X; exit 4"],
            "env": ["PATH=/bin", "X=y"],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0}
        }))
        .unwrap(),
    )
    .unwrap();
    let out = e.rt(&["exec", "--process", p.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-file y\n");
    e.ok(&["delete", "-f", &id]);
}

#[test]
fn exec_detached_writes_pid_file() {
    let mut e = Env::new("execd");
    let id = running(&mut e);
    let pf = e.dir.join("exec.pid");
    e.ok(&[
        "exec",
        "-d",
        "--pid-file",
        pf.to_str().unwrap(),
        &id,
        "sleep",
        "50",
    ]);
    let pid: i32 = std::fs::read_to_string(&pf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let pids: Vec<i32> = serde_json::from_str(&e.ok(&["ps", "--format", "json", &id])).unwrap();
    assert!(pids.contains(&pid), "{pids:?} lacks {pid}");
    e.ok(&["delete", "-f", &id]);
    e.assert_clean();
}

#[test]
fn exec_into_created_container_works_and_stopped_fails() {
    let mut e = Env::new("execstate");
    e.args(&["true"]);
    let id = e.id("es");
    e.ok(&["create", &id]);
    assert_eq!(e.ok(&["exec", &id, "echo", "hi"]), "hi\n");
    e.ok(&["start", &id]);
    e.wait_status(&id, "stopped");
    let err = e.fails(&["exec", &id, "echo", "hi"]);
    if is_berth() {
        assert!(err.contains("stopped"), "{err}");
    }
    e.fails(&["exec", &id]);
    e.ok(&["delete", &id]);
    e.assert_clean();
}

#[test]
fn exec_of_missing_binary_fails() {
    let mut e = Env::new("execmiss");
    let id = running(&mut e);
    let err = e.fails(&["exec", &id, "nosuchbinary"]);
    if is_berth() {
        assert!(err.contains("executable file not found"), "{err}");
    }
    e.ok(&["delete", "-f", &id]);
}

/// Accepts one connection on a console socket and returns the pty master it receives.
fn recv_master(l: &UnixListener) -> std::fs::File {
    let (s, _) = l.accept().unwrap();
    let mut buf = [0u8; 256];
    let mut cbuf = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = nix::sys::socket::recvmsg::<()>(
        s.as_raw_fd(),
        &mut iov,
        Some(&mut cbuf),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: a new fd received over SCM_RIGHTS.
            return std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fds[0]) });
        }
    }
    panic!("no fd received on the console socket");
}

fn read_until(f: &mut std::fs::File, want: &str) -> String {
    let mut all = String::new();
    let mut buf = [0u8; 1024];
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !all.contains(want) && std::time::Instant::now() < end {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    all
}

#[test]
fn terminal_master_is_sent_to_console_socket() {
    let mut e = Env::new("tty");
    e.edit(|c| c["process"]["terminal"] = true.into());
    e.args(&["sh"]);
    let sock = e.dir.join("console.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let id = e.id("tty");
    let sock_s = sock.to_str().unwrap().to_string();
    let (bundle, root) = (e.bundle.clone(), e.root.clone());
    let id2 = id.clone();
    let creator = std::thread::spawn(move || {
        std::process::Command::new(runtime_bin())
            .arg("--root")
            .arg(root)
            .args(["create", "--bundle"])
            .arg(bundle)
            .args(["--console-socket", &sock_s, &id2])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
    });
    let mut master = recv_master(&l);
    assert!(creator.join().unwrap().success());
    e.ok(&["start", &id]);
    master
        .write_all(b"tty; echo marker-$((6*7)); exit 3\n")
        .unwrap();
    let out = read_until(&mut master, "marker-42");
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("marker-42"), "{out}");
    e.wait_status(&id, "stopped");
    e.ok(&["delete", &id]);

    // exec -t with a console socket into a running container.
    e.edit(|c| c["process"]["terminal"] = false.into());
    let id = running(&mut e);
    let sock2 = e.dir.join("console2.sock");
    let l2 = UnixListener::bind(&sock2).unwrap();
    let (rootc, idc, s2) = (
        e.root.clone(),
        id.clone(),
        sock2.to_str().unwrap().to_string(),
    );
    let execer = std::thread::spawn(move || {
        std::process::Command::new(runtime_bin())
            .arg("--root")
            .arg(rootc)
            .args(["exec", "-t", "-d", "--console-socket", &s2, &idc, "sh"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
    });
    let mut m2 = recv_master(&l2);
    assert!(execer.join().unwrap().success());
    m2.write_all(b"tty; echo exec-$((2*21))\n").unwrap();
    let out = read_until(&mut m2, "exec-42");
    assert!(out.contains("/dev/pts/"), "{out}");
    e.ok(&["delete", "-f", &id]);
    e.assert_clean();
}

#[test]
fn foreground_run_with_terminal_proxies_the_pty() {
    if !is_berth() {
        return; // runc wants a terminal on stdin for this
    }
    let mut e = Env::new("fgtty");
    e.edit(|c| c["process"]["terminal"] = true.into());
    e.sh("tty; echo done");
    let id = e.id("fg");
    let out = e.rt(&["run", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("/dev/pts/0") && text.contains("done"),
        "{text}"
    );
    e.assert_clean();
}
