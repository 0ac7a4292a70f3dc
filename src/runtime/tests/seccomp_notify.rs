//! SCMP_ACT_NOTIFY end to end: the child installs a filter and hands the listener fd to its
//! parent (as a container init does), the parent sends it to a seccomp agent at
//! `listenerPath` with the container state (as runc does), and the agent answers the child's
//! trapped syscalls.

mod seccomp_common;

use berth_runtime::seccomp::notify::{self, Response};
use berth_runtime::seccomp::{self, SeccompError};
use nix::sys::socket::{
    recvmsg, socketpair, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
use seccomp_common::*;
use serde_json::{json, Value};
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

/// Sends one fd over a unix socket without allocating (runs in the forked child).
fn send_fd_raw(sock: RawFd, fd: RawFd) -> bool {
    #[repr(C, align(8))]
    struct Control([u8; 64]);
    let mut control = Control([0; 64]);
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: msghdr points at stack buffers that outlive sendmsg; CMSG_* stay inside
    // `control`, which is large enough for one fd.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut i32, fd);
        libc::sendmsg(sock, &msg, 0) == 1
    }
}

/// Receives one message and the fd that came with it.
fn recv_with_fd(sock: RawFd, buf: &mut [u8]) -> (usize, Option<OwnedFd>) {
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::empty()).expect("recvmsg");
    let mut fd = None;
    for c in msg.cmsgs().expect("cmsgs") {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: SCM_RIGHTS hands us new fds that nothing else owns.
            fd = fds.first().map(|&f| unsafe { OwnedFd::from_raw_fd(f) });
        }
    }
    (msg.bytes, fd)
}

#[test]
fn notify_listener_receives_state_and_answers_the_syscall() {
    if not_root() {
        return;
    }
    let dir = tempdir();
    let path = format!("{dir}/agent.sock");
    let listener = UnixListener::bind(&path).expect("bind agent socket");

    // The agent: reads runc's ContainerProcessState with the fd, then answers two syscalls.
    let agent = std::thread::spawn(move || -> (Value, Vec<(i64, u64)>) {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; 1 << 16];
        let (n, fd) = recv_with_fd(conn.as_raw_fd(), &mut buf);
        let mut body = buf[..n].to_vec();
        conn.read_to_end(&mut body).expect("read rest of message");
        let state: Value = serde_json::from_slice(&body).expect("state json");
        let fd = fd.expect("seccomp fd with the message");
        let mut seen = Vec::new();
        for _ in 0..2 {
            let n = notify::receive(fd.as_fd()).expect("receive notification");
            seen.push((n.data.nr as i64, n.data.args[0]));
            let answer = if n.data.nr as i64 == libc::SYS_getpgid {
                Response::Value(777)
            } else {
                Response::Continue
            };
            notify::respond(fd.as_fd(), n.id, answer).expect("respond");
        }
        (state, seen)
    });

    let f = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": path,
        "listenerMetadata": "agent-meta",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["getpgid", "getppid"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    assert!(f.uses_notify());

    let (parent_end, child_end) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .expect("socketpair");
    let parent_pid = std::process::id() as i64;
    let child_sock = child_end.as_raw_fd();
    let parent_sock = parent_end.as_raw_fd();
    let child = std::thread::spawn(move || {
        let st = in_child(|| {
            let Ok(Some(fd)) = seccomp::install(&f) else {
                return 10;
            };
            if !send_fd_raw(child_sock, fd.as_raw_fd()) {
                return 11;
            }
            drop(fd);
            let mut code = 0;
            if sys(libc::SYS_getpgid, [4242, 0, 0, 0, 0, 0]) != Ok(777) {
                code |= 1;
            }
            // Answered with "continue": the real getppid runs.
            if sys(libc::SYS_getppid, [0; 6]) != Ok(parent_pid) {
                code |= 2;
            }
            code
        });
        drop(child_end);
        st
    });

    // The runtime's part: take the fd from the container process, hand it to the agent.
    let mut byte = [0u8; 1];
    let (_, fd) = recv_with_fd(parent_sock, &mut byte);
    let fd = fd.expect("listener fd from child");
    let state = json!({"ociVersion": "1.2.0", "id": "nt1", "status": "creating",
                       "pid": 4321, "bundle": "/bundles/nt1"});
    seccomp::send_to_listener(
        &path,
        fd.as_fd(),
        state.to_string().as_bytes(),
        Some("agent-meta"),
    )
    .expect("send to listener");
    drop(fd);

    let st = child.join().expect("child thread");
    let (msg, seen) = agent.join().expect("agent thread");
    assert_eq!(exited(st), Some(0), "{st:?}");
    assert_eq!(msg["ociVersion"], "1.2.0");
    assert_eq!(msg["fds"], json!(["seccompFd"]));
    assert_eq!(msg["pid"], 4321);
    assert_eq!(msg["metadata"], "agent-meta");
    assert_eq!(msg["state"]["id"], "nt1");
    assert_eq!(msg["state"]["bundle"], "/bundles/nt1");
    assert_eq!(
        seen,
        vec![(libc::SYS_getpgid, 4242), (libc::SYS_getppid, 0)]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn send_to_missing_listener_fails_with_the_path() {
    let (a, _b) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .expect("socketpair");
    let err = seccomp::send_to_listener(
        "/nonexistent/berth-agent.sock",
        a.as_fd(),
        br#"{"ociVersion":"1.2.0","id":"x","status":"creating","pid":1,"bundle":"/b"}"#,
        None,
    )
    .unwrap_err();
    assert!(matches!(err, SeccompError::Listener { .. }));
    let msg = err.to_string();
    assert!(
        msg.starts_with("sending seccomp fd to listener /nonexistent/berth-agent.sock: "),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
}

fn tempdir() -> String {
    let dir = std::env::temp_dir().join(format!(
        "berth-seccomp-notify-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.to_string_lossy().into_owned()
}
