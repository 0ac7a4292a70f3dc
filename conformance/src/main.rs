//! berth-conformance: an OCI runtime-spec conformance suite for any runc-compatible runtime.
//!
//! `berth-conformance --runtime /usr/sbin/runc` builds a bundle per case, drives the runtime
//! through create/start/state/kill/delete with `--root` in a temporary directory, checks the
//! runtime-level rules itself and the in-container ones through a static checker binary, and
//! ends with `N passed, M failed, K skipped`.

mod cases;
mod checker_build;
mod console;
mod host;
mod reap;
mod runtime;
mod spec;
mod tap;
mod watchdog;

use anyhow::{bail, Context, Result};
use cases::{Case, Ctx, Stop};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(about = "OCI runtime-spec conformance suite for runc-compatible runtimes")]
struct Args {
    /// The runtime binary under test (runc command line: --root, create, start, state, kill, delete).
    #[arg(long, env = "CONFORMANCE_RUNTIME")]
    runtime: Option<PathBuf>,
    /// Run only cases whose name contains one of these substrings.
    #[arg(long, short)]
    filter: Vec<String>,
    /// List the cases with the spec requirements they cover, and exit.
    #[arg(long)]
    list: bool,
    /// Run every case against a deliberately misbehaving wrapper of the runtime (sabotage.sh) and
    /// require each case to fail: proves no check passes vacuously. Needs jq.
    #[arg(long)]
    self_test: bool,
    /// A prebuilt static checker binary (default: built with cargo, statically linked).
    #[arg(long, env = "CONFORMANCE_CHECKER")]
    checker: Option<PathBuf>,
    /// Keep the work directory (bundles, outputs) for inspection.
    #[arg(long)]
    keep: bool,
    /// Print every case's spec reference too.
    #[arg(long, short)]
    verbose: bool,
}

const SABOTAGE: &str = include_str!("../sabotage.sh");

fn main() {
    match run() {
        Ok(failed) => std::process::exit(if failed { 1 } else { 0 }),
        Err(e) => {
            eprintln!("berth-conformance: {e:#}");
            std::process::exit(2);
        }
    }
}

fn selected(args: &Args) -> Vec<Case> {
    cases::all()
        .into_iter()
        .filter(|c| {
            args.filter.is_empty() || args.filter.iter().any(|f| c.name.contains(f.as_str()))
        })
        .collect()
}

fn run() -> Result<bool> {
    let args = Args::parse();
    let cases = selected(&args);
    if args.list {
        for c in &cases {
            println!("{:<50} {}", c.name, c.spec);
        }
        return Ok(false);
    }
    let Some(runtime) = args.runtime.clone() else {
        bail!("no runtime given: pass --runtime PATH (or set CONFORMANCE_RUNTIME)")
    };
    let runtime = std::fs::canonicalize(&runtime)
        .with_context(|| format!("runtime {}", runtime.display()))?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("must run as root: containers are created with real namespaces and cgroups");
    }
    if std::env::var("CONFORMANCE_CGROUP_FIX").as_deref() == Ok("1") && host::apply_cgroup_fix()? {
        eprintln!("note: moved hugetlb from cgroup2 to a v1 hierarchy (CONFORMANCE_CGROUP_FIX=1); this persists");
    }
    // Known values the runtime must pass through untouched: an unusual oom_score_adj (raising it
    // needs no privilege) and an environment variable hooks must not see.
    let _ = std::fs::write("/proc/self/oom_score_adj", "123");
    std::env::set_var("CONFORMANCE_LEAK", "1");
    reap::become_subreaper();

    let work = tempdir()?;
    let result = run_in(&args, &cases, &runtime, &work);
    if args.keep {
        eprintln!("work directory kept: {}", work.display());
    } else {
        remove_work(&work);
    }
    result
}

fn run_in(args: &Args, cases: &[Case], runtime: &Path, work: &Path) -> Result<bool> {
    let checker = match &args.checker {
        Some(c) => c.clone(),
        None => checker_build::build().context("building the static checker")?,
    };
    let base = work.join("base");
    build_rootfs(&base)?;
    let host = host::Host::probe();
    let root = work.join("root");
    std::fs::create_dir_all(&root)?;

    let mut rt = runtime::Runtime {
        path: runtime.to_path_buf(),
        root,
        env: Vec::new(),
    };
    if args.self_test {
        let wrapper = work.join("sabotage.sh");
        std::fs::write(&wrapper, SABOTAGE)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
        rt.path = wrapper;
    }
    println!("# runtime {} ({})", runtime.display(), version(runtime));
    if args.self_test {
        println!("# self-test: every case runs against a sabotaged runtime and must FAIL; PASS below means the sabotage was caught");
    }
    let base_rootfs = base.join("rootfs");
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let started = Instant::now();
    let pid = std::process::id();
    let refuses_host = probe_hybrid(&rt, &host, &base_rootfs, &checker, work, pid);
    if refuses_host {
        println!("# the runtime refuses this host's hybrid cgroup layout: cases that fail are reported as skipped");
    }
    let watchdog = watchdog::start();
    for (i, case) in cases.iter().enumerate() {
        watchdog.enter(case.name);
        if args.self_test {
            rt.env = case.sabotage.env();
            rt.env.push((
                "SABOTAGE_REAL".into(),
                runtime.to_string_lossy().into_owned(),
            ));
        }
        let dir = work.join(format!("case{i}"));
        std::fs::create_dir_all(&dir)?;
        let tag = format!("conf{pid}-{i}");
        let mut ctx = Ctx::new(&rt, &host, &base_rootfs, &checker, dir, tag);
        let t = Instant::now();
        let res = cases::run(case, &mut ctx);
        let ms = t.elapsed().as_millis();
        // A runtime that cannot create any container here cannot be judged by a failing case.
        let res = match res {
            Err(Stop::Fail(_)) if refuses_host => Err(Stop::Skip(cases::HYBRID_SKIP.into())),
            other => other,
        };
        let res = if args.self_test {
            match res {
                Ok(()) => Err(Stop::Fail(
                    "sabotage NOT caught: the case passed against a misbehaving runtime".into(),
                )),
                Err(Stop::Fail(why)) if cases::catches::caught(case.name, &why) => {
                    println!("#   caught: {}", why.chars().take(240).collect::<String>());
                    Ok(())
                }
                Err(Stop::Fail(why)) => Err(Stop::Fail(format!(
                    "sabotage caught by an unexpected failure (want one mentioning {:?}): {why}",
                    cases::catches::expected(case.name)
                ))),
                Err(s) => Err(s),
            }
        } else {
            res
        };
        match res {
            Ok(()) => {
                passed += 1;
                println!("PASS {} ({ms} ms)", case.name);
            }
            Err(Stop::Fail(why)) => {
                failed += 1;
                println!("FAIL {}: {why}", case.name);
            }
            Err(Stop::Skip(why)) => {
                skipped += 1;
                println!("SKIP {}: {why}", case.name);
            }
        }
        if args.verbose {
            println!("#   {}", case.spec);
        }
    }
    println!(
        "# {} cases in {:.1} s",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    Ok(failed > 0)
}

/// Creates one plain container to see whether the runtime refuses this host's cgroup layout
/// (crun on a hybrid v1/v2 host with controllers on cgroup2).
fn probe_hybrid(
    rt: &runtime::Runtime,
    host: &host::Host,
    base_rootfs: &Path,
    checker: &Path,
    work: &Path,
    pid: u32,
) -> bool {
    let dir = work.join("probe");
    if std::fs::create_dir_all(&dir).is_err() {
        return false;
    }
    let mut ctx = Ctx::new(
        rt,
        host,
        base_rootfs,
        checker,
        dir,
        format!("conf{pid}-probe"),
    );
    let refused = (|| -> Result<bool> {
        let b = ctx.bundle()?;
        ctx.write_config(&b, &spec::base())?;
        let id = ctx.id("p");
        ctx.create(&id, &b)?;
        Ok(ctx.hybrid_refused)
    })()
    .unwrap_or(false);
    ctx.cleanup();
    refused
}

fn version(runtime: &Path) -> String {
    std::process::Command::new(runtime)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(String::from))
        .unwrap_or_else(|| "version unknown".into())
}

fn tempdir() -> Result<PathBuf> {
    let base = std::env::temp_dir().join(format!("berth-conformance-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    Ok(base)
}

/// Removes the work directory; anything still mounted under it (a runtime that leaked a mount)
/// is detached first so nothing on the host is removed through it.
fn remove_work(work: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = work.to_string_lossy().to_string();
    let mut leaked: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    leaked.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in &leaked {
        let _ = std::process::Command::new("umount")
            .args(["-l", m])
            .status();
    }
    if leaked.is_empty() {
        let _ = std::fs::remove_dir_all(work);
    } else {
        eprintln!(
            "warning: leaked mounts under {} were detached; directory left in place",
            work.display()
        );
    }
}

/// Builds the busybox rootfs once per run with hack/rootfs.sh.
fn build_rootfs(dir: &Path) -> Result<()> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hack/rootfs.sh");
    let script = std::env::var_os("CONFORMANCE_ROOTFS_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or(script);
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg(dir)
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
