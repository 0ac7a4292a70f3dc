//! Content-addressed blobs under `<root>/blobs/sha256/<hex>` (the OCI image layout's tree).
//! A blob is written to a temp file in `<root>/tmp`, verified, synced and renamed into place,
//! so a reader never sees a partial blob and a failed write leaves nothing behind.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::{Digest, HashingWriter};
use crate::error::{Error, IoContext, Result};

#[derive(Clone)]
pub struct Blobs {
    dir: PathBuf,
    tmp: PathBuf,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A path in `<root>/tmp` removed on drop unless kept: every failure path cleans up.
pub struct TempPath {
    pub path: PathBuf,
    keep: bool,
}

impl TempPath {
    pub fn new(tmp_dir: &Path, what: &str) -> TempPath {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let (s, ns) = crate::timefmt::now();
        let name = format!("{what}-{}-{n}-{s}{ns}", std::process::id());
        TempPath {
            path: tmp_dir.join(name),
            keep: false,
        }
    }

    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        std::mem::take(&mut self.path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if !self.keep && !self.path.as_os_str().is_empty() {
            if self.path.is_dir() {
                let _ = fs::remove_dir_all(&self.path);
            } else {
                let _ = fs::remove_file(&self.path);
            }
        }
    }
}

/// A file that starts writeback of what it has written every few MiB, so the final
/// `fdatasync` finds little left to flush: durable blobs without a long stall at the end.
pub struct WritebackFile {
    file: File,
    written: u64,
    started: u64,
}

const WRITEBACK_STEP: u64 = 8 << 20;

impl Write for WritebackFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= WRITEBACK_STEP {
            // SAFETY: plain syscall on a descriptor owned by self.file; failure only loses the hint.
            unsafe {
                libc::sync_file_range(
                    std::os::unix::io::AsRawFd::as_raw_fd(&self.file),
                    self.started as i64,
                    (self.written - self.started) as i64,
                    libc::SYNC_FILE_RANGE_WRITE,
                )
            };
            self.started = self.written;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A blob being written: bytes go to a temp file and through a hasher.
pub struct BlobWriter {
    file: HashingWriter<io::BufWriter<WritebackFile>>,
    temp: TempPath,
    dir: PathBuf,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter {
    /// The digest of what has been written so far.
    pub fn digest(&self) -> Digest {
        self.file.digest()
    }

    /// Verifies against `expected` (if given), syncs and moves the blob into the store.
    pub fn commit(self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let (digest, size, buf) = self.file.finish();
        if let Some(e) = expected {
            if e != &digest {
                return Err(Error::DigestMismatch {
                    what: "blob".into(),
                    expected: e.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        let file = buf
            .into_inner()
            .map_err(|e| Error::io("writing blob", e.into_error()))?
            .file;
        file.sync_data().ctx("syncing", &self.temp.path)?;
        drop(file);
        let dest = self.dir.join(digest.hex());
        fs::rename(&self.temp.path, &dest).ctx("storing blob", &dest)?;
        self.temp.keep();
        Ok((digest, size))
    }
}

impl Blobs {
    pub fn open(root: &Path) -> Result<Blobs> {
        let dir = root.join("blobs").join("sha256");
        let tmp = root.join("tmp");
        fs::create_dir_all(&dir).ctx("creating", &dir)?;
        fs::create_dir_all(&tmp).ctx("creating", &tmp)?;
        Ok(Blobs { dir, tmp })
    }

    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    pub fn path(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.hex())
    }

    pub fn exists(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    pub fn size(&self, d: &Digest) -> Option<u64> {
        fs::metadata(self.path(d)).ok().map(|m| m.len())
    }

    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        let p = self.path(d);
        File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::Archive(format!("blob {d} is missing from the store"))
            } else {
                Error::at(&p, "opening", e)
            }
        })
    }

    pub fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.open_blob(d)?
            .read_to_end(&mut v)
            .ctx("reading", &self.path(d))?;
        Ok(v)
    }

    pub fn writer(&self) -> Result<BlobWriter> {
        let temp = TempPath::new(&self.tmp, "blob");
        let f = File::create(&temp.path).ctx("creating", &temp.path)?;
        Ok(BlobWriter {
            file: HashingWriter::new(io::BufWriter::with_capacity(
                256 * 1024,
                WritebackFile {
                    file: f,
                    written: 0,
                    started: 0,
                },
            )),
            temp,
            dir: self.dir.clone(),
        })
    }

    pub fn put(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let d = Digest::of(bytes);
        if let Some(e) = expected {
            if e != &d {
                return Err(Error::DigestMismatch {
                    what: "blob".into(),
                    expected: e.to_string(),
                    actual: d.to_string(),
                });
            }
        }
        if self.exists(&d) {
            return Ok(d);
        }
        let mut w = self.writer()?;
        w.write_all(bytes).ctx_str(|| "writing blob".into())?;
        Ok(w.commit(Some(&d))?.0)
    }

    pub fn remove(&self, d: &Digest) {
        let _ = fs::remove_file(self.path(d));
    }

    /// Removes temp files left by processes that no longer exist.
    pub fn clean_stale_tmp(&self) {
        let Ok(rd) = fs::read_dir(&self.tmp) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let pid = name.split('-').nth(1).and_then(|p| p.parse::<i32>().ok());
            if let Some(pid) = pid {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    let p = e.path();
                    if p.is_dir() {
                        let _ = fs::remove_dir_all(&p);
                    } else {
                        let _ = fs::remove_file(&p);
                    }
                }
            }
        }
    }
}
