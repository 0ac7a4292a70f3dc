use crate::Global;
use anyhow::Context;
use berth_runtime::container;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Send the signal to every process in the container
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Container id
    pub id: String,
    /// Signal name or number
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let sig = container::parse_signal(&a.signal)?;
    container::kill(&g.root, &a.id, sig, a.all)
        .with_context(|| format!("kill container {}", a.id))?;
    Ok(0)
}
