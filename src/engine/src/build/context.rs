//! The build context: a directory (given, or a tar read from stdin and extracted), its
//! `.dockerignore` patterns (moby's patternmatcher: Go `filepath.Match` per path component,
//! `**` for any number of directories, `!` exceptions, last match wins, a match on a parent
//! directory excludes what is below it), and the size docker's CLI reports for it.

use std::fs;
use std::path::{Path, PathBuf};

use super::BuildError;

/// Go's `filepath.Match` for one path (separators never matched by `*`, `?` or classes).
pub fn go_match(pattern: &str, name: &str) -> Result<bool, BuildError> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_at(&p, &n)
        .map_err(|_| BuildError::Invalid(format!("syntax error in pattern {pattern:?}")))
}

fn match_at(p: &[char], n: &[char]) -> Result<bool, ()> {
    let (mut pi, mut ni) = (0, 0);
    // Backtracking point for the last `*`.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' if ni < n.len() && n[ni] != '/' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' if ni < n.len() && n[ni] != '/' => {
                    let (ok, next) = class(p, pi, n[ni])?;
                    if ok {
                        pi = next;
                        ni += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() && ni < n.len() && n[ni] == p[pi + 1] => {
                    pi += 2;
                    ni += 1;
                    continue;
                }
                '\\' if pi + 1 < p.len() => {}
                '\\' => return Err(()),
                c if c != '?' && c != '[' && ni < n.len() && n[ni] == c => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        } else if ni == n.len() {
            return Ok(true);
        }
        // Mismatch: let the last star eat one more (non-separator) character.
        match star {
            Some((sp, sn)) if sn < n.len() && n[sn] != '/' => {
                star = Some((sp, sn + 1));
                pi = sp + 1;
                ni = sn + 1;
            }
            _ => {
                // Still validate the rest of the pattern, as Go reports ErrBadPattern.
                if p[pi..].contains(&'[') {
                    let mut i = pi;
                    while i < p.len() {
                        if p[i] == '[' {
                            i = class(p, i, 'a')?.1;
                        } else {
                            i += 1;
                        }
                    }
                }
                return Ok(false);
            }
        }
    }
}

/// A `[...]` class at `p[i]`: (matches c, index after the class).
fn class(p: &[char], i: usize, c: char) -> Result<(bool, usize), ()> {
    let mut j = i + 1;
    let negate = j < p.len() && p[j] == '^';
    if negate {
        j += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        if j >= p.len() {
            return Err(());
        }
        if p[j] == ']' && !first {
            j += 1;
            break;
        }
        first = false;
        let mut lo = p[j];
        if lo == '\\' {
            j += 1;
            lo = *p.get(j).ok_or(())?;
        }
        j += 1;
        let mut hi = lo;
        if j + 1 < p.len() && p[j] == '-' && p[j + 1] != ']' {
            hi = p[j + 1];
            if hi == '\\' {
                hi = *p.get(j + 2).ok_or(())?;
                j += 1;
            }
            j += 2;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
    Ok((matched != negate, j))
}

pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Lexically cleans a slash path (Go's `path.Clean`), relative result without a leading `/`.
pub fn clean_rel(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !p.starts_with('/') {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

struct Pattern {
    parts: Vec<String>,
    exclusion: bool,
}

pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (exclusion, l) = match l.strip_prefix('!') {
                Some(r) => (true, r.trim()),
                None => (false, l),
            };
            let c = clean_rel(l);
            if c.is_empty() {
                continue;
            }
            patterns.push(Pattern {
                parts: c.split('/').map(String::from).collect(),
                exclusion,
            });
        }
        Ignore { patterns }
    }

    pub fn empty() -> Ignore {
        Ignore {
            patterns: Vec::new(),
        }
    }

    /// Is `rel` (slash separated, relative to the context) excluded?
    pub fn excluded(&self, rel: &str) -> bool {
        let parts: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
        let mut ex = false;
        for p in &self.patterns {
            // The pattern matches the path or one of its parents.
            let hit = (1..=parts.len()).any(|k| parts_match(&p.parts, &parts[..k]));
            if hit {
                ex = !p.exclusion;
            }
        }
        ex
    }
}

fn parts_match(pat: &[String], path: &[&str]) -> bool {
    match pat.first() {
        None => path.is_empty(),
        Some(p) if p == "**" => (0..=path.len()).any(|k| parts_match(&pat[1..], &path[k..])),
        Some(p) => {
            !path.is_empty()
                && go_match(p, path[0]).unwrap_or(false)
                && parts_match(&pat[1..], &path[1..])
        }
    }
}

/// A context directory plus its ignore rules.
pub struct Context {
    pub dir: PathBuf,
    pub ignore: Ignore,
}

impl Context {
    pub fn open(dir: &Path) -> Result<Context, BuildError> {
        let ignore = match fs::read_to_string(dir.join(".dockerignore")) {
            Ok(t) => Ignore::parse(&t),
            Err(_) => Ignore::empty(),
        };
        Ok(Context {
            dir: dir.to_path_buf(),
            ignore,
        })
    }

    /// The size of the tar docker's CLI would send: 512-byte headers, data padded to 512,
    /// 1024 bytes of trailer.
    pub fn tar_size(&self, dockerfile_outside: Option<u64>) -> u64 {
        let mut total = 1024;
        self.walk(Path::new(""), &mut |_, m| {
            total += 512;
            if m.is_file() {
                total += m.len().div_ceil(512) * 512;
            }
        });
        if let Some(n) = dockerfile_outside {
            total += 512 + n.div_ceil(512) * 512;
        }
        total
    }

    /// Visits every entry not excluded, parents before children, sorted.
    pub fn walk(&self, rel: &Path, f: &mut dyn FnMut(&Path, &fs::Metadata)) {
        let Ok(rd) = fs::read_dir(self.dir.join(rel)) else {
            return;
        };
        let mut names: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            let rs = r.to_string_lossy();
            let Ok(m) = fs::symlink_metadata(self.dir.join(&r)) else {
                continue;
            };
            // A directory matched by a pattern is skipped unless an exception may reach
            // inside it (then its contents are checked one by one).
            if self.ignore.excluded(&rs) {
                if !(m.is_dir() && self.ignore.patterns.iter().any(|p| p.exclusion)) {
                    continue;
                }
            } else {
                f(&r, &m);
            }
            if m.is_dir() {
                self.walk(&r, f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_filepath_match() {
        assert!(go_match("index.*", "index.html").unwrap());
        assert!(go_match("ind?x.html", "index.html").unwrap());
        assert!(!go_match("*", "a/b").unwrap());
        assert!(go_match("[a-c]x", "bx").unwrap());
        assert!(!go_match("[^a-c]x", "bx").unwrap());
        assert!(go_match("a\\*", "a*").unwrap());
        assert!(go_match("[", "x").is_err());
    }

    #[test]
    fn dockerignore_rules() {
        let i = Ignore::parse("# c\n*.log\n!keep.log\nsecret/\n**/*.tmp\n/build\n");
        assert!(i.excluded("a.log"));
        assert!(!i.excluded("keep.log"));
        assert!(i.excluded("secret/x"));
        assert!(i.excluded("a/b/c.tmp"));
        assert!(i.excluded("x.tmp"));
        assert!(i.excluded("build/out"));
        assert!(!i.excluded("src/a.log"));
    }

    #[test]
    fn clean() {
        assert_eq!(clean_rel("./a/../b/"), "b");
        assert_eq!(clean_rel("../x"), "../x");
        assert_eq!(clean_rel("/../x"), "x");
    }
}
