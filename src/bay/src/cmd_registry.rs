//! `pull`, `push`, `login`, `logout`.

use anyhow::{bail, Result};
use bay_engine::Engine;

use crate::{LoginArgs, LogoutArgs, PullArgs, PushArgs};

pub fn pull(_engine: &Engine, _a: PullArgs) -> Result<()> {
    bail!("pull: not built yet")
}
pub fn push(_engine: &Engine, _a: PushArgs) -> Result<()> {
    bail!("push: not built yet")
}
pub fn login(_engine: &Engine, _a: LoginArgs) -> Result<()> {
    bail!("login: not built yet")
}
pub fn logout(_engine: &Engine, _a: LogoutArgs) -> Result<()> {
    bail!("logout: not built yet")
}
