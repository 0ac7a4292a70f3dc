//! Image metadata in SQLite: WAL mode and immediate transactions make concurrent `bay`
//! processes safe; every multi-row change is one transaction.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::digest::Digest;
use crate::error::{Error, Result};

// One transaction: as separate statements each CREATE was its own commit and fsync (14 of them,
// ~20 ms, on a new store).
const SCHEMA: &str = "
BEGIN;
CREATE TABLE IF NOT EXISTS images (
  id TEXT PRIMARY KEY,          -- sha256 of the config blob: the image ID
  created TEXT NOT NULL,        -- the config's created time (RFC 3339, may be empty)
  size INTEGER NOT NULL,        -- sum of the layers' unpacked sizes
  manifest TEXT,                -- a manifest blob describing the image, if one is stored
  layers TEXT NOT NULL,         -- JSON array of diff IDs, bottom first
  added INTEGER NOT NULL        -- when it entered this store (unix seconds)
);
CREATE TABLE IF NOT EXISTS tags (
  name TEXT PRIMARY KEY,        -- fully qualified: docker.io/library/busybox:latest
  image TEXT NOT NULL,
  added INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tags_image ON tags(image);
CREATE TABLE IF NOT EXISTS repo_digests (
  repo TEXT NOT NULL,           -- docker.io/library/busybox
  digest TEXT NOT NULL,         -- manifest digest in that repository
  image TEXT NOT NULL,
  PRIMARY KEY (repo, digest)
);
CREATE TABLE IF NOT EXISTS layers (
  diff_id TEXT PRIMARY KEY,     -- sha256 of the uncompressed tar; snapshot dir name
  size INTEGER NOT NULL,        -- unpacked file bytes
  tar_size INTEGER NOT NULL     -- bytes of the uncompressed tar
);
CREATE TABLE IF NOT EXISTS layer_blobs (
  digest TEXT PRIMARY KEY,      -- a stored blob holding this layer (maybe compressed)
  diff_id TEXT NOT NULL,
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS layer_blobs_diff ON layer_blobs(diff_id);
CREATE TABLE IF NOT EXISTS blob_sources (
  registry TEXT NOT NULL, repo TEXT NOT NULL, digest TEXT NOT NULL,
  PRIMARY KEY (registry, repo, digest)
);
CREATE TABLE IF NOT EXISTS containers (
  id TEXT PRIMARY KEY,          -- 64 hex
  name TEXT NOT NULL UNIQUE,    -- without docker's leading slash
  image TEXT NOT NULL,          -- image ID (sha256:...)
  image_name TEXT NOT NULL,     -- the image as the user named it
  config TEXT NOT NULL,         -- docker's Config JSON
  host_config TEXT NOT NULL,    -- docker's HostConfig JSON
  created TEXT NOT NULL,        -- RFC 3339 with nanoseconds
  state TEXT NOT NULL,          -- created, running, paused, exited, dead
  pid INTEGER NOT NULL,
  monitor_pid INTEGER NOT NULL,
  exit_code INTEGER NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL,
  error TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS containers_image ON containers(image);
CREATE TABLE IF NOT EXISTS networks (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,      -- 64 hex
  name TEXT NOT NULL UNIQUE,
  data TEXT NOT NULL            -- network::Network JSON
);
CREATE TABLE IF NOT EXISTS endpoints (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  container_id TEXT NOT NULL,
  network_id TEXT NOT NULL,
  ip TEXT,                      -- set while the container runs; unique per network
  data TEXT NOT NULL,           -- network::store::Endpoint JSON
  UNIQUE (container_id, network_id),
  UNIQUE (network_id, ip)
);
CREATE TABLE IF NOT EXISTS image_parents (
  id TEXT PRIMARY KEY,          -- an image made locally from another (build step, commit)
  parent TEXT NOT NULL          -- the image it was made from, as docker records it
);
CREATE INDEX IF NOT EXISTS image_parents_parent ON image_parents(parent);
COMMIT;
";

pub struct Db {
    conn: RefCell<Connection>,
}

#[derive(Clone, Debug)]
pub struct ImageRow {
    pub id: Digest,
    pub created: String,
    pub size: u64,
    pub manifest: Option<Digest>,
    pub layers: Vec<Digest>,
    pub added: i64,
}

/// One container as stored; `config`/`host_config` are docker's JSON documents.
#[derive(Clone, Debug)]
pub struct ContainerRow {
    pub id: String,
    pub name: String,
    pub image: Digest,
    pub image_name: String,
    pub config: String,
    pub host_config: String,
    pub created: String,
    pub state: String,
    pub pid: i64,
    pub monitor_pid: i64,
    pub exit_code: i64,
    pub started_at: String,
    pub finished_at: String,
    pub error: String,
}

/// The run-state columns of a container, changed together.
#[derive(Clone, Debug, Default)]
pub struct ContainerState {
    pub state: String,
    pub pid: i64,
    pub monitor_pid: i64,
    pub exit_code: i64,
    pub started_at: String,
    pub finished_at: String,
    pub error: String,
}

#[derive(Clone, Debug)]
pub struct LayerBlob {
    pub digest: Digest,
    pub diff_id: Digest,
    pub media_type: String,
    pub size: u64,
}

fn dberr(context: &str) -> impl FnOnce(rusqlite::Error) -> Error + '_ {
    move |source| Error::Db {
        context: context.to_string(),
        source,
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn digest_col(s: String) -> rusqlite::Result<Digest> {
    Digest::parse(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn image_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ImageRow> {
    let layers: String = r.get(4)?;
    let layers: Vec<String> = serde_json::from_str(&layers).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(ImageRow {
        id: digest_col(r.get(0)?)?,
        created: r.get(1)?,
        size: r.get::<_, i64>(2)? as u64,
        manifest: r.get::<_, Option<String>>(3)?.map(digest_col).transpose()?,
        layers: layers
            .into_iter()
            .map(digest_col)
            .collect::<rusqlite::Result<_>>()?,
        added: r.get(5)?,
    })
}

const CONTAINER_COLS: &str = "id, name, image, image_name, config, host_config, created, state, pid, monitor_pid, exit_code, started_at, finished_at, error";

fn container_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ContainerRow> {
    Ok(ContainerRow {
        id: r.get(0)?,
        name: r.get(1)?,
        image: digest_col(r.get(2)?)?,
        image_name: r.get(3)?,
        config: r.get(4)?,
        host_config: r.get(5)?,
        created: r.get(6)?,
        state: r.get(7)?,
        pid: r.get(8)?,
        monitor_pid: r.get(9)?,
        exit_code: r.get(10)?,
        started_at: r.get(11)?,
        finished_at: r.get(12)?,
        error: r.get(13)?,
    })
}

const IMAGE_COLS: &str = "id, created, size, manifest, layers, added";

/// Queries usable on the connection or inside a transaction.
pub struct Q<'a>(pub &'a Connection);

impl Db {
    pub fn open(path: &Path) -> Result<Db> {
        let conn = Connection::open(path).map_err(dberr("opening"))?;
        conn.busy_timeout(Duration::from_secs(60))
            .map_err(dberr("configuring"))?;
        // WAL is persistent in the file; switching needs an exclusive lock that SQLite does not
        // wait for, so concurrent first opens retry instead of failing with "database is locked".
        let mut delay = Duration::from_millis(5);
        for attempt in 0.. {
            let res = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
                .and_then(|mode| {
                    if mode.eq_ignore_ascii_case("wal") {
                        Ok(())
                    } else {
                        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
                    }
                })
                // WAL with synchronous=NORMAL: commits are durable at the next checkpoint and
                // never corrupt the database; a commit costs no fsync.
                .and_then(|_| conn.pragma_update(None, "synchronous", "NORMAL"))
                .and_then(|_| conn.execute_batch(SCHEMA));
            match res {
                Ok(()) => break,
                Err(e) if attempt < 200 && is_busy(&e) => {
                    if !conn.is_autocommit() {
                        let _ = conn.execute_batch("ROLLBACK");
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(100));
                }
                Err(e) => {
                    return Err(Error::Db {
                        context: "configuring".into(),
                        source: e,
                    })
                }
            }
        }
        Ok(Db {
            conn: RefCell::new(conn),
        })
    }

    /// Runs `f` in an immediate (write-locked) transaction, committing if it returns Ok.
    pub fn tx<T>(&self, f: impl FnOnce(&Q<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.borrow_mut();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(dberr("locking"))?;
        let out = f(&Q(&tx))?;
        tx.commit().map_err(dberr("committing"))?;
        Ok(out)
    }

    /// Read-only access (a consistent snapshot per statement).
    pub fn read<T>(&self, f: impl FnOnce(&Q<'_>) -> Result<T>) -> Result<T> {
        let conn = self.conn.borrow();
        f(&Q(&conn))
    }
}

impl Q<'_> {
    pub fn image(&self, id: &Digest) -> Result<Option<ImageRow>> {
        self.0
            .query_row(
                &format!("SELECT {IMAGE_COLS} FROM images WHERE id = ?1"),
                [id.as_str()],
                image_from_row,
            )
            .optional()
            .map_err(dberr("reading image"))
    }

    pub fn images(&self) -> Result<Vec<ImageRow>> {
        let mut st = self
            .0
            .prepare(&format!("SELECT {IMAGE_COLS} FROM images"))
            .map_err(dberr("listing images"))?;
        let rows = st
            .query_map([], image_from_row)
            .map_err(dberr("listing images"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(dberr("listing images"))
    }

    pub fn ids_with_prefix(&self, hex_prefix: &str) -> Result<Vec<Digest>> {
        let mut st = self
            .0
            .prepare("SELECT id FROM images WHERE substr(id, 8, ?1) = ?2")
            .map_err(dberr("finding image"))?;
        let rows = st
            .query_map(params![hex_prefix.len() as i64, hex_prefix], |r| {
                digest_col(r.get(0)?)
            })
            .map_err(dberr("finding image"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(dberr("finding image"))
    }

    pub fn insert_image(&self, row: &ImageRow) -> Result<bool> {
        let layers =
            serde_json::to_string(&row.layers.iter().map(|d| d.as_str()).collect::<Vec<_>>())
                .unwrap_or_default();
        let n = self
            .0
            .execute(
                "INSERT OR IGNORE INTO images (id, created, size, manifest, layers, added) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![row.id.as_str(), row.created, row.size as i64, row.manifest.as_ref().map(|d| d.as_str()), layers, row.added],
            )
            .map_err(dberr("adding image"))?;
        if n == 0 && row.manifest.is_some() {
            self.0
                .execute(
                    "UPDATE images SET manifest = ?2 WHERE id = ?1 AND manifest IS NULL",
                    params![row.id.as_str(), row.manifest.as_ref().map(|d| d.as_str())],
                )
                .map_err(dberr("updating image"))?;
        }
        Ok(n > 0)
    }

    pub fn set_manifest(&self, id: &Digest, manifest: &Digest) -> Result<()> {
        self.0
            .execute(
                "UPDATE images SET manifest = ?2 WHERE id = ?1",
                params![id.as_str(), manifest.as_str()],
            )
            .map_err(dberr("updating image"))?;
        Ok(())
    }

    pub fn delete_image(&self, id: &Digest) -> Result<()> {
        self.0
            .execute("DELETE FROM images WHERE id = ?1", [id.as_str()])
            .map_err(dberr("deleting image"))?;
        self.0
            .execute("DELETE FROM image_parents WHERE id = ?1", [id.as_str()])
            .map_err(dberr("deleting image"))?;
        self.0
            .execute("DELETE FROM tags WHERE image = ?1", [id.as_str()])
            .map_err(dberr("deleting image"))?;
        self.0
            .execute("DELETE FROM repo_digests WHERE image = ?1", [id.as_str()])
            .map_err(dberr("deleting image"))?;
        Ok(())
    }

    /// Records that `id` was made from `parent` (docker's image parent, which hides
    /// intermediate build images from `images` and keeps a parent while children exist).
    pub fn set_parent(&self, id: &Digest, parent: &Digest) -> Result<()> {
        if id == parent {
            return Ok(());
        }
        self.0
            .execute(
                "INSERT OR REPLACE INTO image_parents (id, parent) VALUES (?1, ?2)",
                params![id.as_str(), parent.as_str()],
            )
            .map_err(dberr("recording image parent"))?;
        Ok(())
    }

    pub fn parent(&self, id: &Digest) -> Result<Option<Digest>> {
        self.0
            .query_row(
                "SELECT parent FROM image_parents WHERE id = ?1",
                [id.as_str()],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(dberr("reading image parent"))?
            .map(|p| Digest::parse(&p))
            .transpose()
    }

    /// Images made from `id` that still exist.
    pub fn children(&self, id: &Digest) -> Result<Vec<Digest>> {
        let mut st = self
            .0
            .prepare(
                "SELECT p.id FROM image_parents p JOIN images i ON i.id = p.id WHERE p.parent = ?1 ORDER BY p.id",
            )
            .map_err(dberr("reading image children"))?;
        let rows = st
            .query_map([id.as_str()], |r| r.get::<_, String>(0))
            .map_err(dberr("reading image children"))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(Digest::parse(&r.map_err(dberr("reading image children"))?)?);
        }
        Ok(out)
    }

    /// Number of existing children per parent image.
    pub fn child_counts(&self) -> Result<HashMap<Digest, u64>> {
        let mut st = self
            .0
            .prepare(
                "SELECT p.parent, COUNT(*) FROM image_parents p JOIN images i ON i.id = p.id GROUP BY p.parent",
            )
            .map_err(dberr("reading image children"))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(dberr("reading image children"))?;
        let mut out = HashMap::new();
        for r in rows {
            let (p, n) = r.map_err(dberr("reading image children"))?;
            out.insert(Digest::parse(&p)?, n as u64);
        }
        Ok(out)
    }

    /// All (name, image, added) tag rows.
    pub fn tags(&self) -> Result<Vec<(String, Digest, i64)>> {
        let mut st = self
            .0
            .prepare("SELECT name, image, added FROM tags")
            .map_err(dberr("listing tags"))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    digest_col(r.get(1)?)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(dberr("listing tags"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(dberr("listing tags"))
    }

    pub fn tag_target(&self, name: &str) -> Result<Option<Digest>> {
        self.0
            .query_row("SELECT image FROM tags WHERE name = ?1", [name], |r| {
                digest_col(r.get(0)?)
            })
            .optional()
            .map_err(dberr("reading tag"))
    }

    /// Points `name` at `image`, returning the image it pointed at before.
    pub fn set_tag(&self, name: &str, image: &Digest) -> Result<Option<Digest>> {
        let prev = self.tag_target(name)?;
        self.0
            .execute(
                "INSERT INTO tags (name, image, added) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET image = ?2, added = ?3",
                params![name, image.as_str(), crate::timefmt::now().0],
            )
            .map_err(dberr("tagging"))?;
        Ok(prev)
    }

    pub fn remove_tag(&self, name: &str) -> Result<()> {
        self.0
            .execute("DELETE FROM tags WHERE name = ?1", [name])
            .map_err(dberr("untagging"))?;
        Ok(())
    }

    /// All (repo, digest, image) rows.
    pub fn repo_digests(&self) -> Result<Vec<(String, Digest, Digest)>> {
        let mut st = self
            .0
            .prepare("SELECT repo, digest, image FROM repo_digests")
            .map_err(dberr("listing digests"))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    digest_col(r.get(1)?)?,
                    digest_col(r.get(2)?)?,
                ))
            })
            .map_err(dberr("listing digests"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(dberr("listing digests"))
    }

    pub fn add_repo_digest(&self, repo: &str, digest: &Digest, image: &Digest) -> Result<()> {
        self.0
            .execute(
                "INSERT INTO repo_digests (repo, digest, image) VALUES (?1, ?2, ?3) ON CONFLICT(repo, digest) DO UPDATE SET image = ?3",
                params![repo, digest.as_str(), image.as_str()],
            )
            .map_err(dberr("recording digest"))?;
        Ok(())
    }

    pub fn remove_repo_digest(&self, repo: &str, digest: &Digest) -> Result<()> {
        self.0
            .execute(
                "DELETE FROM repo_digests WHERE repo = ?1 AND digest = ?2",
                params![repo, digest.as_str()],
            )
            .map_err(dberr("removing digest"))?;
        Ok(())
    }

    /// (size, tar_size) of an unpacked layer.
    pub fn layer(&self, diff_id: &Digest) -> Result<Option<(u64, u64)>> {
        self.0
            .query_row(
                "SELECT size, tar_size FROM layers WHERE diff_id = ?1",
                [diff_id.as_str()],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .optional()
            .map_err(dberr("reading layer"))
    }

    pub fn insert_layer(&self, diff_id: &Digest, size: u64, tar_size: u64) -> Result<()> {
        self.0
            .execute(
                "INSERT OR IGNORE INTO layers (diff_id, size, tar_size) VALUES (?1, ?2, ?3)",
                params![diff_id.as_str(), size as i64, tar_size as i64],
            )
            .map_err(dberr("adding layer"))?;
        Ok(())
    }

    pub fn delete_layer(&self, diff_id: &Digest) -> Result<()> {
        self.0
            .execute("DELETE FROM layers WHERE diff_id = ?1", [diff_id.as_str()])
            .map_err(dberr("deleting layer"))?;
        Ok(())
    }

    pub fn layer_blobs(&self, diff_id: &Digest) -> Result<Vec<LayerBlob>> {
        let mut st = self
            .0
            .prepare("SELECT digest, diff_id, media_type, size FROM layer_blobs WHERE diff_id = ?1")
            .map_err(dberr("reading layer blobs"))?;
        let rows = st
            .query_map([diff_id.as_str()], |r| {
                Ok(LayerBlob {
                    digest: digest_col(r.get(0)?)?,
                    diff_id: digest_col(r.get(1)?)?,
                    media_type: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                })
            })
            .map_err(dberr("reading layer blobs"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(dberr("reading layer blobs"))
    }

    pub fn layer_blob(&self, digest: &Digest) -> Result<Option<LayerBlob>> {
        self.0
            .query_row(
                "SELECT digest, diff_id, media_type, size FROM layer_blobs WHERE digest = ?1",
                [digest.as_str()],
                |r| {
                    Ok(LayerBlob {
                        digest: digest_col(r.get(0)?)?,
                        diff_id: digest_col(r.get(1)?)?,
                        media_type: r.get(2)?,
                        size: r.get::<_, i64>(3)? as u64,
                    })
                },
            )
            .optional()
            .map_err(dberr("reading layer blob"))
    }

    pub fn add_layer_blob(&self, b: &LayerBlob) -> Result<()> {
        self.0
            .execute(
                "INSERT OR IGNORE INTO layer_blobs (digest, diff_id, media_type, size) VALUES (?1, ?2, ?3, ?4)",
                params![b.digest.as_str(), b.diff_id.as_str(), b.media_type, b.size as i64],
            )
            .map_err(dberr("adding layer blob"))?;
        Ok(())
    }

    pub fn delete_layer_blobs(&self, diff_id: &Digest) -> Result<Vec<Digest>> {
        let blobs = self.layer_blobs(diff_id)?;
        self.0
            .execute(
                "DELETE FROM layer_blobs WHERE diff_id = ?1",
                [diff_id.as_str()],
            )
            .map_err(dberr("deleting layer blobs"))?;
        for b in &blobs {
            self.0
                .execute(
                    "DELETE FROM blob_sources WHERE digest = ?1",
                    [b.digest.as_str()],
                )
                .map_err(dberr("deleting layer blobs"))?;
        }
        Ok(blobs.into_iter().map(|b| b.digest).collect())
    }

    /// Repositories on `registry` known to hold `digest` (for cross-repository mounts).
    pub fn blob_sources(&self, registry: &str, digest: &Digest) -> Result<Vec<String>> {
        let mut st = self
            .0
            .prepare("SELECT repo FROM blob_sources WHERE registry = ?1 AND digest = ?2")
            .map_err(dberr("reading blob sources"))?;
        let rows = st
            .query_map(params![registry, digest.as_str()], |r| {
                r.get::<_, String>(0)
            })
            .map_err(dberr("reading blob sources"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(dberr("reading blob sources"))
    }

    pub fn add_blob_source(&self, registry: &str, repo: &str, digest: &Digest) -> Result<()> {
        self.0
            .execute(
                "INSERT OR IGNORE INTO blob_sources (registry, repo, digest) VALUES (?1, ?2, ?3)",
                params![registry, repo, digest.as_str()],
            )
            .map_err(dberr("recording blob source"))?;
        Ok(())
    }

    pub fn container(&self, id: &str) -> Result<Option<ContainerRow>> {
        self.0
            .query_row(
                &format!("SELECT {CONTAINER_COLS} FROM containers WHERE id = ?1"),
                [id],
                container_from_row,
            )
            .optional()
            .map_err(dberr("reading container"))
    }

    pub fn container_by_name(&self, name: &str) -> Result<Option<ContainerRow>> {
        self.0
            .query_row(
                &format!("SELECT {CONTAINER_COLS} FROM containers WHERE name = ?1"),
                [name],
                container_from_row,
            )
            .optional()
            .map_err(dberr("reading container"))
    }

    /// All containers, newest first.
    pub fn containers(&self) -> Result<Vec<ContainerRow>> {
        let mut st = self
            .0
            .prepare(&format!(
                "SELECT {CONTAINER_COLS} FROM containers ORDER BY created DESC"
            ))
            .map_err(dberr("listing containers"))?;
        let rows = st
            .query_map([], container_from_row)
            .map_err(dberr("listing containers"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(dberr("listing containers"))
    }

    pub fn container_ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let mut st = self
            .0
            .prepare("SELECT id FROM containers WHERE substr(id, 1, ?1) = ?2")
            .map_err(dberr("finding container"))?;
        let rows = st
            .query_map(params![prefix.len() as i64, prefix], |r| r.get(0))
            .map_err(dberr("finding container"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(dberr("finding container"))
    }

    /// IDs of the containers created from an image.
    pub fn containers_using(&self, image: &Digest) -> Result<Vec<String>> {
        let mut st = self
            .0
            .prepare("SELECT id FROM containers WHERE image = ?1 ORDER BY created")
            .map_err(dberr("finding containers"))?;
        let rows = st
            .query_map([image.as_str()], |r| r.get(0))
            .map_err(dberr("finding containers"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(dberr("finding containers"))
    }

    pub fn insert_container(&self, c: &ContainerRow) -> Result<()> {
        self.0
            .execute(
                &format!("INSERT INTO containers ({CONTAINER_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"),
                params![
                    c.id,
                    c.name,
                    c.image.as_str(),
                    c.image_name,
                    c.config,
                    c.host_config,
                    c.created,
                    c.state,
                    c.pid,
                    c.monitor_pid,
                    c.exit_code,
                    c.started_at,
                    c.finished_at,
                    c.error
                ],
            )
            .map_err(dberr("adding container"))?;
        Ok(())
    }

    /// Sets the run state; false when the container is gone.
    pub fn set_container_state(&self, id: &str, s: &ContainerState) -> Result<bool> {
        let n = self
            .0
            .execute(
                "UPDATE containers SET state = ?2, pid = ?3, monitor_pid = ?4, exit_code = ?5, started_at = ?6, finished_at = ?7, error = ?8 WHERE id = ?1",
                params![id, s.state, s.pid, s.monitor_pid, s.exit_code, s.started_at, s.finished_at, s.error],
            )
            .map_err(dberr("updating container"))?;
        Ok(n > 0)
    }

    pub fn delete_container(&self, id: &str) -> Result<bool> {
        let n = self
            .0
            .execute("DELETE FROM containers WHERE id = ?1", [id])
            .map_err(dberr("deleting container"))?;
        Ok(n > 0)
    }

    pub fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        self.0
            .execute(
                "UPDATE containers SET name = ?2 WHERE id = ?1",
                params![id, name],
            )
            .map_err(dberr("renaming container"))?;
        Ok(())
    }
}
