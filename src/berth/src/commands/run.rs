use super::create::CreateFlags;
use crate::Global;
use anyhow::Context;
use berth_runtime::container::{self, foreground};
use std::os::fd::OwnedFd;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep the container's state after it exits (foreground only)
    #[arg(long)]
    pub keep: bool,
    /// Container id
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let mut opts = a.flags.opts(g, &a.id)?;
    if a.detach {
        container::create(opts).with_context(|| format!("create container {}", a.id))?;
        start_or_cleanup(g, &a.id)?;
        return Ok(0);
    }
    // In the foreground a terminal is ours to proxy: give init one end of a socketpair as
    // its console socket when the caller gave none.
    let mut ours: Option<OwnedFd> = None;
    if opts.console.is_none() && wants_terminal(&opts.bundle) {
        let (a_end, b_end) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::Stream,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )?;
        opts.console = Some(b_end);
        ours = Some(a_end);
    }
    let guard = foreground::Guard::new();
    let c = container::create(opts).with_context(|| format!("create container {}", a.id))?;
    let pid = c.saved.pid;
    drop(c);
    let master = match &ours {
        Some(sock) => {
            Some(berth_runtime::console::recv_master(sock).context("receive pty master")?)
        }
        None => None,
    };
    start_or_cleanup(g, &a.id)?;
    let code = foreground::wait(guard, pid, master);
    if !a.keep {
        container::delete(&g.root, &a.id, true)
            .with_context(|| format!("delete container {}", a.id))?;
    }
    Ok(code)
}

fn start_or_cleanup(g: &Global, id: &str) -> anyhow::Result<()> {
    if let Err(e) = container::start(&g.root, id) {
        let _ = container::delete(&g.root, id, true);
        return Err(e).with_context(|| format!("start container {id}"));
    }
    Ok(())
}

/// process.terminal of the bundle's config (a bad config fails later, in create, with the
/// full error).
fn wants_terminal(bundle: &std::path::Path) -> bool {
    #[derive(serde::Deserialize)]
    struct P {
        #[serde(default)]
        terminal: bool,
    }
    #[derive(serde::Deserialize)]
    struct S {
        process: Option<P>,
    }
    std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|d| serde_json::from_slice::<S>(&d).ok())
        .and_then(|s| s.process)
        .is_some_and(|p| p.terminal)
}
