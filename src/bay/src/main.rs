//! bay: a daemonless, docker-compatible CLI over bay-engine. One file per group of verbs;
//! this file holds the argument structs and maps errors to docker's messages and exit codes.

mod cmd_archive;
mod cmd_images;
mod cmd_registry;
mod format;
mod progress;
mod units;

use std::path::PathBuf;
use std::process::ExitCode;

use bay_engine::{Engine, Options};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bay",
    version,
    about = "A daemonless, docker-compatible container engine",
    disable_help_subcommand = true
)]
struct Cli {
    /// Root of the image store
    #[arg(long, global = true, env = "BAY_ROOT", default_value = bay_engine::engine::DEFAULT_ROOT)]
    root: PathBuf,
    /// Registries configuration file (JSON)
    #[arg(long, global = true, env = "BAY_REGISTRIES_CONFIG")]
    registries_config: Option<PathBuf>,
    /// Location of client config files (credentials: config.json)
    #[arg(long, global = true, env = "DOCKER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List images
    Images(ImagesArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCmd),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Return low-level information on images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Search a registry for images
    Search(SearchArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Manage bay
    #[command(subcommand)]
    System(SystemCmd),
}

#[derive(Subcommand)]
enum ImageCmd {
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    Inspect(ImageInspectArgs),
    Prune(PruneArgs),
    Tag(TagArgs),
    Pull(PullArgs),
    Push(PushArgs),
    History(HistoryArgs),
    Save(SaveArgs),
    Load(LoadArgs),
    Import(ImportArgs),
}

#[derive(Subcommand)]
enum SystemCmd {
    /// Show bay disk usage
    Df(DfArgs),
}

#[derive(Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Format output using a Go template
    #[arg(long)]
    format: Option<String>,
    /// REPOSITORY[:TAG]
    reference: Option<String>,
}

#[derive(Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short, long)]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    name: String,
}

#[derive(Args)]
pub struct PushArgs {
    /// Push all tags of the repository
    #[arg(short, long)]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    name: String,
}

#[derive(Args)]
pub struct TagArgs {
    source: String,
    target: String,
}

#[derive(Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    no_prune: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a Go template
    #[arg(short, long)]
    format: Option<String>,
    /// Return JSON for specified type
    #[arg(long = "type")]
    kind: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    size: bool,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Args)]
pub struct ImageInspectArgs {
    /// Format output using a Go template
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    human: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Format output using a Go template
    #[arg(long)]
    format: Option<String>,
    image: String,
}

#[derive(Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// file|URL|-
    source: String,
    /// REPOSITORY[:TAG]
    reference: Option<String>,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    filter: Vec<String>,
}

#[derive(Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    verbose: bool,
    /// Format output using a Go template
    #[arg(long)]
    format: Option<String>,
}

#[derive(Args)]
pub struct SearchArgs {
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Max number of search results
    #[arg(long, default_value_t = 25)]
    limit: usize,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    term: String,
}

#[derive(Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    username: Option<String>,
    /// Password
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    password_stdin: bool,
    server: Option<String>,
}

#[derive(Args)]
pub struct LogoutArgs {
    server: Option<String>,
}

/// An error already printed in docker's words; carries the exit code.
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                // docker exits 125 on usage errors
                _ => 125,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(Exit(code)) = e.downcast_ref::<Exit>() {
                return ExitCode::from(*code);
            }
            match e.downcast_ref::<bay_engine::Error>() {
                // Errors docker's daemon would report keep docker's prefix, so scripts match.
                Some(engine_err) => eprintln!("Error response from daemon: {engine_err}"),
                None => eprintln!("Error: {e:#}"),
            }
            ExitCode::from(1)
        }
    }
}

fn open(cli: &Cli) -> anyhow::Result<Engine> {
    Ok(Engine::open(Options {
        root: Some(cli.root.clone()),
        registries_config: cli.registries_config.clone(),
        client_config_dir: cli.config.clone(),
    })?)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let engine = open(&cli)?;
    match cli.cmd {
        Command::Images(a) | Command::Image(ImageCmd::Ls(a)) => cmd_images::images(&engine, a),
        Command::Tag(a) | Command::Image(ImageCmd::Tag(a)) => cmd_images::tag(&engine, a),
        Command::Rmi(a) | Command::Image(ImageCmd::Rm(a)) => cmd_images::rmi(&engine, a),
        Command::Inspect(a) => cmd_images::inspect(&engine, a),
        Command::Image(ImageCmd::Inspect(a)) => cmd_images::image_inspect(&engine, a),
        Command::History(a) | Command::Image(ImageCmd::History(a)) => {
            cmd_images::history(&engine, a)
        }
        Command::Image(ImageCmd::Prune(a)) => cmd_images::prune(&engine, a),
        Command::System(SystemCmd::Df(a)) => cmd_images::df(&engine, a),
        Command::Save(a) | Command::Image(ImageCmd::Save(a)) => cmd_archive::save(&engine, a),
        Command::Load(a) | Command::Image(ImageCmd::Load(a)) => cmd_archive::load(&engine, a),
        Command::Import(a) | Command::Image(ImageCmd::Import(a)) => cmd_archive::import(&engine, a),
        Command::Pull(a) | Command::Image(ImageCmd::Pull(a)) => cmd_registry::pull(&engine, a),
        Command::Push(a) | Command::Image(ImageCmd::Push(a)) => cmd_registry::push(&engine, a),
        Command::Search(a) => cmd_images::search(&engine, a),
        Command::Login(a) => cmd_registry::login(&engine, a),
        Command::Logout(a) => cmd_registry::logout(&engine, a),
    }
}

/// Is this fd a terminal?
pub fn isatty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor number.
    unsafe { libc::isatty(fd) == 1 }
}
