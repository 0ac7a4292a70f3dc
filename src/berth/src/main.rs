//! berth: a runc-compatible OCI runtime. Same commands, flags, output and exit codes as runc,
//! so containerd, dockerd and runc's users can drive it unchanged.

mod commands;
mod log;
mod sealed;

use clap::Parser;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    about = "berth: a fast, runc-compatible OCI container runtime",
    disable_version_flag = true,
    subcommand_required = false,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Enable debug logging
    #[arg(long, global = true)]
    debug: bool,
    /// Log file (default: stderr)
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<String>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    log_format: log::Format,
    /// Root directory for container state (default /run/berth; $XDG_RUNTIME_DIR/berth when
    /// not run as root)
    #[arg(long, global = true, env = "BERTH_ROOT")]
    root: Option<PathBuf>,
    /// Path to criu (accepted for runc compatibility; checkpoint is not supported)
    #[arg(long, hide = true)]
    criu: Option<String>,
    /// Use systemd to manage cgroups (not supported yet: fails with a clear error)
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Print the version
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    cmd: Option<commands::Cmd>,
}

/// runc's global `--rootless true|false|auto` comes before the command; berth detects rootless
/// from the euid, so it is accepted and dropped here (clap can't have it beside `spec
/// --rootless`, a flag without value).
fn strip_global_rootless(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut args = args.peekable();
    let mut in_command = false;
    if let Some(a0) = args.next() {
        out.push(a0);
    }
    while let Some(a) = args.next() {
        if !in_command {
            if a == "--rootless" {
                args.next();
                continue;
            }
            if a.starts_with("--rootless=") {
                continue;
            }
            in_command = !a.starts_with('-');
        }
        out.push(a);
    }
    out
}

/// The error and its causes as one line. Our typed errors already print their cause, so a
/// cause whose text the line holds already is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for part in e.chain().map(|c| c.to_string()) {
        if line.contains(&part) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&part);
    }
    line.replace('\n', " ")
}

/// What every command may need from the global flags.
pub struct Global {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
}

fn main() {
    let cli = Cli::parse_from(strip_global_rootless(std::env::args()));
    if cli.version {
        println!("berth version {}", env!("CARGO_PKG_VERSION"));
        println!("commit: {}", env!("BERTH_COMMIT"));
        println!("spec: {}", berth_runtime::spec::OCI_VERSION);
        return;
    }
    if let Err(e) = log::init(cli.log.as_deref(), cli.log_format, cli.debug) {
        eprintln!("berth: {e:#}");
        std::process::exit(1);
    }
    let Some(cmd) = cli.cmd else {
        std::process::exit(1);
    };
    log::debug(&format!(
        "berth {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    ));
    if cmd.enters_container() {
        if let Err(e) = sealed::reexec_sealed() {
            log::error(&format!("{e:#}"));
            std::process::exit(1);
        }
    }
    let g = Global {
        root: cli.root.unwrap_or_else(berth_runtime::state::default_root),
        systemd_cgroup: cli.systemd_cgroup,
    };
    let code = match commands::run(&g, cmd) {
        Ok(code) => code,
        Err(e) => {
            log::error(&one_line(&e));
            1
        }
    };
    std::process::exit(code);
}
