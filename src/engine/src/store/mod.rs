//! The local store: blobs (OCI layout tree), metadata database and unpacked layer snapshots.

pub mod blobs;
pub mod db;

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingReader, TeeReader};
use crate::error::{Error, IoContext, Result};
use crate::layer;
pub use blobs::{Blobs, TempPath};
pub use db::{Db, ImageRow, LayerBlob, Q};

pub struct Store {
    pub root: PathBuf,
    pub blobs: Blobs,
    pub db: Db,
    pub files: Files,
}

/// The file side of the store (blobs and snapshot dirs): shareable across threads, unlike the
/// database connection. Callers record what it produced in the database.
#[derive(Clone)]
pub struct Files {
    pub blobs: Blobs,
    snapshots: PathBuf,
}

/// A layer now in the store, unpacked.
#[derive(Clone, Debug)]
pub struct LayerInfo {
    pub diff_id: Digest,
    pub size: u64,
    pub tar_size: u64,
}

impl Store {
    pub fn open(root: &Path) -> Result<Store> {
        fs::create_dir_all(root).ctx("creating", root)?;
        let blobs = Blobs::open(root)?;
        let snapshots = root.join("snapshots");
        fs::create_dir_all(&snapshots).ctx("creating", &snapshots)?;
        let layout = root.join("oci-layout");
        if !layout.exists() {
            let _ = fs::write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#);
        }
        let db = Db::open(&root.join("bay.db"))?;
        blobs.clean_stale_tmp();
        Ok(Store {
            root: root.to_path_buf(),
            blobs: blobs.clone(),
            db,
            files: Files { blobs, snapshots },
        })
    }

    pub fn snapshot_path(&self, diff_id: &Digest) -> PathBuf {
        self.files.snapshot_path(diff_id)
    }

    /// Records a layer unpacked and stored by `Files`.
    pub fn record_layer(&self, blob: Option<&LayerBlob>, info: &LayerInfo) -> Result<()> {
        self.db.tx(|q| {
            q.insert_layer(&info.diff_id, info.size, info.tar_size)?;
            if let Some(b) = blob {
                q.add_layer_blob(b)?;
            }
            Ok(())
        })
    }

    pub fn ingest_layer(
        &self,
        reader: impl Read,
        digest: Option<&Digest>,
        media_type: &str,
        expected_diff: Option<&Digest>,
        progress: &dyn Fn(u64),
    ) -> Result<(LayerBlob, LayerInfo)> {
        let (blob, info) =
            self.files
                .ingest_layer(reader, digest, media_type, expected_diff, progress)?;
        self.record_layer(Some(&blob), &info)?;
        Ok((blob, info))
    }
}

impl Store {
    /// Is this layer unpacked and recorded?
    pub fn has_layer(&self, diff_id: &Digest) -> Result<Option<(u64, u64)>> {
        let row = self.db.read(|q| q.layer(diff_id))?;
        Ok(row.filter(|_| self.snapshot_path(diff_id).is_dir()))
    }
}

impl Files {
    pub fn snapshot_path(&self, diff_id: &Digest) -> PathBuf {
        self.snapshots.join(diff_id.hex())
    }

    /// Moves an unpacked temp dir into place; if another process got there first, keeps theirs.
    fn finish_snapshot(&self, tmp: TempPath, info: &LayerInfo) -> Result<()> {
        let dest = self.snapshot_path(&info.diff_id);
        if !dest.is_dir() {
            match fs::rename(&tmp.path, &dest) {
                Ok(()) => {
                    tmp.keep();
                }
                Err(e) if dest.is_dir() => drop(e),
                Err(e) => return Err(Error::at(&dest, "storing layer", e)),
            }
        }
        Ok(())
    }

    /// Unpacks a (possibly compressed) layer stream, checking its diff ID when one is expected.
    pub fn unpack_layer(&self, reader: impl Read, expected: Option<&Digest>) -> Result<LayerInfo> {
        let tmp = TempPath::new(self.blobs.tmp_dir(), "snap");
        fs::create_dir(&tmp.path).ctx("creating", &tmp.path)?;
        let mut hr =
            HashingReader::new(layer::decompress(reader).ctx_str(|| "reading layer".into())?);
        let unpacked = layer::unpack(&mut hr, &tmp.path)?;
        let (diff_id, tar_size) = hr.finish().ctx_str(|| "reading layer".into())?;
        check(expected, &diff_id, "layer")?;
        let info = LayerInfo {
            diff_id,
            size: unpacked.size,
            tar_size,
        };
        self.finish_snapshot(tmp, &info)?;
        Ok(info)
    }

    /// Stores a layer blob arriving on `reader` and unpacks it in the same pass: bytes go to the
    /// blob file and the hasher as the decompressor pulls them. Both digests are verified; on
    /// any failure neither the blob nor the snapshot is kept.
    pub fn ingest_layer(
        &self,
        reader: impl Read,
        digest: Option<&Digest>,
        media_type: &str,
        expected_diff: Option<&Digest>,
        progress: &dyn Fn(u64),
    ) -> Result<(LayerBlob, LayerInfo)> {
        let shown = digest
            .map(|d| d.to_string())
            .unwrap_or_else(|| "layer".into());
        let writer = self.blobs.writer()?;
        let counting = CountingReader {
            inner: reader,
            n: 0,
            cb: progress,
        };
        let mut tee = TeeReader::new(counting, writer);
        let tmp = TempPath::new(self.blobs.tmp_dir(), "snap");
        fs::create_dir(&tmp.path).ctx("creating", &tmp.path)?;
        let unpacked = (|| -> Result<(Digest, u64, u64)> {
            let mut hr =
                HashingReader::new(layer::decompress(&mut tee).map_err(|e| read_err(e, &shown))?);
            let unpacked = match layer::unpack(&mut hr, &tmp.path) {
                Ok(u) => u,
                Err(layer::UnpackError::Tar(e)) => return Err(read_err(e, &shown)),
                Err(e) => return Err(e.into()),
            };
            let (diff_id, tar_size) = hr.finish().map_err(|e| read_err(e, &shown))?;
            Ok((diff_id, tar_size, unpacked.size))
        })();
        // A corrupt blob usually breaks the decompressor first; report it as the digest
        // mismatch it is rather than as a tar error.
        let (diff_id, tar_size, size, writer) = match (unpacked, tee.finish()) {
            (Err(e), Ok(w)) => {
                check(digest, &w.digest(), "blob")?;
                return Err(e);
            }
            (Err(e), Err(_)) => return Err(e),
            (Ok(_), Err(e)) => return Err(read_err(e, &shown)),
            (Ok((diff_id, tar_size, size)), Ok(w)) => (diff_id, tar_size, size, w),
        };
        check(digest, &writer.digest(), "blob")?;
        check(expected_diff, &diff_id, "layer")?;
        let (blob_digest, blob_size) = writer.commit(None)?;
        let info = LayerInfo {
            diff_id: diff_id.clone(),
            size,
            tar_size,
        };
        self.finish_snapshot(tmp, &info)?;
        let blob = LayerBlob {
            digest: blob_digest,
            diff_id,
            media_type: media_type.to_string(),
            size: blob_size,
        };
        Ok((blob, info))
    }

    /// Stores a whole blob from `reader`, verifying it against `digest`.
    pub fn ingest_blob(
        &self,
        reader: impl Read,
        digest: &Digest,
        progress: &dyn Fn(u64),
    ) -> Result<u64> {
        let mut w = self.blobs.writer()?;
        let mut counting = CountingReader {
            inner: reader,
            n: 0,
            cb: progress,
        };
        io::copy(&mut counting, &mut w).map_err(|e| read_err(e, digest.as_str()))?;
        Ok(w.commit(Some(digest))?.1)
    }
}

fn read_err(e: io::Error, what: &str) -> Error {
    Error::io(format!("reading {what}"), e)
}

fn check(expected: Option<&Digest>, actual: &Digest, what: &str) -> Result<()> {
    match expected {
        Some(e) if e != actual => Err(Error::DigestMismatch {
            what: what.to_string(),
            expected: e.to_string(),
            actual: actual.to_string(),
        }),
        _ => Ok(()),
    }
}

struct CountingReader<'a, R> {
    inner: R,
    n: u64,
    cb: &'a dyn Fn(u64),
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        (self.cb)(self.n);
        Ok(k)
    }
}
