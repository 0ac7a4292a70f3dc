use crate::Global;
use anyhow::{bail, Context};
use berth_runtime::state::{Container, Status};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Container id
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let c = Container::load(&g.root, &a.id)?;
    let status = c.status();
    if status != Status::Paused {
        bail!("cannot resume container {}: it is {status}", a.id);
    }
    c.cgroup()?
        .thaw()
        .with_context(|| format!("resume container {}", a.id))?;
    Ok(0)
}
