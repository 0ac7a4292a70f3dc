//! `linux.cgroupsPath` resolution, exactly as runc 1.1 does it with the cgroupfs driver.
//!
//! - absolute: under the root of each hierarchy;
//! - relative: v1: under the caller's own cgroup of each controller; v2: under the *parent* of
//!   the caller's own cgroup (its own cgroup usually has processes, so controllers could not be
//!   enabled below it);
//! - empty: the container id, as a relative path.
//!
//! Paths are cleaned lexically first, so `..` can never climb out of the hierarchy.

/// runc's `utils.CleanPath`: lexical clean; a relative path can't start with "..".
pub(crate) fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return String::new();
    }
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for comp in p.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    if abs {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

/// Joins cgroup paths, cleaning the result; `base` is absolute.
pub(crate) fn join(base: &str, inner: &str) -> String {
    if inner.starts_with('/') {
        return clean_path(inner);
    }
    clean_path(&format!("{base}/{inner}"))
}

/// Parent of an absolute cgroup path ("/" stays "/").
pub(crate) fn parent(p: &str) -> String {
    let p = clean_path(p);
    match p.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => p[..i].to_string(),
    }
}

/// The inner path runc derives from cgroupsPath and the container id.
pub(crate) fn inner_path(cgroups_path: Option<&str>, id: &str) -> String {
    match cgroups_path.map(clean_path) {
        Some(p) if !p.is_empty() => p,
        _ => clean_path(id),
    }
}

/// Relative path of `cgroup` below `root` (both absolute), for nested cgroup mounts.
pub(crate) fn rel_to_root(root: &str, cgroup: &str) -> String {
    let root = clean_path(root);
    let cgroup = clean_path(cgroup);
    if root == "/" {
        return cgroup;
    }
    match cgroup.strip_prefix(&root) {
        Some("") => "/".to_string(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => cgroup,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_matches_runc() {
        assert_eq!(clean_path(""), "");
        assert_eq!(clean_path("/a/../../b/"), "/b");
        assert_eq!(clean_path("../../x"), "x");
        assert_eq!(clean_path("a/./b//c"), "a/b/c");
        assert_eq!(clean_path("./"), ".");
        assert_eq!(clean_path("/"), "/");
    }

    #[test]
    fn relative_and_absolute_paths_join_like_filepath_join() {
        assert_eq!(join("/user.slice", "ctr"), "/user.slice/ctr");
        assert_eq!(join("/", "ctr"), "/ctr");
        assert_eq!(join("/x", "/abs"), "/abs");
        assert_eq!(join("/x", "."), "/x");
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/"), "/");
    }

    #[test]
    fn empty_path_defaults_to_the_id() {
        assert_eq!(inner_path(None, "c1"), "c1");
        assert_eq!(inner_path(Some(""), "c1"), "c1");
        assert_eq!(inner_path(Some("/a/../b"), "c1"), "/b");
    }

    #[test]
    fn nested_mount_roots_are_stripped() {
        assert_eq!(rel_to_root("/", "/a/b"), "/a/b");
        assert_eq!(rel_to_root("/a", "/a/b"), "/b");
        assert_eq!(rel_to_root("/a", "/a"), "/");
        assert_eq!(rel_to_root("/a", "/ab"), "/ab");
    }
}
