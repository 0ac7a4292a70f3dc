//! `-p` specs, docker's PortBindings shape, and the PORTS text of `ps`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::error::{NetworkError, Result};
use super::store::PortMap;

/// One requested binding: host port 0 means "pick one".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
}

fn port_range(s: &str, what: &str) -> Result<(u16, u16)> {
    let bad = || NetworkError::Invalid(format!("invalid {what}: {s}"));
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok((a, b))
}

/// `[ip:][hostPort:]containerPort[/proto]`, ports may be ranges (`8000-8001:80-81`).
pub fn parse(spec: &str) -> Result<Vec<Binding>> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(NetworkError::Invalid(format!("invalid proto: {proto}")));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, hp, cp) = match parts.as_slice() {
        [cp] => ("", "", *cp),
        [hp, cp] => ("", *hp, *cp),
        [ip, hp, cp] => (*ip, *hp, *cp),
        _ => {
            return Err(NetworkError::Invalid(format!(
                "invalid port format: {spec}"
            )))
        }
    };
    if !ip.is_empty() {
        super::ipam::parse_ip(ip)
            .map_err(|_| NetworkError::Invalid(format!("invalid IP address: {ip}")))?;
    }
    let (c0, c1) = port_range(cp, "containerPort")?;
    let hosts = if hp.is_empty() {
        None
    } else {
        Some(port_range(hp, "hostPort")?)
    };
    if let Some((h0, h1)) = hosts {
        if h1 - h0 != c1 - c0 && h0 != h1 {
            return Err(NetworkError::Invalid(format!(
                "invalid ranges specified for container and host Ports: {cp} and {hp}"
            )));
        }
    }
    Ok((c0..=c1)
        .enumerate()
        .map(|(i, c)| Binding {
            host_ip: ip.to_string(),
            host_port: match hosts {
                None => 0,
                Some((h0, h1)) if h0 == h1 => h0,
                Some((h0, _)) => h0 + i as u16,
            },
            container_port: c,
            protocol: proto.clone(),
        })
        .collect())
}

/// Docker's HostConfig.PortBindings for the `-p` specs.
pub fn port_bindings(specs: &[String]) -> Result<BTreeMap<String, Value>> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for s in specs {
        for b in parse(s)? {
            let key = format!("{}/{}", b.container_port, b.protocol);
            let entry = json!({
                "HostIp": b.host_ip,
                "HostPort": if b.host_port == 0 { String::new() } else { b.host_port.to_string() },
            });
            match out.get_mut(&key).and_then(|v| v.as_array_mut()) {
                Some(a) => a.push(entry),
                None => {
                    out.insert(key, json!([entry]));
                }
            }
        }
    }
    Ok(out)
}

/// Bindings back from HostConfig.PortBindings.
pub fn from_port_bindings(pb: &BTreeMap<String, Value>) -> Vec<Binding> {
    let mut out = Vec::new();
    for (k, v) in pb {
        let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
        let Ok(cp) = p.parse::<u16>() else { continue };
        for b in v.as_array().into_iter().flatten() {
            out.push(Binding {
                host_ip: b["HostIp"].as_str().unwrap_or_default().to_string(),
                host_port: b["HostPort"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                container_port: cp,
                protocol: proto.to_string(),
            });
        }
    }
    out
}

/// Is `port` free on the host for `proto`? (A bind that succeeds and is closed again.)
pub fn host_port_free(ip: &str, port: u16, proto: &str) -> bool {
    let addr = format!("{}:{port}", if ip.is_empty() { "0.0.0.0" } else { ip });
    if proto == "udp" {
        std::net::UdpSocket::bind(&addr).is_ok()
    } else {
        std::net::TcpListener::bind(&addr).is_ok()
    }
}

/// NetworkSettings.Ports: every exposed or published port, with its host bindings.
pub fn settings_ports(exposed: &[String], maps: &[PortMap]) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for e in exposed {
        out.insert(e.clone(), Value::Null);
    }
    for m in maps {
        let key = format!("{}/{}", m.container_port, m.protocol);
        let ip = if m.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            &m.host_ip
        };
        let entry = json!({"HostIp": ip, "HostPort": m.host_port.to_string()});
        match out.get_mut(&key).and_then(|v| v.as_array_mut()) {
            Some(a) => a.push(entry),
            None => {
                out.insert(key, json!([entry]));
            }
        }
    }
    out
}

/// ps's PORTS column: `0.0.0.0:8080->80/tcp, 443/tcp`.
pub fn ps_text(exposed: &[String], maps: &[PortMap]) -> String {
    let mut parts: Vec<String> = maps
        .iter()
        .map(|m| {
            let ip = if m.host_ip.is_empty() {
                "0.0.0.0"
            } else {
                &m.host_ip
            };
            format!("{ip}:{}->{}/{}", m.host_port, m.container_port, m.protocol)
        })
        .collect();
    for e in exposed {
        let published = maps
            .iter()
            .any(|m| format!("{}/{}", m.container_port, m.protocol) == *e);
        if !published {
            parts.push(e.clone());
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let b = parse("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(b[0].host_ip, "127.0.0.1");
        assert_eq!(b[0].host_port, 8080);
        assert_eq!(b[0].protocol, "udp");
        assert_eq!(parse("127.0.0.1::80").unwrap()[0].host_port, 0);
        assert_eq!(parse("80").unwrap()[0].container_port, 80);
        assert_eq!(parse("8000-8001:80-81").unwrap().len(), 2);
        assert!(parse("x:80").is_err());
        assert!(parse("80/bogus").is_err());
        assert!(parse("1.2.3:80:80").is_err());
    }
}
