//! `create`: a container whose init waits on exec.fifo.

use super::CONFIG_COPY;
use crate::cgroups::Manager;
use crate::error::{Error, Result};
use crate::process::init::{init_main, needs_hook_sync, InitArgs};
use crate::process::namespaces::NsPlan;
use crate::process::sync::ChildError;
use crate::process::{spawn, Maps, ParentSide};
use crate::spec::{NamespaceType, Spec};
use crate::state::{Container, NewDir, OciState, Saved, Status};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub struct CreateOpts {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    /// A connected console socket (the CLI connects `--console-socket`, or passes its own
    /// socketpair end for a foreground terminal).
    pub console: Option<OwnedFd>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
    pub systemd_cgroup: bool,
}

fn canonical(what: &str, p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).map_err(Error::io(format!("{what} {}", p.display())))
}

pub fn create(o: CreateOpts) -> Result<Container> {
    crate::id::validate(&o.id)?;
    let bundle = canonical("bundle", &o.bundle)?;
    let raw = std::fs::read(bundle.join("config.json"))
        .map_err(Error::io(format!("open {}/config.json", bundle.display())))?;
    let spec: Spec =
        serde_json::from_slice(&raw).map_err(|source| crate::spec::SpecError::Parse {
            path: bundle.join("config.json").display().to_string(),
            source,
        })?;
    crate::spec::validate(&spec)?;
    crate::lsm::check(&spec).map_err(Error::Invalid)?;
    let process = spec
        .process
        .as_ref()
        .ok_or_else(|| Error::Invalid("config.json has no process to run".into()))?;
    if spec.namespace(NamespaceType::Mount).is_none() {
        return Err(Error::Invalid(
            "config.json must have a mount namespace".into(),
        ));
    }
    match (process.terminal, o.console.is_some()) {
        (true, false) => {
            return Err(Error::Invalid(
                "process.terminal is set but no --console-socket was given".into(),
            ))
        }
        (false, true) => {
            return Err(Error::Invalid(
                "--console-socket was given but process.terminal is not set".into(),
            ))
        }
        _ => {}
    }
    let root_path = spec
        .root
        .as_ref()
        .map(|r| r.path.as_str())
        .unwrap_or_default();
    let rootfs = canonical("rootfs", &bundle.join(root_path))?;
    if !rootfs.is_dir() {
        return Err(Error::Invalid(format!(
            "rootfs {} is not a directory",
            rootfs.display()
        )));
    }
    let cgroup = Manager::new(
        spec.linux().cgroups_path.as_deref(),
        &o.id,
        o.systemd_cgroup,
    )?;
    let seccomp = spec
        .linux()
        .seccomp
        .as_ref()
        .map(crate::seccomp::compile)
        .transpose()?;
    let plan = NsPlan::for_spec(&spec)?;
    let dir = NewDir::create(&o.root, &o.id)?;
    let ctx = Ctx {
        o: &o,
        spec: &spec,
        raw: &raw,
        bundle: &bundle,
        rootfs: &rootfs,
        cgroup: &cgroup,
        seccomp: seccomp.as_ref(),
        plan: &plan,
    };
    match create_in(&dir.dir, dir.lock_fd(), &ctx) {
        Ok(saved) => {
            let c = dir.commit(saved)?;
            if let Some(p) = &o.pid_file {
                write_pid_file(p, c.saved.pid)?;
            }
            Ok(c)
        }
        Err(e) => {
            let _ = cgroup.destroy();
            dir.remove();
            Err(e)
        }
    }
}

/// Creates the container's cgroup. Rootless, as runc does, a cgroup we may not create is
/// skipped when the config sets no resource limits; returns whether there is one.
fn create_cgroup(c: &Ctx) -> Result<bool> {
    let resources = c.spec.linux().resources.as_ref();
    let err = match c.cgroup.create(resources) {
        Ok(()) => return Ok(true),
        Err(e) => e,
    };
    let denied = matches!(&err, crate::cgroups::CgroupError::Io { source, .. }
        if matches!(source.raw_os_error(), Some(libc::EACCES | libc::EPERM | libc::EROFS)));
    if nix::unistd::geteuid().is_root() || !denied {
        return Err(err.into());
    }
    if limits_set(resources) {
        return Err(Error::Invalid(format!(
            "rootless container sets resource limits but its cgroup can't be created: {err}"
        )));
    }
    let _ = c.cgroup.destroy();
    Ok(false)
}

/// Whether `linux.resources` asks for anything besides device rules (which a rootless
/// container can't have enforced anyway, as in runc).
fn limits_set(r: Option<&crate::spec::Resources>) -> bool {
    let Some(v) = r.and_then(|r| serde_json::to_value(r).ok()) else {
        return false;
    };
    v.as_object().is_some_and(|o| {
        o.iter().any(|(k, v)| {
            k != "devices"
                && !v.is_null()
                && v.as_object().is_none_or(|m| !m.is_empty())
                && v.as_array().is_none_or(|a| !a.is_empty())
        })
    })
}

struct Ctx<'a> {
    o: &'a CreateOpts,
    spec: &'a Spec,
    raw: &'a [u8],
    bundle: &'a Path,
    rootfs: &'a Path,
    cgroup: &'a Manager,
    seccomp: Option<&'a crate::seccomp::Filter>,
    plan: &'a NsPlan,
}

fn create_in(dir: &Path, lock_fd: std::os::fd::RawFd, c: &Ctx) -> Result<Saved> {
    let o = c.o;
    std::fs::write(dir.join(CONFIG_COPY), c.raw).map_err(Error::io("save config.json"))?;
    let fifo = dir.join(crate::state::FIFO);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622)).map_err(|e| {
        Error::Io {
            op: format!("mkfifo {}", fifo.display()),
            source: e.into(),
        }
    })?;
    // mkfifo obeys the umask; the container user must be able to open it for writing.
    let _ = nix::sys::stat::fchmodat(
        None,
        &fifo,
        nix::sys::stat::Mode::from_bits_truncate(0o622),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    );
    let with_cgroup = create_cgroup(c)?;
    let mut saved = Saved {
        id: o.id.clone(),
        pid: 0,
        pid_start: 0,
        bundle: c.bundle.display().to_string(),
        rootfs: c.rootfs.display().to_string(),
        created: crate::time::now(),
        cgroup_path: c.cgroup.path().to_string(),
        annotations: c.spec.annotations.clone(),
        owner: String::new(),
        config_namespaces: Vec::new(),
        own_pidns: c
            .spec
            .namespace(NamespaceType::Pid)
            .is_some_and(|n| n.path.is_none()),
        systemd_cgroup: o.systemd_cgroup,
        no_cgroup: !with_cgroup,
    };
    let cg_path = c.cgroup.path().to_string();
    let state_dir = crate::sys::openat2(
        libc::AT_FDCWD,
        &dir.to_string_lossy(),
        libc::O_PATH | libc::O_DIRECTORY,
        0,
        0,
    )
    .map_err(|e| Error::Io {
        op: format!("open {}", dir.display()),
        source: e.into(),
    })?;
    let args = InitArgs {
        spec: c.spec,
        bundle: c.bundle,
        rootfs: c.rootfs,
        state_dir: std::os::fd::AsRawFd::as_raw_fd(&state_dir),
        console_socket: o.console.as_ref(),
        preserve_fds: o.preserve_fds,
        no_pivot: o.no_pivot,
        no_new_keyring: o.no_new_keyring,
        seccomp: c.seccomp,
        cgroup_path: &cg_path,
        plan: c.plan,
        id: &o.id,
    };
    let mut parent = Hooks {
        spec: c.spec,
        saved: &saved,
    };
    let linux = c.spec.linux();
    let pid = spawn(
        c.plan,
        with_cgroup.then_some(c.cgroup),
        Maps {
            uid: &linux.uid_mappings,
            gid: &linux.gid_mappings,
            mounts: &c.spec.mounts,
            bundle: c.bundle,
            userns: c.spec.namespace(crate::spec::NamespaceType::User).is_some(),
        },
        &mut parent,
        &mut |ch| {
            // The flock belongs to this `create`, not to the container's init.
            let _ = nix::unistd::close(lock_fd);
            init_main(&args, ch)
        },
    )?;
    saved.pid = pid;
    saved.pid_start = crate::sys::process_start_time(pid).ok_or_else(|| {
        Error::Child(ChildError::new(
            "container init exited right after it was ready",
        ))
    })?;
    Ok(saved)
}

/// prestart and createRuntime hooks run in the runtime's namespaces while init waits.
struct Hooks<'a> {
    spec: &'a Spec,
    saved: &'a Saved,
}

impl Hooks<'_> {
    fn state(&self, init_pid: i32) -> OciState {
        OciState {
            oci_version: crate::spec::OCI_VERSION.into(),
            id: self.saved.id.clone(),
            pid: init_pid,
            status: Status::Creating,
            bundle: self.saved.bundle.clone(),
            rootfs: self.saved.rootfs.clone(),
            created: self.saved.created.clone(),
            owner: String::new(),
            annotations: self.saved.annotations.clone(),
        }
    }
}

impl ParentSide for Hooks<'_> {
    fn seccomp_listener(&mut self, pid: i32, fd: OwnedFd) -> std::result::Result<(), ChildError> {
        crate::process::send_seccomp_fd(self.spec, &self.state(pid), fd)
    }

    fn create_runtime(&mut self, init_pid: i32) -> std::result::Result<String, ChildError> {
        let state = self.state(init_pid);
        let json = serde_json::to_string(&state).unwrap_or_default();
        if let Some(h) = &self.spec.hooks {
            crate::hooks::run("prestart", &h.prestart, json.as_bytes())
                .and_then(|_| {
                    crate::hooks::run("createRuntime", &h.create_runtime, json.as_bytes())
                })
                .map_err(|e| ChildError::new(e.to_string()))?;
        }
        debug_assert!(needs_hook_sync(self.spec));
        Ok(json)
    }
}

/// Writes the pid file atomically, like runc.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|s| s.to_string_lossy())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, pid.to_string())
        .map_err(Error::io(format!("write pid file {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(Error::io(format!("write pid file {}", path.display())))
}
