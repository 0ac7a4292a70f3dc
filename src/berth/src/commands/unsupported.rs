#[derive(clap::Args, Debug)]
pub struct Args {
    /// Ignored: the command is not supported
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub rest: Vec<String>,
}

pub fn run(what: &str) -> anyhow::Result<i32> {
    anyhow::bail!("{what} is not supported by berth: checkpoint/restore needs a working criu")
}
