//! The parent/child protocol over a SOCK_SEQPACKET socketpair. One datagram is one JSON
//! message; fds travel alongside as SCM_RIGHTS. The order, for `create`:
//!
//! ```text
//! parent                              child (stage 1, then init)
//!   clone ───────────────────────────▶ waits
//!   cgroup create + add pid
//!   Go ──────────────────────────────▶ join namespaces by path, unshare user ns
//!      ◀──────────────────────────── MapRequest            (only with a new user ns)
//!   write uid_map/gid_map
//!   MapDone ─────────────────────────▶ unshare the other namespaces, fork if pid/time ns
//!      ◀──────────────────────────── InitPid(pid)          (only when stage 1 forked)
//!      ◀──────────────────────────── IdmapRequest          (only with idmapped mounts)
//!   open_tree + mount_setattr(IDMAP)
//!   IdmapFd + fd (one per mount) ────▶
//!   IdmapDone ───────────────────────▶
//!                                      init: cgroup ns, mounts, devices
//!      ◀──────────────────────────── CreateRuntime         (only with hooks)
//!   prestart + createRuntime hooks
//!   HooksDone(state json) ───────────▶ createContainer hooks, pivot_root, console, sysctl,
//!                                      masked/ro paths, user, caps, exec path lookup
//!      ◀──────────────────────────── SeccompFd + fd        (only with SCMP_ACT_NOTIFY)
//!   send fd + state to listenerPath
//!   SeccompDone ─────────────────────▶
//!      ◀──────────────────────────── Ready                 then blocks on exec.fifo
//! ```
//! Any step may answer `Error` instead; the child then exits and the parent cleans up.

use nix::errno::Errno;
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// An error from inside the container setup, carried to the parent and printed as one line.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
#[error("{msg}")]
pub struct ChildError {
    /// e.g. `mount proc to /run/x/rootfs/proc: permission denied`
    pub msg: String,
    pub errno: Option<i32>,
}

impl ChildError {
    pub fn new(msg: impl Into<String>) -> ChildError {
        ChildError {
            msg: msg.into(),
            errno: None,
        }
    }

    /// `step: errno text`, with the errno kept for callers that match on it.
    pub fn sys(step: impl std::fmt::Display, e: Errno) -> ChildError {
        ChildError {
            msg: format!("{step}: {}", errno_text(e)),
            errno: Some(e as i32),
        }
    }
}

/// The lower-case strerror text Go (and so runc) prints, e.g. "permission denied".
pub fn errno_text(e: Errno) -> String {
    let mut s = e.desc().to_string();
    if let Some(c) = s.get_mut(0..1) {
        c.make_ascii_lowercase();
    }
    s
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Msg {
    Go,
    MapRequest,
    MapDone,
    InitPid(i32),
    IdmapRequest,
    IdmapFd,
    IdmapDone,
    CreateRuntime,
    HooksDone(String),
    SeccompFd,
    SeccompDone,
    Ready,
    Error(ChildError),
}

pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    pub fn pair() -> Result<(Channel, Channel), Errno> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, msg: &Msg) -> Result<(), Errno> {
        self.send_with_fd(msg, None)
    }

    pub fn send_with_fd(&self, msg: &Msg, fd: Option<RawFd>) -> Result<(), Errno> {
        let data = serde_json::to_vec(msg).map_err(|_| Errno::EINVAL)?;
        send_fds(self.fd.as_raw_fd(), &data, fd.as_slice())
    }

    /// Receives one message; `Ok(None)` when the peer closed its end (exited).
    pub fn recv(&self) -> Result<Option<Msg>, Errno> {
        self.recv_with_fds().map(|(m, _)| m)
    }

    /// Receives one message and the fds sent with it.
    pub fn recv_with_fds(&self) -> Result<(Option<Msg>, Vec<OwnedFd>), Errno> {
        let (data, fds) = recv_fds(self.fd.as_raw_fd(), 64 * 1024)?;
        if data.is_empty() {
            return Ok((None, fds));
        }
        let msg = serde_json::from_slice(&data).map_err(|_| Errno::EBADMSG)?;
        Ok((Some(msg), fds))
    }
}

/// sendmsg with optional SCM_RIGHTS fds.
pub fn send_fds(sock: RawFd, data: &[u8], fds: &[RawFd]) -> Result<(), Errno> {
    let iov = [IoSlice::new(data)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
    loop {
        match sendmsg::<()>(sock, &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Err(Errno::EINTR) => continue,
            r => return r.map(|_| ()),
        }
    }
}

/// recvmsg of one datagram and any fds with it (made close-on-exec).
pub fn recv_fds(sock: RawFd, max: usize) -> Result<(Vec<u8>, Vec<OwnedFd>), Errno> {
    let mut buf = vec![0u8; max];
    let mut cbuf = nix::cmsg_space!([RawFd; 4]);
    loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let r = recvmsg::<()>(sock, &mut iov, Some(&mut cbuf), MsgFlags::MSG_CMSG_CLOEXEC);
        match r {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(m) => {
                let mut fds = Vec::new();
                for c in m.cmsgs().map_err(|_| Errno::EBADMSG)? {
                    if let ControlMessageOwned::ScmRights(v) = c {
                        // SAFETY: fds received over SCM_RIGHTS are new and ours.
                        fds.extend(v.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
                    }
                }
                let n = m.bytes;
                buf.truncate(n);
                return Ok((buf, fds));
            }
        }
    }
}
