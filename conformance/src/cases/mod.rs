//! Test cases: what they are, how they run, and the verdicts they give.

pub mod catches;
pub mod config;
mod ctx;
pub mod hooks;
pub mod lifecycle;
pub mod linux;
mod sabotage;

pub use ctx::{Bundle, Ctx, Launched};
pub use sabotage::{
    fake_ok, jq, noop, post_create, post_delete, pre_start, reject_if, state_jq, Sabotage,
};

use crate::host::Host;
use serde_json::Value;
use std::path::PathBuf;

/// Why a case did not pass.
pub enum Stop {
    Fail(String),
    Skip(String),
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Stop {
        Stop::Fail(format!("{e:#}"))
    }
}

pub type Outcome = Result<(), Stop>;

/// Fails the case with a message unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::cases::Stop::Fail(format!($($fmt)+)));
        }
    };
}

pub fn fail<T>(msg: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Fail(msg.into()))
}

pub fn skip<T>(msg: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Skip(msg.into()))
}

/// How a case is run.
pub enum Kind {
    /// Builds a config from the base; the checker must report every check passed.
    Checker(fn(&mut Ctx, &mut Bundle, &mut Value)),
    /// Builds a config from the base that `create` must reject, leaving no container behind.
    Rejected(fn(&mut Ctx, &mut Bundle, &mut Value)),
    /// A scripted scenario.
    Scenario(fn(&mut Ctx) -> Outcome),
}

pub struct Case {
    pub name: &'static str,
    /// The spec requirement(s) covered, as `file.md#section: text`.
    pub spec: &'static str,
    /// A reason to skip on this host, if any.
    pub needs: fn(&Host) -> Option<String>,
    pub kind: Kind,
    pub sabotage: Sabotage,
}

pub fn always(_: &Host) -> Option<String> {
    None
}

pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(lifecycle::cases());
    v.extend(config::cases());
    v.extend(hooks::cases());
    v.extend(linux::cases());
    v
}

pub const HYBRID_SKIP: &str = "the runtime refuses this host's hybrid cgroup layout (hugetlb on cgroup2); CONFORMANCE_CGROUP_FIX=1 moves hugetlb to v1";

/// Runs one case to a verdict.
pub fn run(case: &Case, ctx: &mut Ctx) -> Outcome {
    if let Some(why) = (case.needs)(ctx.host) {
        return skip(why);
    }
    let res = match &case.kind {
        Kind::Scenario(f) => f(ctx),
        Kind::Checker(build) => (|| {
            let mut b = ctx.bundle()?;
            let mut cfg = crate::spec::base();
            build(ctx, &mut b, &mut cfg);
            // Bind markers are registered by the builder through files; pick them up.
            collect_markers(&mut b, &cfg);
            ctx.write_config(&b, &cfg)?;
            let l = ctx.launch(&b, "c")?;
            ctx.finish_checker(&l, &b)
        })(),
        Kind::Rejected(build) => (|| {
            let mut b = ctx.bundle()?;
            let mut cfg = crate::spec::base();
            build(ctx, &mut b, &mut cfg);
            collect_markers(&mut b, &cfg);
            ctx.write_config(&b, &cfg)?;
            let id = ctx.id("r");
            let o = ctx.create(&id, &b)?;
            ensure!(!o.ok, "create accepted the invalid config");
            let st = ctx.cmd(&["state", &id])?;
            ensure!(
                !st.ok,
                "a container is left behind after the failed create: {}",
                st.stdout.trim()
            );
            Ok(())
        })(),
    };
    ctx.cleanup();
    if ctx.hybrid_refused {
        return skip(HYBRID_SKIP);
    }
    res
}

/// Bind sources prepared by builders hold `.conformance-marker` files (or are marker files);
/// tell the checker what to expect at each destination.
fn collect_markers(b: &mut Bundle, cfg: &Value) {
    for m in cfg["mounts"].as_array().into_iter().flatten() {
        let (Some(src), Some(dest)) = (m["source"].as_str(), m["destination"].as_str()) else {
            continue;
        };
        let src = if src.starts_with('/') {
            PathBuf::from(src)
        } else {
            b.dir.join(src)
        };
        let file = if src.is_dir() {
            src.join(".conformance-marker")
        } else {
            src.clone()
        };
        if let Ok(t) = std::fs::read_to_string(&file) {
            if t.starts_with("marker-") {
                b.marker(dest, t.trim());
            }
        }
    }
}
