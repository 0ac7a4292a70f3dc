//! Terminals: the container side allocates a pty from its own devpts and sends the master
//! over `--console-socket` with SCM_RIGHTS, like runc; the foreground side proxies a pty.

use crate::process::sync::{send_fds, ChildError};
use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("connect to console socket {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
}

/// Connects to the caller's console socket (a unix stream socket path).
pub fn connect(path: &str) -> Result<OwnedFd, ConsoleError> {
    let s = UnixStream::connect(path).map_err(|source| ConsoleError::Connect {
        path: path.to_string(),
        source,
    })?;
    Ok(OwnedFd::from(s))
}

/// Child side: a new pty from the container's /dev/ptmx; returns (master, slave path).
pub fn open_pty() -> Result<(OwnedFd, String), ChildError> {
    let master = nix::fcntl::open(
        "/dev/ptmx",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| ChildError::sys("open /dev/ptmx", e))?;
    // SAFETY: fd from open above.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK with a pointer to an int on a pty master.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) } != 0 {
        return Err(ChildError::sys("unlock pty", Errno::last()));
    }
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN with a pointer to an unsigned int on a pty master.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) } != 0 {
        return Err(ChildError::sys("get pty number", Errno::last()));
    }
    Ok((master, format!("/dev/pts/{n}")))
}

/// Sends the pty master to the console socket.
pub fn send_master(sock: &OwnedFd, master: &OwnedFd) -> Result<(), ChildError> {
    send_fds(sock.as_raw_fd(), b"/dev/ptmx", &[master.as_raw_fd()])
        .map_err(|e| ChildError::sys("send pty master to console socket", e))
}

/// Makes the pty slave the process's stdio and controlling terminal.
pub fn attach_slave(slave: &str, size: Option<crate::spec::ConsoleSize>) -> Result<(), ChildError> {
    let fd = nix::fcntl::open(
        slave,
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| ChildError::sys(format!("open {slave}"), e))?;
    if let Some(sz) = size {
        let ws = libc::winsize {
            ws_row: sz.height,
            ws_col: sz.width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ with a valid winsize on a tty fd.
        unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
    }
    for target in 0..3 {
        nix::unistd::dup2(fd, target).map_err(|e| ChildError::sys("dup2 pty slave", e))?;
    }
    if fd > 2 {
        let _ = nix::unistd::close(fd);
    }
    // SAFETY: TIOCSCTTY on stdin, which is now the slave; the process leads its session.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } != 0 {
        return Err(ChildError::sys("set controlling terminal", Errno::last()));
    }
    Ok(())
}

/// Receives a pty master sent to our end of a console socket pair.
pub fn recv_master(sock: &OwnedFd) -> Result<OwnedFd, Errno> {
    let (_, mut fds) = crate::process::sync::recv_fds(sock.as_raw_fd(), 4096)?;
    fds.pop().ok_or(Errno::EBADMSG)
}
