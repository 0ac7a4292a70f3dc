//! SCMP_ACT_NOTIFY with `listenerPath` through the runtime binary: a seccomp agent in this
//! test receives the container state and the notify fd, and answers the container's trapped
//! syscalls. Same checks against runc with `BERTH_TEST_RUNTIME=/usr/sbin/runc`.

use berth_integration::*;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::{json, Value};
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
struct Resp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const NOTIF_SEND: libc::c_ulong = 0xc018_2101;

/// Accepts one runtime connection: the ContainerProcessState message and its fd.
fn accept_state(listener: &UnixListener) -> Option<(Value, OwnedFd)> {
    // A runtime that never connects must fail the test, not hang it.
    let mut pfd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll on one valid pollfd.
    if unsafe { libc::poll(&mut pfd, 1, 20_000) } <= 0 {
        return None;
    }
    let (conn, _) = listener.accept().expect("accept");
    let mut buf = vec![0u8; 1 << 16];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .expect("recvmsg");
    let n = msg.bytes;
    let mut fd = None;
    for c in msg.cmsgs().expect("cmsgs") {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: fds received over SCM_RIGHTS are new and ours.
            fd = fds.first().map(|&f| unsafe { OwnedFd::from_raw_fd(f) });
        }
    }
    // One message (runc keeps the connection open afterwards, so don't wait for EOF).
    Some((
        serde_json::from_slice(&buf[..n]).expect("state json"),
        fd.expect("notify fd"),
    ))
}

/// Answers every notification with `errno` until the fd is closed; returns the syscalls seen.
fn answer_all(fd: OwnedFd, errno: i32) -> Vec<i64> {
    let mut seen = Vec::new();
    loop {
        // RECV would block forever once the container is gone: poll reports POLLHUP then.
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 20_000) };
        if r <= 0 || pfd.revents & libc::POLLIN == 0 {
            return seen;
        }
        let mut n = Notif::default();
        // SAFETY: ioctl on our notify fd with a zeroed, correctly sized buffer.
        if unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_RECV, &mut n as *mut Notif) } != 0 {
            // ENOENT/EBADF-like errors once the container is gone.
            return seen;
        }
        seen.push(n.nr as i64);
        let mut r = Resp {
            id: n.id,
            val: 0,
            error: -errno,
            flags: 0,
        };
        // SAFETY: as above, with a valid response struct.
        unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_SEND, &mut r as *mut Resp) };
    }
}

#[test]
fn listener_gets_state_and_fd_and_answers_notified_syscalls() {
    let mut e = Env::new("sc-listen");
    let sock = e.dir.join("agent.sock");
    let listener = UnixListener::bind(&sock).expect("bind agent socket");
    e.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock.to_str().unwrap(),
            "listenerMetadata": "from-the-test",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/tmp",
            "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}));
    });
    e.sh("mkdir /tmp/d 2>&1; echo rc=$?; touch /tmp/f && echo touch-ok");
    let id = e.id("listen");

    let agent = std::thread::spawn(move || {
        let (state, fd) = accept_state(&listener)?;
        let seen = answer_all(fd, libc::ENOTSUP);
        Some((state, seen))
    });
    let (code, out, err) = e.run(&id);
    let (state, seen) = agent
        .join()
        .expect("agent")
        .expect("the runtime never connected to listenerPath");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Operation not supported"), "{out}");
    assert!(out.contains("rc=1\ntouch-ok"), "{out}");
    assert!(
        seen.iter()
            .all(|nr| *nr == libc::SYS_mkdir || *nr == libc::SYS_mkdirat)
            && !seen.is_empty(),
        "{seen:?}"
    );
    // runc's ContainerProcessState.
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], "from-the-test");
    assert!(state["pid"].as_i64().unwrap_or(0) > 0, "{state}");
    assert_eq!(state["pid"], state["state"]["pid"]);
    assert_eq!(state["state"]["id"], id.as_str());
    assert!(state["ociVersion"].is_string());
    assert!(state["state"]["bundle"].is_string());
    e.assert_clean();
}
