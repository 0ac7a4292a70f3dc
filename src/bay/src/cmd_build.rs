//! `build`: docker's classic builder CLI (`docker build` with `DOCKER_BUILDKIT=0`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use bay_engine::build::{BuildError, BuildOptions, Source};
use bay_engine::Engine;
use clap::Args;

use crate::progress::Printer;
use crate::units::human_size;
use crate::Exit;

#[derive(Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short, long)]
    tag: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile")
    #[arg(short, long)]
    file: Option<String>,
    /// Set build-time variables
    #[arg(long)]
    build_arg: Vec<String>,
    /// Set metadata for an image
    #[arg(long)]
    label: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    quiet: bool,
    /// Write the image ID to the file
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Remove intermediate containers after a successful build (always done)
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    rm: bool,
    /// Always remove intermediate containers (always done)
    #[arg(long)]
    force_rm: bool,
    /// Networking mode for the RUN instructions during build (host, none)
    #[arg(long, default_value = "default")]
    network: String,
    /// PATH | URL | -
    #[arg(value_name = "PATH | URL | -")]
    context: String,
}

fn fail(msg: impl std::fmt::Display) -> anyhow::Error {
    eprintln!("{msg}");
    Exit(1).into()
}

pub fn build(engine: &Engine, a: BuildArgs) -> Result<()> {
    let _ = (a.rm, a.force_rm);
    let c = &a.context;
    if c.contains("://") || c.starts_with("git@") || c.starts_with("github.com/") {
        return Err(fail(format!(
            "unable to prepare context: remote build contexts ({c}) are not supported yet: clone or download it and build from the directory"
        )));
    }
    let mut build_args = Vec::new();
    for b in &a.build_arg {
        match b.split_once('=') {
            Some((k, v)) => build_args.push((k.to_string(), v.to_string())),
            // `--build-arg NAME` takes the value from the environment, or is ignored.
            None => {
                if let Ok(v) = std::env::var(b) {
                    build_args.push((b.clone(), v));
                }
            }
        }
    }
    let labels = a
        .label
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    if c == "-" && a.file.as_deref() == Some("-") {
        return Err(fail(
            "invalid argument: can't use stdin for both build context and dockerfile",
        ));
    }
    let source = if c == "-" {
        Source::Stdin {
            reader: Box::new(std::io::stdin()),
            dockerfile: a.file.clone(),
        }
    } else {
        let dir = PathBuf::from(c);
        let dockerfile = a.file.as_ref().map(|f| {
            let p = Path::new(f);
            // docker's CLI: relative to the current directory, else to the context; `-` is
            // a Dockerfile on stdin with this context.
            if f == "-" {
                PathBuf::from("/dev/stdin")
            } else if p.is_absolute() || p.exists() {
                p.to_path_buf()
            } else {
                dir.join(p)
            }
        });
        Source::Dir { dir, dockerfile }
    };
    let prep = match engine.prepare_build(source) {
        Ok(p) => p,
        Err(e) => return Err(fail(e)),
    };
    let opts = BuildOptions {
        tags: a.tag.clone(),
        build_args,
        labels,
        target: a.target.clone(),
        no_cache: a.no_cache,
        pull: a.pull,
        network: a.network.clone(),
        quiet: a.quiet,
    };
    let mut stdout = std::io::stdout();
    let mut sink = std::io::sink();
    let out: &mut dyn Write = if a.quiet { &mut sink } else { &mut stdout };
    let _ = writeln!(
        out,
        "Sending build context to Docker daemon  {}\n",
        human_size(prep.size)
    );
    let printer = Printer::new(a.quiet);
    let id = match engine.build(&prep, &opts, out, &printer) {
        Ok(id) => id,
        Err(e) => {
            let _ = out.flush();
            return Err(match e {
                BuildError::Parse(m) => fail(format!("Error response from daemon: {m}")),
                BuildError::Engine(ref inner)
                    if matches!(
                        inner,
                        bay_engine::Error::NoSuchImage(_) | bay_engine::Error::Registry(_)
                    ) =>
                {
                    fail(format!("Error response from daemon: {inner}"))
                }
                other => fail(other),
            });
        }
    };
    if let Some(f) = &a.iidfile {
        std::fs::write(f, id.to_string())
            .map_err(|e| fail(format!("failed to write {}: {e}", f.display())))?;
    }
    if a.quiet {
        println!("{id}");
    }
    Ok(())
}
