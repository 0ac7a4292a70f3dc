//! Containers on networks: checks at create, setup before the container's process starts
//! (netns file, address, netavark), teardown when it stops, and what inspect/ps/port show.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::error::{NetworkError, Result};
use super::store::{self, Endpoint, PortMap};
use super::{ipam, netavark, netns, ports, Network, Subnet};
use crate::container::Container;
use crate::engine::Engine;

/// The network flags of `create`/`run`.
#[derive(Clone, Debug, Default)]
pub struct NetRequest<'a> {
    pub network: Option<&'a str>,
    pub publish: &'a [String],
    pub ip: Option<&'a str>,
    pub aliases: &'a [String],
    pub hostname: Option<&'a str>,
    pub add_hosts: &'a [String],
    pub dns: &'a [String],
}

/// What the monitor needs to start the container.
pub struct NetSetup {
    /// The namespace to join; None for `host`.
    pub netns: Option<PathBuf>,
    pub hosts: String,
    pub resolv_conf: String,
}

const HOSTS_BASE: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// The network a mode string names (`default` is `bridge`), or None for host/none/container.
fn bridge_name(mode: &str) -> Option<&str> {
    match mode {
        "default" | "bridge" => Some("bridge"),
        "host" | "none" => None,
        m if m.starts_with("container:") => None,
        m => Some(m),
    }
}

fn add_host_entry(h: &str) -> Result<(String, String)> {
    let (name, ip) = h.split_once(':').ok_or_else(|| {
        NetworkError::Invalid(format!(
            "invalid argument \"{h}\" for \"--add-host\" flag: bad format for add-host: \"{h}\""
        ))
    })?;
    if ip != "host-gateway" && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(NetworkError::Invalid(format!(
            "invalid argument \"{h}\" for \"--add-host\" flag: invalid IP address in add-host: \"{ip}\""
        )));
    }
    Ok((name.to_string(), ip.to_string()))
}

/// The host's resolv.conf without loopback nameservers (unreachable from a container), as
/// docker filters it; docker's public fallbacks when nothing is left.
fn host_resolv(dns: &[String]) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out = String::new();
    let mut have_ns = false;
    for l in host.lines() {
        let mut w = l.split_whitespace();
        if w.next() == Some("nameserver") {
            let a = w.next().unwrap_or_default();
            if !dns.is_empty() || a.starts_with("127.") || a == "::1" {
                continue;
            }
            have_ns = true;
        }
        out.push_str(l);
        out.push('\n');
    }
    for d in dns {
        out.push_str(&format!("nameserver {d}\n"));
        have_ns = true;
    }
    if !have_ns {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

impl Engine {
    fn netns_path(&self, id: &str) -> PathBuf {
        self.root().join("netns").join(id)
    }

    fn netavark_dir(&self) -> PathBuf {
        self.root().join("netavark")
    }

    /// Checks the network flags and returns the NetworkMode to record (docker's: `default`,
    /// `bridge`, `host`, `none`, `container:<id>` or the network's name).
    pub fn check_network_request(&self, r: &NetRequest<'_>) -> Result<String> {
        let mode = match r.network {
            None | Some("") | Some("default") => "default".to_string(),
            Some(m @ ("bridge" | "host" | "none")) => m.to_string(),
            Some(m) if m.starts_with("container:") => {
                let target = &m["container:".len()..];
                let c = self
                    .container(target)
                    .map_err(|_| NetworkError::Invalid(format!("No such container: {target}")))?;
                format!("container:{}", c.id)
            }
            Some(m) => {
                let n = self.network(m)?;
                n.name
            }
        };
        for p in r.publish {
            ports::parse(p)?;
        }
        for h in r.add_hosts {
            add_host_entry(h)?;
        }
        for d in r.dns {
            d.parse::<std::net::IpAddr>()
                .map_err(|_| NetworkError::Invalid(format!("{d} is not an ip address")))?;
        }
        let user = bridge_name(&mode).filter(|n| *n != "bridge");
        if mode.starts_with("container:") {
            if !r.publish.is_empty() {
                return Err(NetworkError::Invalid(
                    "conflicting options: port publishing and the container type network mode"
                        .into(),
                ));
            }
            if r.hostname.is_some() {
                return Err(NetworkError::Invalid(
                    "conflicting options: hostname and the network mode".into(),
                ));
            }
            if !r.dns.is_empty() || !r.add_hosts.is_empty() {
                return Err(NetworkError::Invalid(
                    "conflicting options: dns and the network mode".into(),
                ));
            }
        }
        if r.ip.is_some() || !r.aliases.is_empty() {
            let Some(user) = user else {
                return Err(NetworkError::Invalid(if r.ip.is_some() {
                    "user specified IP address is supported on user defined networks only".into()
                } else {
                    "network-scoped alias is supported only for containers in user defined networks"
                        .into()
                }));
            };
            if let Some(ip) = r.ip {
                let ip = ipam::parse_ip(ip)?;
                let n = self.network(user)?;
                let s = Subnet::parse(&n.subnet)?;
                if !s.contains(ip) {
                    return Err(NetworkError::Invalid(format!(
                        "no configured subnet or ip-range contain the IP address {ip}"
                    )));
                }
            }
        }
        Ok(mode)
    }

    /// Records the container's endpoint on its network (aliases, `--ip`) after create.
    pub fn record_endpoint(
        &self,
        c: &Container,
        ip: Option<&str>,
        aliases: &[String],
    ) -> Result<()> {
        let Some(name) = bridge_name(&c.host_config.network_mode) else {
            return Ok(());
        };
        let n = self.network(name)?;
        let ep = Endpoint {
            container_id: c.id.clone(),
            network_id: n.id.clone(),
            requested_ip: ip.map(String::from),
            aliases: aliases.to_vec(),
            ..Endpoint::default()
        };
        self.store.db.tx(|q| store::put_endpoint(q, &ep))?;
        Ok(())
    }

    /// The requested port bindings with host ports chosen (32768-60999 when not given).
    fn choose_ports(&self, c: &Container) -> Result<Vec<PortMap>> {
        let mut want = ports::from_port_bindings(&c.host_config.port_bindings);
        if c.host_config.publish_all_ports {
            for e in c.config.exposed_ports.iter().flat_map(|m| m.keys()) {
                let (p, proto) = e.split_once('/').unwrap_or((e, "tcp"));
                let Ok(cp) = p.parse::<u16>() else { continue };
                if !want
                    .iter()
                    .any(|b| b.container_port == cp && b.protocol == proto)
                {
                    want.push(ports::Binding {
                        host_ip: String::new(),
                        host_port: 0,
                        container_port: cp,
                        protocol: proto.to_string(),
                    });
                }
            }
        }
        let used = self.store.db.read(store::used_host_ports)?;
        let mut out: Vec<PortMap> = Vec::new();
        let seed = netns::random32().map_err(|e| NetworkError::io("reading random bytes", e))?;
        let mut next = 32768 + (u16::from_le_bytes([seed[0], seed[1]]) % (60999 - 32768));
        for b in want {
            let port = if b.host_port != 0 {
                let shown = if b.host_ip.is_empty() {
                    "0.0.0.0"
                } else {
                    &b.host_ip
                };
                let mine = out.iter().map(|m| (m.protocol.clone(), m.host_port));
                if used
                    .iter()
                    .cloned()
                    .chain(mine)
                    .any(|(pr, p)| p == b.host_port && pr == b.protocol)
                {
                    return Err(NetworkError::Setup(format!(
                        "Bind for {shown}:{} failed: port is already allocated",
                        b.host_port
                    )));
                }
                // netavark only programs iptables; a host process already listening would
                // silently lose its traffic, so refuse as docker's proxy bind would.
                if !ports::host_port_free(&b.host_ip, b.host_port, &b.protocol) {
                    return Err(NetworkError::Setup(format!(
                        "driver failed programming external connectivity on endpoint {}: listen {}4 {shown}:{}: bind: address already in use",
                        c.name, b.protocol, b.host_port
                    )));
                }
                b.host_port
            } else {
                let mut found = None;
                for _ in 0..(60999 - 32768) {
                    next = if next >= 60999 { 32768 } else { next + 1 };
                    let taken = used
                        .iter()
                        .chain(
                            out.iter()
                                .map(|m| (m.protocol.clone(), m.host_port))
                                .collect::<Vec<_>>()
                                .iter(),
                        )
                        .any(|(pr, p)| *p == next && *pr == b.protocol);
                    if !taken && ports::host_port_free(&b.host_ip, next, &b.protocol) {
                        found = Some(next);
                        break;
                    }
                }
                found
                    .ok_or_else(|| NetworkError::Setup("no free host port in 32768-60999".into()))?
            };
            out.push(PortMap {
                host_ip: b.host_ip,
                host_port: port,
                container_port: b.container_port,
                protocol: b.protocol,
            });
        }
        Ok(out)
    }

    /// Sets up the container's network before its process starts. Everything made here is
    /// undone by `network_teardown`, which the monitor runs when the container stops.
    pub fn network_setup(&self, c: &Container) -> Result<NetSetup> {
        let mode = c.host_config.network_mode.clone();
        let extra = c.host_config.extra_hosts.clone().unwrap_or_default();
        let dns = c.host_config.dns.clone();
        let mut hosts = String::from(HOSTS_BASE);
        if mode == "host" {
            return Ok(NetSetup {
                netns: None,
                hosts: std::fs::read_to_string("/etc/hosts").unwrap_or(hosts),
                resolv_conf: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            });
        }
        if let Some(target) = mode.strip_prefix("container:") {
            let t = self
                .container_by_id(target)
                .map_err(|e| NetworkError::Setup(e.to_string()))?
                .ok_or_else(|| NetworkError::Setup(format!("No such container: {target}")))?;
            let t = self.refresh(t);
            if !t.status.is_up() || t.pid <= 0 {
                return Err(NetworkError::Setup(format!(
                    "cannot join network of a non running container: {}",
                    t.id
                )));
            }
            let own = self.netns_path(&t.id);
            let ns = if own.exists() {
                own
            } else {
                PathBuf::from(format!("/proc/{}/ns/net", t.pid))
            };
            let dir = self.container_dir(&t.id);
            return Ok(NetSetup {
                netns: Some(ns),
                hosts: std::fs::read_to_string(dir.join("hosts")).unwrap_or(hosts),
                resolv_conf: std::fs::read_to_string(dir.join("resolv.conf")).unwrap_or_default(),
            });
        }
        let path = self.netns_path(&c.id);
        let _ = netns::remove(&path);
        netns::create(&path).map_err(|e| {
            NetworkError::io(format!("creating network namespace {}", path.display()), e)
        })?;
        let res = self.attach_bridge(c, &path, &mut hosts);
        let resolv = match res {
            Ok(r) => r,
            Err(e) => {
                let _ = netns::remove(&path);
                return Err(e);
            }
        };
        if let Err(e) = netns::loopback_up(&path) {
            self.network_teardown(&c.id);
            return Err(NetworkError::io("bringing up loopback", e));
        }
        let gateway = resolv.1.clone();
        for h in &extra {
            if let Ok((name, ip)) = add_host_entry(h) {
                let ip = if ip == "host-gateway" {
                    gateway.clone()
                } else {
                    ip
                };
                hosts.push_str(&format!("{ip}\t{name}\n"));
            }
        }
        if let Some((ip, aliases)) = resolv.2 {
            let mut names = vec![c.config.hostname.clone()];
            names.extend(aliases.into_iter().filter(|a| *a != c.config.hostname));
            hosts.push_str(&format!("{ip}\t{}\n", names.join(" ")));
        }
        let resolv_conf = match (resolv.0, dns.is_empty()) {
            (true, _) => {
                let mut s = format!("nameserver {gateway}\n");
                for d in &dns {
                    s.push_str(&format!("nameserver {d}\n"));
                }
                s
            }
            (false, _) => host_resolv(&dns),
        };
        Ok(NetSetup {
            netns: Some(path),
            hosts,
            resolv_conf,
        })
    }

    /// Attaches the container to its network and to every network `connect`ed; for the
    /// primary one: (dns enabled, gateway, (ip, aliases)).
    #[allow(clippy::type_complexity)]
    fn attach_bridge(
        &self,
        c: &Container,
        path: &Path,
        _hosts: &mut String,
    ) -> Result<(bool, String, Option<(String, Vec<String>)>)> {
        let Some(name) = bridge_name(&c.host_config.network_mode) else {
            // none: only loopback.
            return Ok((false, String::new(), None));
        };
        let net = self.network(name)?;
        let ports = self.choose_ports(c)?;
        let ep = self.attach_one(c, &net, path, ports)?;
        let extra = self
            .store
            .db
            .read(|q| store::endpoints_of_container(q, &c.id))?;
        for e in extra.iter().filter(|e| e.network_id != net.id) {
            let other = self
                .store
                .db
                .read(|q| store::network_by_id(q, &e.network_id))?
                .ok_or_else(|| NetworkError::NotFound(e.network_id.clone()))?;
            if let Err(err) = self.attach_one(c, &other, path, Vec::new()) {
                self.network_teardown(&c.id);
                return Err(err);
            }
        }
        let ip = ep.ip.clone().unwrap_or_default();
        Ok((net.dns, net.gateway.clone(), Some((ip, ep.aliases.clone()))))
    }

    /// Allocates the container's address on `net` and runs netavark setup in `path`.
    fn attach_one(
        &self,
        c: &Container,
        net: &Network,
        path: &Path,
        ports: Vec<PortMap>,
    ) -> Result<Endpoint> {
        let subnet = Subnet::parse(&net.subnet)?;
        let gateway = ipam::parse_ip(&net.gateway)?;
        let ep = self.store.db.tx(|q| {
            let mine = store::endpoints_of_container(q, &c.id)?;
            let iface_n = mine.len();
            let mut ep = mine
                .into_iter()
                .find(|e| e.network_id == net.id)
                .unwrap_or_else(|| Endpoint {
                    container_id: c.id.clone(),
                    network_id: net.id.clone(),
                    iface: format!("eth{iface_n}"),
                    ..Endpoint::default()
                });
            let mut used: Vec<Ipv4Addr> = store::endpoints_of_network(q, &net.id)?
                .iter()
                .filter(|e| e.container_id != c.id)
                .filter_map(|e| e.ip.as_deref().and_then(|i| i.parse().ok()))
                .collect();
            let ip = loop {
                let ip = match &ep.requested_ip {
                    Some(r) => {
                        let ip: Ipv4Addr = r.parse().map_err(|_| {
                            crate::Error::InvalidArgument(format!("invalid IPv4 address: {r}"))
                        })?;
                        if used.contains(&ip) || ip == gateway {
                            return Err(crate::Error::Conflict(format!(
                                "Address already in use: {ip} on network {}",
                                net.name
                            )));
                        }
                        ip
                    }
                    None => ipam::allocate(&subnet, gateway, &used).ok_or_else(|| {
                        crate::Error::Conflict(format!(
                            "no available IPv4 addresses on network {}",
                            net.name
                        ))
                    })?,
                };
                // Other bay roots share the default bridge: the address must be free
                // host-wide too.
                if ipam::reserve(&net.id, ip, path) {
                    break ip;
                }
                used.push(ip);
            };
            ep.ip = Some(ip.to_string());
            ep.ports = ports.clone();
            ep.netns = path.display().to_string();
            ep.endpoint_id = crate::digest::hex(&super::sha(&format!("{}{}", c.id, net.id)));
            store::put_endpoint(q, &ep)?;
            Ok(ep)
        })?;
        let ip = ep.ip.clone().unwrap_or_default();
        let opts = self.netavark_options(c, net, &ep);
        let dir = self.netavark_dir();
        let _ = std::fs::create_dir_all(&dir);
        if let Err(e) = netavark::run(&dir, "setup", path, &opts) {
            let _ = netavark::run(&dir, "teardown", path, &opts);
            self.free_endpoint(&c.id, Some(&net.id));
            ipam::release(&net.id, &ip, &path.display().to_string());
            return Err(e);
        }
        Ok(ep)
    }

    fn netavark_options(&self, c: &Container, net: &Network, ep: &Endpoint) -> Value {
        let ip = ep.ip.clone().unwrap_or_default();
        let mut aliases = vec![c.name.clone(), c.short_id().to_string()];
        if net.name != "bridge" {
            aliases.extend(ep.aliases.iter().cloned());
        }
        let mut e = ep.clone();
        e.aliases = if net.dns { aliases } else { Vec::new() };
        let mac = ipam::parse_ip(&ip).map(ipam::mac_of).unwrap_or_default();
        netavark::options(&c.id, &c.name, net, &e, &ip, &mac)
    }

    /// Marks the container's endpoints (on one network, or all) as down; the ones that
    /// were up.
    fn free_endpoint(&self, id: &str, network_id: Option<&str>) -> Vec<Endpoint> {
        self.store
            .db
            .tx(|q| {
                let mut taken = Vec::new();
                for mut e in store::endpoints_of_container(q, id)? {
                    if network_id.is_some_and(|n| n != e.network_id) {
                        continue;
                    }
                    if e.ip.is_some() {
                        taken.push(e.clone());
                        e.ip = None;
                        e.ports.clear();
                        e.netns.clear();
                        store::put_endpoint(q, &e)?;
                    }
                }
                Ok(taken)
            })
            .unwrap_or_default()
    }

    /// Undoes `network_setup`: netavark teardown (veth, NAT and port rules, DNS entry), the
    /// netns file, the addresses. Safe to call twice and from racing processes: whoever
    /// frees the endpoint in the store does the teardown.
    pub fn network_teardown(&self, id: &str) {
        self.teardown_endpoints(id, None);
        let _ = netns::remove(&self.netns_path(id));
    }

    fn teardown_endpoints(&self, id: &str, network_id: Option<&str>) {
        let c = self.container_by_id(id).ok().flatten();
        for ep in self.free_endpoint(id, network_id) {
            let Ok(Some(net)) = self
                .store
                .db
                .read(|q| store::network_by_id(q, &ep.network_id))
            else {
                continue;
            };
            let ip = ep.ip.clone().unwrap_or_default();
            let opts = match &c {
                Some(c) => self.netavark_options(c, &net, &ep),
                None => {
                    let mac = ipam::parse_ip(&ip).map(ipam::mac_of).unwrap_or_default();
                    netavark::options(id, "", &net, &ep, &ip, &mac)
                }
            };
            let path = PathBuf::from(&ep.netns);
            if path.exists() {
                if let Err(e) = netavark::run(&self.netavark_dir(), "teardown", &path, &opts) {
                    eprintln!("bay: tearing down the network of {id}: {e}");
                }
            }
            ipam::release(&ep.network_id, &ip, &ep.netns);
        }
    }

    /// docker network connect: attaches the container to one more network (now, if it
    /// runs; at its next start otherwise).
    pub fn connect_network(
        &self,
        net_name: &str,
        c: &Container,
        ip: Option<&str>,
        aliases: &[String],
    ) -> Result<()> {
        let net = self.network(net_name)?;
        let mode = c.host_config.network_mode.as_str();
        if bridge_name(mode).is_none() || net.driver != "bridge" {
            return Err(NetworkError::Forbidden(format!(
                "container {} with network mode {mode} cannot be connected to network {}",
                c.name, net.name
            )));
        }
        if let Some(ip) = ip {
            let addr = ipam::parse_ip(ip)?;
            if net.name == "bridge" {
                return Err(NetworkError::Invalid(
                    "user specified IP address is supported on user defined networks only".into(),
                ));
            }
            if !Subnet::parse(&net.subnet)?.contains(addr) {
                return Err(NetworkError::Invalid(format!(
                    "no configured subnet or ip-range contain the IP address {addr}"
                )));
            }
        }
        self.store.db.tx(|q| {
            let mine = store::endpoints_of_container(q, &c.id)?;
            if mine.iter().any(|e| e.network_id == net.id) {
                return Err(crate::Error::Conflict(format!(
                    "endpoint with name {} already exists in network {}",
                    c.name, net.name
                )));
            }
            let ep = Endpoint {
                container_id: c.id.clone(),
                network_id: net.id.clone(),
                requested_ip: ip.map(String::from),
                aliases: aliases.to_vec(),
                iface: format!("eth{}", mine.len().max(1)),
                ..Endpoint::default()
            };
            store::put_endpoint(q, &ep)
        })?;
        let c = self.refresh(c.clone());
        let path = self.netns_path(&c.id);
        if c.status.is_up() && path.exists() {
            if let Err(e) = self.attach_one(&c, &net, &path, Vec::new()) {
                let _ = self.store.db.tx(|q| {
                    q.0.execute(
                        "DELETE FROM endpoints WHERE container_id = ?1 AND network_id = ?2",
                        rusqlite::params![c.id, net.id],
                    )
                    .map(|_| ())
                    .map_err(|e| crate::Error::Db {
                        context: "removing an endpoint".into(),
                        source: e,
                    })
                });
                return Err(e);
            }
        }
        Ok(())
    }

    /// docker network disconnect: detaches the container from a network it was connected
    /// to. Its primary network (NetworkMode) stays.
    pub fn disconnect_network(&self, net_name: &str, c: &Container) -> Result<()> {
        let net = self.network(net_name)?;
        let mine = self
            .store
            .db
            .read(|q| store::endpoints_of_container(q, &c.id))?;
        if !mine.iter().any(|e| e.network_id == net.id) {
            return Err(NetworkError::Forbidden(format!(
                "container {} is not connected to network {}",
                c.id, net.name
            )));
        }
        if bridge_name(&c.host_config.network_mode) == Some(net.name.as_str()) {
            return Err(NetworkError::Forbidden(format!(
                "container {} cannot be disconnected from its primary network {}: bay keeps the network it was created with",
                c.name, net.name
            )));
        }
        self.teardown_endpoints(&c.id, Some(&net.id));
        self.store.db.tx(|q| {
            q.0.execute(
                "DELETE FROM endpoints WHERE container_id = ?1 AND network_id = ?2",
                rusqlite::params![c.id, net.id],
            )
            .map(|_| ())
            .map_err(|e| crate::Error::Db {
                context: "removing an endpoint".into(),
                source: e,
            })
        })?;
        Ok(())
    }

    /// Forgets a removed container's endpoints (after teardown).
    pub fn network_forget(&self, id: &str) {
        self.network_teardown(id);
        let _ = self.store.db.tx(|q| store::delete_endpoints(q, id));
    }

    /// The container's live endpoint on its network, if up.
    fn endpoints_of(&self, c: &Container) -> Vec<(Network, Endpoint)> {
        let eps = self
            .store
            .db
            .read(|q| store::endpoints_of_container(q, &c.id))
            .unwrap_or_default();
        eps.into_iter()
            .filter_map(|ep| {
                let net = self
                    .store
                    .db
                    .read(|q| store::network_by_id(q, &ep.network_id))
                    .ok()??;
                Some((net, ep))
            })
            .collect()
    }

    /// The published ports of a running container.
    pub fn container_ports(&self, c: &Container) -> Vec<PortMap> {
        if !c.status.is_up() {
            return Vec::new();
        }
        self.endpoints_of(c)
            .into_iter()
            .filter(|(_, e)| e.ip.is_some())
            .flat_map(|(_, e)| e.ports)
            .collect()
    }

    /// ps's PORTS text.
    pub fn ports_text(&self, c: &Container) -> String {
        let exposed: Vec<String> = c
            .config
            .exposed_ports
            .iter()
            .flat_map(|m| m.keys().cloned())
            .collect();
        ports::ps_text(&exposed, &self.container_ports(c))
    }

    /// Docker's NetworkSettings as JSON.
    pub fn network_settings(&self, c: &Container) -> Value {
        let exposed: Vec<String> = c
            .config
            .exposed_ports
            .iter()
            .flat_map(|m| m.keys().cloned())
            .collect();
        let live = self.endpoints_of(c);
        let up = c.status.is_up();
        let mut networks = BTreeMap::new();
        let mut top = json!({
            "Bridge": "", "SandboxID": "", "HairpinMode": false,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "Ports": ports::settings_ports(&exposed, &self.container_ports(c)),
            "SandboxKey": "", "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
            "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
        });
        let mode = c.host_config.network_mode.as_str();
        if up && mode != "host" && !mode.starts_with("container:") {
            top["SandboxKey"] = json!(self.netns_path(&c.id).display().to_string());
            top["SandboxID"] = json!(crate::digest::hex(&super::sha(&c.id)));
        }
        for (net, ep) in &live {
            let (ip, gw, plen, mac, epid) = match (&ep.ip, up) {
                (Some(ip), true) => (
                    ip.clone(),
                    net.gateway.clone(),
                    Subnet::parse(&net.subnet).map(|s| s.prefix).unwrap_or(0),
                    ipam::parse_ip(ip).map(ipam::mac_of).unwrap_or_default(),
                    ep.endpoint_id.clone(),
                ),
                _ => Default::default(),
            };
            let aliases = if net.name == "bridge" {
                Value::Null
            } else {
                let mut a = ep.aliases.clone();
                a.push(c.short_id().to_string());
                json!(a)
            };
            let ipam_cfg = match &ep.requested_ip {
                Some(r) => json!({"IPv4Address": r}),
                None => Value::Null,
            };
            networks.insert(
                net.name.clone(),
                json!({
                    "IPAMConfig": ipam_cfg, "Links": null, "Aliases": aliases,
                    "NetworkID": net.id, "EndpointID": epid, "Gateway": gw,
                    "IPAddress": ip, "IPPrefixLen": plen, "IPv6Gateway": "",
                    "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                    "MacAddress": mac, "DriverOpts": null
                }),
            );
            if net.name == "bridge" {
                top["EndpointID"] = json!(epid);
                top["Gateway"] = json!(gw);
                top["IPAddress"] = json!(ip);
                top["IPPrefixLen"] = json!(plen);
                top["MacAddress"] = json!(mac);
            }
        }
        if live.is_empty() {
            let name = match mode {
                "default" => "bridge",
                m if m.starts_with("container:") => "",
                m => m,
            };
            if !name.is_empty() {
                let id = self.network(name).map(|n| n.id).unwrap_or_default();
                networks.insert(
                    name.to_string(),
                    json!({
                        "IPAMConfig": null, "Links": null, "Aliases": null,
                        "NetworkID": id, "EndpointID": "", "Gateway": "", "IPAddress": "",
                        "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
                        "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": null
                    }),
                );
            }
        }
        top["Networks"] = json!(networks);
        top
    }

    /// The network names a container is on (ps's Networks).
    pub fn container_network_names(&self, c: &Container) -> String {
        let mut names: Vec<String> = self
            .endpoints_of(c)
            .into_iter()
            .map(|(n, _)| n.name)
            .collect();
        if names.is_empty() {
            match c.host_config.network_mode.as_str() {
                "default" => names.push("bridge".into()),
                m if m.starts_with("container:") => {}
                m => names.push(m.to_string()),
            }
        }
        names.join(",")
    }
}

/// Points the OCI spec's network namespace at `netns`.
pub fn patch_spec(cfg: &mut Value, netns: &Path) {
    if let Some(nss) = cfg["linux"]["namespaces"].as_array_mut() {
        for ns in nss {
            if ns["type"] == "network" {
                ns["path"] = json!(netns.display().to_string());
            }
        }
    }
}

impl crate::container::CreateOptions {
    /// The network part of the create options.
    pub fn net_request(&self) -> NetRequest<'_> {
        NetRequest {
            network: self.network.as_deref(),
            publish: &self.publish,
            ip: self.ip.as_deref(),
            aliases: &self.network_aliases,
            hostname: self.hostname.as_deref(),
            add_hosts: &self.add_hosts,
            dns: &self.dns,
        }
    }
}
