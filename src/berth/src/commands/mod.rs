//! One file per runc command.

mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod resume;
mod run;
mod spec;
mod start;
mod state;
mod unsupported;
mod update;

use crate::Global;
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create a container
    Create(create::Args),
    /// Start a created container
    Start(start::Args),
    /// Output the state of a container
    State(state::Args),
    /// Send a signal to the container's init process
    Kill(kill::Args),
    /// Delete a container and everything it holds
    Delete(delete::Args),
    /// Create and start a container
    Run(run::Args),
    /// Run a new process inside a container
    Exec(exec::Args),
    /// List containers
    List(list::Args),
    /// Show the processes running inside a container
    Ps(ps::Args),
    /// Create a new specification file (config.json)
    Spec(spec::Args),
    /// Show the enabled features
    Features(features::Args),
    /// Suspend all processes of a container
    Pause(pause::Args),
    /// Resume all processes of a paused container
    Resume(resume::Args),
    /// Update a container's resource limits
    Update(update::Args),
    /// Display container events and statistics
    Events(events::Args),
    /// Checkpoint a running container (not supported)
    Checkpoint(unsupported::Args),
    /// Restore a container from a checkpoint (not supported)
    Restore(unsupported::Args),
}

impl Cmd {
    /// Commands whose children end up inside a container (see `sealed`).
    pub fn enters_container(&self) -> bool {
        matches!(self, Cmd::Create(_) | Cmd::Run(_) | Cmd::Exec(_))
    }
}

pub fn run(g: &Global, cmd: Cmd) -> anyhow::Result<i32> {
    match cmd {
        Cmd::Create(a) => create::run(g, a),
        Cmd::Start(a) => start::run(g, a),
        Cmd::State(a) => state::run(g, a),
        Cmd::Kill(a) => kill::run(g, a),
        Cmd::Delete(a) => delete::run(g, a),
        Cmd::Run(a) => run::run(g, a),
        Cmd::Exec(a) => exec::run(g, a),
        Cmd::List(a) => list::run(g, a),
        Cmd::Ps(a) => ps::run(g, a),
        Cmd::Spec(a) => spec::run(a),
        Cmd::Features(a) => features::run(a),
        Cmd::Pause(a) => pause::run(g, a),
        Cmd::Resume(a) => resume::run(g, a),
        Cmd::Update(a) => update::run(g, a),
        Cmd::Events(a) => events::run(g, a),
        Cmd::Checkpoint(_) => unsupported::run("checkpoint"),
        Cmd::Restore(_) => unsupported::run("restore"),
    }
}
