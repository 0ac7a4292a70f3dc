//! Device access rules: validation, runc's default allow-list, and the v1 file syntax.
//! The v2 eBPF program that enforces the same rules is in `bpf`.

use super::CgroupError;
use crate::spec::DeviceCgroup;

/// A validated rule. `None` major/minor is the wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub allow: bool,
    /// 'a', 'b' or 'c'.
    pub typ: char,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// Bitmask of ACC_* .
    pub access: u32,
}

pub(crate) const ACC_MKNOD: u32 = 1;
pub(crate) const ACC_READ: u32 = 2;
pub(crate) const ACC_WRITE: u32 = 4;
pub(crate) const ACC_ALL: u32 = 7;

impl Rule {
    /// The line written to v1 devices.allow / devices.deny.
    pub fn v1_line(&self) -> String {
        let num = |v: Option<u32>| v.map_or("*".to_string(), |n| n.to_string());
        let mut acc = String::new();
        for (bit, c) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
            if self.access & bit != 0 {
                acc.push(c);
            }
        }
        format!(
            "{} {}:{} {}",
            self.typ,
            num(self.major),
            num(self.minor),
            acc
        )
    }
}

fn bad(i: usize, msg: String) -> CgroupError {
    CgroupError::Invalid(format!("linux.resources.devices[{i}]: {msg}"))
}

/// Validates `linux.resources.devices` the way runc's spec conversion does.
pub(crate) fn parse_rules(rules: &[DeviceCgroup]) -> Result<Vec<Rule>, CgroupError> {
    rules
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let typ = match d.typ.as_deref() {
                None | Some("") | Some("a") => 'a',
                Some("b") => 'b',
                Some("c") => 'c',
                Some(t) => {
                    return Err(bad(
                        i,
                        format!("invalid device type {t:?}: must be \"a\", \"b\" or \"c\""),
                    ))
                }
            };
            let num = |what: &str, v: Option<i64>| -> Result<Option<u32>, CgroupError> {
                match v {
                    None | Some(-1) => Ok(None),
                    // 2^31 and above can't be compared in a BPF immediate; no real device has it.
                    Some(n) if (0..=i32::MAX as i64).contains(&n) => Ok(Some(n as u32)),
                    Some(n) => Err(bad(i, format!("invalid device {what} {n}"))),
                }
            };
            let access = match d.access.as_deref() {
                None | Some("") => {
                    return Err(bad(i, "device access must not be empty".to_string()))
                }
                Some(a) => parse_access(a).ok_or_else(|| {
                    bad(
                        i,
                        format!("invalid device access {a:?}: only 'r', 'w' and 'm' are allowed"),
                    )
                })?,
            };
            Ok(Rule {
                allow: d.allow,
                typ,
                major: num("major", d.major)?,
                minor: num("minor", d.minor)?,
                access,
            })
        })
        .collect()
}

fn parse_access(s: &str) -> Option<u32> {
    let mut acc = 0;
    for c in s.chars() {
        acc |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return None,
        };
    }
    Some(acc)
}

const fn allow(typ: char, major: Option<u32>, minor: Option<u32>, access: u32) -> Rule {
    Rule {
        allow: true,
        typ,
        major,
        minor,
        access,
    }
}

/// runc 1.1's default allow-list, appended after the spec's rules: mknod of any device, the
/// standard /dev nodes, /dev/pts/*, /dev/ptmx and /dev/net/tun.
pub(crate) const DEFAULT_ALLOWED: [Rule; 10] = [
    allow('c', None, None, ACC_MKNOD),
    allow('b', None, None, ACC_MKNOD),
    allow('c', Some(1), Some(3), ACC_ALL),
    allow('c', Some(1), Some(8), ACC_ALL),
    allow('c', Some(1), Some(7), ACC_ALL),
    allow('c', Some(5), Some(0), ACC_ALL),
    allow('c', Some(1), Some(5), ACC_ALL),
    allow('c', Some(1), Some(9), ACC_ALL),
    allow('c', Some(136), None, ACC_ALL),
    allow('c', Some(5), Some(2), ACC_ALL),
];
const TUN: Rule = allow('c', Some(10), Some(200), ACC_ALL);

/// The full rule list for a container, as runc 1.1 builds it: the spec's rules, then the
/// default allow-list. Nodes of `linux.devices` get no rule of their own (runc neither): access
/// to them is what `linux.resources.devices` says.
pub(crate) fn container_rules(spec_rules: &[DeviceCgroup]) -> Result<Vec<Rule>, CgroupError> {
    let mut rules = parse_rules(spec_rules)?;
    rules.extend_from_slice(&DEFAULT_ALLOWED);
    rules.push(TUN);
    Ok(rules)
}

/// Decides an access the way the rule list means it: for each requested access bit the last
/// rule that matches the device and names the bit decides; no rule means denied. The eBPF
/// program implements exactly this, and the v1 kernel list behaves the same for our rule lists.
#[cfg(test)]
pub(crate) fn permits(rules: &[Rule], typ: char, major: u32, minor: u32, access: u32) -> bool {
    let mut undecided = access;
    for r in rules.iter().rev() {
        let dev = (r.typ == 'a' || r.typ == typ)
            && r.major.is_none_or(|m| m == major)
            && r.minor.is_none_or(|m| m == minor);
        if !dev || undecided & r.access == 0 {
            continue;
        }
        if !r.allow {
            return false;
        }
        undecided &= !r.access;
        if undecided == 0 {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        allow: bool,
        typ: &str,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> DeviceCgroup {
        DeviceCgroup {
            allow,
            typ: Some(typ.to_string()),
            major,
            minor,
            access: Some(access.to_string()),
        }
    }

    #[test]
    fn bad_device_rules_are_rejected() {
        let e = parse_rules(&[rule(true, "x", None, None, "rwm")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "linux.resources.devices[0]: invalid device type \"x\": must be \"a\", \"b\" or \"c\""
        );
        assert!(parse_rules(&[rule(true, "c", None, None, "rwx")]).is_err());
        assert!(parse_rules(&[rule(true, "c", None, None, "")]).is_err());
        assert!(parse_rules(&[rule(true, "c", Some(-2), None, "r")]).is_err());
    }

    #[test]
    fn v1_lines_use_wildcards() {
        let r = parse_rules(&[
            rule(false, "a", None, None, "rwm"),
            rule(true, "c", Some(1), Some(3), "mrw"),
        ])
        .unwrap();
        assert_eq!(r[0].v1_line(), "a *:* rwm");
        assert_eq!(r[1].v1_line(), "c 1:3 rwm");
    }

    #[test]
    fn last_matching_rule_decides_each_access() {
        let rules = container_rules(&[rule(false, "a", None, None, "rwm")]).unwrap();
        assert!(permits(&rules, 'c', 1, 3, ACC_READ | ACC_WRITE));
        assert!(permits(&rules, 'c', 1, 1, ACC_MKNOD));
        assert!(!permits(&rules, 'c', 1, 1, ACC_READ));
        assert!(!permits(&rules, 'b', 8, 0, ACC_READ));
        let mut spec = vec![
            rule(false, "a", None, None, "rwm"),
            rule(true, "c", Some(1), Some(3), "rwm"),
        ];
        spec.push(rule(false, "c", Some(1), Some(3), "w"));
        let rules = parse_rules(&spec).unwrap();
        assert!(permits(&rules, 'c', 1, 3, ACC_READ));
        assert!(!permits(&rules, 'c', 1, 3, ACC_READ | ACC_WRITE));
    }
}
