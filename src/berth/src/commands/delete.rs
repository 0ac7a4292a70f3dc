use crate::Global;
use anyhow::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kill the container first if it is running or paused
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Container id
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    berth_runtime::container::delete(&g.root, &a.id, a.force)
        .with_context(|| format!("delete container {}", a.id))?;
    Ok(0)
}
