//! Registry client: OCI distribution API, auth, pull and push.

pub mod config;

use std::io::Read;

use crate::engine::Engine;
use crate::error::{Error, Result};

/// Opens an http(s) URL for `import URL`.
pub fn fetch_url(_engine: &Engine, url: &str) -> Result<Box<dyn Read + Send>> {
    let resp = ureq::get(url)
        .call()
        .map_err(|e| Error::Registry(format!("Get {url:?}: {e}")))?;
    Ok(Box::new(resp.into_reader()))
}
