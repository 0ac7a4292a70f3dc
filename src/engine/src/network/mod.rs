//! Networks: docker's predefined `bridge`, `host` and `none`, and user bridge networks.
//! Metadata and address allocations live in the store's `networks` and `endpoints` tables;
//! netavark (podman's network backend) does the kernel side: bridge, veth, addresses,
//! iptables NAT and port forwarding, and aardvark-dns for name resolution.

pub mod container;
pub mod error;
pub mod ipam;
pub mod netavark;
pub mod netns;
pub mod ports;
pub mod store;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use error::{NetworkError, Result};
pub use ipam::Subnet;

use crate::engine::Engine;

/// The bridge interface of docker's default network (docker calls it docker0).
pub const DEFAULT_BRIDGE_IFACE: &str = "bay0";

/// One network as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    pub created: String,
    /// Empty for host and none.
    #[serde(default)]
    pub subnet: String,
    #[serde(default)]
    pub gateway: String,
    /// The host bridge interface.
    #[serde(default)]
    pub iface: String,
    #[serde(default)]
    pub internal: bool,
    /// aardvark-dns serves the containers' names (user networks, as docker's embedded DNS).
    #[serde(default)]
    pub dns: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Network {
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    pub fn is_predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }

    pub fn scope(&self) -> &'static str {
        "local"
    }
}

/// What `network create` was asked for.
#[derive(Clone, Debug, Default)]
pub struct CreateNetwork {
    pub name: String,
    pub driver: Option<String>,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub labels: Vec<String>,
}

fn random_id() -> Result<String> {
    let b = netns::random32().map_err(|e| NetworkError::io("reading random bytes", e))?;
    Ok(crate::digest::hex(&b))
}

fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

impl Engine {
    /// Every network, the predefined ones first (created on first use).
    pub fn networks(&self) -> Result<Vec<Network>> {
        self.ensure_predefined()?;
        Ok(self.store.db.read(store::networks)?)
    }

    /// A network by full ID, unique ID prefix or name.
    pub fn network(&self, s: &str) -> Result<Network> {
        self.ensure_predefined()?;
        let all = self.store.db.read(store::networks)?;
        if let Some(n) = all.iter().find(|n| n.name == s || n.id == s) {
            return Ok(n.clone());
        }
        let hits: Vec<&Network> = all.iter().filter(|n| n.id.starts_with(s)).collect();
        match hits.len() {
            1 => Ok(hits[0].clone()),
            0 => Err(NetworkError::NotFound(s.to_string())),
            _ => Err(NetworkError::Conflict(format!(
                "network {s} is ambiguous ({} matches found based on ID prefix)",
                hits.len()
            ))),
        }
    }

    /// Inserts `bridge`, `host` and `none` when missing. The default bridge takes
    /// 172.17.0.0/16 unless the host already routes an overlapping subnet elsewhere.
    fn ensure_predefined(&self) -> Result<()> {
        let have = self
            .store
            .db
            .read(|q| store::network_by_name(q, "bridge"))?;
        if have.is_some() {
            return Ok(());
        }
        let routes = ipam::host_routes();
        let mut chosen = None;
        for x in 17..=31u8 {
            let s = Subnet::parse(&format!("172.{x}.0.0/16"))?;
            // Our own bridge (from another bay root) is not a conflict: it is the same network.
            if !routes
                .iter()
                .any(|(dev, r)| dev != DEFAULT_BRIDGE_IFACE && r.overlaps(&s))
            {
                chosen = Some(s);
                break;
            }
        }
        let subnet = chosen.ok_or_else(|| {
            NetworkError::Invalid("no free 172.x.0.0/16 subnet for the default bridge".into())
        })?;
        let (s, n) = crate::timefmt::now();
        let created = crate::timefmt::format_rfc3339(s, n);
        // The default bridge's ID is derived from its subnet so that every bay root on this
        // host names the same iptables chains for the same bay0 bridge.
        let id = crate::digest::hex(&sha(&format!("bay default bridge {}", subnet)));
        let nets = [
            Network {
                id,
                name: "bridge".into(),
                driver: "bridge".into(),
                created: created.clone(),
                gateway: subnet.host(1).to_string(),
                subnet: subnet.to_string(),
                iface: DEFAULT_BRIDGE_IFACE.into(),
                internal: false,
                dns: false,
                labels: BTreeMap::new(),
            },
            Network {
                id: random_id()?,
                name: "host".into(),
                driver: "host".into(),
                created: created.clone(),
                subnet: String::new(),
                gateway: String::new(),
                iface: String::new(),
                internal: false,
                dns: false,
                labels: BTreeMap::new(),
            },
            Network {
                id: random_id()?,
                name: "none".into(),
                driver: "null".into(),
                created,
                subnet: String::new(),
                gateway: String::new(),
                iface: String::new(),
                internal: false,
                dns: false,
                labels: BTreeMap::new(),
            },
        ];
        self.store.db.tx(|q| {
            if store::network_by_name(q, "bridge")?.is_none() {
                for n in &nets {
                    store::insert_network(q, n)?;
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    /// docker network create; the new network.
    pub fn create_network(&self, o: &CreateNetwork) -> Result<Network> {
        self.ensure_predefined()?;
        let driver = o.driver.clone().unwrap_or_else(|| "bridge".into());
        if driver != "bridge" {
            return Err(NetworkError::Invalid(format!(
                "plugin \"{driver}\" not found: bay supports only the bridge driver"
            )));
        }
        if !valid_name(&o.name) {
            return Err(NetworkError::Invalid(format!(
                "invalid network name \"{}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                o.name
            )));
        }
        if matches!(o.name.as_str(), "bridge" | "host" | "none") {
            return Err(NetworkError::Forbidden(format!(
                "operation is not permitted on predefined {} network ",
                o.name
            )));
        }
        if o.gateway.is_some() && o.subnet.is_none() {
            return Err(NetworkError::Invalid(
                "invalid config: gateway specified without a subnet".into(),
            ));
        }
        let mut labels = BTreeMap::new();
        for l in &o.labels {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            labels.insert(k.to_string(), v.to_string());
        }
        let id = random_id()?;
        let (s, n) = crate::timefmt::now();
        let mut net = Network {
            iface: format!("br-{}", &id[..12]),
            id,
            name: o.name.clone(),
            driver,
            created: crate::timefmt::format_rfc3339(s, n),
            subnet: String::new(),
            gateway: String::new(),
            internal: o.internal,
            dns: true,
            labels,
        };
        let given = match &o.subnet {
            Some(s) => Some(Subnet::parse(s)?),
            None => None,
        };
        if let Some(s) = &given {
            if s.prefix > 30 {
                return Err(NetworkError::Invalid(format!(
                    "invalid subnet {s}: too small for a network"
                )));
            }
            if s.addr != s.network() {
                return Err(NetworkError::Invalid(format!(
                    "invalid subnet {}: it should be {}",
                    o.subnet.as_deref().unwrap_or_default(),
                    s
                )));
            }
        }
        let gateway = match &o.gateway {
            Some(g) => {
                let ip = ipam::parse_ip(g)?;
                let s = given.as_ref().ok_or_else(|| {
                    NetworkError::Invalid("gateway specified without a subnet".into())
                })?;
                if !s.contains(ip) || ip == s.network() || ip == s.broadcast() {
                    return Err(NetworkError::Invalid(format!(
                        "no matching subnet for gateway {g}"
                    )));
                }
                Some(ip)
            }
            None => None,
        };
        let routes = ipam::host_routes();
        self.store.db.tx(|q| {
            if store::network_by_name(q, &net.name)?.is_some() {
                return Err(crate::Error::Conflict(format!(
                    "network with name {} already exists",
                    net.name
                )));
            }
            let taken: Vec<Subnet> = store::networks(q)?
                .iter()
                .filter_map(|n| Subnet::parse(&n.subnet).ok())
                .chain(routes.iter().map(|(_, r)| *r))
                .collect();
            let subnet = match given {
                Some(s) => {
                    if taken.iter().any(|t| t.overlaps(&s)) {
                        return Err(crate::Error::Conflict(
                            "Pool overlaps with other one on this address space".into(),
                        ));
                    }
                    s
                }
                None => ipam::free_pool(&taken).ok_or_else(|| {
                    crate::Error::InvalidArgument(
                        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
                    )
                })?,
            };
            net.subnet = subnet.to_string();
            net.gateway = gateway.unwrap_or_else(|| subnet.host(1)).to_string();
            store::insert_network(q, &net)?;
            Ok(())
        })?;
        Ok(net)
    }

    /// docker network rm: refuses predefined networks and networks with running containers.
    pub fn remove_network(&self, s: &str) -> Result<Network> {
        let n = self.network(s)?;
        if n.is_predefined() {
            return Err(NetworkError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        self.store.db.tx(|q| {
            let eps = store::endpoints_of_network(q, &n.id)?;
            if eps.iter().any(|e| e.ip.is_some()) {
                return Err(crate::Error::Conflict(format!(
                    "error while removing network: network {} id {} has active endpoints",
                    n.name, n.id
                )));
            }
            store::delete_network(q, &n.id)
        })?;
        ipam::forget_network(&n.id);
        Ok(n)
    }

    /// docker network prune: removes user networks no container uses; their names.
    pub fn prune_networks(&self) -> Result<Vec<String>> {
        let mut gone = Vec::new();
        for n in self.networks()? {
            if n.is_predefined() {
                continue;
            }
            let users = self
                .store
                .db
                .read(|q| store::endpoints_of_network(q, &n.id))?;
            if users.is_empty() && self.remove_network(&n.id).is_ok() {
                gone.push(n.name);
            }
        }
        Ok(gone)
    }

    /// The containers attached to a network (for inspect): container ID → endpoint.
    pub fn network_endpoints(&self, n: &Network) -> Result<Vec<store::Endpoint>> {
        Ok(self
            .store
            .db
            .read(|q| store::endpoints_of_network(q, &n.id))?)
    }
}

fn sha(s: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(s.as_bytes()).into()
}
