//! The build driver: stages, steps, the step cache, commits and docker's classic output.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::context::{self, Context};
use super::copy::{self, Owner};
use super::dockerfile::{self, Args, Instruction};
use super::run::{self, RunSpec};
use super::shell::Lexer;
use super::work::{self, Work};
use super::{BuildError, Prepared};
use crate::digest::Digest;
use crate::engine::Engine;
use crate::oci::{self, ContainerConfig, History, ImageConfig};
use crate::reference::Reference;
use crate::registry::Progress;
use crate::store::TempPath;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Build arguments docker lets through without an ARG, kept out of the image history.
const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

#[derive(Default)]
pub struct BuildOptions {
    pub tags: Vec<String>,
    /// `--build-arg` values (the CLI resolves `NAME` alone from its environment).
    pub build_args: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    /// `host` (also the default) or `none`.
    pub network: String,
    pub quiet: bool,
}

pub(crate) fn errno_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    // "No such file or directory (os error 2)" -> "no such file or directory", as Go prints.
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

fn random_id() -> String {
    let mut b = [0u8; 32];
    // SAFETY: the buffer is valid for writes of its length.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != 32 {
        let (s, ns) = crate::timefmt::now();
        b = Sha256::digest(format!("{s}{ns}{}", std::process::id()).as_bytes()).into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Go's `%q` of a string list, as docker writes CMD in history: `["a" "b"]`.
fn go_list(v: &[String]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", items.join(" "))
}

/// One stage's state while it builds.
#[derive(Clone)]
struct Stage {
    name: Option<String>,
    image: Option<Digest>,
    config: ImageConfig,
    /// Declared ARGs and their values.
    args: Vec<(String, Option<String>)>,
    cmd_set: bool,
}

impl Stage {
    fn cc(&mut self) -> &mut ContainerConfig {
        self.config
            .config
            .get_or_insert_with(ContainerConfig::default)
    }

    fn cfg(&self) -> ContainerConfig {
        self.config.config.clone().unwrap_or_default()
    }

    fn layers(&self) -> Vec<Digest> {
        self.config
            .rootfs
            .diff_ids
            .iter()
            .filter_map(|d| Digest::parse(d).ok())
            .collect()
    }

    fn env_get(&self, k: &str) -> Option<String> {
        self.cfg().env.unwrap_or_default().iter().find_map(|e| {
            e.split_once('=')
                .filter(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    fn shell(&self) -> Vec<String> {
        self.cfg()
            .shell
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }
}

struct Builder<'a> {
    engine: &'a Engine,
    opts: &'a BuildOptions,
    ctx: Context,
    out: &'a mut dyn Write,
    progress: &'a dyn Progress,
    escape: char,
    meta_args: Vec<(String, Option<String>)>,
    used_args: std::collections::HashSet<String>,
    stages: Vec<Stage>,
    step: usize,
    total: usize,
}

impl Engine {
    /// Runs the build; returns the final image ID. `out` gets docker's classic builder output
    /// (the CLI passes a sink with `-q`).
    pub fn build(
        &self,
        prep: &Prepared,
        opts: &BuildOptions,
        out: &mut dyn Write,
        progress: &dyn Progress,
    ) -> Result<Digest, BuildError> {
        work::clean_stale(self);
        let tags = opts
            .tags
            .iter()
            .map(|t| {
                Reference::parse_tagged(t).map_err(|_| {
                    BuildError::Invalid(format!(
                        "invalid argument {t:?} for \"-t, --tag\" flag: invalid reference format"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !matches!(opts.network.as_str(), "" | "default" | "host" | "none") {
            return Err(BuildError::Invalid(format!(
                "network mode {:?} is not supported by bay build: use host or none",
                opts.network
            )));
        }
        let df = dockerfile::parse(&prep.dockerfile)?;
        if df.instructions.is_empty() {
            return Err(BuildError::Invalid("the Dockerfile cannot be empty".into()));
        }
        // Meta ARGs before the first FROM, then stages.
        let mut meta = Vec::new();
        let mut stages: Vec<(Instruction, Vec<Instruction>)> = Vec::new();
        for ins in df.instructions {
            if ins.cmd == "FROM" {
                stages.push((ins, Vec::new()));
            } else if let Some(s) = stages.last_mut() {
                s.1.push(ins);
            } else if ins.cmd == "ARG" {
                meta.push(ins);
            } else {
                return Err(BuildError::Parse(format!(
                    "dockerfile parse error on line {}: no build stage in current context",
                    ins.line
                )));
            }
        }
        if stages.is_empty() {
            return Err(BuildError::Parse(
                "failed to parse Dockerfile: no build stage in current context".into(),
            ));
        }
        let stage_name = |ins: &Instruction| -> Option<String> {
            let Args::Shell(s) = &ins.args else {
                return None;
            };
            let w: Vec<&str> = s.split_whitespace().collect();
            (w.len() == 3 && w[1].eq_ignore_ascii_case("as")).then(|| w[2].to_lowercase())
        };
        let last = match &opts.target {
            Some(t) => stages
                .iter()
                .position(|(f, _)| stage_name(f).as_deref() == Some(&t.to_lowercase()))
                .ok_or_else(|| {
                    BuildError::Invalid(format!("failed to reach build target {t} in Dockerfile"))
                })?,
            None => stages.len() - 1,
        };
        stages.truncate(last + 1);
        if !opts.labels.is_empty() {
            let rest = opts
                .labels
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        serde_json::to_string(k).unwrap_or_default(),
                        serde_json::to_string(v).unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join(" ");
            let line = stages.last().map(|s| s.0.line).unwrap_or(1);
            if let Some(s) = stages.last_mut() {
                s.1.push(Instruction {
                    line,
                    cmd: "LABEL".into(),
                    flags: Vec::new(),
                    args: Args::Shell(rest.clone()),
                    original: format!("LABEL {rest}"),
                    rest,
                });
            }
        }
        let total = stages.iter().map(|s| 1 + s.1.len()).sum();
        let mut b = Builder {
            engine: self,
            opts,
            ctx: Context::open(&prep.dir)?,
            out,
            progress,
            escape: df.escape,
            meta_args: Vec::new(),
            used_args: Default::default(),
            stages: Vec::new(),
            step: 0,
            total,
        };
        for m in &meta {
            b.declare_args(m, true)?;
        }
        for (from, body) in &stages {
            b.from(from, stage_name(from))?;
            for ins in body {
                b.step += 1;
                b.say(&format!("Step {}/{} : {}", b.step, b.total, ins.display()));
                b.dispatch(ins)?;
            }
        }
        let fin = b
            .stages
            .last()
            .cloned()
            .ok_or_else(|| BuildError::Io("no stage".into()))?;
        let id = match fin.image {
            Some(id) => id,
            None => b.commit(&mut fin.clone(), "", None)?,
        };
        let unused: Vec<String> = opts
            .build_args
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !b.used_args.contains(k) && !PROXY_ARGS.contains(&k.as_str()))
            .collect();
        if !unused.is_empty() {
            b.say(&format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            ));
        }
        b.say(&format!("Successfully built {}", &id.hex()[..12]));
        for t in &tags {
            self.store.db.tx(|q| q.set_tag(&t.to_string(), &id))?;
            b.say(&format!("Successfully tagged {}", t.familiar()));
        }
        self.write_oci_index();
        Ok(id)
    }
}

impl Builder<'_> {
    fn say(&mut self, s: &str) {
        let _ = writeln!(self.out, "{s}");
        let _ = self.out.flush();
    }

    fn cur(&mut self) -> &mut Stage {
        self.stages.last_mut().expect("a stage is being built")
    }

    /// Variables visible to substitution: declared ARGs, overridden by ENV.
    fn lookup(&self, k: &str) -> Option<String> {
        let st = self.stages.last()?;
        if let Some(v) = st.env_get(k) {
            return Some(v);
        }
        st.args
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.clone())
    }

    fn words(&self, s: &str) -> Result<Vec<String>, BuildError> {
        let f = |k: &str| self.lookup(k);
        Lexer {
            escape: self.escape,
            lookup: &f,
        }
        .words(s)
    }

    fn word(&self, s: &str) -> Result<String, BuildError> {
        let f = |k: &str| self.lookup(k);
        Lexer {
            escape: self.escape,
            lookup: &f,
        }
        .word(s)
    }

    fn build_arg(&self, k: &str) -> Option<String> {
        self.opts
            .build_args
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    }

    /// `ARG a=b c`: declares in the meta scope (before FROM) or the current stage.
    fn declare_args(&mut self, ins: &Instruction, meta: bool) -> Result<String, BuildError> {
        let Args::Shell(s) = &ins.args else {
            return Err(BuildError::Invalid(
                "ARG requires at least one argument".into(),
            ));
        };
        let mut shown = Vec::new();
        let raw = split_raw(s, self.escape);
        if raw.is_empty() {
            return Err(BuildError::Invalid(
                "ARG requires at least one argument".into(),
            ));
        }
        for w in raw {
            let (name, default) = match w.split_once('=') {
                Some((n, v)) => {
                    let v = if meta {
                        let f = |k: &str| {
                            self.meta_args
                                .iter()
                                .rev()
                                .find(|(n, _)| n == k)
                                .and_then(|(_, v)| v.clone())
                        };
                        Lexer {
                            escape: self.escape,
                            lookup: &f,
                        }
                        .word(v)?
                    } else {
                        self.word(v)?
                    };
                    (n.to_string(), Some(v))
                }
                None => (w.clone(), None),
            };
            let inherited = if meta {
                None
            } else {
                self.meta_args
                    .iter()
                    .rev()
                    .find(|(n, _)| *n == name)
                    .and_then(|(_, v)| v.clone())
            };
            let value = self.build_arg(&name).or(default.clone()).or(inherited);
            if self.build_arg(&name).is_some() {
                self.used_args.insert(name.clone());
            }
            shown.push(match &default {
                Some(d) => format!("{name}={d}"),
                None => name.clone(),
            });
            if meta {
                self.meta_args.push((name, value));
            } else {
                self.cur().args.push((name, value));
            }
        }
        Ok(shown.join(" "))
    }

    fn from(&mut self, ins: &Instruction, name: Option<String>) -> Result<(), BuildError> {
        self.step += 1;
        self.say(&format!(
            "Step {}/{} : {}",
            self.step,
            self.total,
            ins.display()
        ));
        if let Some(p) = ins.flag("platform") {
            let want = oci::parse_platform(p);
            let host = oci::host_platform();
            if !want.is_some_and(|w| {
                oci::platform_matches(&host, &w) || oci::platform_matches(&w, &host)
            }) {
                return Err(BuildError::Invalid(format!(
                    "FROM --platform={p}: only the host platform ({}) can be built",
                    oci::platform_string(&host)
                )));
            }
        }
        let Args::Shell(s) = &ins.args else {
            return Err(BuildError::Invalid(
                "FROM requires either one or three arguments".into(),
            ));
        };
        let w: Vec<&str> = s.split_whitespace().collect();
        if !(w.len() == 1 || (w.len() == 3 && w[1].eq_ignore_ascii_case("as"))) {
            return Err(BuildError::Invalid(
                "FROM requires either one or three arguments".into(),
            ));
        }
        let f = |k: &str| {
            self.meta_args
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .and_then(|(_, v)| v.clone())
        };
        let image = Lexer {
            escape: self.escape,
            lookup: &f,
        }
        .word(w[0])?;
        let mut stage = Stage {
            name,
            image: None,
            config: ImageConfig::default(),
            args: Vec::new(),
            cmd_set: false,
        };
        if image.eq_ignore_ascii_case("scratch") {
            let p = oci::host_platform();
            stage.config.architecture = p.architecture;
            stage.config.os = p.os;
            stage.config.rootfs.kind = "layers".into();
        } else if let Some(prev) = self
            .stages
            .iter()
            .find(|s| s.name.as_deref() == Some(image.to_lowercase().as_str()))
        {
            stage.image = prev.image.clone();
            stage.config = prev.config.clone();
        } else {
            let id = self.base_image(&image)?;
            stage.config = self.engine.config(&id)?;
            stage.image = Some(id);
        }
        if stage.env_get("PATH").is_none() {
            let env = stage.cc().env.get_or_insert_with(Vec::new);
            env.push(format!("PATH={DEFAULT_PATH}"));
        }
        let triggers = stage.cc().on_build.take().unwrap_or_default();
        // docker prints the base's ID (empty for scratch) unless triggers follow.
        if triggers.is_empty() {
            let short = stage
                .image
                .as_ref()
                .map(|id| id.hex()[..12].to_string())
                .unwrap_or_default();
            self.say(&format!(" ---> {short}"));
        }
        self.stages.push(stage);
        if !triggers.is_empty() {
            let n = triggers.len();
            self.say(&format!(
                "# Executing {n} build trigger{}",
                if n == 1 { "" } else { "s" }
            ));
            for t in triggers {
                let parsed = dockerfile::parse(&t)?;
                for ins in parsed.instructions {
                    self.dispatch(&ins)?;
                }
            }
        }
        Ok(())
    }

    /// A FROM image: local unless `--pull` or missing, then pulled.
    fn base_image(&mut self, name: &str) -> Result<Digest, BuildError> {
        if !self.opts.pull {
            if let Ok(row) = self.engine.resolve(name) {
                return Ok(row.id);
            }
        }
        let opts = crate::registry::pull::PullOptions { platform: None };
        let res = self.engine.pull(name, &opts, self.progress)?;
        Ok(res.id)
    }

    fn dispatch(&mut self, ins: &Instruction) -> Result<(), BuildError> {
        match ins.cmd.as_str() {
            "RUN" => self.run(ins),
            "COPY" | "ADD" => self.copy(ins),
            "WORKDIR" => self.workdir(ins),
            "FROM" => Err(BuildError::Invalid(
                "FROM is not allowed as an ONBUILD trigger".into(),
            )),
            _ => self.meta(ins),
        }
    }

    /// Instructions that only change the config: apply, then reuse a cached image or commit.
    fn meta(&mut self, ins: &Instruction) -> Result<(), BuildError> {
        let rest = match &ins.args {
            Args::Shell(s) => s.clone(),
            Args::Json(_) => String::new(),
        };
        let created_by = match ins.cmd.as_str() {
            "ENV" => {
                let pairs = self.pairs(&rest, "ENV")?;
                let cc = self.cur().cc();
                let env = cc.env.get_or_insert_with(Vec::new);
                for (k, v) in &pairs {
                    env.retain(|e| e.split_once('=').map(|x| x.0).unwrap_or(e) != k);
                    env.push(format!("{k}={v}"));
                }
                let shown: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("ENV {}", shown.join(" "))
            }
            "LABEL" => {
                let pairs = self.pairs(&rest, "LABEL")?;
                let cc = self.cur().cc();
                let labels = cc.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in &pairs {
                    labels.insert(k.clone(), v.clone());
                }
                let shown: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("LABEL {}", shown.join(" "))
            }
            "MAINTAINER" => {
                let who = self.word(&rest)?;
                self.cur().config.author = Some(who.clone());
                format!("MAINTAINER {who}")
            }
            "EXPOSE" => {
                let ports = self.words(&rest)?;
                if ports.is_empty() {
                    return Err(BuildError::Invalid(
                        "EXPOSE requires at least one argument".into(),
                    ));
                }
                let mut shown = ports.clone();
                shown.sort();
                for p in ports {
                    let (port, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
                    if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit() || c == '-') {
                        return Err(BuildError::Invalid(format!(
                            "invalid containerPort: {port}"
                        )));
                    }
                    let key = format!("{port}/{}", proto.to_lowercase());
                    self.cur()
                        .cc()
                        .exposed_ports
                        .get_or_insert_with(BTreeMap::new)
                        .insert(key, json!({}));
                }
                format!("EXPOSE {}", shown.join(" "))
            }
            "VOLUME" => {
                let vols = match &ins.args {
                    Args::Json(v) => v
                        .iter()
                        .map(|x| self.word(x))
                        .collect::<Result<Vec<_>, _>>()?,
                    Args::Shell(s) => self.words(s)?,
                };
                if vols.is_empty() {
                    return Err(BuildError::Invalid(
                        "VOLUME requires at least one argument".into(),
                    ));
                }
                for v in &vols {
                    self.cur()
                        .cc()
                        .volumes
                        .get_or_insert_with(BTreeMap::new)
                        .insert(v.clone(), json!({}));
                }
                format!("VOLUME [{}]", vols.join(" "))
            }
            "USER" => {
                let u = self.word(&rest)?;
                if u.is_empty() {
                    return Err(BuildError::Invalid(
                        "USER requires exactly one argument".into(),
                    ));
                }
                self.cur().cc().user = u.clone();
                format!("USER {u}")
            }
            "CMD" | "ENTRYPOINT" => {
                let v = match &ins.args {
                    Args::Json(v) => v.clone(),
                    Args::Shell(s) => {
                        let mut sh = self.cur().shell();
                        sh.push(s.clone());
                        sh
                    }
                };
                let st = self.cur();
                if ins.cmd == "CMD" {
                    st.cc().cmd = Some(v.clone());
                    st.cmd_set = true;
                } else {
                    st.cc().entrypoint = Some(v.clone());
                    if !st.cmd_set {
                        st.cc().cmd = None;
                    }
                }
                format!("{} {}", ins.cmd, go_list(&v))
            }
            "SHELL" => {
                let Args::Json(v) = &ins.args else {
                    return Err(BuildError::Invalid(
                        "SHELL requires the arguments to be in JSON form".into(),
                    ));
                };
                if v.is_empty() {
                    return Err(BuildError::Invalid(
                        "SHELL requires at least one argument".into(),
                    ));
                }
                self.cur().cc().shell = Some(v.clone());
                format!("SHELL [{}]", v.join(" "))
            }
            "STOPSIGNAL" => {
                let s = self.word(&rest)?;
                crate::container::lifecycle::normalize_signal(&s)
                    .map_err(|_| BuildError::Invalid(format!("Invalid signal: {s}")))?;
                self.cur().cc().stop_signal = Some(s.clone());
                format!("STOPSIGNAL {s}")
            }
            "HEALTHCHECK" => {
                let hc = self.healthcheck(ins)?;
                self.cur().cc().healthcheck = Some(hc.clone());
                format!("HEALTHCHECK {}", ins.rest)
            }
            "ONBUILD" => {
                let (kw, _) = rest.split_once(char::is_whitespace).unwrap_or((&rest, ""));
                let kw = kw.to_uppercase();
                match kw.as_str() {
                    "ONBUILD" => {
                        return Err(BuildError::Invalid(
                            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into(),
                        ))
                    }
                    "FROM" | "MAINTAINER" => {
                        return Err(BuildError::Invalid(format!(
                            "{kw} isn't allowed as an ONBUILD trigger"
                        )))
                    }
                    k if !dockerfile::KNOWN.contains(&k) => {
                        return Err(BuildError::Parse(format!(
                            "dockerfile parse error on line {}: unknown instruction: {kw}",
                            ins.line
                        )))
                    }
                    _ => {}
                }
                let trigger = format!("{kw}{}", &rest[kw.len()..]);
                self.cur()
                    .cc()
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(trigger.clone());
                format!("ONBUILD {trigger}")
            }
            "ARG" => {
                let shown = self.declare_args(ins, false)?;
                format!("ARG {shown}")
            }
            other => {
                return Err(BuildError::Invalid(format!("unknown instruction: {other}")));
            }
        };
        self.finish_meta(&format!("/bin/sh -c #(nop)  {created_by}"))
    }

    fn finish_meta(&mut self, created_by: &str) -> Result<(), BuildError> {
        if self.try_cache(created_by)? {
            return Ok(());
        }
        let id = random_id();
        self.say(&format!(" ---> Running in {}", &id[..12]));
        self.say(&format!("Removing intermediate container {}", &id[..12]));
        let mut st = self.cur().clone();
        let img = self.commit(&mut st, created_by, None)?;
        *self.cur() = st;
        self.say(&format!(" ---> {}", &img.hex()[..12]));
        Ok(())
    }

    /// `KEY=VALUE ...` or the old `KEY VALUE` form (ENV, LABEL).
    fn pairs(&self, rest: &str, what: &str) -> Result<Vec<(String, String)>, BuildError> {
        let raw = split_raw(rest, self.escape);
        if raw.is_empty() {
            return Err(BuildError::Invalid(format!(
                "{what} requires at least one argument"
            )));
        }
        if !raw[0].contains('=') {
            if what == "LABEL" && raw.len() == 1 {
                return Err(BuildError::Invalid(
                    "LABEL requires at least one argument".into(),
                ));
            }
            let t = rest.trim_start();
            let k = &raw[0];
            let v = t[k.len()..].trim();
            if v.is_empty() {
                return Err(BuildError::Invalid(format!(
                    "{what} requires at least one argument"
                )));
            }
            return Ok(vec![(self.word(k)?, self.word(v)?)]);
        }
        let mut out = Vec::new();
        for w in raw {
            let (k, v) = w
                .split_once('=')
                .ok_or_else(|| BuildError::Invalid(format!("{what} names can not be blank")))?;
            let k = self.word(k)?;
            if k.is_empty() {
                return Err(BuildError::Invalid(format!(
                    "{what} names can not be blank"
                )));
            }
            out.push((k, self.word(v)?));
        }
        Ok(out)
    }

    fn healthcheck(&self, ins: &Instruction) -> Result<serde_json::Value, BuildError> {
        let body = dockerfile::split_flags(&ins.rest).1;
        let (kw, rest) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
        match kw.to_uppercase().as_str() {
            "NONE" => {
                if !rest.trim().is_empty() || !ins.flags.is_empty() {
                    return Err(BuildError::Invalid(
                        "HEALTHCHECK NONE takes no arguments".into(),
                    ));
                }
                Ok(json!({"Test": ["NONE"]}))
            }
            "CMD" => {
                let rest = rest.trim();
                let test: Vec<String> = match serde_json::from_str::<Vec<String>>(rest) {
                    Ok(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                    Err(_) => vec!["CMD-SHELL".into(), rest.to_string()],
                };
                let mut hc = json!({"Test": test});
                for (k, v) in &ins.flags {
                    let key = match k.as_str() {
                        "interval" => "Interval",
                        "timeout" => "Timeout",
                        "start-period" => "StartPeriod",
                        "start-interval" => "StartInterval",
                        "retries" => {
                            let n: i64 = v.parse().map_err(|_| {
                                BuildError::Invalid(format!("invalid --retries value {v:?}"))
                            })?;
                            hc["Retries"] = json!(n);
                            continue;
                        }
                        _ => return Err(BuildError::Invalid(format!("Unknown flag: {k}"))),
                    };
                    let ns = go_duration(v).ok_or_else(|| {
                        BuildError::Invalid(format!("time: invalid duration {v:?}"))
                    })?;
                    hc[key] = json!(ns);
                }
                Ok(hc)
            }
            _ => Err(BuildError::Invalid(format!(
                "Unknown type {kw:?} in HEALTHCHECK (try CMD)"
            ))),
        }
    }

    /// A cached step for the current image and this instruction: reuses it.
    fn try_cache(&mut self, created_by: &str) -> Result<bool, BuildError> {
        if self.opts.no_cache {
            return Ok(false);
        }
        let path = self.cache_path(created_by);
        let Ok(id) = fs::read_to_string(&path) else {
            return Ok(false);
        };
        let Ok(id) = Digest::parse(id.trim()) else {
            return Ok(false);
        };
        let present = self.engine.store.db.read(|q| q.image(&id))?.is_some();
        if !present {
            return Ok(false);
        }
        let config = self.engine.config(&id)?;
        let st = self.cur();
        st.config = config;
        st.image = Some(id.clone());
        if created_by.contains("#(nop)  CMD ") {
            st.cmd_set = true;
        }
        self.say(" ---> Using cache");
        self.say(&format!(" ---> {}", &id.hex()[..12]));
        Ok(true)
    }

    fn cache_path(&self, created_by: &str) -> PathBuf {
        let parent = self
            .stages
            .last()
            .and_then(|s| s.image.as_ref().map(|i| i.to_string()))
            .unwrap_or_default();
        let key = Sha256::digest(format!("{parent}\n{created_by}").as_bytes());
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        work::base(self.engine).join("cache").join(hex)
    }

    fn remember(&self, created_by: &str, id: &Digest) {
        let path = self.cache_path(created_by);
        if let Some(d) = path.parent() {
            let _ = fs::create_dir_all(d);
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if fs::write(&tmp, id.to_string()).is_ok() {
            let _ = fs::rename(&tmp, &path);
        }
    }

    /// Writes the image for `st` plus a history entry (and a layer); registers it untagged.
    fn commit(
        &mut self,
        st: &mut Stage,
        created_by: &str,
        layer: Option<&Work>,
    ) -> Result<Digest, BuildError> {
        let (s, ns) = crate::timefmt::now();
        let created = crate::timefmt::format_rfc3339(s, ns);
        let mut cfg = st.config.clone();
        let mut descs = Vec::new();
        for d in st.layers() {
            descs.push(self.layer_desc(&d)?);
        }
        if let Some(w) = layer {
            let tmp = TempPath::new(self.engine.store.blobs.tmp_dir(), "build-layer");
            {
                let f = fs::File::create(&tmp.path)
                    .map_err(|e| BuildError::Io(format!("creating layer file: {e}")))?;
                let gz = flate2::write::GzEncoder::new(
                    std::io::BufWriter::new(f),
                    flate2::Compression::fast(),
                );
                let mut gz = gz;
                w.diff_tar(&mut gz)?;
                gz.finish()
                    .and_then(|mut b| b.flush())
                    .map_err(|e| BuildError::Io(format!("writing layer: {e}")))?;
            }
            let f = fs::File::open(&tmp.path)
                .map_err(|e| BuildError::Io(format!("reading layer file: {e}")))?;
            let (blob, info) =
                self.engine
                    .store
                    .ingest_layer(f, None, oci::OCI_LAYER_GZIP, None, &|_| {})?;
            cfg.rootfs.diff_ids.push(info.diff_id.to_string());
            descs.push(crate::archive::desc_for(
                oci::OCI_LAYER_GZIP,
                &blob.digest,
                blob.size,
            ));
        }
        if cfg.rootfs.kind.is_empty() {
            cfg.rootfs.kind = "layers".into();
        }
        if !created_by.is_empty() {
            cfg.history.push(History {
                created: Some(created.clone()),
                created_by: Some(created_by.to_string()),
                author: None,
                comment: None,
                empty_layer: layer.is_none(),
            });
        }
        cfg.created = Some(created);
        if let Some(cc) = cfg.config.as_mut() {
            cc.image = st.image.as_ref().map(|i| i.to_string()).unwrap_or_default();
        }
        let bytes = serde_json::to_vec(&cfg).map_err(|e| BuildError::Io(e.to_string()))?;
        let manifest = self.engine.store_manifest(&bytes, descs)?;
        let id = self.engine.register(&bytes, Some(manifest))?;
        if let Some(parent) = &st.image {
            self.engine.store.db.tx(|q| q.set_parent(&id, parent))?;
        }
        if !created_by.is_empty() {
            self.remember(created_by, &id);
        }
        st.config = cfg;
        st.image = Some(id.clone());
        Ok(id)
    }

    fn layer_desc(&self, d: &Digest) -> Result<oci::Descriptor, BuildError> {
        let b = self
            .engine
            .store
            .db
            .read(|q| q.layer_blobs(d))?
            .into_iter()
            .find(|b| self.engine.store.blobs.exists(&b.digest))
            .ok_or_else(|| BuildError::Io(format!("no stored blob for layer {d}")))?;
        Ok(crate::archive::desc_for(&b.media_type, &b.digest, b.size))
    }

    fn workdir_of(&self) -> String {
        let w = self
            .stages
            .last()
            .map(|s| s.cfg().working_dir)
            .unwrap_or_default();
        if w.is_empty() {
            "/".into()
        } else {
            w
        }
    }

    fn workdir(&mut self, ins: &Instruction) -> Result<(), BuildError> {
        let Args::Shell(s) = &ins.args else {
            return Err(BuildError::Invalid(
                "WORKDIR requires exactly one argument".into(),
            ));
        };
        let w = self.word(s)?;
        if w.is_empty() {
            return Err(BuildError::Invalid(
                "WORKDIR requires exactly one argument".into(),
            ));
        }
        let path = if w.starts_with('/') {
            format!("/{}", context::clean_rel(&w))
        } else {
            format!(
                "/{}",
                context::clean_rel(&format!("{}/{w}", self.workdir_of()))
            )
        };
        self.cur().cc().working_dir = path.clone();
        let created_by = format!("/bin/sh -c #(nop) WORKDIR {path}");
        if self.try_cache(&created_by)? {
            return Ok(());
        }
        // The directory is created now, as docker does; a layer only when it was missing.
        let layers = self.cur().layers();
        let mut w = Work::mount(self.engine, &layers)?;
        copy::mkdir_all(&w.merged, &path)?;
        w.unmount();
        let changed = fs::read_dir(&w.upper)
            .map(|mut r| r.next().is_some())
            .unwrap_or(false);
        let id = random_id();
        self.say(&format!(" ---> Running in {}", &id[..12]));
        self.say(&format!("Removing intermediate container {}", &id[..12]));
        let mut st = self.cur().clone();
        let img = self.commit(&mut st, &created_by, changed.then_some(&w))?;
        *self.cur() = st;
        self.say(&format!(" ---> {}", &img.hex()[..12]));
        Ok(())
    }

    fn run(&mut self, ins: &Instruction) -> Result<(), BuildError> {
        let argv = match &ins.args {
            Args::Json(v) => v.clone(),
            Args::Shell(s) => {
                let mut sh = self.cur().shell();
                sh.push(s.clone());
                sh
            }
        };
        if argv.is_empty() {
            return Err(BuildError::Invalid(
                "RUN requires at least one argument".into(),
            ));
        }
        if let Some((k, _)) = ins.flags.first() {
            return Err(BuildError::Invalid(format!(
                "RUN --{k} is not supported by bay's builder"
            )));
        }
        // Build args in effect: declared ones not shadowed by ENV, plus proxies given.
        let st = self.cur().clone();
        let mut args_env: Vec<(String, String)> = Vec::new();
        for (k, v) in &st.args {
            if let Some(v) = v {
                if st.env_get(k).is_none() {
                    args_env.retain(|(n, _)| n != k);
                    args_env.push((k.clone(), v.clone()));
                }
            }
        }
        args_env.sort();
        let mut proxies = Vec::new();
        for p in PROXY_ARGS {
            if let Some(v) = self.build_arg(p) {
                if !args_env.iter().any(|(k, _)| k == p) {
                    proxies.push(format!("{p}={v}"));
                }
            }
        }
        let joined = argv.join(" ");
        let created_by = if args_env.is_empty() {
            joined.clone()
        } else {
            let kv: Vec<String> = args_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("|{} {} {joined}", kv.len(), kv.join(" "))
        };
        if self.try_cache(&created_by)? {
            return Ok(());
        }
        let id = random_id();
        self.say(&format!(" ---> Running in {}", &id[..12]));
        let layers = st.layers();
        let mut w = Work::mount(self.engine, &layers)?;
        let cwd = self.workdir_of();
        copy::mkdir_all(&w.merged, &cwd)?;
        let host_net = self.opts.network != "none";
        // Mountpoints the runtime will have to create: not part of the step's layer (docker
        // keeps them in its init layer).
        let missing: Vec<&str> = run::mountpoints(host_net)
            .into_iter()
            .filter(|f| fs::symlink_metadata(copy::resolve_in_root(&w.merged, f)).is_err())
            .collect();
        let etc_missing = fs::symlink_metadata(w.merged.join("etc")).is_err();
        let cc = st.cfg();
        let user = crate::container::user::resolve(&w.merged, &cc.user)?;
        let mut env = vec![
            format!("PATH={DEFAULT_PATH}"),
            format!("HOSTNAME={}", &id[..12]),
        ];
        let mut add = |kv: String| {
            let k = kv.split('=').next().unwrap_or("").to_string();
            env.retain(|e| e.split('=').next() != Some(k.as_str()));
            env.push(kv);
        };
        for (k, v) in &args_env {
            add(format!("{k}={v}"));
        }
        for p in proxies {
            add(p);
        }
        for e in cc.env.unwrap_or_default() {
            add(e);
        }
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            env.push(format!("HOME={}", user.home));
        }
        let bundle = w.dir.clone();
        let spec = RunSpec {
            id: &id,
            args: argv.clone(),
            env,
            cwd,
            user,
            host_network: host_net,
        };
        let code = run::run(self.engine, &bundle, &w.merged, &spec, self.out)?;
        w.unmount();
        if code != 0 {
            return Err(BuildError::RunFailed { cmd: joined, code });
        }
        // Empty mountpoints left by the runtime go; anything the step wrote stays.
        for f in &missing {
            let p = w.upper.join(f.trim_start_matches('/'));
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {
                    let _ = fs::remove_dir(&p);
                }
                Ok(m) if m.is_file() && m.len() == 0 => {
                    let _ = fs::remove_file(&p);
                }
                _ => {}
            }
        }
        // An /etc copied up only to hold those mountpoints is not the step's either
        // (remove_dir fails, as it should, when the step put files there).
        let etc = w.upper.join("etc");
        if missing.iter().any(|m| m.starts_with("/etc/")) && (etc_missing || !work::is_opaque(&etc))
        {
            let _ = fs::remove_dir(&etc);
        }
        self.say(&format!("Removing intermediate container {}", &id[..12]));
        let mut st = self.cur().clone();
        let img = self.commit(&mut st, &created_by, Some(&w))?;
        drop(w);
        *self.cur() = st;
        self.say(&format!(" ---> {}", &img.hex()[..12]));
        Ok(())
    }

    fn copy(&mut self, ins: &Instruction) -> Result<(), BuildError> {
        let what = ins.cmd.clone();
        let is_add = what == "ADD";
        for (k, _) in &ins.flags {
            let ok = matches!(k.as_str(), "chown" | "chmod" | "from") && (k != "from" || !is_add);
            if !ok {
                return Err(BuildError::Invalid(format!("Unknown flag: {k}")));
            }
        }
        let mut list = match &ins.args {
            Args::Json(v) => v
                .iter()
                .map(|x| self.word(x))
                .collect::<Result<Vec<_>, _>>()?,
            Args::Shell(s) => self.words(s)?,
        };
        if list.len() < 2 {
            return Err(BuildError::Invalid(format!(
                "{what} requires at least two arguments"
            )));
        }
        let dest_raw = list.pop().unwrap_or_default();
        let dest_is_dir = dest_raw.ends_with('/') || dest_raw == "." || dest_raw.ends_with("/.");
        let dest = if dest_raw.starts_with('/') {
            format!("/{}", context::clean_rel(&dest_raw))
        } else {
            format!(
                "/{}",
                context::clean_rel(&format!("{}/{dest_raw}", self.workdir_of()))
            )
        };
        let chmod = match ins.flag("chmod") {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .map_err(|_| BuildError::Invalid(format!("invalid chmod parameter {m:?}")))?,
            ),
            None => None,
        };
        // The source tree: the context, or another stage's / image's filesystem.
        let mut from_work = None;
        let (root, use_ignore) = match ins.flag("from") {
            Some(f) => {
                let f = self.word(f)?;
                let stage = match f.parse::<usize>() {
                    Ok(n) => self
                        .stages
                        .get(n)
                        .cloned()
                        .filter(|_| n + 1 < self.stages.len()),
                    Err(_) => self
                        .stages
                        .iter()
                        .rev()
                        .skip(1)
                        .find(|s| s.name.as_deref() == Some(f.to_lowercase().as_str()))
                        .cloned(),
                };
                let layers = match stage {
                    Some(s) => s.layers(),
                    None => {
                        let id = self.base_image(&f)?;
                        let cfg = self.engine.config(&id)?;
                        cfg.rootfs
                            .diff_ids
                            .iter()
                            .filter_map(|d| Digest::parse(d).ok())
                            .collect()
                    }
                };
                let w = Work::mount(self.engine, &layers)?;
                let m = w.merged.clone();
                from_work = Some(w);
                (m, false)
            }
            None => (self.ctx.dir.clone(), true),
        };
        // Expand sources (wildcards with Go's filepath.Match) to (abs path, relative name).
        let mut srcs: Vec<(PathBuf, String)> = Vec::new();
        // Downloads of ADD <url>: kept until the step is done; never extracted.
        let mut downloads: Vec<TempPath> = Vec::new();
        for s in &list {
            if is_add && (s.starts_with("http://") || s.starts_with("https://")) {
                let (tmp, name) = self.download(s)?;
                srcs.push((tmp.path.clone(), name));
                downloads.push(tmp);
                continue;
            }
            if s.starts_with("git@") {
                return Err(BuildError::Invalid(format!(
                    "{what} failed: git sources are not supported"
                )));
            }
            let rel = context::clean_rel(s);
            if rel == ".." || rel.starts_with("../") {
                return Err(BuildError::Invalid(format!(
                    "{what} failed: forbidden path outside the build context: {s} ()"
                )));
            }
            if context::has_glob(&rel) {
                let mut found = Vec::new();
                let mut skip: Option<String> = None;
                let mut visit = |r: &Path, m: &fs::Metadata| {
                    let rs = r.to_string_lossy().to_string();
                    if let Some(sk) = &skip {
                        if rs.starts_with(&format!("{sk}/")) {
                            return;
                        }
                    }
                    if context::go_match(&rel, &rs).unwrap_or(false) {
                        if m.is_dir() {
                            skip = Some(rs.clone());
                        }
                        found.push(rs);
                    }
                };
                if use_ignore {
                    self.ctx.walk(Path::new(""), &mut visit);
                } else {
                    let c = Context {
                        dir: root.clone(),
                        ignore: context::Ignore::empty(),
                    };
                    c.walk(Path::new(""), &mut visit);
                }
                for f in found {
                    srcs.push((root.join(&f), f));
                }
                continue;
            }
            // Symlinks in the source path are followed inside the tree only, never out of
            // the context onto the host.
            let abs = copy::resolve_in_root(&root, &format!("/{rel}"));
            let rel = match fs::metadata(&abs) {
                Ok(m) if m.is_dir() => abs
                    .strip_prefix(&root)
                    .map(|p| p.to_string_lossy().to_string())
                    .unwrap_or(rel),
                _ => rel,
            };
            let excluded = use_ignore && !rel.is_empty() && self.ctx.ignore.excluded(&rel);
            if excluded || fs::symlink_metadata(&abs).is_err() {
                let shown = if rel.is_empty() { "." } else { rel.as_str() };
                return Err(BuildError::Invalid(if use_ignore {
                    format!(
                        "{what} failed: file not found in build context or excluded by .dockerignore: stat {shown}: file does not exist"
                    )
                } else {
                    format!("{what} failed: stat {shown}: file does not exist")
                }));
            }
            srcs.push((abs, rel));
        }
        if srcs.is_empty() {
            return Err(BuildError::Invalid(format!(
                "{what} failed: no source files were specified"
            )));
        }
        if (srcs.len() > 1 || list.len() > 1) && !dest_is_dir {
            return Err(BuildError::Invalid(format!(
                "When using {what} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        // Cache key: the sources' content hash.
        let mut h = Sha256::new();
        for (abs, rel) in &srcs {
            self.hash_source(&mut h, abs, rel, use_ignore)?;
        }
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let kind = if srcs.len() > 1 {
            "multi"
        } else if fs::metadata(&srcs[0].0).is_ok_and(|m| m.is_dir()) {
            "dir"
        } else {
            "file"
        };
        let mut flags = String::new();
        // As docker: --chown shows (and keys the cache), --from is in the content hash.
        for (k, v) in &ins.flags {
            if k != "from" {
                flags.push_str(&format!("--{k}={v} "));
            }
        }
        let created_by = format!("/bin/sh -c #(nop) {what} {flags}{kind}:{hex} in {dest_raw} ");
        if self.try_cache(&created_by)? {
            return Ok(());
        }
        let layers = self.cur().layers();
        let mut w = Work::mount(self.engine, &layers)?;
        let owner = match ins.flag("chown") {
            Some(c) => copy::parse_chown(&w.merged, &self.word(c)?)?,
            None => Owner { uid: 0, gid: 0 },
        };
        let into_dir = dest_is_dir
            || fs::metadata(copy::resolve_in_root(&w.merged, &dest)).is_ok_and(|m| m.is_dir());
        for (abs, rel) in &srcs {
            let m = fs::metadata(abs).map_err(|e| BuildError::Io(format!("reading {rel}: {e}")))?;
            if use_ignore && m.is_dir() {
                // Context dirs copy their contents, honouring .dockerignore.
                let target = copy::mkdir_all(&w.merged, &dest)?;
                self.copy_ctx_dir(abs, rel, &target, owner, chmod)?;
                continue;
            }
            if m.is_dir() {
                let target = copy::mkdir_all(&w.merged, &dest)?;
                copy::copy_tree(abs, &target, owner, chmod)?;
                continue;
            }
            let downloaded = downloads.iter().any(|d| d.path == *abs);
            if is_add && use_ignore && !downloaded {
                if let Some(data) = archive_bytes(abs)? {
                    let target = copy::mkdir_all(&w.merged, &dest)?;
                    copy::extract_tar(&data[..], &target, ins.flag("chown").map(|_| owner))?;
                    continue;
                }
            }
            let target = if into_dir {
                let d = copy::mkdir_all(&w.merged, &dest)?;
                d.join(Path::new(rel).file_name().unwrap_or_default())
            } else {
                let parent = Path::new(&dest)
                    .parent()
                    .map(|p| p.to_string_lossy().to_string())
                    .unwrap_or_else(|| "/".into());
                let d = copy::mkdir_all(&w.merged, &parent)?;
                d.join(Path::new(&dest).file_name().unwrap_or_default())
            };
            copy::copy_tree(abs, &target, owner, chmod)?;
        }
        w.unmount();
        drop(from_work);
        let mut st = self.cur().clone();
        let img = self.commit(&mut st, &created_by, Some(&w))?;
        drop(w);
        *self.cur() = st;
        self.say(&format!(" ---> {}", &img.hex()[..12]));
        Ok(())
    }

    /// `ADD <url>`: fetches into a temp file (mode 0600, as docker); returns it and the name
    /// the file gets (the URL's last path segment).
    fn download(&self, url: &str) -> Result<(TempPath, String), BuildError> {
        let name = url
            .split(['?', '#'])
            .next()
            .unwrap_or(url)
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty() && !n.contains(':'))
            .unwrap_or("download")
            .to_string();
        let resp = match ureq::get(url).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                return Err(BuildError::Invalid(format!(
                    "ADD failed: failed to GET {url} with status {code} {}",
                    r.status_text()
                )))
            }
            Err(e) => {
                return Err(BuildError::Invalid(format!(
                    "ADD failed: Get \"{url}\": {}",
                    e.to_string().split(": ").last().unwrap_or_default()
                )))
            }
        };
        let tmp = TempPath::new(self.engine.store.blobs.tmp_dir(), "build-download");
        let mut f = fs::File::create(&tmp.path)
            .map_err(|e| BuildError::Io(format!("creating download file: {e}")))?;
        std::io::copy(&mut resp.into_reader(), &mut f)
            .map_err(|e| BuildError::Invalid(format!("ADD failed: reading {url}: {e}")))?;
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&tmp.path, fs::Permissions::from_mode(0o600))
            .map_err(|e| BuildError::Io(format!("download file: {e}")))?;
        Ok((tmp, name))
    }

    fn hash_source(
        &self,
        h: &mut Sha256,
        abs: &Path,
        rel: &str,
        use_ignore: bool,
    ) -> Result<(), BuildError> {
        if use_ignore && fs::metadata(abs).is_ok_and(|m| m.is_dir()) {
            let mut err = None;
            self.ctx.walk(Path::new(rel), &mut |r, _| {
                let rs = r.to_string_lossy().to_string();
                h.update(rs.as_bytes());
                if let Ok(m) = fs::symlink_metadata(self.ctx.dir.join(r)) {
                    if !m.is_dir() {
                        if let Err(e) = copy::hash_tree(h, &self.ctx.dir.join(r), &rs) {
                            err = Some(e);
                        }
                    } else {
                        use std::os::unix::fs::MetadataExt;
                        h.update(m.mode().to_le_bytes());
                    }
                }
            });
            return err.map_or(Ok(()), Err);
        }
        copy::hash_tree(h, abs, rel)
    }

    /// Copies a context directory's contents into `target`, skipping ignored entries.
    fn copy_ctx_dir(
        &self,
        abs: &Path,
        rel: &str,
        target: &Path,
        owner: Owner,
        chmod: Option<u32>,
    ) -> Result<(), BuildError> {
        let mut entries = Vec::new();
        self.ctx.walk(Path::new(rel), &mut |r, m| {
            entries.push((r.to_path_buf(), m.is_dir()));
        });
        let base = Path::new(rel);
        for (r, is_dir) in &entries {
            let sub = r.strip_prefix(base).unwrap_or(r);
            let dst = target.join(sub);
            let src = self.ctx.dir.join(r);
            if *is_dir {
                if fs::symlink_metadata(&dst).is_err() {
                    fs::create_dir(&dst)
                        .map_err(|e| BuildError::Io(format!("creating {}: {e}", dst.display())))?;
                }
            } else {
                copy::copy_tree(&src, &dst, owner, chmod)?;
            }
        }
        // Directory metadata after their contents (mtime).
        for (r, is_dir) in entries.iter().rev() {
            if *is_dir {
                let sub = r.strip_prefix(base).unwrap_or(r);
                copy_dir_meta(&self.ctx.dir.join(r), &target.join(sub), owner, chmod);
            }
        }
        let _ = abs;
        Ok(())
    }
}

fn copy_dir_meta(src: &Path, dst: &Path, owner: Owner, chmod: Option<u32>) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if let Ok(m) = fs::metadata(src) {
        let mode = chmod.unwrap_or(m.mode() & 0o7777);
        let _ = fs::set_permissions(dst, fs::Permissions::from_mode(mode));
        let _ = std::os::unix::fs::lchown(dst, Some(owner.uid), Some(owner.gid));
        let t = std::fs::FileTimes::new()
            .set_accessed(m.accessed().unwrap_or(std::time::SystemTime::UNIX_EPOCH))
            .set_modified(m.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH));
        if let Ok(f) = fs::File::open(dst) {
            let _ = f.set_times(t);
        }
    }
}

/// A local file ADD extracts: a tar, plain or gzip/bzip2/xz compressed.
fn archive_bytes(p: &Path) -> Result<Option<Vec<u8>>, BuildError> {
    let data = fs::read(p).map_err(|e| BuildError::Io(format!("reading {}: {e}", p.display())))?;
    let compressed = super::compression_magic(&data).is_some();
    if !compressed && !super::is_tar(&data) {
        return Ok(None);
    }
    match super::decompress_all(data) {
        Ok(d) if super::is_tar(&d) => Ok(Some(d)),
        _ => Ok(None),
    }
}

/// Splits at unquoted whitespace keeping quotes and escapes (docker's `parseNameVal` words).
fn split_raw(s: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == escape {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
            continue;
        }
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                cur.push(c);
            }
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                cur.push(c);
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Go's `time.ParseDuration` for the units HEALTHCHECK takes; nanoseconds.
fn go_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[u_end..];
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(go_duration("5s"), Some(5_000_000_000));
        assert_eq!(go_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(go_duration("x"), None);
    }

    #[test]
    fn raw_split_keeps_quotes() {
        assert_eq!(
            split_raw("a=\"b c\" d='e f'", '\\'),
            ["a=\"b c\"", "d='e f'"]
        );
    }
}
