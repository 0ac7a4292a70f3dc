//! `start`: release the init waiting on exec.fifo, then poststart hooks.

use crate::error::{Error, Result};
use crate::state::{Container, Status, FIFO};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::AsFd;
use std::path::Path;

pub fn start(root: &Path, id: &str) -> Result<Container> {
    let c = Container::load(root, id)?;
    let status = c.status();
    if status != Status::Created {
        return Err(Error::WrongState {
            action: "start",
            id: id.to_string(),
            status,
        });
    }
    let fifo_path = c.dir.join(FIFO);
    let fifo = nix::fcntl::open(
        &fifo_path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::Io {
        op: format!("open {}", fifo_path.display()),
        source: e.into(),
    })?;
    // SAFETY: fd from open above, owned from here on.
    let fifo: std::os::fd::OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(fifo) };
    // Our open lets init's blocking open for writing complete; wait for its byte, checking
    // that init is still there (it never writes if it died).
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        let n = match poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(Error::Io {
                    op: "poll exec fifo".into(),
                    source: e.into(),
                })
            }
        };
        if n > 0 {
            let mut b = [0u8; 1];
            match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&fifo), &mut b) {
                Ok(1) => break,
                Ok(_) | Err(nix::errno::Errno::EAGAIN) => {}
                Err(e) => {
                    return Err(Error::Io {
                        op: "read exec fifo".into(),
                        source: e.into(),
                    })
                }
            }
        }
        if !c.init_alive() {
            return Err(Error::Invalid(format!(
                "container {id} init exited before it could be started"
            )));
        }
    }
    let _ = std::fs::remove_file(&fifo_path);
    let spec = super::load_spec(&c)?;
    if let Some(h) = &spec.hooks {
        // The spec: a failing poststart hook is logged and the lifecycle continues.
        for e in crate::hooks::run_all(
            "poststart",
            &h.poststart,
            &super::hook_state(&c, Status::Running),
        ) {
            eprintln!("warning: {e}");
        }
    }
    Ok(c)
}
