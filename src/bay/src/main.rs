//! bay: a daemonless, docker-compatible CLI over bay-engine. One file per group of verbs;
//! this file holds the argument structs and maps errors to docker's messages and exit codes.

mod cmd_archive;
mod cmd_build;
mod cmd_container;
mod cmd_container_io;
mod cmd_container_list;
mod cmd_images;
mod cmd_info;
mod cmd_network;
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
    /// OCI runtime binary (default: berth next to bay, else berth or runc on PATH)
    #[arg(long, global = true, env = "BAY_RUNTIME")]
    runtime: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create and run a new container from an image
    Run(CreateArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(OneArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCmd),
    /// Runs a container's monitor (internal)
    #[command(name = "container-monitor", hide = true)]
    ContainerMonitor(MonitorArgs),
    /// List images
    Images(ImagesArgs),
    /// Build an image from a Dockerfile
    Build(cmd_build::BuildArgs),
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
    /// Display system-wide information
    Info(cmd_info::InfoArgs),
    /// Show the bay version information
    Version(cmd_info::VersionArgs),
    /// Manage networks
    #[command(subcommand)]
    Network(cmd_network::NetworkCmd),
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
enum ContainerCmd {
    Run(CreateArgs),
    Create(CreateArgs),
    Start(StartArgs),
    Stop(StopArgs),
    Restart(StopArgs),
    Kill(KillArgs),
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    #[command(visible_aliases = ["list", "ps"])]
    Ls(PsArgs),
    Logs(LogsArgs),
    Wait(NamesArgs),
    Exec(ExecArgs),
    Pause(NamesArgs),
    Unpause(NamesArgs),
    Attach(AttachArgs),
    Top(TopArgs),
    Port(PortArgs),
    Diff(OneArgs),
    Export(ExportArgs),
    Rename(RenameArgs),
    Commit(CommitArgs),
    Cp(CpArgs),
    Inspect(ContainerInspectArgs),
    Prune(PruneCArgs),
}

#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Print help (-h is --hostname, as in docker)
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Run container in background and print container ID
    #[arg(short, long)]
    detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Set environment variables
    #[arg(short, long)]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Set meta data on a container
    #[arg(short, long)]
    label: Vec<String>,
    /// Bind mount a volume
    #[arg(short, long)]
    volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long)]
    mount: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Connect a container to a network (bridge, host, none, container:NAME or a network name)
    #[arg(long, alias = "net")]
    network: Option<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    ip: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long)]
    network_alias: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    dns: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long)]
    add_host: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short, long)]
    publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long)]
    publish_all: bool,
    /// Give extended privileges to this container
    #[arg(long)]
    privileged: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    read_only: bool,
    /// Add Linux capabilities
    #[arg(long)]
    cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    cap_drop: Vec<String>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    restart: Option<String>,
    /// Run an init inside the container
    #[arg(long)]
    init: bool,
    /// Signal to stop the container
    #[arg(long)]
    stop_signal: Option<String>,
    /// Security options (seccomp=unconfined, no-new-privileges)
    #[arg(long)]
    security_opt: Vec<String>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE"
    )]
    argv: Vec<String>,
}

#[derive(Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    interactive: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        allow_negative_numbers = true
    )]
    time: Option<i64>,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    /// Remove the specified link
    #[arg(short, long)]
    link: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    latest: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long)]
    last: Option<i64>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Format output using a Go template
    #[arg(long)]
    format: Option<String>,
}

#[derive(Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long)]
    tail: Option<String>,
    /// Show logs since timestamp or relative (e.g. 42m)
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp or relative (e.g. 42m)
    #[arg(long)]
    until: Option<String>,
    /// Show extra details provided to logs (bay's json-file logs carry none)
    #[arg(long)]
    details: bool,
    container: String,
}

#[derive(Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Set environment variables
    #[arg(short, long)]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// CONTAINER COMMAND [ARG...]
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, allow_hyphen_values = true, value_name = "CONTAINER")]
    argv: Vec<String>,
}

#[derive(Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long)]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long, default_value_t = true)]
    sig_proxy: bool,
    container: String,
}

#[derive(Args)]
pub struct TopArgs {
    container: String,
    /// ps(1) options (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

#[derive(Args)]
pub struct PortArgs {
    container: String,
    /// PRIVATE_PORT[/PROTO]
    port: Option<String>,
}

#[derive(Args)]
pub struct OneArgs {
    container: String,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    container: String,
}

#[derive(Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information; bay always does)
    #[arg(short, long)]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    follow_link: bool,
    /// CONTAINER:SRC_PATH, SRC_PATH or -
    src: String,
    /// CONTAINER:DEST_PATH, DEST_PATH or -
    dest: String,
}

#[derive(Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    author: Option<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    change: Vec<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pause: bool,
    container: String,
    /// REPOSITORY[:TAG]
    reference: Option<String>,
}

#[derive(Args)]
pub struct RenameArgs {
    container: String,
    new_name: String,
}

#[derive(Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct ContainerInspectArgs {
    /// Format output using a Go template
    #[arg(short, long)]
    format: Option<String>,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Args)]
pub struct PruneCArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    filter: Vec<String>,
}

#[derive(Args)]
pub struct MonitorArgs {
    /// Pass stdin to the container
    #[arg(long)]
    stdin: bool,
    /// Copy the container's output to stdout/stderr
    #[arg(long)]
    attach: bool,
    id: String,
}

#[derive(Subcommand)]
enum SystemCmd {
    /// Show bay disk usage
    Df(DfArgs),
    /// Display system-wide information
    Info(cmd_info::InfoArgs),
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
            if let Some(ce) = e.downcast_ref::<bay_engine::container::ContainerError>() {
                eprintln!("Error response from daemon: {ce}");
                return ExitCode::from(1);
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
    // The monitor runs from `/`: it gets absolute paths.
    let root = std::path::absolute(&cli.root)?;
    let runtime = cli.runtime.as_ref().map(std::path::absolute).transpose()?;
    let mut monitor = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        monitor.push(exe.into_os_string());
        monitor.push("--root".into());
        monitor.push(root.clone().into_os_string());
        if let Some(rt) = &runtime {
            monitor.push("--runtime".into());
            monitor.push(rt.clone().into_os_string());
        }
        monitor.push("container-monitor".into());
    }
    Ok(Engine::open(Options {
        root: Some(root),
        registries_config: cli.registries_config.clone(),
        client_config_dir: cli.config.clone(),
        runtime,
        monitor,
    })?)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let engine = open(&cli)?;
    match cli.cmd {
        Command::Images(a) | Command::Image(ImageCmd::Ls(a)) => cmd_images::images(&engine, a),
        Command::Build(a) => cmd_build::build(&engine, a),
        Command::Tag(a) | Command::Image(ImageCmd::Tag(a)) => cmd_images::tag(&engine, a),
        Command::Rmi(a) | Command::Image(ImageCmd::Rm(a)) => cmd_images::rmi(&engine, a),
        Command::Inspect(a) => cmd_container_list::inspect(&engine, a),
        Command::Run(a) | Command::Container(ContainerCmd::Run(a)) => {
            cmd_container::run(&engine, a)
        }
        Command::Create(a) | Command::Container(ContainerCmd::Create(a)) => {
            cmd_container::create_cmd(&engine, a)
        }
        Command::Start(a) | Command::Container(ContainerCmd::Start(a)) => {
            cmd_container::start(&engine, a)
        }
        Command::Stop(a) | Command::Container(ContainerCmd::Stop(a)) => {
            cmd_container::stop(&engine, a)
        }
        Command::Restart(a) | Command::Container(ContainerCmd::Restart(a)) => {
            cmd_container::restart(&engine, a)
        }
        Command::Kill(a) | Command::Container(ContainerCmd::Kill(a)) => {
            cmd_container::kill(&engine, a)
        }
        Command::Rm(a) | Command::Container(ContainerCmd::Rm(a)) => cmd_container::rm(&engine, a),
        Command::Ps(a) | Command::Container(ContainerCmd::Ls(a)) => {
            cmd_container_list::ps(&engine, a)
        }
        Command::Logs(a) | Command::Container(ContainerCmd::Logs(a)) => {
            cmd_container_io::logs(&engine, a)
        }
        Command::Wait(a) | Command::Container(ContainerCmd::Wait(a)) => {
            cmd_container::wait(&engine, a)
        }
        Command::Container(ContainerCmd::Inspect(a)) => cmd_container_list::inspect(
            &engine,
            InspectArgs {
                format: a.format,
                kind: Some("container".into()),
                size: a.size,
                names: a.names,
            },
        ),
        Command::Container(ContainerCmd::Prune(a)) => cmd_container_list::prune(&engine, a),
        Command::Exec(a) | Command::Container(ContainerCmd::Exec(a)) => {
            cmd_container_io::exec(&engine, a)
        }
        Command::Pause(a) | Command::Container(ContainerCmd::Pause(a)) => {
            cmd_container::pause(&engine, a, true)
        }
        Command::Unpause(a) | Command::Container(ContainerCmd::Unpause(a)) => {
            cmd_container::pause(&engine, a, false)
        }
        Command::Attach(a) | Command::Container(ContainerCmd::Attach(a)) => {
            cmd_container_io::attach(&engine, a)
        }
        Command::Top(a) | Command::Container(ContainerCmd::Top(a)) => {
            cmd_container_io::top(&engine, a)
        }
        Command::Port(a) | Command::Container(ContainerCmd::Port(a)) => {
            cmd_container_io::port(&engine, a)
        }
        Command::Diff(a) | Command::Container(ContainerCmd::Diff(a)) => {
            cmd_container_io::diff(&engine, a)
        }
        Command::Export(a) | Command::Container(ContainerCmd::Export(a)) => {
            cmd_container_io::export(&engine, a)
        }
        Command::Rename(a) | Command::Container(ContainerCmd::Rename(a)) => {
            cmd_container::rename(&engine, a)
        }
        Command::Commit(a) | Command::Container(ContainerCmd::Commit(a)) => {
            cmd_container_io::commit(&engine, a)
        }
        Command::Cp(a) | Command::Container(ContainerCmd::Cp(a)) => {
            cmd_container_io::cp(&engine, a)
        }
        Command::ContainerMonitor(a) => cmd_container::monitor(&engine, a),
        Command::Network(c) => cmd_network::run(&engine, c),
        Command::Image(ImageCmd::Inspect(a)) => cmd_images::image_inspect(&engine, a),
        Command::History(a) | Command::Image(ImageCmd::History(a)) => {
            cmd_images::history(&engine, a)
        }
        Command::Image(ImageCmd::Prune(a)) => cmd_images::prune(&engine, a),
        Command::System(SystemCmd::Df(a)) => cmd_images::df(&engine, a),
        Command::Info(a) | Command::System(SystemCmd::Info(a)) => cmd_info::info(&engine, a),
        Command::Version(a) => cmd_info::version(&engine, a),
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
