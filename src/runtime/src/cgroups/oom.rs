//! OOM notification for `events`: v1 registers an eventfd on memory.oom_control through
//! cgroup.event_control; v2 watches memory.events with inotify and counts oom_kill.

use super::files::{self, io_err};
use super::CgroupError;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a wait saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomWait {
    /// This many OOM events since the last wait.
    Oom(u64),
    Timeout,
    /// The cgroup was removed: no more events can come.
    Gone,
}

#[derive(Debug)]
enum Kind {
    V1 {
        /// Kept open: the registration lives as long as this file.
        _control: File,
        dir: PathBuf,
    },
    V2 {
        dir: PathBuf,
        last: u64,
    },
}

/// A subscription to a cgroup's OOM events. `fd()` becomes readable when there is news, so it
/// can be polled together with other descriptors.
#[derive(Debug)]
pub struct OomNotifier {
    fd: OwnedFd,
    kind: Kind,
}

fn last_os(op: &'static str, p: &Path) -> CgroupError {
    io_err(op, p, std::io::Error::last_os_error())
}

impl OomNotifier {
    pub(crate) fn v1(memory_dir: &Path) -> Result<OomNotifier, CgroupError> {
        let ctl = memory_dir.join("memory.oom_control");
        let control = File::open(&ctl).map_err(|e| io_err("open", &ctl, e))?;
        // SAFETY: plain syscall; the result is checked before use.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(last_os("create eventfd for", &ctl));
        }
        // SAFETY: eventfd returned a new descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(efd) };
        files::write(
            memory_dir,
            "cgroup.event_control",
            &format!("{} {}", fd.as_raw_fd(), control.as_raw_fd()),
        )?;
        Ok(OomNotifier {
            fd,
            kind: Kind::V1 {
                _control: control,
                dir: memory_dir.to_path_buf(),
            },
        })
    }

    pub(crate) fn v2(dir: &Path, current: u64) -> Result<OomNotifier, CgroupError> {
        // SAFETY: plain syscall; the result is checked before use.
        let ifd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if ifd < 0 {
            return Err(last_os("inotify_init for", dir));
        }
        // SAFETY: inotify_init1 returned a new descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(ifd) };
        for f in ["memory.events", "cgroup.events"] {
            let p = dir.join(f);
            let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
                .map_err(|_| CgroupError::Invalid(format!("bad path {}", p.display())))?;
            // SAFETY: c is a valid NUL-terminated path; fd is our inotify descriptor.
            if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) } < 0 {
                return Err(last_os("watch", &p));
            }
        }
        Ok(OomNotifier {
            fd,
            kind: Kind::V2 {
                dir: dir.to_path_buf(),
                last: current,
            },
        })
    }

    /// Readable when there may be news; then call `wait(Some(Duration::ZERO))`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Waits for OOM events, at most `timeout` (forever with `None`).
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<OomWait, CgroupError> {
        let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(OomWait::Timeout);
            }
            return Err(io_err("poll", Path::new("oom notifier"), e));
        }
        match &mut self.kind {
            Kind::V1 { dir, .. } => {
                if n == 0 {
                    return Ok(OomWait::Timeout);
                }
                let mut buf = [0u8; 8];
                // SAFETY: reading 8 bytes into an 8-byte buffer from our eventfd.
                let r = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
                if r != 8 {
                    return Err(last_os("read eventfd for", dir));
                }
                // The kernel also signals the eventfd when the cgroup goes away.
                if !dir.join("cgroup.event_control").exists() {
                    return Ok(OomWait::Gone);
                }
                Ok(OomWait::Oom(u64::from_ne_bytes(buf)))
            }
            Kind::V2 { dir, last } => {
                if n > 0 {
                    let mut buf = [0u8; 4096];
                    // SAFETY: draining our non-blocking inotify descriptor into buf.
                    while unsafe {
                        libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                    } > 0
                    {}
                }
                let Ok(ev) = files::read_flat_keyed(dir, "memory.events") else {
                    return Ok(OomWait::Gone);
                };
                if !dir.is_dir() {
                    return Ok(OomWait::Gone);
                }
                let now = files::keyed(&ev, "oom_kill");
                if now > *last {
                    let d = now - *last;
                    *last = now;
                    return Ok(OomWait::Oom(d));
                }
                Ok(OomWait::Timeout)
            }
        }
    }
}
