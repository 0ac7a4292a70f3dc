//! The `networks` and `endpoints` tables (schema in store/db.rs).

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::Network;
use crate::error::Result;
use crate::store::Q;

/// One published port as netavark takes it, with the host port chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMap {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
}

/// A container's attachment to a network. `ip` is set while the container runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Endpoint {
    pub container_id: String,
    pub network_id: String,
    #[serde(default)]
    pub ip: Option<String>,
    /// `--ip`.
    #[serde(default)]
    pub requested_ip: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ports: Vec<PortMap>,
    /// The netns file while set up.
    #[serde(default)]
    pub netns: String,
    #[serde(default)]
    pub endpoint_id: String,
    /// The interface in the container: eth0 for the first network.
    #[serde(default)]
    pub iface: String,
}

fn dberr(context: &'static str) -> impl FnOnce(rusqlite::Error) -> crate::Error {
    move |source| crate::Error::Db {
        context: context.to_string(),
        source,
    }
}

fn decode<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| {
        crate::Error::InvalidArgument(format!("corrupt network record in the store: {e}"))
    })
}

pub fn networks(q: &Q<'_>) -> Result<Vec<Network>> {
    let mut st =
        q.0.prepare("SELECT data FROM networks ORDER BY seq")
            .map_err(dberr("reading networks"))?;
    let rows = st
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(dberr("reading networks"))?;
    let mut out = Vec::new();
    for r in rows {
        out.push(decode(&r.map_err(dberr("reading networks"))?)?);
    }
    Ok(out)
}

pub fn network_by_name(q: &Q<'_>, name: &str) -> Result<Option<Network>> {
    let s: Option<String> =
        q.0.query_row(
            "SELECT data FROM networks WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )
        .optional()
        .map_err(dberr("reading a network"))?;
    s.map(|s| decode(&s)).transpose()
}

pub fn network_by_id(q: &Q<'_>, id: &str) -> Result<Option<Network>> {
    let s: Option<String> =
        q.0.query_row(
            "SELECT data FROM networks WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()
        .map_err(dberr("reading a network"))?;
    s.map(|s| decode(&s)).transpose()
}

pub fn insert_network(q: &Q<'_>, n: &Network) -> Result<()> {
    let data = serde_json::to_string(n).unwrap_or_default();
    q.0.execute(
        "INSERT INTO networks (id, name, data) VALUES (?1, ?2, ?3)",
        params![n.id, n.name, data],
    )
    .map_err(dberr("adding a network"))?;
    Ok(())
}

pub fn delete_network(q: &Q<'_>, id: &str) -> Result<()> {
    q.0.execute("DELETE FROM endpoints WHERE network_id = ?1", params![id])
        .map_err(dberr("removing a network"))?;
    q.0.execute("DELETE FROM networks WHERE id = ?1", params![id])
        .map_err(dberr("removing a network"))?;
    Ok(())
}

fn endpoints_where(q: &Q<'_>, col: &str, v: &str) -> Result<Vec<Endpoint>> {
    let sql = format!("SELECT data FROM endpoints WHERE {col} = ?1 ORDER BY seq");
    let mut st = q.0.prepare(&sql).map_err(dberr("reading endpoints"))?;
    let rows = st
        .query_map(params![v], |r| r.get::<_, String>(0))
        .map_err(dberr("reading endpoints"))?;
    let mut out = Vec::new();
    for r in rows {
        out.push(decode(&r.map_err(dberr("reading endpoints"))?)?);
    }
    Ok(out)
}

pub fn endpoints_of_network(q: &Q<'_>, network_id: &str) -> Result<Vec<Endpoint>> {
    endpoints_where(q, "network_id", network_id)
}

pub fn endpoints_of_container(q: &Q<'_>, container_id: &str) -> Result<Vec<Endpoint>> {
    endpoints_where(q, "container_id", container_id)
}

/// Inserts or replaces an endpoint; the `ip` column is unique per network, so two
/// containers can never hold one address.
pub fn put_endpoint(q: &Q<'_>, e: &Endpoint) -> Result<()> {
    let data = serde_json::to_string(e).unwrap_or_default();
    q.0.execute(
        "INSERT INTO endpoints (container_id, network_id, ip, data) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(container_id, network_id) DO UPDATE SET ip = excluded.ip, data = excluded.data",
        params![e.container_id, e.network_id, e.ip, data],
    )
    .map_err(dberr("recording an endpoint"))?;
    Ok(())
}

pub fn delete_endpoints(q: &Q<'_>, container_id: &str) -> Result<()> {
    q.0.execute(
        "DELETE FROM endpoints WHERE container_id = ?1",
        params![container_id],
    )
    .map_err(dberr("removing endpoints"))?;
    Ok(())
}

/// Every host port held by a running container of this root.
pub fn used_host_ports(q: &Q<'_>) -> Result<Vec<(String, u16)>> {
    let mut st =
        q.0.prepare("SELECT data FROM endpoints WHERE ip IS NOT NULL")
            .map_err(dberr("reading endpoints"))?;
    let rows = st
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(dberr("reading endpoints"))?;
    let mut out = Vec::new();
    for r in rows {
        let e: Endpoint = decode(&r.map_err(dberr("reading endpoints"))?)?;
        out.extend(e.ports.into_iter().map(|p| (p.protocol, p.host_port)));
    }
    Ok(out)
}
