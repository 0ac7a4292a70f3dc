//! Credentials in docker's client config (`~/.docker/config.json` `auths`), and the
//! `WWW-Authenticate` challenge parser.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::error::{Error, IoContext, Result};

/// The key docker uses for Docker Hub credentials.
pub const HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// The `auths` key for a registry host (`docker.io` → docker's hub URL).
pub fn auth_key(host: &str) -> String {
    if host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io" {
        HUB_AUTH_KEY.to_string()
    } else {
        host.to_string()
    }
}

/// `https://host/v1/` → `host`, for matching keys written by other tools.
fn key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

fn config_path(dir: &Path) -> PathBuf {
    dir.join("config.json")
}

fn read_config(dir: &Path) -> Result<Value> {
    let p = config_path(dir);
    match fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| Error::Config(format!("invalid {}: {e}", p.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(Error::at(&p, "reading", e)),
    }
}

/// Username and password stored for `host`, if any.
pub fn lookup(dir: &Path, host: &str) -> Result<Option<(String, String)>> {
    let cfg = read_config(dir)?;
    refuse_helpers(&cfg, dir, host)?;
    let Some(auths) = cfg.get("auths").and_then(|a| a.as_object()) else {
        return Ok(None);
    };
    let want = key_host(&auth_key(host)).to_string();
    for (k, v) in auths {
        if k == &auth_key(host) || key_host(k) == want {
            if let Some(auth) = v.get("auth").and_then(|a| a.as_str()) {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .map_err(|_| {
                        Error::Config(format!(
                            "invalid auth for {k} in {}",
                            config_path(dir).display()
                        ))
                    })?;
                let s = String::from_utf8_lossy(&raw).to_string();
                if let Some((u, p)) = s.split_once(':') {
                    return Ok(Some((u.to_string(), p.to_string())));
                }
            }
            if let (Some(u), Some(p)) = (
                v.get("username").and_then(|x| x.as_str()),
                v.get("password").and_then(|x| x.as_str()),
            ) {
                return Ok(Some((u.to_string(), p.to_string())));
            }
        }
    }
    Ok(None)
}

/// Credential helpers would hold the real credentials; using `auths` instead would silently
/// authenticate wrongly, so say so.
fn refuse_helpers(cfg: &Value, dir: &Path, host: &str) -> Result<()> {
    let helper = cfg
        .get("credsStore")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .is_some()
        || cfg
            .get("credHelpers")
            .and_then(|h| h.get(auth_key(host)))
            .is_some();
    if helper {
        return Err(Error::Config(format!(
            "credential helpers (credsStore/credHelpers in {}) are not supported yet",
            config_path(dir).display()
        )));
    }
    Ok(())
}

/// Writes the file atomically with mode 0600, as docker does.
fn write_config(dir: &Path, cfg: &Value) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .ctx("creating", dir)?;
    let p = config_path(dir);
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let bytes = serde_json::to_vec_pretty(cfg).map_err(|e| Error::Config(e.to_string()))?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .ctx("creating", &tmp)?;
    f.write_all(&bytes)
        .and_then(|_| f.write_all(b"\n"))
        .ctx("writing", &tmp)?;
    fs::rename(&tmp, &p).ctx("writing", &p)?;
    Ok(())
}

pub fn store(dir: &Path, host: &str, user: &str, pass: &str) -> Result<PathBuf> {
    let mut cfg = read_config(dir)?;
    refuse_helpers(&cfg, dir, host)?;
    if !cfg.is_object() {
        cfg = json!({});
    }
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let obj = cfg.as_object_mut().expect("object");
    let auths = obj.entry("auths").or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    auths
        .as_object_mut()
        .expect("object")
        .insert(auth_key(host), json!({ "auth": auth }));
    write_config(dir, &cfg)?;
    Ok(config_path(dir))
}

/// Removes stored credentials; false when there were none.
pub fn erase(dir: &Path, host: &str) -> Result<bool> {
    let mut cfg = read_config(dir)?;
    let want = key_host(&auth_key(host)).to_string();
    let Some(auths) = cfg.get_mut("auths").and_then(|a| a.as_object_mut()) else {
        return Ok(false);
    };
    let keys: Vec<String> = auths
        .keys()
        .filter(|k| key_host(k) == want)
        .cloned()
        .collect();
    if keys.is_empty() {
        return Ok(false);
    }
    for k in keys {
        auths.remove(&k);
    }
    write_config(dir, &cfg)?;
    Ok(true)
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq)]
pub enum Challenge {
    Basic,
    Bearer(BTreeMap<String, String>),
}

pub fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => {
            let mut params = BTreeMap::new();
            let mut s = rest.trim();
            while !s.is_empty() {
                let Some((k, v)) = s.split_once('=') else {
                    break;
                };
                let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
                let v = v.trim_start();
                let (val, rest) = if let Some(q) = v.strip_prefix('"') {
                    let end = q.find('"').unwrap_or(q.len());
                    (&q[..end], q.get(end + 1..).unwrap_or(""))
                } else {
                    let end = v.find(',').unwrap_or(v.len());
                    (&v[..end], &v[end..])
                };
                params.insert(k, val.to_string());
                s = rest.trim_start().trim_start_matches(',').trim_start();
            }
            Some(Challenge::Bearer(params))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_parse() {
        let c = parse_challenge(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#).unwrap();
        let Challenge::Bearer(p) = c else { panic!() };
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["scope"], "repository:library/busybox:pull");
        assert_eq!(parse_challenge("Basic realm=\"x\""), Some(Challenge::Basic));
    }
}
