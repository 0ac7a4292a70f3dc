//! Registries configuration file (JSON, docker `daemon.json` keys).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryEntry {
    /// `true`: plain HTTP allowed and any certificate accepted. `false`: always verified HTTPS,
    /// even on loopback (which is otherwise insecure by default, as in docker).
    #[serde(default)]
    pub insecure: Option<bool>,
    /// Extra CA certificate (PEM) trusted for this registry.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Mirrors tried in order before the registry itself (pulls only).
    #[serde(default)]
    pub mirrors: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistriesConfig {
    /// `host[:port]` or CIDR ranges served over plain HTTP; 127.0.0.0/8 always is, as in docker.
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// Mirrors for docker.io, e.g. `https://mirror.example.com`.
    #[serde(default)]
    pub registry_mirrors: Vec<String>,
    /// Per-registry settings keyed by `host[:port]`.
    #[serde(default)]
    pub registries: BTreeMap<String, RegistryEntry>,
    #[serde(default = "default_downloads")]
    pub max_concurrent_downloads: usize,
    #[serde(default = "default_uploads")]
    pub max_concurrent_uploads: usize,
    /// Blobs larger than this are uploaded in chunks of this size (bytes).
    #[serde(default = "default_chunk")]
    pub upload_chunk_size: u64,
    /// Directory of per-registry CA certs (`<dir>/<host:port>/*.crt`), like /etc/docker/certs.d.
    #[serde(default)]
    pub certs_dir: Option<PathBuf>,
}

fn default_downloads() -> usize {
    // Six, like containers/image: layers stream through unpacking, so more overlap helps.
    6
}
fn default_uploads() -> usize {
    5
}
fn default_chunk() -> u64 {
    64 << 20
}

impl Default for RegistriesConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("empty registries config parses")
    }
}

impl RegistriesConfig {
    pub fn load(path: &Path) -> Result<RegistriesConfig> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::Config(format!("invalid registries config {}: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RegistriesConfig::default()),
            Err(e) => Err(Error::at(path, "reading", e)),
        }
    }

    pub fn entry(&self, host: &str) -> RegistryEntry {
        self.registries.get(host).cloned().unwrap_or_default()
    }

    /// Is `host` (with optional port) insecure? Loopback always is, like docker's default.
    pub fn is_insecure(&self, host: &str) -> bool {
        if let Some(explicit) = self.entry(host).insecure {
            return explicit;
        }
        let bare = strip_port(host);
        if bare == "localhost" || in_cidr(bare, "127.0.0.0/8") || bare == "::1" {
            return true;
        }
        self.insecure_registries
            .iter()
            .any(|r| r == host || r == bare || (r.contains('/') && in_cidr(bare, r)))
    }

    pub fn mirrors(&self, host: &str) -> Vec<String> {
        let mut m = self.entry(host).mirrors;
        if host == "docker.io" {
            m.extend(self.registry_mirrors.iter().cloned());
        }
        m
    }

    pub fn ca_files(&self, host: &str) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self.entry(host).ca.into_iter().collect();
        let dirs = self.certs_dir.iter().cloned().chain([
            PathBuf::from("/etc/docker/certs.d"),
            PathBuf::from("/etc/bay/certs.d"),
        ]);
        for d in dirs {
            if let Ok(rd) = std::fs::read_dir(d.join(host)) {
                for e in rd.flatten() {
                    if e.path().extension().is_some_and(|x| x == "crt") {
                        out.push(e.path());
                    }
                }
            }
        }
        out
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn in_cidr(ip: &str, cidr: &str) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(ip), Ok(net), Ok(bits)) = (
        ip.parse::<std::net::Ipv4Addr>(),
        net.parse::<std::net::Ipv4Addr>(),
        bits.parse::<u32>(),
    ) else {
        return false;
    };
    if bits > 32 {
        return false;
    }
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    (u32::from(ip) & mask) == (u32::from(net) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_insecure_by_default() {
        let c = RegistriesConfig::default();
        assert!(c.is_insecure("127.0.0.1:5000"));
        assert!(c.is_insecure("localhost:5000"));
        assert!(!c.is_insecure("registry.example.com"));
    }
}
