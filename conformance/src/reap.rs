//! The driver is a child subreaper, so a container's init (orphaned when `create` exits) is
//! reparented to it: that lets it collect exit codes the way a shim does.

use std::time::{Duration, Instant};

pub fn become_subreaper() {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer flag only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

pub enum Exit {
    /// Exit status (signals as 128+n).
    Code(i32),
    /// The process is not our child (a runtime that keeps its own monitor process).
    NotChild,
    TimedOut,
}

pub fn wait_exit(pid: i32, timeout: Duration) -> Exit {
    let deadline = Instant::now() + timeout;
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out-pointer; WNOHANG never blocks.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if rc == pid {
            if libc::WIFEXITED(status) {
                return Exit::Code(libc::WEXITSTATUS(status));
            }
            if libc::WIFSIGNALED(status) {
                return Exit::Code(128 + libc::WTERMSIG(status));
            }
        } else if rc < 0 {
            return Exit::NotChild;
        }
        if Instant::now() > deadline {
            return Exit::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Collects zombies left by a case (orphaned hook or helper processes). Only called between
/// cases, when no other child is being waited for.
pub fn reap_all() {
    loop {
        let mut status = 0;
        // SAFETY: as above.
        let rc = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if rc <= 0 {
            break;
        }
    }
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            .is_some_and(|st| st != "Z" && st != "X"),
        Err(_) => false,
    }
}
