//! OOM notification: cgroup v1 `memory.oom_control` through an eventfd, cgroup v2 by watching
//! `memory.events` for a rising `oom_kill` count. One small thread per container, ending when
//! the cgroup is removed.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

const STACK: usize = 64 * 1024;

/// Calls `on_oom` each time the cgroup hits an OOM kill, until the cgroup goes away.
pub fn watch(cg: &crate::cgroups::Cgroups, on_oom: impl Fn() + Send + 'static) -> Result<()> {
    if let Some(dir) = cg.memory_v1() {
        return watch_v1(dir.to_path_buf(), on_oom);
    }
    if let Some(dir) = cg.unified() {
        return watch_v2(dir.to_path_buf(), on_oom);
    }
    Ok(())
}

fn watch_v1(dir: PathBuf, on_oom: impl Fn() + Send + 'static) -> Result<()> {
    let control = File::open(dir.join("memory.oom_control"))
        .ctx(|| format!("opening {}/memory.oom_control", dir.display()))?;
    // SAFETY: eventfd returns a new fd or -1.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if efd < 0 {
        return Err(Error::io("eventfd", std::io::Error::last_os_error()));
    }
    // SAFETY: efd is a fresh fd we own.
    let mut ev = unsafe { File::from_raw_fd(efd) };
    std::fs::write(
        dir.join("cgroup.event_control"),
        format!("{} {}", ev.as_raw_fd(), control.as_raw_fd()),
    )
    .ctx(|| format!("registering for oom events of {}", dir.display()))?;
    std::thread::Builder::new()
        .name("oom".into())
        .stack_size(STACK)
        .spawn(move || {
            let _control = control;
            let mut b = [0u8; 8];
            // The eventfd also fires when the cgroup is removed.
            while ev.read_exact(&mut b).is_ok() {
                if !dir.join("memory.oom_control").exists() {
                    break;
                }
                on_oom();
            }
        })
        .map(drop)
        .ctx(|| "starting the oom watcher")
}

fn oom_kills(events: &Path) -> Option<u64> {
    std::fs::read_to_string(events).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == "oom_kill").then(|| v.trim().parse().ok()).flatten()
    })
}

fn watch_v2(dir: PathBuf, on_oom: impl Fn() + Send + 'static) -> Result<()> {
    let events = dir.join("memory.events");
    let Some(mut last) = oom_kills(&events) else {
        return Ok(());
    };
    // SAFETY: inotify_init1 returns a new fd or -1.
    let ifd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if ifd < 0 {
        return Err(Error::io("inotify_init1", std::io::Error::last_os_error()));
    }
    // SAFETY: ifd is a fresh fd we own.
    let mut ino = unsafe { File::from_raw_fd(ifd) };
    let cpath = std::ffi::CString::new(events.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::InvalidArgument("cgroup path".into()))?;
    // SAFETY: valid inotify fd and NUL-terminated path.
    if unsafe { libc::inotify_add_watch(ino.as_raw_fd(), cpath.as_ptr(), libc::IN_MODIFY) } < 0 {
        return Err(Error::io(
            format!("watching {}", events.display()),
            std::io::Error::last_os_error(),
        ));
    }
    std::thread::Builder::new()
        .name("oom".into())
        .stack_size(STACK)
        .spawn(move || {
            let mut buf = [0u8; 1024];
            while ino.read(&mut buf).map(|n| n > 0).unwrap_or(false) {
                let Some(now) = oom_kills(&events) else { break };
                if now > last {
                    last = now;
                    on_oom();
                }
            }
        })
        .map(drop)
        .ctx(|| "starting the oom watcher")
}
