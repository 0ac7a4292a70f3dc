//! `save`, `load` and `import`: docker-archive and OCI-archive tarballs, and plain rootfs tarballs.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::digest::Digest;
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::layer::{self, Compression};
use crate::oci::{self, ContainerConfig, Descriptor, ImageConfig, Index, Manifest};
use crate::reference::Reference;
use crate::store::TempPath;
use crate::timefmt;

/// A line of `load` output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadEvent {
    /// The name moved from another image, which keeps its ID but loses the name.
    Renamed {
        name: String,
        old: Digest,
    },
    Loaded(String),
    LoadedId(Digest),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Archive(msg.into())
}

/// Extracts an archive's regular files into `dir`; symlinks (old docker's shared layers) are
/// resolved inside the archive. Nothing outside `dir` is ever written.
fn extract(reader: impl Read, dir: &Path) -> Result<()> {
    let mut ar = tar::Archive::new(reader);
    let mut links = Vec::new();
    let entries = ar
        .entries()
        .map_err(|e| bad(format!("reading archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("reading archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("reading archive: {e}")))?
            .into_owned();
        let rel = safe_rel(&path)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let dest = dir.join(&rel);
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(&dest).ctx("creating", &dest)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(p) = dest.parent() {
                    fs::create_dir_all(p).ctx("creating", p)?;
                }
                let mut f = File::create(&dest).ctx("creating", &dest)?;
                io::copy(&mut entry, &mut f).map_err(|e| bad(format!("reading archive: {e}")))?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                if let Ok(Some(target)) = entry.link_name() {
                    let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                        rel.parent().map(Path::to_path_buf).unwrap_or_default()
                    } else {
                        PathBuf::new()
                    };
                    links.push((rel.clone(), safe_rel(&base.join(target.as_ref()))?));
                }
            }
            _ => {}
        }
    }
    for (at, target) in links {
        let dest = dir.join(&at);
        if let Some(p) = dest.parent() {
            fs::create_dir_all(p).ctx("creating", p)?;
        }
        fs::hard_link(dir.join(&target), &dest)
            .or_else(|_| fs::copy(dir.join(&target), &dest).map(|_| ()))
            .ctx("linking", &dest)?;
    }
    Ok(())
}

/// Normalises an in-archive path, refusing ones that leave the archive.
fn safe_rel(p: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err(bad(format!(
                        "invalid archive path {:?}: escapes the archive",
                        p.display().to_string()
                    )));
                }
            }
        }
    }
    Ok(out)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).ctx("reading", path)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        bad(format!(
            "invalid {}: {e}",
            path.file_name().unwrap_or_default().to_string_lossy()
        ))
    })
}

impl Engine {
    /// `load`: a docker-archive (`manifest.json`) or OCI archive (`index.json`) tarball.
    pub fn load(&self, reader: impl Read) -> Result<Vec<LoadEvent>> {
        let tmp = TempPath::new(self.store.blobs.tmp_dir(), "load");
        fs::create_dir(&tmp.path).ctx("creating", &tmp.path)?;
        // `docker load` also takes compressed archives.
        extract(
            layer::decompress(reader).map_err(|e| bad(format!("reading archive: {e}")))?,
            &tmp.path,
        )?;
        let events = if tmp.path.join("manifest.json").is_file() {
            self.load_docker_archive(&tmp.path)?
        } else if tmp.path.join("index.json").is_file() {
            self.load_oci_archive(&tmp.path)?
        } else {
            return Err(bad(
                "invalid archive: neither manifest.json nor index.json found",
            ));
        };
        self.write_oci_index();
        Ok(events)
    }

    fn load_docker_archive(&self, dir: &Path) -> Result<Vec<LoadEvent>> {
        let manifests: Vec<ArchiveManifest> = read_json(&dir.join("manifest.json"))?;
        let mut events = Vec::new();
        for m in manifests {
            let config_path = dir.join(safe_rel(Path::new(&m.config))?);
            let config_bytes = fs::read(&config_path).ctx("reading", &config_path)?;
            let config: ImageConfig = serde_json::from_slice(&config_bytes)
                .map_err(|e| bad(format!("invalid image config {}: {e}", m.config)))?;
            if config.rootfs.diff_ids.len() != m.layers.len() {
                return Err(bad(format!(
                    "invalid archive: config {} lists {} layers, manifest.json {}",
                    m.config,
                    config.rootfs.diff_ids.len(),
                    m.layers.len()
                )));
            }
            let mut descs = Vec::new();
            for (layer_path, diff) in m.layers.iter().zip(&config.rootfs.diff_ids) {
                let diff = Digest::parse(diff)?;
                let path = dir.join(safe_rel(Path::new(layer_path))?);
                descs.push(self.load_layer(&path, None, &diff)?);
            }
            let manifest = self.store_manifest(&config_bytes, descs)?;
            let id = self.register(&config_bytes, Some(manifest))?;
            let tags = m.repo_tags.unwrap_or_default();
            events.extend(self.apply_loaded_names(&id, &tags)?);
        }
        Ok(events)
    }

    fn load_oci_archive(&self, dir: &Path) -> Result<Vec<LoadEvent>> {
        let index: Index = read_json(&dir.join("index.json"))?;
        let mut events = Vec::new();
        for desc in &index.manifests {
            let names: Vec<String> = desc
                .annotations
                .as_ref()
                .and_then(|a| {
                    a.get("io.containerd.image.name").cloned().or_else(|| {
                        a.get("org.opencontainers.image.ref.name")
                            .filter(|n| n.contains('/') || n.contains(':'))
                            .cloned()
                    })
                })
                .into_iter()
                .collect();
            let (manifest_digest, manifest) = self.oci_pick_manifest(dir, desc)?;
            let config_digest = Digest::parse(&manifest.config.digest)?;
            let config_bytes = fs::read(blob_in(dir, &config_digest))
                .ctx_str(|| format!("reading config {config_digest}"))?;
            if Digest::of(&config_bytes) != config_digest {
                return Err(Error::DigestMismatch {
                    what: "config".into(),
                    expected: config_digest.to_string(),
                    actual: Digest::of(&config_bytes).to_string(),
                });
            }
            let config: ImageConfig = serde_json::from_slice(&config_bytes)
                .map_err(|e| bad(format!("invalid image config: {e}")))?;
            if config.rootfs.diff_ids.len() != manifest.layers.len() {
                return Err(bad(
                    "invalid archive: manifest and config disagree on the number of layers",
                ));
            }
            for (l, diff) in manifest.layers.iter().zip(&config.rootfs.diff_ids) {
                let d = Digest::parse(&l.digest)?;
                self.load_layer(&blob_in(dir, &d), Some(&d), &Digest::parse(diff)?)?;
            }
            let mbytes = fs::read(blob_in(dir, &manifest_digest))
                .ctx_str(|| format!("reading manifest {manifest_digest}"))?;
            self.store.blobs.put(&mbytes, Some(&manifest_digest))?;
            let id = self.register(&config_bytes, Some(manifest_digest))?;
            let names: Vec<String> = names
                .iter()
                .filter_map(|n| Reference::parse_tagged(n).ok())
                .map(|r| r.familiar())
                .collect();
            events.extend(self.apply_loaded_names(&id, &names)?);
        }
        Ok(events)
    }

    /// Follows an index entry down to the image manifest for this platform.
    fn oci_pick_manifest(&self, dir: &Path, desc: &Descriptor) -> Result<(Digest, Manifest)> {
        let mut d = Digest::parse(&desc.digest)?;
        for _ in 0..4 {
            let bytes = fs::read(blob_in(dir, &d)).ctx_str(|| format!("reading manifest {d}"))?;
            if Digest::of(&bytes) != d {
                return Err(Error::DigestMismatch {
                    what: "manifest".into(),
                    expected: d.to_string(),
                    actual: Digest::of(&bytes).to_string(),
                });
            }
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| bad(format!("invalid manifest {d}: {e}")))?;
            if v.get("manifests").is_some() {
                let idx: Index = serde_json::from_value(v)
                    .map_err(|e| bad(format!("invalid index {d}: {e}")))?;
                d = Digest::parse(&pick_platform(&idx, &oci::host_platform())?.digest)?;
                continue;
            }
            let m: Manifest =
                serde_json::from_value(v).map_err(|e| bad(format!("invalid manifest {d}: {e}")))?;
            return Ok((d, m));
        }
        Err(bad("invalid archive: indexes nested too deep"))
    }

    /// Stores and unpacks one layer file unless the layer is already here.
    fn load_layer(
        &self,
        path: &Path,
        digest: Option<&Digest>,
        diff: &Digest,
    ) -> Result<Descriptor> {
        if let Some((_, tar_size)) = self.store.has_layer(diff)? {
            if let Some(b) = self
                .store
                .db
                .read(|q| q.layer_blobs(diff))?
                .into_iter()
                .find(|b| self.store.blobs.exists(&b.digest))
            {
                return Ok(desc_for(&b.media_type, &b.digest, b.size));
            }
            let _ = tar_size;
        }
        let f = File::open(path).ctx("opening", path)?;
        let mut head = [0u8; 4];
        let n = File::open(path)
            .and_then(|mut g| g.read(&mut head))
            .unwrap_or(0);
        let media_type = match layer::detect(&head[..n]) {
            Compression::Gzip => oci::OCI_LAYER_GZIP,
            Compression::Zstd => oci::OCI_LAYER_ZSTD,
            Compression::None => oci::OCI_LAYER_TAR,
        };
        let (blob, _) = self
            .store
            .ingest_layer(f, digest, media_type, Some(diff), &|_| {})?;
        Ok(desc_for(media_type, &blob.digest, blob.size))
    }

    /// Writes an OCI manifest for a config and its layer blobs; returns its digest.
    pub(crate) fn store_manifest(
        &self,
        config_bytes: &[u8],
        layers: Vec<Descriptor>,
    ) -> Result<Digest> {
        let m = Manifest {
            schema_version: 2,
            media_type: Some(oci::OCI_MANIFEST.into()),
            config: desc_for(
                oci::OCI_CONFIG,
                &Digest::of(config_bytes),
                config_bytes.len() as u64,
            ),
            layers,
            annotations: None,
        };
        let bytes = serde_json::to_vec(&m).map_err(|e| bad(e.to_string()))?;
        self.store.blobs.put(&bytes, None)
    }

    fn apply_loaded_names(&self, id: &Digest, names: &[String]) -> Result<Vec<LoadEvent>> {
        let mut events = Vec::new();
        for n in names {
            let r = Reference::parse_tagged(n)?;
            let prev = self.store.db.tx(|q| q.set_tag(&r.to_string(), id))?;
            if let Some(old) = prev.filter(|p| p != id) {
                events.push(LoadEvent::Renamed {
                    name: r.familiar(),
                    old,
                });
            }
            events.push(LoadEvent::Loaded(r.familiar()));
        }
        if names.is_empty() {
            events.push(LoadEvent::LoadedId(id.clone()));
        }
        Ok(events)
    }

    /// `save`: a tarball that is both a docker-archive (`manifest.json`, loadable by every
    /// docker) and an OCI image layout (`index.json`), with uncompressed layers, as docker 25 writes.
    pub fn save(&self, names: &[String], out: impl Write) -> Result<()> {
        // (image, tags to record)
        let mut images: Vec<(crate::store::ImageRow, Vec<Reference>)> = Vec::new();
        let refs = self.refs_by_image()?;
        for n in names {
            let img = self.resolve(n)?;
            let mut tags = Vec::new();
            if let Ok(r) = Reference::parse(n) {
                let by_id = img
                    .id
                    .hex()
                    .starts_with(n.strip_prefix("sha256:").unwrap_or(n));
                if r.digest.is_none() && !by_id {
                    match &r.tag {
                        Some(_) => tags.push(r.clone()),
                        None => {
                            // A bare repository name saves the image under every tag of that repository.
                            if let Some((t, _)) = refs.get(&img.id) {
                                tags.extend(
                                    t.iter()
                                        .filter(|(tr, _)| tr.name() == r.name())
                                        .map(|(tr, _)| tr.clone()),
                                );
                            }
                        }
                    }
                }
            }
            match images.iter_mut().find(|x| x.0.id == img.id) {
                Some(x) => x.1.extend(tags),
                None => images.push((img, tags)),
            }
        }
        let mut b = tar::Builder::new(out);
        b.mode(tar::HeaderMode::Deterministic);
        let mut written = std::collections::HashSet::new();
        let add =
            |b: &mut tar::Builder<_>, path: &str, size: u64, r: &mut dyn Read| -> Result<()> {
                let mut h = tar::Header::new_gnu();
                h.set_size(size);
                h.set_mode(0o644);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mtime(0);
                b.append_data(&mut h, path, r)
                    .map_err(|e| Error::io("writing archive", e))
            };
        add(
            &mut b,
            "oci-layout",
            30,
            &mut &br#"{"imageLayoutVersion":"1.0.0"}"#[..],
        )?;
        let mut archive_manifest = Vec::new();
        let mut index_entries = Vec::new();
        for (img, tags) in &images {
            let config_bytes = self.store.blobs.read(&img.id)?;
            if written.insert(img.id.clone()) {
                add(
                    &mut b,
                    &format!("blobs/sha256/{}", img.id.hex()),
                    config_bytes.len() as u64,
                    &mut &config_bytes[..],
                )?;
            }
            let mut layer_paths = Vec::new();
            let mut descs = Vec::new();
            for diff in &img.layers {
                let (_, tar_size) = self
                    .store
                    .db
                    .read(|q| q.layer(diff))?
                    .ok_or_else(|| bad(format!("layer {diff} is missing from the store")))?;
                let path = format!("blobs/sha256/{}", diff.hex());
                if written.insert(diff.clone()) {
                    let blob = self
                        .store
                        .db
                        .read(|q| q.layer_blobs(diff))?
                        .into_iter()
                        .find(|bl| self.store.blobs.exists(&bl.digest))
                        .ok_or_else(|| bad(format!("no stored blob for layer {diff}")))?;
                    let f = self.store.blobs.open_blob(&blob.digest)?;
                    let mut r = layer::decompress(f).map_err(|e| Error::io("reading layer", e))?;
                    add(&mut b, &path, tar_size, &mut r)?;
                }
                layer_paths.push(path);
                descs.push(desc_for(oci::OCI_LAYER_TAR, diff, tar_size));
            }
            let m = Manifest {
                schema_version: 2,
                media_type: Some(oci::OCI_MANIFEST.into()),
                config: desc_for(oci::OCI_CONFIG, &img.id, config_bytes.len() as u64),
                layers: descs,
                annotations: None,
            };
            let mbytes = serde_json::to_vec(&m).map_err(|e| bad(e.to_string()))?;
            let md = Digest::of(&mbytes);
            if written.insert(md.clone()) {
                add(
                    &mut b,
                    &format!("blobs/sha256/{}", md.hex()),
                    mbytes.len() as u64,
                    &mut &mbytes[..],
                )?;
            }
            let familiar: Vec<String> = tags.iter().map(|t| t.familiar()).collect();
            if tags.is_empty() {
                index_entries.push(serde_json::json!({"mediaType": oci::OCI_MANIFEST, "digest": md.to_string(), "size": mbytes.len()}));
            }
            for t in tags {
                index_entries.push(serde_json::json!({
                    "mediaType": oci::OCI_MANIFEST, "digest": md.to_string(), "size": mbytes.len(),
                    "annotations": {
                        "io.containerd.image.name": t.to_string(),
                        "org.opencontainers.image.ref.name": t.tag.clone().unwrap_or_default(),
                    }
                }));
            }
            archive_manifest.push(serde_json::json!({
                "Config": format!("blobs/sha256/{}", img.id.hex()),
                "RepoTags": if familiar.is_empty() { serde_json::Value::Null } else { serde_json::json!(familiar) },
                "Layers": layer_paths,
            }));
        }
        let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": oci::OCI_INDEX, "manifests": index_entries}))
            .map_err(|e| bad(e.to_string()))?;
        add(&mut b, "index.json", index.len() as u64, &mut &index[..])?;
        let mj = serde_json::to_vec(&archive_manifest).map_err(|e| bad(e.to_string()))?;
        add(&mut b, "manifest.json", mj.len() as u64, &mut &mj[..])?;
        b.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(|e| Error::io("writing archive", e))?;
        Ok(())
    }

    /// `import`: a root filesystem tarball (plain, gzip or zstd) becomes a one-layer image.
    pub fn import(
        &self,
        reader: impl Read,
        source: &str,
        reference: Option<&str>,
        changes: &[String],
        message: Option<&str>,
    ) -> Result<Digest> {
        let target = reference.map(Reference::parse_tagged).transpose()?;
        let mut cc = ContainerConfig::default();
        for c in changes {
            apply_change(&mut cc, c)?;
        }
        let mut head = io::BufReader::with_capacity(256 * 1024, reader);
        let peek =
            io::BufRead::fill_buf(&mut head).map_err(|e| Error::io("reading import source", e))?;
        let media_type = match layer::detect(peek) {
            Compression::Gzip => oci::OCI_LAYER_GZIP,
            Compression::Zstd => oci::OCI_LAYER_ZSTD,
            Compression::None => oci::OCI_LAYER_TAR,
        };
        if peek.is_empty() {
            return Err(bad("import source is empty"));
        }
        let (blob, info) = self
            .store
            .ingest_layer(head, None, media_type, None, &|_| {})?;
        let (s, ns) = timefmt::now();
        let created = timefmt::format_rfc3339(s, ns);
        let comment = message
            .map(String::from)
            .unwrap_or_else(|| format!("Imported from {source}"));
        let platform = oci::host_platform();
        let config = serde_json::json!({
            "architecture": platform.architecture,
            "comment": comment,
            "config": cc,
            "created": created,
            "history": [{"created": created, "comment": comment}],
            "os": platform.os,
            "rootfs": {"type": "layers", "diff_ids": [info.diff_id.to_string()]},
        });
        let config_bytes = serde_json::to_vec(&config).map_err(|e| bad(e.to_string()))?;
        let manifest = self.store_manifest(
            &config_bytes,
            vec![desc_for(media_type, &blob.digest, blob.size)],
        )?;
        let id = self.register(&config_bytes, Some(manifest))?;
        if let Some(t) = target {
            self.store.db.tx(|q| q.set_tag(&t.to_string(), &id))?;
        }
        self.write_oci_index();
        Ok(id)
    }
}

fn blob_in(dir: &Path, d: &Digest) -> PathBuf {
    dir.join("blobs").join("sha256").join(d.hex())
}

pub(crate) fn desc_for(media_type: &str, d: &Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest: d.to_string(),
        size,
        urls: None,
        annotations: None,
        platform: None,
    }
}

/// Picks the entry of an index for `want`, as docker does for multi-arch images.
pub(crate) fn pick_platform<'a>(idx: &'a Index, want: &oci::Platform) -> Result<&'a Descriptor> {
    idx.manifests
        .iter()
        .filter(|d| !oci::is_index(&d.media_type) || d.platform.is_some())
        .find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| oci::platform_matches(want, p))
        })
        .ok_or_else(|| {
            Error::Registry(format!(
                "no matching manifest for {} in the manifest list entries",
                oci::platform_string(want)
            ))
        })
}

/// One `--change` instruction (`CMD ["sh"]`, `ENV A=b`, `EXPOSE 80`, ...).
fn apply_change(cc: &mut ContainerConfig, change: &str) -> Result<()> {
    let change = change.trim();
    let (instr, rest) = change
        .split_once(char::is_whitespace)
        .unwrap_or((change, ""));
    let rest = rest.trim();
    let list = |s: &str| -> Vec<String> {
        match serde_json::from_str::<Vec<String>>(s) {
            Ok(v) => v,
            Err(_) => vec!["/bin/sh".into(), "-c".into(), s.to_string()],
        }
    };
    let words = |s: &str| -> Vec<String> {
        match serde_json::from_str::<Vec<String>>(s) {
            Ok(v) => v,
            Err(_) => s.split_whitespace().map(String::from).collect(),
        }
    };
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => cc.cmd = Some(list(rest)),
        "ENTRYPOINT" => cc.entrypoint = Some(list(rest)),
        "ENV" => {
            let pairs: Vec<(String, String)> = if rest.contains('=') {
                rest.split_whitespace()
                    .map(|kv| {
                        kv.split_once('=')
                            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                    })
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "invalid change {change:?}: ENV needs KEY=VALUE"
                        ))
                    })?
            } else {
                let (k, v) = rest.split_once(char::is_whitespace).ok_or_else(|| {
                    Error::InvalidArgument(format!("invalid change {change:?}: ENV needs a value"))
                })?;
                vec![(k.to_string(), v.trim().to_string())]
            };
            let env = cc.env.get_or_insert_with(Vec::new);
            for (k, v) in pairs {
                env.retain(|e| e.split('=').next() != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
        }
        "EXPOSE" => {
            let ports = cc.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in rest.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                ports.insert(p, serde_json::json!({}));
            }
        }
        "USER" => cc.user = rest.to_string(),
        "WORKDIR" => cc.working_dir = rest.to_string(),
        "VOLUME" => {
            let vols = cc.volumes.get_or_insert_with(BTreeMap::new);
            for v in words(rest) {
                vols.insert(v, serde_json::json!({}));
            }
        }
        "LABEL" => {
            let labels = cc.labels.get_or_insert_with(BTreeMap::new);
            for kv in rest.split_whitespace() {
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "invalid change {change:?}: LABEL needs KEY=VALUE"
                    ))
                })?;
                labels.insert(
                    k.trim_matches('"').to_string(),
                    v.trim_matches('"').to_string(),
                );
            }
        }
        "ONBUILD" => cc
            .on_build
            .get_or_insert_with(Vec::new)
            .push(rest.to_string()),
        "STOPSIGNAL" => cc.stop_signal = Some(rest.to_string()),
        _ => {
            return Err(Error::InvalidArgument(format!(
                "{instr} is not a valid change command"
            )))
        }
    }
    Ok(())
}
