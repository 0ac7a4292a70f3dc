//! Local image operations: list, tag, remove, prune, inspect, history, disk usage.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::digest::{chain_ids, Digest};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::oci::{ContainerConfig, ImageConfig};
use crate::reference::Reference;
use crate::store::ImageRow;
use crate::timefmt;

/// One image as `images` lists it.
#[derive(Clone, Debug)]
pub struct ImageSummary {
    pub id: Digest,
    pub repo_tags: Vec<Reference>,
    pub repo_digests: Vec<Reference>,
    /// Seconds since the epoch (0 when the config has no time).
    pub created: i64,
    pub size: u64,
    pub labels: BTreeMap<String, String>,
    pub containers: u64,
    pub added: i64,
    /// Images made from this one (build steps, commits): an untagged image with children is
    /// an intermediate image, listed only by `images -a` and never dangling.
    pub children: u64,
}

/// A line of `rmi` / `image prune` output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoveEvent {
    Untagged(String),
    Deleted(Digest),
}

/// An entry of `history`.
#[derive(Clone, Debug)]
pub struct HistoryEntry {
    pub id: Option<Digest>,
    pub created: i64,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
    pub tags: Vec<String>,
}

pub struct DiskUsage {
    pub images: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GraphDriver {
    data: BTreeMap<String, String>,
    name: String,
}

#[derive(Serialize)]
struct RootFsOut {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Metadata {
    last_tag_time: String,
}

/// `docker image inspect`'s JSON, field for field and in docker's order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    id: String,
    repo_tags: Vec<String>,
    repo_digests: Vec<String>,
    parent: String,
    comment: String,
    created: String,
    docker_version: String,
    author: String,
    config: ContainerConfig,
    architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
    os: String,
    size: u64,
    graph_driver: GraphDriver,
    #[serde(rename = "RootFS")]
    root_fs: RootFsOut,
    metadata: Metadata,
}

fn created_secs(s: &str) -> i64 {
    timefmt::parse_rfc3339(s).map(|t| t.0).unwrap_or(0)
}

impl Engine {
    pub fn list_images(&self) -> Result<Vec<ImageSummary>> {
        let rows = self.store.db.read(|q| q.images())?;
        let children = self.store.db.read(|q| q.child_counts())?;
        let mut refs = self.refs_by_image()?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let (tags, digests) = refs.remove(&row.id).unwrap_or_default();
            let labels = self
                .config(&row.id)
                .ok()
                .and_then(|c| c.config.and_then(|c| c.labels))
                .unwrap_or_default();
            out.push(ImageSummary {
                id: row.id.clone(),
                repo_tags: tags.into_iter().map(|t| t.0).collect(),
                repo_digests: digests,
                created: created_secs(&row.created),
                size: row.size,
                labels,
                containers: 0,
                added: row.added,
                children: children.get(&row.id).copied().unwrap_or(0),
            });
        }
        // Newest first, as docker lists them.
        out.sort_by(|a, b| {
            b.created
                .cmp(&a.created)
                .then(b.added.cmp(&a.added))
                .then(a.id.cmp(&b.id))
        });
        Ok(out)
    }

    /// `tag SOURCE TARGET`.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let img = self.resolve(source)?;
        let t = Reference::parse_tagged(target).map_err(|e| {
            Error::InvalidReference(format!(
                "Error parsing reference: {target:?} is not a valid repository/tag: {e}"
            ))
        })?;
        if t.digest.is_some() {
            return Err(Error::InvalidArgument(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        self.store.db.tx(|q| q.set_tag(&t.to_string(), &img.id))?;
        self.write_oci_index();
        Ok(())
    }

    /// `rmi NAME|ID`, following docker's rules: a name only untags unless it was the last
    /// reference; an ID removes every reference (one repository only, unless forced).
    pub fn remove_image(&self, s: &str, force: bool) -> Result<Vec<RemoveEvent>> {
        let img = self.resolve(s)?;
        let mut refs = self.refs_by_image()?.remove(&img.id).unwrap_or_default();
        let mut events = Vec::new();
        let bare = s.strip_prefix("sha256:").unwrap_or(s);
        let by_id = img.id.hex().starts_with(bare)
            && Reference::parse_tagged(s).ok().is_none_or(|r| {
                self.store
                    .db
                    .read(|q| q.tag_target(&r.to_string()))
                    .ok()
                    .flatten()
                    .is_none()
            });
        // A container's image stays: without -f the removal is refused (docker's messages); -f
        // only untags. Untagging one of several names is always allowed.
        let mut keep_image = false;
        if let Some((user, running)) = self.image_user_state(&img.id) {
            let one_of_many = !by_id && refs.0.len() + refs.1.len() > 1;
            if !one_of_many {
                let short = img.id.short();
                if running && by_id {
                    return Err(Error::Conflict(format!(
                        "conflict: unable to delete {short} (cannot be forced) - image is being used by running container {user}"
                    )));
                }
                if !force && by_id {
                    return Err(Error::Conflict(format!(
                        "conflict: unable to delete {short} (must be forced) - image is being used by stopped container {user}"
                    )));
                }
                if !force {
                    return Err(Error::Conflict(format!(
                        "conflict: unable to remove repository reference \"{s}\" (must force) - container {user} is using its referenced image {short}"
                    )));
                }
                keep_image = true;
            }
        }
        let has_children = !self.store.db.read(|q| q.children(&img.id))?.is_empty();
        if has_children && by_id {
            return Err(Error::Conflict(format!(
                "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
                img.id.short()
            )));
        }
        if !by_id {
            let parsed = Reference::parse_tagged(s)?;
            let repo = parsed.name();
            self.store.db.tx(|q| {
                match &parsed.digest {
                    Some(d) => q.remove_repo_digest(&repo, d)?,
                    None => q.remove_tag(&parsed.to_string())?,
                }
                Ok(())
            })?;
            events.push(RemoveEvent::Untagged(parsed.familiar()));
            refs.0.retain(|(r, _)| *r != parsed);
            refs.1.retain(|r| *r != parsed);
            if parsed.digest.is_none() && !refs.0.iter().any(|(r, _)| r.name() == repo) {
                let same: Vec<Reference> = refs
                    .1
                    .iter()
                    .filter(|r| r.name() == repo)
                    .cloned()
                    .collect();
                for r in same {
                    if let Some(d) = &r.digest {
                        self.store.db.tx(|q| q.remove_repo_digest(&repo, d))?;
                    }
                    events.push(RemoveEvent::Untagged(r.familiar()));
                }
                refs.1.retain(|r| r.name() != repo);
            }
            if keep_image || !refs.0.is_empty() || !refs.1.is_empty() {
                self.write_oci_index();
                return Ok(events);
            }
        } else if !refs.0.is_empty() || !refs.1.is_empty() {
            let single = refs.0.len() <= 1
                && refs
                    .1
                    .iter()
                    .all(|d| refs.0.first().is_none_or(|t| t.0.name() == d.name()))
                && (refs.0.len() == 1
                    || refs
                        .1
                        .iter()
                        .map(|r| r.name())
                        .collect::<HashSet<_>>()
                        .len()
                        <= 1);
            if !force && !single {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    img.id.short()
                )));
            }
            for (r, _) in &refs.0 {
                self.store.db.tx(|q| q.remove_tag(&r.to_string()))?;
                events.push(RemoveEvent::Untagged(r.familiar()));
            }
            for r in &refs.1 {
                if let Some(d) = &r.digest {
                    self.store.db.tx(|q| q.remove_repo_digest(&r.name(), d))?;
                }
                events.push(RemoveEvent::Untagged(r.familiar()));
            }
        }
        // An image other images were made from stays while they exist: removing it by ID is
        // refused, untagging its last name leaves it as an intermediate image (docker's rules).
        if has_children {
            keep_image = true;
        }
        if keep_image {
            self.write_oci_index();
            return Ok(events);
        }
        // Untagged parents nothing else needs go with it, as docker deletes a build's
        // intermediate images with its result.
        let mut parent = self.store.db.read(|q| q.parent(&img.id))?;
        events.extend(self.delete_image(&img)?);
        while let Some(p) = parent.take() {
            let Some(row) = self.store.db.read(|q| q.image(&p))? else {
                break;
            };
            let refs = self.refs_by_image()?.remove(&p).unwrap_or_default();
            let free = refs.0.is_empty()
                && refs.1.is_empty()
                && self.image_user_state(&p).is_none()
                && self.store.db.read(|q| q.children(&p))?.is_empty();
            if !free {
                break;
            }
            parent = self.store.db.read(|q| q.parent(&p))?;
            events.extend(self.delete_image(&row)?);
        }
        self.write_oci_index();
        Ok(events)
    }

    /// Deletes an image with no references left, and every layer and blob only it used.
    fn delete_image(&self, img: &ImageRow) -> Result<Vec<RemoveEvent>> {
        let manifests: Vec<Digest> = self.store.db.read(|q| {
            Ok(q.repo_digests()?
                .into_iter()
                .filter(|x| x.2 == img.id)
                .map(|x| x.1)
                .collect())
        })?;
        let (gone_layers, gone_blobs) = self.store.db.tx(|q| {
            if q.tags()?.iter().any(|t| t.1 == img.id) {
                return Err(Error::Conflict(format!(
                    "conflict: image {} was tagged concurrently",
                    img.id.short()
                )));
            }
            q.delete_image(&img.id)?;
            let in_use: HashSet<Digest> = q.images()?.into_iter().flat_map(|i| i.layers).collect();
            let mut gone = Vec::new();
            let mut blobs = Vec::new();
            for l in &img.layers {
                if !in_use.contains(l) && q.layer(l)?.is_some() {
                    q.delete_layer(l)?;
                    blobs.extend(q.delete_layer_blobs(l)?);
                    gone.push(l.clone());
                }
            }
            Ok((gone, blobs))
        })?;
        let mut events = vec![RemoveEvent::Deleted(img.id.clone())];
        self.store.blobs.remove(&img.id);
        for m in img.manifest.iter().chain(manifests.iter()) {
            self.store.blobs.remove(m);
        }
        for b in gone_blobs {
            self.store.blobs.remove(&b);
        }
        let chains = chain_ids(&img.layers);
        for (i, l) in img.layers.iter().enumerate().rev() {
            if gone_layers.contains(l) {
                let _ = std::fs::remove_dir_all(self.store.snapshot_path(l));
                events.push(RemoveEvent::Deleted(chains[i].clone()));
            }
        }
        Ok(events)
    }

    /// `image prune`: dangling images, or with `all` every image no container uses, except
    /// those `keep` spares (filters). Returns the events and the bytes reclaimed.
    pub fn prune_images(
        &self,
        all: bool,
        keep: &dyn Fn(&ImageSummary) -> bool,
    ) -> Result<(Vec<RemoveEvent>, u64)> {
        let mut events = Vec::new();
        let mut reclaimed = 0;
        // Images with children go when their children have (removing an image takes its
        // untagged parents with it), so go round until a pass removes nothing.
        loop {
            let mut removed = false;
            for img in self.list_images()? {
                let dangling = img.repo_tags.is_empty();
                if img.children > 0
                    || !(all || dangling)
                    || self.image_user(&img.id).is_some()
                    || keep(&img)
                    || self.store.db.read(|q| q.image(&img.id))?.is_none()
                {
                    continue;
                }
                let before: u64 = self.layer_bytes()?;
                let evs = self.remove_image(img.id.as_str(), true)?;
                reclaimed += before.saturating_sub(self.layer_bytes()?);
                events.extend(evs);
                removed = true;
            }
            if !removed {
                break;
            }
        }
        Ok((events, reclaimed))
    }

    /// Bytes of all unpacked layers (shared layers once).
    fn layer_bytes(&self) -> Result<u64> {
        let rows = self.store.db.read(|q| q.images())?;
        let mut seen = HashSet::new();
        let mut total = 0;
        for r in rows {
            for l in r.layers {
                if seen.insert(l.clone()) {
                    total += self
                        .store
                        .db
                        .read(|q| q.layer(&l))?
                        .map(|x| x.0)
                        .unwrap_or(0);
                }
            }
        }
        Ok(total)
    }

    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let images = self.list_images()?;
        let size = self.layer_bytes()?;
        let active = images
            .iter()
            .filter(|i| self.image_user(&i.id).is_some())
            .count();
        Ok(DiskUsage {
            images: images.len(),
            active,
            size,
            reclaimable: if active == 0 { size } else { 0 },
        })
    }

    /// `image inspect` as docker's JSON value.
    pub fn inspect_image(&self, s: &str) -> Result<ImageInspect> {
        let img = self.resolve(s)?;
        let cfg = self.config(&img.id)?;
        let (tags, digests) = self.refs_by_image()?.remove(&img.id).unwrap_or_default();
        let last_tag = tags.iter().map(|t| t.1).max();
        let layers: Vec<String> = img.layers.iter().map(|d| d.to_string()).collect();
        let mut data = BTreeMap::new();
        let dirs: Vec<String> = img
            .layers
            .iter()
            .rev()
            .map(|d| self.store.snapshot_path(d).display().to_string())
            .collect();
        if let Some((top, lower)) = dirs.split_first() {
            data.insert("UpperDir".to_string(), top.clone());
            if !lower.is_empty() {
                data.insert("LowerDir".to_string(), lower.join(":"));
            }
        }
        Ok(ImageInspect {
            id: img.id.to_string(),
            repo_tags: tags.iter().map(|t| t.0.familiar()).collect(),
            repo_digests: digests.iter().map(|r| r.familiar()).collect(),
            parent: match self.store.db.read(|q| q.parent(&img.id))? {
                Some(p) => p.to_string(),
                None => cfg.parent.clone().unwrap_or_default(),
            },
            comment: cfg.comment.clone().unwrap_or_default(),
            created: cfg.created.clone().unwrap_or_default(),
            docker_version: cfg.docker_version.clone().unwrap_or_default(),
            author: cfg.author.clone().unwrap_or_default(),
            config: cfg.config.clone().unwrap_or_default(),
            architecture: cfg.architecture.clone(),
            variant: cfg.variant.clone(),
            os: cfg.os.clone(),
            size: img.size,
            graph_driver: GraphDriver {
                data,
                name: "overlay".into(),
            },
            root_fs: RootFsOut {
                kind: "layers".into(),
                layers,
            },
            metadata: Metadata {
                last_tag_time: last_tag
                    .map(|t| timefmt::format_rfc3339(t, 0))
                    .unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            },
        })
    }

    pub fn history(&self, s: &str) -> Result<Vec<HistoryEntry>> {
        let img = self.resolve(s)?;
        let cfg: ImageConfig = self.config(&img.id)?;
        let tags: Vec<String> = self
            .refs_by_image()?
            .remove(&img.id)
            .map(|(t, _)| t.into_iter().map(|x| x.0.familiar()).collect())
            .unwrap_or_default();
        let mut sizes = Vec::new();
        for l in &img.layers {
            sizes.push(
                self.store
                    .db
                    .read(|q| q.layer(l))?
                    .map(|x| x.0)
                    .unwrap_or(0),
            );
        }
        let mut layer_idx = 0;
        let mut out = Vec::new();
        let history = if cfg.history.is_empty() {
            // Configs without history (some hand-made ones): one entry per layer.
            img.layers
                .iter()
                .map(|_| crate::oci::History::default())
                .collect()
        } else {
            cfg.history.clone()
        };
        for h in &history {
            let size = if h.empty_layer {
                0
            } else {
                layer_idx += 1;
                sizes.get(layer_idx - 1).copied().unwrap_or(0)
            };
            out.push(HistoryEntry {
                id: None,
                created: h.created.as_deref().map(created_secs).unwrap_or(0),
                created_by: h.created_by.clone().unwrap_or_default(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
                tags: Vec::new(),
            });
        }
        out.reverse();
        if let Some(first) = out.first_mut() {
            first.id = Some(img.id.clone());
            first.tags = tags;
        }
        Ok(out)
    }

    /// Keeps `<root>/index.json` listing every tagged image, so the store is an OCI image
    /// layout (manifests stay as pulled: docker schema 2 ones are skipped by some OCI tools).
    /// Best effort: the database is the source of truth.
    pub(crate) fn write_oci_index(&self) {
        let Ok(tags) = self.store.db.read(|q| q.tags()) else {
            return;
        };
        let mut manifests = Vec::new();
        for (name, id, _) in tags {
            let Ok(Some(row)) = self.store.db.read(|q| q.image(&id)) else {
                continue;
            };
            let Some(m) = row.manifest else { continue };
            let Ok(bytes) = self.store.blobs.read(&m) else {
                continue;
            };
            let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| {
                    v.get("mediaType")
                        .and_then(|m| m.as_str())
                        .map(String::from)
                })
                .unwrap_or_else(|| crate::oci::OCI_MANIFEST.to_string());
            manifests.push(serde_json::json!({
                "mediaType": media_type,
                "digest": m.to_string(),
                "size": bytes.len(),
                "annotations": {
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": name,
                }
            }));
        }
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": crate::oci::OCI_INDEX, "manifests": manifests});
        let tmp = crate::store::TempPath::new(self.store.blobs.tmp_dir(), "index");
        if std::fs::write(&tmp.path, index.to_string()).is_ok()
            && std::fs::rename(&tmp.path, self.store.root.join("index.json")).is_ok()
        {
            tmp.keep();
        }
    }
}
