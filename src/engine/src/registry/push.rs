//! `push`: layers (skipped when present, mounted from another repository when known, else
//! uploaded monolithically or in chunks), config, then the manifest.

use std::io::{Read, Write};

use super::client::{Body, Client};
use super::{parallel, Progress, Status};
use crate::archive::desc_for;
use crate::digest::Digest;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::layer;
use crate::oci::{self, Descriptor, Manifest};
use crate::reference::Reference;
use crate::store::LayerBlob;

/// Manifest bytes, its media type, and each layer's descriptor with its diff ID.
type PushManifest = (Vec<u8>, String, Vec<(Descriptor, Digest)>);

pub struct PushResult {
    pub tag: String,
    pub digest: Digest,
    pub size: usize,
}

fn is_compressed(media_type: &str) -> bool {
    media_type.ends_with("gzip") || media_type.ends_with("zstd")
}

impl Engine {
    /// The manifest to push: the stored one when its layers are compressed blobs we hold
    /// (digests survive a round trip), else a Docker schema 2 manifest with gzip layers.
    fn push_manifest(&self, img: &crate::store::ImageRow) -> Result<PushManifest> {
        if let Some(m) = &img.manifest {
            let bytes = self.store.blobs.read(m)?;
            if let Ok(man) = serde_json::from_slice::<Manifest>(&bytes) {
                let ok = man.layers.iter().all(|l| {
                    is_compressed(&l.media_type)
                        && Digest::parse(&l.digest).is_ok_and(|d| self.store.blobs.exists(&d))
                }) && man.layers.len() == img.layers.len();
                if ok {
                    let mt = man
                        .media_type
                        .clone()
                        .unwrap_or_else(|| oci::OCI_MANIFEST.into());
                    let layers = man
                        .layers
                        .iter()
                        .cloned()
                        .zip(img.layers.iter().cloned())
                        .collect();
                    return Ok((bytes, mt, layers));
                }
            }
        }
        let mut layers = Vec::new();
        for diff in &img.layers {
            let blob = self.gzip_blob(diff)?;
            layers.push((
                desc_for(oci::DOCKER_LAYER_GZIP, &blob.digest, blob.size),
                diff.clone(),
            ));
        }
        let config_size = self.store.blobs.size(&img.id).unwrap_or(0);
        let m = Manifest {
            schema_version: 2,
            media_type: Some(oci::DOCKER_MANIFEST.into()),
            config: desc_for(oci::DOCKER_CONFIG, &img.id, config_size),
            layers: layers.iter().map(|x| x.0.clone()).collect(),
            annotations: None,
        };
        let bytes = serde_json::to_vec(&m).map_err(|e| Error::Registry(e.to_string()))?;
        Ok((bytes, oci::DOCKER_MANIFEST.into(), layers))
    }

    /// A gzip blob of a layer, made (once) from whatever blob holds it.
    fn gzip_blob(&self, diff: &Digest) -> Result<LayerBlob> {
        let blobs = self.store.db.read(|q| q.layer_blobs(diff))?;
        if let Some(b) = blobs
            .iter()
            .find(|b| b.media_type.ends_with("gzip") && self.store.blobs.exists(&b.digest))
        {
            return Ok(b.clone());
        }
        let src = blobs
            .iter()
            .find(|b| self.store.blobs.exists(&b.digest))
            .ok_or_else(|| Error::Archive(format!("no stored blob for layer {diff}")))?;
        let reader = layer::decompress(self.store.blobs.open_blob(&src.digest)?)
            .map_err(|e| Error::io("reading layer", e))?;
        let mut w = self.store.blobs.writer()?;
        {
            let mut gz = flate2::write::GzEncoder::new(&mut w, flate2::Compression::fast());
            std::io::copy(&mut { reader }, &mut gz)
                .map_err(|e| Error::io("compressing layer", e))?;
            gz.finish().map_err(|e| Error::io("compressing layer", e))?;
        }
        w.flush().map_err(|e| Error::io("compressing layer", e))?;
        let (digest, size) = w.commit(None)?;
        let b = LayerBlob {
            digest,
            diff_id: diff.clone(),
            media_type: oci::DOCKER_LAYER_GZIP.into(),
            size,
        };
        self.store.db.tx(|q| q.add_layer_blob(&b))?;
        Ok(b)
    }

    pub fn push(&self, name: &str, progress: &dyn Progress) -> Result<PushResult> {
        let r = Reference::parse_tagged(name)?;
        if r.digest.is_some() {
            return Err(Error::InvalidArgument(
                "cannot push a digest reference".into(),
            ));
        }
        let id = self
            .store
            .db
            .read(|q| q.tag_target(&r.to_string()))?
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "An image does not exist locally with the tag: {}",
                    r.familiar_name()
                ))
            })?;
        let img = self
            .store
            .db
            .read(|q| q.image(&id))?
            .ok_or_else(|| Error::NoSuchImage(r.familiar()))?;
        let (manifest_bytes, manifest_type, layers) = self.push_manifest(&img)?;

        // Repositories on this registry known to have each blob, for cross-repository mounts.
        let mut sources: Vec<Option<String>> = Vec::new();
        let mut scopes = vec![format!("repository:{}:pull,push", r.path)];
        for (l, _) in &layers {
            let d = Digest::parse(&l.digest)?;
            let from = self
                .store
                .db
                .read(|q| q.blob_sources(&r.domain, &d))?
                .into_iter()
                .find(|x| *x != r.path);
            if let Some(f) = &from {
                let s = format!("repository:{f}:pull");
                if !scopes.contains(&s) {
                    scopes.push(s);
                }
            }
            sources.push(from);
        }
        progress.message(&format!(
            "The push refers to repository [{}]",
            r.name_for_push()
        ));
        let client = Client::connect(self, &r.domain, &r.path, scopes)?;
        for (_, diff) in layers.iter().rev() {
            progress.layer(diff.short(), Status::Preparing, 0, 0);
        }
        let chunk = self.registries.upload_chunk_size.max(1);
        let jobs: Vec<(Descriptor, Digest, Option<String>)> = layers
            .iter()
            .zip(sources)
            .map(|((l, diff), s)| (l.clone(), diff.clone(), s))
            .collect();
        let blobs = self.store.blobs.clone();
        parallel(
            &jobs,
            self.registries.max_concurrent_uploads,
            |_, (l, diff, from)| {
                let d = Digest::parse(&l.digest)?;
                let status = push_blob(&blobs, &client, &d, from.as_deref(), chunk, &|n, t| {
                    progress.layer(diff.short(), Status::Pushing, n, t)
                })?;
                progress.layer(diff.short(), status, 0, 0);
                Ok(())
            },
        )?;
        push_blob(&self.store.blobs, &client, &img.id, None, chunk, &|_, _| {})?;
        let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
        let resp = client.send(
            "PUT",
            &format!("manifests/{tag}"),
            &[("Content-Type", manifest_type.as_str())],
            Body::Bytes(&manifest_bytes),
            &[201, 200],
        )?;
        drop(resp);
        let digest = Digest::of(&manifest_bytes);
        self.store.blobs.put(&manifest_bytes, Some(&digest))?;
        let path = r.path.clone();
        self.store.db.tx(|q| {
            q.add_repo_digest(&r.name(), &digest, &img.id)?;
            for (l, _) in &layers {
                if let Ok(d) = Digest::parse(&l.digest) {
                    q.add_blob_source(&r.domain, &path, &d)?;
                }
            }
            Ok(())
        })?;
        Ok(PushResult {
            tag,
            digest,
            size: manifest_bytes.len(),
        })
    }
}

/// Uploads one blob unless the registry has it; returns the status docker would print.
fn push_blob(
    blobs: &crate::store::Blobs,
    client: &Client,
    d: &Digest,
    from: Option<&str>,
    chunk: u64,
    progress: &dyn Fn(u64, u64),
) -> Result<Status> {
    if client
        .send("HEAD", &format!("blobs/{d}"), &[], Body::Empty, &[200, 404])
        .map(|r| r.status)?
        == 200
    {
        return Ok(Status::LayerAlreadyExists);
    }
    let start = match from {
        Some(f) => {
            let resp = client.send(
                "POST",
                &format!("blobs/uploads/?mount={d}&from={f}"),
                &[],
                Body::Empty,
                &[201, 202],
            )?;
            if resp.status == 201 {
                // docker names the source by its path in the registry.
                let shown = f.to_string();
                return Ok(Status::MountedFrom(shown));
            }
            resp
        }
        None => client.send("POST", "blobs/uploads/", &[], Body::Empty, &[202])?,
    };
    let mut location = start
        .header("location")
        .ok_or_else(|| Error::Registry("upload without a location".into()))?;
    drop(start);
    let total = blobs
        .size(d)
        .ok_or_else(|| Error::Archive(format!("blob {d} is missing from the store")))?;
    let mut file = blobs.open_blob(d)?;
    let with_digest = |loc: &str| {
        let sep = if loc.contains('?') { '&' } else { '?' };
        format!("{loc}{sep}digest={d}")
    };
    if total <= chunk {
        let url = with_digest(&location);
        client.send(
            "PUT",
            &url,
            &[("Content-Type", "application/octet-stream")],
            Body::Reader(
                Box::new(ProgressReader {
                    inner: &mut file,
                    n: 0,
                    total,
                    cb: progress,
                }),
                total,
            ),
            &[201, 204],
        )?;
        return Ok(Status::Pushed);
    }
    let mut offset = 0u64;
    while offset < total {
        let len = chunk.min(total - offset);
        let range = format!("{}-{}", offset, offset + len - 1);
        let base = offset;
        let part = ProgressReader {
            inner: (&mut file).take(len),
            n: base,
            total,
            cb: progress,
        };
        let resp = client.send(
            "PATCH",
            &location,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", range.as_str()),
            ],
            Body::Reader(Box::new(part), len),
            &[202, 204],
        )?;
        location = resp.header("location").unwrap_or(location);
        offset += len;
    }
    client.send(
        "PUT",
        &with_digest(&location),
        &[],
        Body::Empty,
        &[201, 204],
    )?;
    Ok(Status::Pushed)
}

struct ProgressReader<'a, R> {
    inner: R,
    n: u64,
    total: u64,
    cb: &'a dyn Fn(u64, u64),
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        (self.cb)(self.n, self.total);
        Ok(k)
    }
}

impl Reference {
    /// docker prints `docker.io/library/busybox` in "The push refers to repository [...]".
    pub fn name_for_push(&self) -> String {
        self.name()
    }
}
