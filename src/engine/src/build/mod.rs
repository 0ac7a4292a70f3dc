//! `build`: Dockerfile builds with docker's classic builder behaviour. Each instruction makes
//! a new (untagged) image from the previous one; RUN runs in a container through the OCI
//! runtime over an overlay of the parent's layers and its upper dir becomes the new layer;
//! COPY/ADD write through the same overlay. Steps are cached by parent image ID plus the
//! instruction (with a content hash of COPY/ADD sources), as docker's classic builder does.

pub mod builder;
pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod run;
pub mod shell;
pub mod work;

use std::io::Read;
use std::path::PathBuf;

use crate::engine::Engine;
use crate::store::TempPath;

pub use builder::BuildOptions;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `dockerfile parse error on line N: ...`
    #[error("{0}")]
    Parse(String),
    /// A user error, printed as is (`COPY failed: ...`).
    #[error("{0}")]
    Invalid(String),
    #[error("The command '{cmd}' returned a non-zero code: {code}")]
    RunFailed { cmd: String, code: i32 },
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Engine(#[from] crate::Error),
    #[error("{0}")]
    Container(#[from] crate::container::ContainerError),
}

/// Where the context and Dockerfile come from.
pub enum Source {
    /// A context directory; the Dockerfile path (absolute or relative to the current dir,
    /// inside or outside the context), `<dir>/Dockerfile` when None.
    Dir {
        dir: PathBuf,
        dockerfile: Option<PathBuf>,
    },
    /// `-`: a Dockerfile (empty context) or a context tar, plain or compressed; the
    /// Dockerfile's name inside the tar.
    Stdin {
        reader: Box<dyn Read>,
        dockerfile: Option<String>,
    },
}

/// A context ready to build from.
pub struct Prepared {
    pub dir: PathBuf,
    pub dockerfile: String,
    /// Bytes docker's CLI would send for this context.
    pub size: u64,
    /// The extracted stdin context (removed on drop).
    _tmp: Option<TempPath>,
}

fn compression_magic(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if b.starts_with(b"BZh") {
        Some("bzip2")
    } else if b.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz")
    } else if b.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else {
        None
    }
}

/// Decompresses gzip, bzip2, xz or zstd data (anything else is returned as is).
pub fn decompress_all(data: Vec<u8>) -> Result<Vec<u8>, BuildError> {
    let bad = |e: std::io::Error| BuildError::Invalid(format!("reading archive: {e}"));
    let mut out = Vec::new();
    match compression_magic(&data) {
        Some("gzip") | Some("zstd") => {
            crate::layer::decompress(&data[..])
                .map_err(bad)?
                .read_to_end(&mut out)
                .map_err(bad)?;
        }
        Some("bzip2") => {
            bzip2::read::BzDecoder::new(&data[..])
                .read_to_end(&mut out)
                .map_err(bad)?;
        }
        Some("xz") => {
            let mut r = std::io::BufReader::new(&data[..]);
            lzma_rs::xz_decompress(&mut r, &mut out)
                .map_err(|e| BuildError::Invalid(format!("reading archive: {e}")))?;
        }
        _ => return Ok(data),
    }
    Ok(out)
}

pub fn is_tar(b: &[u8]) -> bool {
    b.len() >= 262 && &b[257..262] == b"ustar"
}

impl Engine {
    /// Reads the Dockerfile and measures the context.
    pub fn prepare_build(&self, src: Source) -> Result<Prepared, BuildError> {
        match src {
            Source::Dir { dir, dockerfile } => {
                if !dir.is_dir() {
                    return Err(BuildError::Invalid(format!(
                        "unable to prepare context: path {:?} not found",
                        dir.display().to_string()
                    )));
                }
                let path = dockerfile.unwrap_or_else(|| dir.join("Dockerfile"));
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    BuildError::Invalid(format!(
                        "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: {}",
                        std::path::absolute(&path).unwrap_or(path.clone()).display(),
                        crate::build::builder::errno_text(&e)
                    ))
                })?;
                let ctx = context::Context::open(&dir)?;
                let inside = std::fs::canonicalize(&path)
                    .ok()
                    .zip(std::fs::canonicalize(&dir).ok())
                    .is_some_and(|(p, d)| p.starts_with(d));
                let size = ctx.tar_size(if inside {
                    None
                } else {
                    Some(text.len() as u64)
                });
                Ok(Prepared {
                    dir,
                    dockerfile: text,
                    size,
                    _tmp: None,
                })
            }
            Source::Stdin {
                mut reader,
                dockerfile,
            } => {
                let mut data = Vec::new();
                reader
                    .read_to_end(&mut data)
                    .map_err(|e| BuildError::Io(format!("reading stdin: {e}")))?;
                let size = data.len() as u64;
                let tmp = TempPath::new(self.store.blobs.tmp_dir(), "build-context");
                std::fs::create_dir_all(&tmp.path)
                    .map_err(|e| BuildError::Io(format!("creating context dir: {e}")))?;
                let compressed = compression_magic(&data).is_some();
                let plain = decompress_all(data)?;
                if compressed || is_tar(&plain) {
                    crate::build::copy::extract_tar(&plain[..], &tmp.path, None)?;
                    let name = dockerfile.unwrap_or_else(|| "Dockerfile".into());
                    let p = tmp.path.join(context::clean_rel(&name));
                    let text = std::fs::read_to_string(&p).map_err(|_| {
                        BuildError::Invalid(format!("Cannot locate specified Dockerfile: {name}"))
                    })?;
                    Ok(Prepared {
                        dir: tmp.path.clone(),
                        dockerfile: text,
                        size,
                        _tmp: Some(tmp),
                    })
                } else {
                    let text = String::from_utf8(plain).map_err(|_| {
                        BuildError::Invalid("the Dockerfile on stdin is not valid UTF-8".into())
                    })?;
                    // docker sends a context holding only the Dockerfile: COPY finds nothing.
                    let size = 1024 + 512 + size.div_ceil(512) * 512;
                    Ok(Prepared {
                        dir: tmp.path.clone(),
                        dockerfile: text,
                        size,
                        _tmp: Some(tmp),
                    })
                }
            }
        }
    }
}
