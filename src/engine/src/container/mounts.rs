//! `-v` and `--mount` specs, parsed and checked at create time with docker's messages.

use std::path::{Component, Path};

use super::error::{ContainerError, Result};
use super::model::Mount;

fn invalid(msg: String) -> ContainerError {
    ContainerError::InvalidArgument(msg)
}

/// Strips trailing slashes (docker records `/data/` as `/data`) and `.` components.
pub fn clean(p: &str) -> String {
    let mut out = String::new();
    for c in Path::new(p).components() {
        match c {
            Component::RootDir => {}
            Component::CurDir => continue,
            Component::ParentDir => {
                if let Some(i) = out.rfind('/') {
                    out.truncate(i);
                }
                continue;
            }
            Component::Normal(s) => {
                out.push('/');
                out.push_str(&s.to_string_lossy());
            }
            Component::Prefix(_) => {}
        }
    }
    if out.is_empty() {
        "/".into()
    } else {
        out
    }
}

/// `-v SRC:DST[:MODE]`. Anonymous and named volumes are not there yet.
pub fn parse_volume(spec: &str) -> Result<Mount> {
    let parts: Vec<&str> = spec.split(':').collect();
    if spec.is_empty() || parts.iter().any(|p| p.is_empty()) && parts.len() > 1 {
        return Err(invalid(format!(
            "invalid spec: {spec}: empty section between colons"
        )));
    }
    let (src, dst, mode) = match parts.as_slice() {
        [d] => {
            if !d.starts_with('/') {
                return Err(invalid(format!(
                    "invalid volume specification: '{spec}': invalid mount config for type \"volume\": invalid mount path: '{d}' mount path must be absolute"
                )));
            }
            return Err(ContainerError::NotSupported(format!(
                "anonymous volumes (-v {spec}) are not supported yet: bind a host directory (-v /host/dir:{d})"
            )));
        }
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(invalid(format!("invalid spec: {spec}: too many colons"))),
    };
    if !dst.starts_with('/') {
        return Err(invalid(format!(
            "invalid volume specification: '{spec}': invalid mount config for type \"bind\": invalid mount path: '{dst}' mount path must be absolute"
        )));
    }
    let mut read_only = false;
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => read_only = true,
            "rw" | "z" | "Z" | "rprivate" | "private" | "nocopy" => {}
            _ => return Err(invalid(format!("invalid mode: {mode}"))),
        }
    }
    if !src.starts_with('/') {
        return Err(ContainerError::NotSupported(format!(
            "named volumes (-v {spec}) are not supported yet: use an absolute host path"
        )));
    }
    if clean(dst) == "/" {
        return Err(invalid(format!(
            "invalid volume specification: '{spec}': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"
        )));
    }
    Ok(Mount {
        kind: "bind".into(),
        source: clean(src),
        target: clean(dst),
        read_only,
        create_source: true,
        mode: mode.to_string(),
    })
}

/// `--mount type=bind|tmpfs,source=…,target=…[,readonly]`.
pub fn parse_mount(spec: &str) -> Result<Mount> {
    let mut m = Mount::default();
    for field in spec.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_lowercase(), Some(v.trim())),
            None => (field.trim().to_lowercase(), None),
        };
        match (k.as_str(), v) {
            ("type", Some(v)) => m.kind = v.to_string(),
            ("source" | "src", Some(v)) => m.source = v.to_string(),
            ("target" | "destination" | "dst", Some(v)) => m.target = v.to_string(),
            ("readonly" | "ro", None) => m.read_only = true,
            ("readonly" | "ro", Some(v)) => {
                m.read_only = match v {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => {
                        return Err(invalid(format!(
                            "invalid argument \"{spec}\" for \"--mount\" flag: invalid value for {k}: {v}"
                        )))
                    }
                }
            }
            ("bind-propagation", Some(_)) | ("consistency", Some(_)) => {}
            _ => {
                return Err(invalid(format!(
                    "invalid argument \"{spec}\" for \"--mount\" flag: unexpected key '{k}' in '{field}'"
                )))
            }
        }
    }
    if m.kind.is_empty() {
        m.kind = "volume".into();
    }
    if m.target.is_empty() {
        return Err(invalid(format!(
            "invalid argument \"{spec}\" for \"--mount\" flag: target is required"
        )));
    }
    if !m.target.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount config for type \"{}\": invalid mount path: '{}' mount path must be absolute",
            m.kind, m.target
        )));
    }
    m.target = clean(&m.target);
    match m.kind.as_str() {
        "bind" => {
            if m.source.is_empty() {
                return Err(invalid(
                    "invalid mount config for type \"bind\": field Source must not be empty".into(),
                ));
            }
            if !m.source.starts_with('/') {
                return Err(invalid(format!(
                    "invalid mount config for type \"bind\": invalid mount path: '{}' mount path must be absolute",
                    m.source
                )));
            }
            m.source = clean(&m.source);
            if !Path::new(&m.source).exists() {
                return Err(invalid(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {}",
                    m.source
                )));
            }
        }
        "tmpfs" => {
            if !m.source.is_empty() {
                return Err(invalid(
                    "invalid mount config for type \"tmpfs\": field Source must be empty".into(),
                ));
            }
        }
        "volume" => {
            return Err(ContainerError::NotSupported(
                "volume mounts (--mount type=volume) are not supported yet: use type=bind or type=tmpfs".into(),
            ))
        }
        other => {
            return Err(invalid(format!(
                "invalid argument \"{spec}\" for \"--mount\" flag: mount type '{other}' is not supported"
            )))
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_specs() {
        let m = parse_volume("/data/:/srv/x/:ro").unwrap();
        assert_eq!(
            (m.source.as_str(), m.target.as_str(), m.read_only),
            ("/data", "/srv/x", true)
        );
        assert!(parse_volume("/a:b").is_err());
        assert!(parse_volume("/a:/b:c:d").is_err());
        assert!(parse_volume("/a:/b:xx").is_err());
        assert!(matches!(
            parse_volume("/x"),
            Err(ContainerError::NotSupported(_))
        ));
        assert!(matches!(
            parse_volume("vol:/x"),
            Err(ContainerError::NotSupported(_))
        ));
    }

    #[test]
    fn mount_specs() {
        let m = parse_mount("type=tmpfs,destination=/t").unwrap();
        assert_eq!((m.kind.as_str(), m.target.as_str()), ("tmpfs", "/t"));
        assert!(parse_mount("type=bind,source=/nonexistent-bay-x,target=/t").is_err());
        assert!(
            parse_mount("type=bind,source=/tmp,target=/t,readonly")
                .unwrap()
                .read_only
        );
        assert!(parse_mount("type=foo,target=/t").is_err());
    }
}
