//! Runtime options: which runtime binary, its state root and flags. They come from the
//! CreateTaskRequest (`containerd.runc.v1.Options`, as ctr and CRI send for runc-type
//! runtimes, or `runtimeoptions.v1.Options` naming a config file, as CRI sends for other
//! runtime types), then the environment, then defaults.

use std::path::{Path, PathBuf};

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::oci::Options;

use crate::error::{Error, Result};
use crate::runtime::{resolve_binary, Runtime, BINARY_ENV, DEFAULT_BINARY};

/// Options persisted in the bundle so the `delete` subcommand (a fresh process) finds the same
/// runtime.
pub const SAVED_OPTIONS: &str = "berth-shim.json";

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct ShimOptions {
    pub binary_name: String,
    pub root: String,
    pub systemd_cgroup: bool,
    pub no_pivot_root: bool,
    pub no_new_keyring: bool,
    /// Cgroup the shim itself joins (runc option `ShimCgroup`).
    #[serde(default)]
    pub shim_cgroup: String,
}

impl ShimOptions {
    /// Decodes the options Any of a CreateTaskRequest (or `-info` stdin).
    pub fn from_any(any: Option<&Any>) -> Result<Self> {
        let mut o = ShimOptions::default();
        if let Some(any) = any {
            let t = any.type_url.rsplit('/').next().unwrap_or("");
            match t {
                "containerd.runc.v1.Options" => {
                    let r = Options::parse_from_bytes(&any.value).map_err(|e| {
                        Error::InvalidArgument(format!("decoding runtime options: {e}"))
                    })?;
                    o = ShimOptions {
                        binary_name: r.binary_name,
                        root: r.root,
                        systemd_cgroup: r.systemd_cgroup,
                        no_pivot_root: r.no_pivot_root,
                        no_new_keyring: r.no_new_keyring,
                        shim_cgroup: r.shim_cgroup,
                    };
                }
                "runtimeoptions.v1.Options" => {
                    // {string type_url = 1; string config_path = 2; ...} is wire-compatible with
                    // Any {type_url = 1; bytes value = 2}: decode it as one to get config_path.
                    let r = Any::parse_from_bytes(&any.value).map_err(|e| {
                        Error::InvalidArgument(format!("decoding runtime options: {e}"))
                    })?;
                    let path = String::from_utf8_lossy(&r.value).to_string();
                    if !path.is_empty() {
                        o = Self::from_file(Path::new(&path))?;
                    }
                }
                "" => {}
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "unknown runtime options type {other}"
                    )))
                }
            }
        }
        Ok(o)
    }

    /// A config file of `Key = value` lines (a TOML subset): BinaryName, Root, SystemdCgroup,
    /// NoPivotRoot, NoNewKeyring, ShimCgroup.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading runtime config {}", path.display()), e))?;
        let mut o = ShimOptions::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(Error::InvalidArgument(format!(
                    "{}:{}: expected key = value",
                    path.display(),
                    n + 1
                )));
            };
            let v = v.trim().trim_matches('"').to_string();
            let b = v == "true";
            match k.trim() {
                "BinaryName" => o.binary_name = v,
                "Root" => o.root = v,
                "SystemdCgroup" => o.systemd_cgroup = b,
                "NoPivotRoot" => o.no_pivot_root = b,
                "NoNewKeyring" => o.no_new_keyring = b,
                "ShimCgroup" => o.shim_cgroup = v,
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "{}:{}: unknown key {other}",
                        path.display(),
                        n + 1
                    )))
                }
            }
        }
        Ok(o)
    }

    /// The runtime for namespace `ns`: binary resolved to a path, root including the namespace.
    pub fn runtime(&self, ns: &str) -> Result<Runtime> {
        let name = if !self.binary_name.is_empty() {
            self.binary_name.clone()
        } else {
            std::env::var(BINARY_ENV)
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_BINARY.into())
        };
        let binary = resolve_binary(&name)?;
        let root = if self.root.is_empty() {
            let base = binary
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| DEFAULT_BINARY.into());
            PathBuf::from("/run/containerd").join(base)
        } else {
            PathBuf::from(&self.root)
        };
        Ok(Runtime {
            binary,
            root: root.join(ns),
            systemd_cgroup: self.systemd_cgroup,
        })
    }

    pub fn save(&self, bundle: &Path) -> Result<()> {
        let data = serde_json::to_vec(self).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        std::fs::write(bundle.join(SAVED_OPTIONS), data)
            .map_err(|e| Error::io(format!("writing {}/{SAVED_OPTIONS}", bundle.display()), e))
    }

    pub fn load(bundle: &Path) -> Option<Self> {
        let data = std::fs::read(bundle.join(SAVED_OPTIONS)).ok()?;
        serde_json::from_slice(&data).ok()
    }
}
