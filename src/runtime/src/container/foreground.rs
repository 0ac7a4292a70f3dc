//! Foreground `run` and `exec`: forward signals to the container process, proxy its pty when
//! there is one, reap orphans (we are a subreaper), and return its exit code.

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

const FORWARDED: [Signal; 10] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGCONT,
    Signal::SIGPWR,
    Signal::SIGSYS,
];

/// Blocks the signals we handle; done before the container process exists so none is lost,
/// and made a subreaper so processes re-parented from a pid namespace fork come back to us.
pub struct Guard {
    set: SigSet,
}

impl Guard {
    pub fn new() -> Guard {
        let mut set = SigSet::empty();
        for s in FORWARDED {
            set.add(s);
        }
        set.add(Signal::SIGCHLD);
        set.add(Signal::SIGWINCH);
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        Guard { set }
    }
}

impl Default for Guard {
    fn default() -> Self {
        Guard::new()
    }
}

fn exit_code(ws: WaitStatus) -> Option<i32> {
    match ws {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

fn copy_winsize(from: BorrowedFd, to: BorrowedFd) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a valid winsize on tty fds.
    unsafe {
        if libc::ioctl(from.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(to.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Restores the terminal mode on drop.
struct RawMode(Option<termios::Termios>);

impl RawMode {
    fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let Ok(orig) = termios::tcgetattr(stdin.as_fd()) else {
            return RawMode(None);
        };
        let mut raw = orig.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, &raw);
        RawMode(Some(orig))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), termios::SetArg::TCSANOW, t);
        }
    }
}

fn write_all(fd: BorrowedFd, mut buf: &[u8]) {
    while !buf.is_empty() {
        match nix::unistd::write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(Errno::EINTR) | Err(Errno::EAGAIN) => continue,
            Err(_) => return,
        }
    }
}

/// Waits for `pid`, forwarding signals and proxying `master` if given. Returns the exit code
/// (128+N for a signal, as a shell reports it).
pub fn wait(guard: Guard, pid: i32, master: Option<OwnedFd>) -> i32 {
    let sfd = match SignalFd::with_flags(&guard.set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
    {
        Ok(s) => s,
        Err(_) => return wait_plain(pid),
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let is_tty = nix::unistd::isatty(stdin.as_raw_fd()).unwrap_or(false);
    let _raw = match (&master, is_tty) {
        (Some(m), true) => {
            copy_winsize(stdin.as_fd(), m.as_fd());
            Some(RawMode::enter())
        }
        _ => None,
    };
    let mut code: Option<i32> = None;
    let mut master_open = master.is_some();
    let mut stdin_open = master.is_some();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if code.is_some() && !master_open {
            break;
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let (Some(m), true) = (&master, master_open) {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        // Once the process exited, drain the pty briefly rather than waiting forever on a
        // slave some orphan still holds.
        let timeout = if code.is_some() {
            PollTimeout::from(200u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(0) => break,
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
        let revents: Vec<PollFlags> = fds
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect();
        if revents[0].contains(PollFlags::POLLIN) {
            while let Ok(Some(info)) = sfd.read_signal() {
                let signo = info.ssi_signo as i32;
                if signo == libc::SIGCHLD {
                    reap(pid, &mut code);
                } else if signo == libc::SIGWINCH {
                    if let Some(m) = &master {
                        copy_winsize(stdin.as_fd(), m.as_fd());
                    }
                } else if let Ok(s) = Signal::try_from(signo) {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), s);
                }
            }
        }
        let mut i = 1;
        if let (Some(m), true) = (&master, master_open) {
            if !revents[i].is_empty() {
                match nix::unistd::read(m.as_raw_fd(), &mut buf) {
                    Ok(0) | Err(Errno::EIO) => master_open = false,
                    Ok(n) => write_all(stdout.as_fd(), &buf[..n]),
                    Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
                    Err(_) => master_open = false,
                }
            }
            i += 1;
        }
        if stdin_open && !revents[i].is_empty() {
            match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                Ok(0) => {
                    stdin_open = false;
                    // End of input: send EOF to the terminal's line discipline.
                    if let Some(m) = &master {
                        write_all(m.as_fd(), &[4]);
                    }
                }
                Ok(n) => {
                    if let Some(m) = &master {
                        write_all(m.as_fd(), &buf[..n]);
                    }
                }
                Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
                Err(_) => stdin_open = false,
            }
        }
    }
    if code.is_none() {
        if let Ok(ws) = waitpid(Pid::from_raw(pid), None) {
            code = exit_code(ws);
        }
    }
    code.unwrap_or(255)
}

fn reap(pid: i32, code: &mut Option<i32>) {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(ws) => {
                if ws.pid() == Some(Pid::from_raw(pid)) {
                    *code = exit_code(ws);
                }
            }
        }
    }
}

fn wait_plain(pid: i32) -> i32 {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(ws) => {
                if let Some(c) = exit_code(ws) {
                    return c;
                }
            }
            Err(Errno::EINTR) => continue,
            Err(_) => return 255,
        }
    }
}
