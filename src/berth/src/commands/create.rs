use crate::Global;
use anyhow::Context;
use berth_runtime::container::{self, CreateOpts};
use std::path::PathBuf;

/// Flags shared by `create` and `run`.
#[derive(clap::Args, Debug)]
pub struct CreateFlags {
    /// Path to the bundle directory
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket path to which the pty master is sent
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<String>,
    /// File to write the container init's pid to
    #[arg(long = "pid-file", value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot_root (chroot instead; for ramdisk roots)
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3 and up) to the container process
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: i32,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// Container id
    pub id: String,
}

impl CreateFlags {
    pub fn opts(&self, g: &Global, id: &str) -> anyhow::Result<CreateOpts> {
        if self.preserve_fds < 0 {
            anyhow::bail!("--preserve-fds must not be negative");
        }
        let console = match &self.console_socket {
            Some(p) => Some(berth_runtime::console::connect(p)?),
            None => None,
        };
        Ok(CreateOpts {
            root: g.root.clone(),
            id: id.to_string(),
            bundle: self.bundle.clone(),
            console,
            pid_file: self.pid_file.as_ref().map(|p| absolute(p)),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
            systemd_cgroup: g.systemd_cgroup,
        })
    }
}

fn absolute(p: &std::path::Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let opts = a.flags.opts(g, &a.id)?;
    container::create(opts).with_context(|| format!("create container {}", a.id))?;
    Ok(0)
}
