//! `exec`: one more process inside a created or running container.

use crate::error::{Error, Result};
use crate::process::init::{exec_main, ExecArgs};
use crate::process::namespaces::NsPlan;
use crate::process::sync::ChildError;
use crate::process::{spawn, Maps, ParentSide};
use crate::spec::Process;
use crate::state::{Container, Status};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

pub struct ExecOpts {
    pub root: PathBuf,
    pub id: String,
    pub process: Process,
    pub console: Option<OwnedFd>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: i32,
}

struct ExecParent<'a> {
    spec: &'a crate::spec::Spec,
    state: crate::state::OciState,
}

impl ParentSide for ExecParent<'_> {
    fn create_runtime(&mut self, _: i32) -> std::result::Result<String, ChildError> {
        Err(ChildError::new("unexpected hook request from exec"))
    }

    fn seccomp_listener(&mut self, pid: i32, fd: OwnedFd) -> std::result::Result<(), ChildError> {
        let mut st = self.state.clone();
        st.pid = pid;
        crate::process::send_seccomp_fd(self.spec, &st, fd)
    }
}

/// Starts the process and returns its pid (in our pid namespace).
pub fn exec(o: ExecOpts) -> Result<i32> {
    let c = Container::load(&o.root, &o.id)?;
    let status = c.status();
    if matches!(status, Status::Stopped | Status::Paused) {
        return Err(Error::WrongState {
            action: "exec in",
            id: o.id.clone(),
            status,
        });
    }
    if o.process.args.is_empty() {
        return Err(Error::Invalid("exec needs a command to run".into()));
    }
    if o.process.cwd.is_empty() || !o.process.cwd.starts_with('/') {
        return Err(Error::Invalid(format!(
            "exec cwd {:?} is not an absolute path",
            o.process.cwd
        )));
    }
    match (o.process.terminal, o.console.is_some()) {
        (true, false) => return Err(Error::Invalid("--tty needs a --console-socket".into())),
        (false, true) => {
            return Err(Error::Invalid(
                "--console-socket was given but no tty was requested".into(),
            ))
        }
        _ => {}
    }
    let spec = super::load_spec(&c)?;
    crate::lsm::check_process(&o.process).map_err(Error::Invalid)?;
    crate::caps::warn_unavailable(o.process.capabilities.as_ref());
    let seccomp = spec
        .linux()
        .seccomp
        .as_ref()
        .map(crate::seccomp::compile)
        .transpose()?;
    let plan = NsPlan::for_exec(c.saved.pid)?;
    let cgroup = if c.saved.no_cgroup {
        None
    } else {
        Some(c.cgroup()?)
    };
    let args = ExecArgs {
        process: &o.process,
        console_socket: o.console.as_ref(),
        preserve_fds: o.preserve_fds,
        seccomp: seccomp.as_ref(),
        plan: &plan,
    };
    let pid = spawn(
        &plan,
        cgroup.as_ref(),
        Maps::none(),
        &mut ExecParent {
            spec: &spec,
            state: c.oci_state(),
        },
        &mut |ch| exec_main(&args, ch),
    )?;
    drop(c);
    if let Some(p) = &o.pid_file {
        super::create::write_pid_file(p, pid)?;
    }
    Ok(pid)
}
