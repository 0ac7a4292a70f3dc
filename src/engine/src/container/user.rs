//! `-u user[:group]` resolved against the container's /etc/passwd and /etc/group, as docker
//! does at start: names must exist, numeric IDs need not.

use std::path::Path;

use super::error::{ContainerError, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn read(root: &Path, file: &str) -> String {
    std::fs::read_to_string(root.join(file)).unwrap_or_default()
}

fn passwd(root: &Path) -> Vec<PasswdEntry> {
    read(root, "etc/passwd")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 6 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

/// (name, gid, members)
fn groups(root: &Path) -> Vec<(String, u32, Vec<String>)> {
    read(root, "etc/group")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            let members = f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .filter(|x| !x.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            Some((f[0].to_string(), f[2].parse().ok()?, members))
        })
        .collect()
}

/// Resolves `spec` (empty = root) inside the rootfs at `root`.
pub fn resolve(root: &Path, spec: &str) -> Result<ExecUser> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let users = passwd(root);
    let entry = if u.is_empty() {
        users.iter().find(|e| e.uid == 0)
    } else if let Ok(n) = u.parse::<u32>() {
        users.iter().find(|e| e.uid == n)
    } else {
        match users.iter().find(|e| e.name == u) {
            Some(e) => Some(e),
            None => {
                return Err(ContainerError::InvalidArgument(format!(
                    "unable to find user {u}: no matching entries in passwd file"
                )))
            }
        }
    };
    let uid = match (entry, u.parse::<u32>()) {
        (Some(e), _) => e.uid,
        (None, Ok(n)) => n,
        (None, Err(_)) => 0,
    };
    let all_groups = groups(root);
    let gid = match g {
        None | Some("") => entry.map(|e| e.gid).unwrap_or(0),
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => match all_groups.iter().find(|x| x.0 == g) {
                Some(x) => x.1,
                None => {
                    return Err(ContainerError::InvalidArgument(format!(
                        "unable to find group {g}: no matching entries in group file"
                    )))
                }
            },
        },
    };
    let mut additional_gids = Vec::new();
    if let (Some(e), None) = (entry, g) {
        for (_, gid2, members) in &all_groups {
            if members.contains(&e.name) && *gid2 != gid && !additional_gids.contains(gid2) {
                additional_gids.push(*gid2);
            }
        }
    }
    let home = match entry {
        Some(e) if !e.home.is_empty() => e.home.clone(),
        _ if uid == 0 => "/root".into(),
        _ => "/".into(),
    };
    Ok(ExecUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_and_numbers() {
        let d = std::env::temp_dir().join(format!("bay-user-test-{}", std::process::id()));
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::write(
            d.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            d.join("etc/group"),
            "root:x:0:\nnogroup:x:65534:\nwheel:x:10:nobody\n",
        )
        .unwrap();
        assert_eq!(resolve(&d, "").unwrap().home, "/root");
        let n = resolve(&d, "nobody").unwrap();
        assert_eq!(
            (n.uid, n.gid, n.additional_gids.clone()),
            (65534, 65534, vec![10])
        );
        assert_eq!(resolve(&d, "1000:wheel").unwrap().gid, 10);
        assert_eq!(resolve(&d, "1000").unwrap().home, "/");
        assert!(resolve(&d, "bob").is_err());
        assert!(resolve(&d, "root:nogrp").is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
