//! `pull`: manifest (or index → platform manifest), config, then layers fetched in parallel,
//! each streamed through digest verification, blob storage and unpacking in one pass.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::client::{Body, Client, MANIFEST_ACCEPT};
use super::{parallel, Progress, Status};
use crate::archive::pick_platform;
use crate::digest::Digest;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::oci::{self, Descriptor, ImageConfig, Index, Manifest, Platform};
use crate::reference::Reference;

pub struct PullOptions {
    pub platform: Option<Platform>,
}

pub struct PullResult {
    pub id: Digest,
    /// Digest the registry knows the image by (the index's, for multi-platform images).
    pub digest: Digest,
    pub reference: Reference,
    /// False when the name already pointed at this image.
    pub changed: bool,
}

const MAX_MANIFEST: u64 = 4 << 20;

/// Fetches a manifest or index by tag or digest; returns (digest, media type, bytes).
pub(crate) fn fetch_manifest(
    client: &Client,
    reference: &str,
    r: &Reference,
) -> Result<(Digest, String, Vec<u8>)> {
    let resp = client
        .send(
            "GET",
            &format!("manifests/{reference}"),
            &[("Accept", MANIFEST_ACCEPT)],
            Body::Empty,
            &[200],
        )
        .map_err(|e| match e {
            Error::Registry(m)
                if m.starts_with("manifest unknown")
                    || m.starts_with("name unknown")
                    || m.starts_with("not found") =>
            {
                Error::Registry(format!("manifest for {} not found: {m}", r.familiar()))
            }
            other => other,
        })?;
    let ct = resp.header("content-type").unwrap_or_default();
    let bytes = resp.bytes(MAX_MANIFEST)?;
    let digest = Digest::of(&bytes);
    if let Ok(want) = Digest::parse(reference) {
        if want != digest {
            return Err(Error::DigestMismatch {
                what: "manifest".into(),
                expected: want.to_string(),
                actual: digest.to_string(),
            });
        }
    }
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Registry(format!("invalid manifest: {e}")))?;
    let media_type = v
        .get("mediaType")
        .and_then(|m| m.as_str())
        .map(String::from)
        .unwrap_or_else(|| {
            if v.get("manifests").is_some() {
                oci::OCI_INDEX.into()
            } else if ct.starts_with("application/") {
                ct.split(';').next().unwrap_or("").trim().to_string()
            } else {
                oci::OCI_MANIFEST.into()
            }
        });
    if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1) {
        return Err(Error::Registry(format!(
            "{}: Docker Image Format v1 and Docker Image manifest version 2, schema 1 are not supported",
            r.familiar()
        )));
    }
    Ok((digest, media_type, bytes))
}

fn fetch_blob_bytes(client: &Client, d: &Digest, limit: u64) -> Result<Vec<u8>> {
    let bytes = client
        .send("GET", &format!("blobs/{d}"), &[], Body::Empty, &[200])?
        .bytes(limit)?;
    let actual = Digest::of(&bytes);
    if &actual != d {
        return Err(Error::DigestMismatch {
            what: "blob".into(),
            expected: d.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(bytes)
}

impl Engine {
    /// Connects for a pull, trying mirrors first (docker.io's `registry-mirrors`).
    fn pull_client(&self, r: &Reference) -> Result<Client> {
        let scopes = vec![format!("repository:{}:pull", r.path)];
        for m in self.registries.mirrors(&r.domain) {
            if let Ok(c) = Client::connect_mirror(self, &r.domain, &m, &r.path, scopes.clone()) {
                if c.send(
                    "HEAD",
                    &format!("manifests/{}", r.manifest_ref()),
                    &[("Accept", MANIFEST_ACCEPT)],
                    Body::Empty,
                    &[200],
                )
                .is_ok()
                {
                    return Ok(c);
                }
            }
        }
        Client::connect(self, &r.domain, &r.path, scopes)
    }

    pub fn pull(
        &self,
        name: &str,
        opts: &PullOptions,
        progress: &dyn Progress,
    ) -> Result<PullResult> {
        let r = Reference::parse_tagged(name)?;
        let client = self.pull_client(&r)?;
        let want = opts.platform.clone().unwrap_or_else(oci::host_platform);
        let shown = r.tag.clone().unwrap_or_else(|| r.manifest_ref());
        progress.message(&format!("{shown}: Pulling from {}", r.path));

        let (top_digest, media_type, bytes) = fetch_manifest(&client, &r.manifest_ref(), &r)?;
        let (manifest_digest, manifest_bytes) = if oci::is_index(&media_type) {
            let idx: Index = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Registry(format!("invalid index: {e}")))?;
            let d = pick_platform(&idx, &want)?;
            let (md, _, mb) = fetch_manifest(&client, &d.digest, &r)?;
            (md, mb)
        } else {
            (top_digest.clone(), bytes)
        };
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| Error::Registry(format!("invalid manifest: {e}")))?;
        let config_digest = Digest::parse(&manifest.config.digest)?;
        let config_bytes = if self.store.blobs.exists(&config_digest) {
            self.store.blobs.read(&config_digest)?
        } else {
            fetch_blob_bytes(&client, &config_digest, 64 << 20)?
        };
        let config: ImageConfig = serde_json::from_slice(&config_bytes)
            .map_err(|e| Error::Registry(format!("invalid image config: {e}")))?;
        if opts.platform.is_some() && !config.os.is_empty() {
            let have = Platform {
                architecture: config.architecture.clone(),
                os: config.os.clone(),
                variant: config.variant.clone(),
                os_version: None,
            };
            if !oci::platform_matches(&want, &have) {
                return Err(Error::Registry(format!(
                    "image with reference {} was found but does not match the specified platform: wanted {}, actual: {}",
                    r.familiar(),
                    oci::platform_string(&want),
                    oci::platform_string(&have)
                )));
            }
        }
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(Error::Registry(
                "invalid image: manifest and config disagree on the number of layers".into(),
            ));
        }
        let diffs = config
            .rootfs
            .diff_ids
            .iter()
            .map(|d| Digest::parse(d))
            .collect::<Result<Vec<_>>>()?;

        // Decide per layer: present, blob only, or full fetch. docker prints no layer lines
        // when the whole image is already here.
        let complete = self.store.db.read(|q| q.image(&config_digest))?.is_some();
        let mut jobs: Vec<(Descriptor, Digest, bool)> = Vec::new();
        for (l, diff) in manifest.layers.iter().zip(&diffs) {
            let d = Digest::parse(&l.digest)?;
            let have_layer = self.store.has_layer(diff)?.is_some();
            let have_blob = self.store.blobs.exists(&d);
            if have_layer && have_blob {
                if !complete {
                    progress.layer(d.short(), Status::AlreadyExists, 0, 0);
                }
            } else {
                progress.layer(d.short(), Status::PullingFsLayer, 0, 0);
                jobs.push((l.clone(), diff.clone(), have_layer));
            }
        }
        let files = self.store.files.clone();
        let results = parallel(
            &jobs,
            self.registries.max_concurrent_downloads,
            |_, (l, diff, have_layer)| {
                let d = Digest::parse(&l.digest)?;
                // Transient transport failures are retried like docker's max-download-attempts;
                // content errors (digest mismatch, unsafe layer) are not.
                let mut attempt = 1;
                loop {
                    match fetch_layer(&client, &files, l, diff, *have_layer, progress) {
                        Err(e) if attempt < MAX_DOWNLOAD_ATTEMPTS && is_transient(&e) => {
                            std::thread::sleep(std::time::Duration::from_millis(
                                200 * attempt as u64,
                            ));
                            attempt += 1;
                        }
                        other => {
                            break other.map(|out| (d, diff.clone(), l.media_type.clone(), out))
                        }
                    }
                }
            },
        )?;
        for (d, diff, media_type, out) in results {
            match out {
                Some((blob, info)) => self.store.record_layer(Some(&blob), &info)?,
                None => {
                    let size = self.store.blobs.size(&d).unwrap_or(0);
                    self.store.db.tx(|q| {
                        q.add_layer_blob(&crate::store::LayerBlob {
                            digest: d.clone(),
                            diff_id: diff.clone(),
                            media_type: media_type.clone(),
                            size,
                        })
                    })?;
                }
            }
            progress.layer(d.short(), Status::PullComplete, 0, 0);
        }

        self.store
            .blobs
            .put(&manifest_bytes, Some(&manifest_digest))?;
        let id = self.register(&config_bytes, Some(manifest_digest.clone()))?;
        let registry = r.domain.clone();
        let changed = self.store.db.tx(|q| {
            let mut changed = true;
            if r.digest.is_none() {
                changed = q.set_tag(&r.to_string(), &id)?.as_ref() != Some(&id);
            } else if q
                .repo_digests()?
                .iter()
                .any(|x| x.0 == r.name() && x.1 == top_digest && x.2 == id)
            {
                changed = false;
            }
            q.add_repo_digest(&r.name(), &top_digest, &id)?;
            for l in &manifest.layers {
                if let Ok(d) = Digest::parse(&l.digest) {
                    q.add_blob_source(&registry, &r.path, &d)?;
                }
            }
            Ok(changed)
        })?;
        self.write_oci_index();
        Ok(PullResult {
            id,
            digest: top_digest,
            reference: r,
            changed,
        })
    }
}

impl Engine {
    /// Tags of a repository, as the registry lists them (`/v2/<name>/tags/list`, following `Link`).
    pub fn list_tags(&self, name: &str) -> Result<Vec<String>> {
        let r = Reference::parse(name)?;
        let client = self.pull_client(&r)?;
        let mut tags = Vec::new();
        let mut next = Some("tags/list".to_string());
        while let Some(path) = next.take() {
            let resp = client
                .send("GET", &path, &[], Body::Empty, &[200])
                .map_err(|e| match e {
                    Error::Registry(m) if m.starts_with("name unknown") => {
                        Error::Registry(format!("repository {} not found: {m}", r.familiar_name()))
                    }
                    other => other,
                })?;
            // `Link: </v2/x/tags/list?last=a&n=100>; rel="next"`
            next = resp.header("link").and_then(|l| {
                l.split(';').next().map(|u| {
                    u.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string()
                })
            });
            let v: serde_json::Value = serde_json::from_slice(&resp.bytes(MAX_MANIFEST)?)
                .map_err(|e| Error::Registry(format!("invalid tag list: {e}")))?;
            if let Some(list) = v.get("tags").and_then(|t| t.as_array()) {
                tags.extend(list.iter().filter_map(|t| t.as_str().map(String::from)));
            }
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    /// Local tags of the repository `name` names, for `push --all-tags`.
    pub fn local_tags(&self, name: &str) -> Result<Vec<Reference>> {
        let r = Reference::parse(name)?;
        let mut out: Vec<Reference> = self
            .store
            .db
            .read(|q| q.tags())?
            .into_iter()
            .filter_map(|(n, _, _)| Reference::parse(&n).ok())
            .filter(|t| t.name() == r.name())
            .collect();
        out.sort_by_key(|t| t.to_string());
        Ok(out)
    }
}

const MAX_DOWNLOAD_ATTEMPTS: u32 = 3;

/// A dropped connection or a stream cut short: worth another try.
fn is_transient(e: &Error) -> bool {
    match e {
        Error::Io { source, .. } => !matches!(
            source.kind(),
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput
        ),
        // transport errors read `Get "URL": …`
        Error::Registry(m) => m.starts_with("Get \""),
        _ => false,
    }
}

/// Downloads one layer blob, storing it and (unless already unpacked) unpacking it on the way.
fn fetch_layer(
    client: &Client,
    files: &crate::store::Files,
    l: &Descriptor,
    diff: &Digest,
    have_layer: bool,
    progress: &dyn Progress,
) -> Result<Option<(crate::store::LayerBlob, crate::store::LayerInfo)>> {
    let d = Digest::parse(&l.digest)?;
    let total = l.size;
    let resp = client.send("GET", &format!("blobs/{d}"), &[], Body::Empty, &[200])?;
    let last = std::sync::Mutex::new(Instant::now());
    let seen = AtomicU64::new(0);
    let report = |n: u64| {
        seen.store(n, Ordering::Relaxed);
        let mut t = last.lock().expect("progress lock");
        if t.elapsed().as_millis() >= 100 {
            *t = Instant::now();
            progress.layer(d.short(), Status::Downloading, n, total);
        }
    };
    let out = if have_layer {
        files.ingest_blob(resp.reader(), &d, &report)?;
        None
    } else {
        Some(files.ingest_layer(resp.reader(), Some(&d), &l.media_type, Some(diff), &report)?)
    };
    progress.layer(d.short(), Status::VerifyingChecksum, 0, 0);
    progress.layer(d.short(), Status::DownloadComplete, 0, 0);
    Ok(out)
}
