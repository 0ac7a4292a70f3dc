use crate::Global;
use anyhow::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Container id
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    berth_runtime::container::start(&g.root, &a.id)
        .with_context(|| format!("start container {}", a.id))?;
    Ok(0)
}
