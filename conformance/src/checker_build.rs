//! Builds the in-container checker as a static binary. No musl toolchain is needed: glibc's
//! static libraries with `-C target-feature=+crt-static` give a self-contained executable.
//! A separate target directory avoids waiting on (or deadlocking with) the cargo that runs us.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub fn build() -> Result<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = manifest.join("../target/conformance-checker");
    let triple = "x86_64-unknown-linux-gnu";
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--bin",
            "conformance-checker",
            "--target",
            triple,
            "--manifest-path",
        ])
        .arg(manifest.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .output()
        .context("running cargo")?;
    if !out.status.success() {
        bail!(
            "cargo build of the checker failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let bin = target_dir.join(triple).join("debug/conformance-checker");
    if !is_static(&bin)? {
        bail!("{} is not statically linked", bin.display());
    }
    Ok(bin)
}

/// True when the ELF file has no program interpreter (PT_INTERP), i.e. needs no dynamic loader.
pub fn is_static(path: &Path) -> Result<bool> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 {
        bail!("{} is not a 64-bit ELF file", path.display());
    }
    let u = |o: usize, n: usize| {
        data[o..o + n]
            .iter()
            .rev()
            .fold(0u64, |a, b| (a << 8) | *b as u64)
    };
    let (phoff, phentsize, phnum) = (
        u(0x20, 8) as usize,
        u(0x36, 2) as usize,
        u(0x38, 2) as usize,
    );
    for i in 0..phnum {
        let off = phoff + i * phentsize;
        if off + 4 <= data.len() && u(off, 4) == 3 {
            return Ok(false);
        }
    }
    Ok(true)
}
