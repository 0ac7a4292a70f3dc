//! The engine handle: one per `bay` invocation. Opening it opens the store; every operation
//! runs in-process (no daemon) and is safe against other `bay` processes on the same root.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::oci::ImageConfig;
use crate::reference::Reference;
use crate::registry::config::RegistriesConfig;
use crate::store::{ImageRow, Store};

/// Tags (with the time each was set) and digest references of one image.
pub type ImageRefs = (Vec<(Reference, i64)>, Vec<Reference>);

pub const DEFAULT_ROOT: &str = "/var/lib/bay";
pub const DEFAULT_REGISTRIES_CONFIG: &str = "/etc/bay/registries.json";

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Store root; `/var/lib/bay` when unset.
    pub root: Option<PathBuf>,
    /// Registries config file; `/etc/bay/registries.json` when unset (missing file = defaults).
    pub registries_config: Option<PathBuf>,
    /// Docker client config dir holding `config.json` (credentials); `~/.docker` when unset.
    pub client_config_dir: Option<PathBuf>,
    /// OCI runtime binary (berth, runc, crun); found next to the current executable or on
    /// PATH when unset.
    pub runtime: Option<PathBuf>,
    /// Program and leading arguments that run a container monitor; the container ID is
    /// appended. The `bay` binary passes itself with its hidden `container-monitor` verb.
    pub monitor: Vec<std::ffi::OsString>,
}

pub struct Engine {
    pub(crate) store: Store,
    pub(crate) registries: RegistriesConfig,
    pub(crate) client_config_dir: PathBuf,
    pub(crate) runtime: Option<PathBuf>,
    pub(crate) monitor: Vec<std::ffi::OsString>,
}

impl Engine {
    pub fn open(opts: Options) -> Result<Engine> {
        let root = opts.root.unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT));
        let store = Store::open(&root)?;
        let cfg_path = opts
            .registries_config
            .unwrap_or_else(|| PathBuf::from(DEFAULT_REGISTRIES_CONFIG));
        let registries = RegistriesConfig::load(&cfg_path)?;
        let client_config_dir = opts
            .client_config_dir
            .unwrap_or_else(default_client_config_dir);
        Ok(Engine {
            store,
            registries,
            client_config_dir,
            runtime: opts.runtime,
            monitor: opts.monitor,
        })
    }

    pub fn root(&self) -> &Path {
        &self.store.root
    }

    pub fn client_config_dir(&self) -> &Path {
        &self.client_config_dir
    }

    /// Finds an image by name (`busybox`, `busybox:1`, `repo@sha256:…`), full ID or unique ID prefix.
    pub fn resolve(&self, s: &str) -> Result<ImageRow> {
        let not_found = || match Reference::parse_tagged(s) {
            Ok(r) => Error::NoSuchImage(r.familiar()),
            Err(_) => Error::NoSuchImage(s.to_string()),
        };
        if let Some(hex) = s.strip_prefix("sha256:") {
            return self.by_prefix(hex)?.ok_or_else(not_found);
        }
        if let Ok(r) = Reference::parse_tagged(s) {
            let id = self.store.db.read(|q| match &r.digest {
                Some(d) => Ok(q
                    .repo_digests()?
                    .into_iter()
                    .find(|(repo, dg, _)| *repo == r.name() && dg == d)
                    .map(|x| x.2)),
                None => q.tag_target(&r.to_string()),
            })?;
            if let Some(id) = id {
                if let Some(row) = self.store.db.read(|q| q.image(&id))? {
                    return Ok(row);
                }
            }
        }
        self.by_prefix(s)?.ok_or_else(not_found)
    }

    fn by_prefix(&self, hex: &str) -> Result<Option<ImageRow>> {
        if hex.is_empty()
            || hex.len() > 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Ok(None);
        }
        let ids = self.store.db.read(|q| q.ids_with_prefix(hex))?;
        match ids.as_slice() {
            [] => Ok(None),
            [id] => self.store.db.read(|q| q.image(id)),
            _ => Err(Error::Conflict(format!(
                "multiple IDs found with provided prefix: {hex}"
            ))),
        }
    }

    pub fn config(&self, id: &Digest) -> Result<ImageConfig> {
        let bytes = self.store.blobs.read(id)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Archive(format!("image config {id}: {e}")))
    }

    /// Records an image whose config blob is stored and whose layers are unpacked.
    pub(crate) fn register(&self, config_bytes: &[u8], manifest: Option<Digest>) -> Result<Digest> {
        let config: ImageConfig = serde_json::from_slice(config_bytes)
            .map_err(|e| Error::Archive(format!("invalid image config: {e}")))?;
        let id = self.store.blobs.put(config_bytes, None)?;
        let layers = config
            .rootfs
            .diff_ids
            .iter()
            .map(|d| Digest::parse(d))
            .collect::<Result<Vec<_>>>()?;
        self.store.db.tx(|q| {
            let mut size = 0;
            for l in &layers {
                match q.layer(l)? {
                    Some((s, _)) => size += s,
                    None => {
                        return Err(Error::Archive(format!(
                            "layer {l} is not in the store (removed concurrently?)"
                        )))
                    }
                }
            }
            q.insert_image(&ImageRow {
                id: id.clone(),
                created: config.created.clone().unwrap_or_default(),
                size,
                manifest: manifest.clone(),
                layers: layers.clone(),
                added: crate::timefmt::now().0,
            })?;
            Ok(())
        })?;
        Ok(id)
    }

    /// Tags and digests pointing at each image.
    pub(crate) fn refs_by_image(&self) -> Result<HashMap<Digest, ImageRefs>> {
        let (tags, digests) = self.store.db.read(|q| Ok((q.tags()?, q.repo_digests()?)))?;
        let mut out: HashMap<Digest, ImageRefs> = HashMap::new();
        for (name, id, added) in tags {
            if let Ok(r) = Reference::parse(&name) {
                out.entry(id).or_default().0.push((r, added));
            }
        }
        for (repo, dg, id) in digests {
            if let Ok(r) = Reference::parse(&repo) {
                out.entry(id).or_default().1.push(r.with_digest(&dg));
            }
        }
        for v in out.values_mut() {
            v.0.sort_by_key(|a| a.0.to_string());
            v.1.sort_by_key(|r| r.to_string());
        }
        Ok(out)
    }

    /// The container (if any) that keeps an image from being removed: the short ID of the
    /// oldest container created from it.
    pub(crate) fn image_user(&self, id: &Digest) -> Option<String> {
        let users = self.store.db.read(|q| q.containers_using(id)).ok()?;
        users.first().map(|c| c[..12].to_string())
    }

    /// Like `image_user`, preferring a running container; true when it is running.
    pub(crate) fn image_user_state(&self, id: &Digest) -> Option<(String, bool)> {
        let users = self.store.db.read(|q| q.containers_using(id)).ok()?;
        let mut first = None;
        for c in users {
            let row = self.store.db.read(|q| q.container(&c)).ok()??;
            let up = matches!(row.state.as_str(), "running" | "paused");
            if up {
                return Some((c[..12].to_string(), true));
            }
            first.get_or_insert((c[..12].to_string(), false));
        }
        first
    }
}

fn default_client_config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".docker")
}
