//! IPv4 subnets, address allocation and docker's MAC addresses.

use std::fmt;
use std::net::Ipv4Addr;

use super::error::{NetworkError, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

pub fn parse_ip(s: &str) -> Result<Ipv4Addr> {
    s.parse()
        .map_err(|_| NetworkError::Invalid(format!("invalid IPv4 address: {s}")))
}

impl Subnet {
    /// `a.b.c.d/n`.
    pub fn parse(s: &str) -> Result<Subnet> {
        let bad = || NetworkError::Invalid(format!("invalid subnet {s}: not a CIDR (a.b.c.d/n)"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Ok(Subnet { addr, prefix })
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// The n-th address of the subnet (1 is docker's gateway).
    pub fn host(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()) + n)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    pub fn overlaps(&self, o: &Subnet) -> bool {
        self.contains(o.network()) || o.contains(self.network())
    }

    /// The number of addresses.
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

/// The lowest address of `s` that is not the network, broadcast, gateway or in `used`.
pub fn allocate(s: &Subnet, gateway: Ipv4Addr, used: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    (1..s.size().saturating_sub(1))
        .map(|n| s.host(n as u32))
        .find(|ip| *ip != gateway && !used.contains(ip))
}

/// docker's MAC for an address: 02:42 then the four address bytes.
pub fn mac_of(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

const RESERVATIONS: &str = "/run/bay/ipam";

/// Claims `ip` on network `net_id` host-wide (a file naming the netns that holds it). A
/// claim whose netns file is gone is stale (its holder crashed) and is taken over.
pub fn reserve(net_id: &str, ip: Ipv4Addr, netns: &std::path::Path) -> bool {
    let dir = std::path::Path::new(RESERVATIONS).join(net_id);
    let _ = std::fs::create_dir_all(&dir);
    let f = dir.join(ip.to_string());
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&f)
        {
            Ok(mut file) => {
                use std::io::Write;
                return file.write_all(netns.as_os_str().as_encoded_bytes()).is_ok();
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(&f).unwrap_or_default();
                if holder.is_empty() || std::path::Path::new(&holder).exists() {
                    return false;
                }
                let _ = std::fs::remove_file(&f);
            }
            // No /run/bay (not root?): the per-root database alone decides.
            Err(_) => return true,
        }
    }
    false
}

/// Forgets a removed network's claim directory.
pub fn forget_network(net_id: &str) {
    let _ = std::fs::remove_dir(std::path::Path::new(RESERVATIONS).join(net_id));
}

/// Drops a claim made by `reserve` for the namespace `netns`.
pub fn release(net_id: &str, ip: &str, netns: &str) {
    let f = std::path::Path::new(RESERVATIONS).join(net_id).join(ip);
    if std::fs::read_to_string(&f).is_ok_and(|h| h == netns) {
        let _ = std::fs::remove_file(&f);
    }
}

/// The host's IPv4 routes (device, destination) other than the default route.
pub fn host_routes() -> Vec<(String, Subnet)> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let mut out = Vec::new();
    for l in text.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let (Ok(dst), Ok(mask)) = (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
        else {
            continue;
        };
        // /proc/net/route prints the addresses in host (little-endian) byte order.
        let dst = Ipv4Addr::from(dst.to_le_bytes());
        let mask = u32::from_be_bytes(mask.to_le_bytes());
        if mask == 0 {
            continue;
        }
        out.push((
            f[0].to_string(),
            Subnet {
                addr: dst,
                prefix: mask.count_ones() as u8,
            },
        ));
    }
    out
}

/// docker's default address pools: 172.17-31.0.0/16, then 192.168.0-240.0/20.
pub fn free_pool(taken: &[Subnet]) -> Option<Subnet> {
    let candidates = (17..=31u8)
        .map(|x| Subnet {
            addr: Ipv4Addr::new(172, x, 0, 0),
            prefix: 16,
        })
        .chain((0..16u8).map(|x| Subnet {
            addr: Ipv4Addr::new(192, 168, x * 16, 0),
            prefix: 20,
        }));
    candidates
        .into_iter()
        .find(|c| !taken.iter().any(|t| t.overlaps(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_math() {
        let s = Subnet::parse("10.1.2.0/24").unwrap();
        assert_eq!(s.host(1), Ipv4Addr::new(10, 1, 2, 1));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 1, 2, 255));
        assert!(s.overlaps(&Subnet::parse("10.1.0.0/16").unwrap()));
        assert!(!s.overlaps(&Subnet::parse("10.1.3.0/24").unwrap()));
        let gw = s.host(1);
        assert_eq!(allocate(&s, gw, &[s.host(2)]), Some(s.host(3)));
        assert_eq!(mac_of(Ipv4Addr::new(172, 17, 0, 2)), "02:42:ac:11:00:02");
        assert!(Subnet::parse("10.0.0.0").is_err());
    }
}
