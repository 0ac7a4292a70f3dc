//! `save`, `load`, `import`.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};

use anyhow::{anyhow, bail, Context, Result};
use bay_engine::archive::LoadEvent;
use bay_engine::Engine;

use crate::{isatty, ImportArgs, LoadArgs, SaveArgs};

pub fn save(engine: &Engine, a: SaveArgs) -> Result<()> {
    match &a.output {
        Some(path) => {
            // Written beside the target and renamed: a failed save leaves no partial file.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let tmp = dir.join(format!(
                ".{}.bay-save-{}",
                path.file_name().unwrap_or_default().to_string_lossy(),
                std::process::id()
            ));
            let f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            let res = engine.save(&a.images, BufWriter::new(f));
            if let Err(e) = res {
                let _ = std::fs::remove_file(&tmp);
                return Err(e.into());
            }
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            if isatty(1) {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let out = io::stdout().lock();
            engine.save(&a.images, BufWriter::with_capacity(1 << 20, out))?;
        }
    }
    Ok(())
}

pub fn load(engine: &Engine, a: LoadArgs) -> Result<()> {
    let events = match &a.input {
        Some(p) => {
            let f = File::open(p).with_context(|| format!("open {}", p.display()))?;
            engine.load(io::BufReader::with_capacity(1 << 20, f))?
        }
        None => {
            if isatty(0) {
                bail!("requested load from stdin, but stdin is empty");
            }
            engine.load(io::BufReader::with_capacity(1 << 20, io::stdin().lock()))?
        }
    };
    if a.quiet {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    for e in events {
        match e {
            LoadEvent::Renamed { name, old } => {
                writeln!(out, "The image {name} already exists, renaming the old one with ID {old} to empty string")?
            }
            LoadEvent::Loaded(n) => writeln!(out, "Loaded image: {n}")?,
            LoadEvent::LoadedId(id) => writeln!(out, "Loaded image ID: {id}")?,
        }
    }
    Ok(())
}

pub fn import(engine: &Engine, a: ImportArgs) -> Result<()> {
    if let Some(p) = &a.platform {
        let want =
            bay_engine::oci::parse_platform(p).ok_or_else(|| anyhow!("invalid platform {p:?}"))?;
        let host = bay_engine::oci::host_platform();
        if want.os != host.os || want.architecture != host.architecture {
            bail!(
                "importing for platform {p} is not supported: bay only imports for {}",
                bay_engine::oci::platform_string(&host)
            );
        }
    }
    let id = if a.source == "-" {
        if isatty(0) {
            bail!("requested import from stdin, but stdin is a terminal");
        }
        engine.import(
            io::stdin().lock(),
            "-",
            a.reference.as_deref(),
            &a.change,
            a.message.as_deref(),
        )?
    } else if a.source.starts_with("http://") || a.source.starts_with("https://") {
        let reader = bay_engine::registry::fetch_url(engine, &a.source)?;
        engine.import(
            reader,
            &a.source,
            a.reference.as_deref(),
            &a.change,
            a.message.as_deref(),
        )?
    } else {
        let f = File::open(&a.source).with_context(|| format!("open {}", a.source))?;
        let r: Box<dyn Read> = Box::new(f);
        engine.import(
            r,
            &a.source,
            a.reference.as_deref(),
            &a.change,
            a.message.as_deref(),
        )?
    };
    println!("{id}");
    Ok(())
}
