use crate::Global;
use anyhow::{bail, Context};
use berth_runtime::container::{self, foreground, ExecOpts};
use berth_runtime::spec::Process;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Unix socket path to which the pty master is sent
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<String>,
    /// Current working directory in the container
    #[arg(long)]
    pub cwd: Option<String>,
    /// Set an environment variable (KEY=VALUE)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// UID[:GID] to run as
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional gids
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// process.json describing the process (other process flags are then ignored)
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Detach from the process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// File to write the process's pid to
    #[arg(long = "pid-file", value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label for the process
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// AppArmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privs for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability to the process's sets
    #[arg(short = 'c', long = "cap", value_name = "CAP")]
    pub cap: Vec<String>,
    /// Pass N extra fds (3 and up) to the process
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: i32,
    /// Container id
    pub id: String,
    /// Command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

fn build_process(g: &Global, a: &Args) -> anyhow::Result<Process> {
    if let Some(path) = &a.process {
        let data =
            std::fs::read(path).with_context(|| format!("read process file {}", path.display()))?;
        let p: Process = serde_json::from_slice(&data)
            .with_context(|| format!("parse process file {}", path.display()))?;
        return Ok(p);
    }
    if a.command.is_empty() {
        bail!("exec needs a command to run after the container id");
    }
    let mut p = berth_runtime::container::base_process(&g.root, &a.id)?;
    p.args = a.command.clone();
    p.terminal = a.tty;
    p.env.extend(a.env.iter().cloned());
    if let Some(cwd) = &a.cwd {
        p.cwd = cwd.clone();
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        p.user.uid = uid
            .parse()
            .with_context(|| format!("parse --user {u:?}: uid must be a number"))?;
        if let Some(g) = gid {
            p.user.gid = g
                .parse()
                .with_context(|| format!("parse --user {u:?}: gid must be a number"))?;
        }
    }
    if !a.additional_gids.is_empty() {
        p.user.additional_gids = a.additional_gids.clone();
    }
    if a.no_new_privs {
        p.no_new_privileges = true;
    }
    if let Some(l) = &a.process_label {
        p.selinux_label = Some(l.clone());
    }
    if let Some(ap) = &a.apparmor {
        p.apparmor_profile = Some(ap.clone());
    }
    if !a.cap.is_empty() {
        let caps = p.capabilities.get_or_insert_with(Default::default);
        for c in &a.cap {
            let name = if c.to_ascii_uppercase().starts_with("CAP_") {
                c.to_ascii_uppercase()
            } else {
                format!("CAP_{}", c.to_ascii_uppercase())
            };
            for set in [
                &mut caps.bounding,
                &mut caps.effective,
                &mut caps.permitted,
                &mut caps.ambient,
            ] {
                let v = set.get_or_insert_with(Vec::new);
                if !v.contains(&name) {
                    v.push(name.clone());
                }
            }
        }
    }
    Ok(p)
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    if a.preserve_fds < 0 {
        bail!("--preserve-fds must not be negative");
    }
    let process = build_process(g, &a)?;
    let mut console = match &a.console_socket {
        Some(p) => Some(berth_runtime::console::connect(p)?),
        None => None,
    };
    let mut ours: Option<OwnedFd> = None;
    if process.terminal && console.is_none() {
        if a.detach {
            bail!("cannot allocate a tty for a detached process without --console-socket");
        }
        let (x, y) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::Stream,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )?;
        console = Some(y);
        ours = Some(x);
    }
    let guard = (!a.detach).then(foreground::Guard::new);
    let pid = container::exec(ExecOpts {
        root: g.root.clone(),
        id: a.id.clone(),
        process,
        console,
        pid_file: a.pid_file.clone(),
        preserve_fds: a.preserve_fds,
    })
    .with_context(|| format!("exec in container {}", a.id))?;
    let Some(guard) = guard else {
        return Ok(0);
    };
    let master = match &ours {
        Some(s) => Some(berth_runtime::console::recv_master(s).context("receive pty master")?),
        None => None,
    };
    Ok(foreground::wait(guard, pid, master))
}
