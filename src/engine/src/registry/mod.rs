//! Registry client: OCI distribution API, auth, pull and push.

pub mod auth;
pub mod client;
pub mod config;
pub mod pull;
pub mod push;
pub mod search;

use std::io::Read;

use crate::engine::Engine;
use crate::error::{Error, Result};

/// What a layer (or the whole operation) is doing, in docker's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    PullingFsLayer,
    AlreadyExists,
    Waiting,
    Downloading,
    VerifyingChecksum,
    DownloadComplete,
    Extracting,
    PullComplete,
    Preparing,
    Pushing,
    Pushed,
    LayerAlreadyExists,
    MountedFrom(String),
}

impl Status {
    pub fn text(&self) -> String {
        match self {
            Status::PullingFsLayer => "Pulling fs layer".into(),
            Status::AlreadyExists => "Already exists".into(),
            Status::Waiting => "Waiting".into(),
            Status::Downloading => "Downloading".into(),
            Status::VerifyingChecksum => "Verifying Checksum".into(),
            Status::DownloadComplete => "Download complete".into(),
            Status::Extracting => "Extracting".into(),
            Status::PullComplete => "Pull complete".into(),
            Status::Preparing => "Preparing".into(),
            Status::Pushing => "Pushing".into(),
            Status::Pushed => "Pushed".into(),
            Status::LayerAlreadyExists => "Layer already exists".into(),
            Status::MountedFrom(r) => format!("Mounted from {r}"),
        }
    }

    /// Progress-bar updates docker shows only on a terminal.
    pub fn is_progress(&self) -> bool {
        matches!(
            self,
            Status::Downloading | Status::Extracting | Status::Pushing
        )
    }
}

/// Progress reports from pull and push; the CLI renders them. Called from worker threads.
pub trait Progress: Sync {
    /// A line without a layer, e.g. `latest: Pulling from library/busybox`.
    fn message(&self, line: &str);
    /// A layer's status; `current`/`total` in bytes for progress statuses.
    fn layer(&self, id: &str, status: Status, current: u64, total: u64);
}

/// A `Progress` that reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn message(&self, _: &str) {}
    fn layer(&self, _: &str, _: Status, _: u64, _: u64) {}
}

/// Opens an http(s) URL for `import URL`.
pub fn fetch_url(_engine: &Engine, url: &str) -> Result<Box<dyn Read + Send>> {
    let resp = ureq::get(url)
        .call()
        .map_err(|e| Error::Registry(format!("Get {url:?}: {e}")))?;
    Ok(Box::new(resp.into_reader()))
}

/// Runs `work` over `items` on up to `n` threads, returning the first error.
pub(crate) fn parallel<T: Sync, R: Send>(
    items: &[T],
    n: usize,
    work: impl Fn(usize, &T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let results: Vec<std::sync::Mutex<Option<Result<R>>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..n.max(1).min(items.len().max(1)) {
            s.spawn(|| loop {
                if failed.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = work(i, item);
                if r.is_err() {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                *results[i].lock().expect("result lock") = Some(r);
            });
        }
    });
    let mut out = Vec::with_capacity(items.len());
    let mut first_err = None;
    for r in results {
        match r.into_inner().expect("result lock") {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) if first_err.is_none() => first_err = Some(e),
            Some(Err(_)) => {}
            None => {}
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// `host[:port]` from what `login` accepts (`https://host/v1/`, `host`, nothing = Docker Hub).
pub fn login_host(server: Option<&str>) -> String {
    let s = server.unwrap_or("docker.io");
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s).to_string();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "" => "docker.io".into(),
        _ => host,
    }
}

impl Engine {
    /// Checks the credentials against the registry, then stores them docker-style.
    /// Returns the config file written.
    pub fn login(&self, host: &str, user: &str, pass: &str) -> Result<std::path::PathBuf> {
        let client =
            client::Client::connect(self, host, "", Vec::new())?.with_credentials(user, pass);
        client.check_login()?;
        auth::store(self.client_config_dir(), host, user, pass)
    }

    /// Forgets stored credentials; false when there were none.
    pub fn logout(&self, host: &str) -> Result<bool> {
        auth::erase(self.client_config_dir(), host)
    }
}
