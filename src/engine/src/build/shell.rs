//! Docker's word processing for the instructions it substitutes variables in (ENV, ARG, LABEL,
//! COPY, ADD, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, FROM): `$VAR`, `${VAR}`,
//! `${VAR:-word}`, `${VAR:+word}` (and `-`/`+` without the colon), quotes removed, the escape
//! character protecting the next one. Results are never re-split, as in docker.

use super::BuildError;

pub struct Lexer<'a> {
    pub escape: char,
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Lexer<'_> {
    /// One word: whitespace kept, quotes removed.
    pub fn word(&self, s: &str) -> Result<String, BuildError> {
        Ok(self.process(s, false)?.concat())
    }

    /// Words split at unquoted whitespace.
    pub fn words(&self, s: &str) -> Result<Vec<String>, BuildError> {
        self.process(s, true)
    }

    fn process(&self, s: &str, split: bool) -> Result<Vec<String>, BuildError> {
        let chars: Vec<char> = s.chars().collect();
        let mut i = 0;
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut in_word = false;
        while i < chars.len() {
            let c = chars[i];
            if split && c.is_whitespace() {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                i += 1;
                continue;
            }
            in_word = true;
            if c == self.escape {
                i += 1;
                if i < chars.len() {
                    cur.push(chars[i]);
                    i += 1;
                } else {
                    cur.push(c);
                }
            } else if c == '\'' {
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    cur.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(BuildError::Invalid(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    ));
                }
                i += 1;
            } else if c == '"' {
                i += 1;
                loop {
                    if i >= chars.len() {
                        return Err(BuildError::Invalid(
                            "unexpected end of statement while looking for matching double-quote"
                                .into(),
                        ));
                    }
                    let d = chars[i];
                    if d == '"' {
                        i += 1;
                        break;
                    }
                    if d == self.escape && i + 1 < chars.len() {
                        let n = chars[i + 1];
                        if n == '"' || n == '$' || n == self.escape {
                            cur.push(n);
                            i += 2;
                            continue;
                        }
                        cur.push(d);
                        i += 1;
                        continue;
                    }
                    if d == '$' {
                        i = self.dollar(&chars, i, &mut cur)?;
                        continue;
                    }
                    cur.push(d);
                    i += 1;
                }
            } else if c == '$' {
                i = self.dollar(&chars, i, &mut cur)?;
            } else {
                cur.push(c);
                i += 1;
            }
        }
        if in_word || !split {
            words.push(cur);
        }
        Ok(words)
    }

    /// Expands the `$...` at `chars[i]`; returns the index after it.
    fn dollar(&self, chars: &[char], i: usize, out: &mut String) -> Result<usize, BuildError> {
        let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let mut j = i + 1;
        if j < chars.len() && chars[j] == '{' {
            j += 1;
            let start = j;
            while j < chars.len() && name_char(chars[j]) {
                j += 1;
            }
            let name: String = chars[start..j].iter().collect();
            if name.is_empty() {
                return Err(BuildError::Invalid(format!(
                    "failed to process \"{}\": missing ':' in substitution",
                    chars.iter().collect::<String>()
                )));
            }
            if j < chars.len() && chars[j] == '}' {
                out.push_str(&(self.lookup)(&name).unwrap_or_default());
                return Ok(j + 1);
            }
            // Modifier and word up to the matching brace.
            let mut op = String::new();
            if j < chars.len() && chars[j] == ':' {
                op.push(':');
                j += 1;
            }
            if j < chars.len() && matches!(chars[j], '-' | '+' | '?') {
                op.push(chars[j]);
                j += 1;
            } else {
                return Err(BuildError::Invalid(format!(
                    "failed to process \"{}\": unsupported modifier in substitution",
                    chars.iter().collect::<String>()
                )));
            }
            let wstart = j;
            let mut depth = 1;
            while j < chars.len() {
                match chars[j] {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            if j >= chars.len() {
                return Err(BuildError::Invalid(format!(
                    "failed to process \"{}\": syntax error: missing '}}'",
                    chars.iter().collect::<String>()
                )));
            }
            let word_src: String = chars[wstart..j].iter().collect();
            let word = self.word(&word_src)?;
            let val = (self.lookup)(&name);
            let set = match op.as_str() {
                ":-" | ":+" | ":?" => val.as_deref().is_some_and(|v| !v.is_empty()),
                _ => val.is_some(),
            };
            match op.trim_start_matches(':') {
                "-" => out.push_str(&if set { val.unwrap_or_default() } else { word }),
                "+" => {
                    if set {
                        out.push_str(&word)
                    }
                }
                _ => {
                    if !set {
                        return Err(BuildError::Invalid(format!("{name}: {word}")));
                    }
                    out.push_str(&val.unwrap_or_default());
                }
            }
            return Ok(j + 1);
        }
        let start = j;
        while j < chars.len() && name_char(chars[j]) {
            j += 1;
        }
        if j == start {
            out.push('$');
            return Ok(i + 1);
        }
        let name: String = chars[start..j].iter().collect();
        out.push_str(&(self.lookup)(&name).unwrap_or_default());
        Ok(j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lx(s: &str) -> Vec<String> {
        let f = |n: &str| match n {
            "A" => Some("x y".to_string()),
            "E" => Some(String::new()),
            _ => None,
        };
        Lexer {
            escape: '\\',
            lookup: &f,
        }
        .words(s)
        .unwrap()
    }

    #[test]
    fn substitution_forms() {
        assert_eq!(lx("$A"), ["x y"]);
        assert_eq!(lx("${A}b"), ["x yb"]);
        assert_eq!(
            lx("${B:-d} ${A:+set} ${E:-e} ${E-e}"),
            ["d", "set", "e", ""]
        );
        assert_eq!(lx("'$A' \"$A\" \\$A"), ["$A", "x y", "$A"]);
        assert_eq!(lx("a=\"b c\" d"), ["a=b c", "d"]);
        assert_eq!(lx("$ x"), ["$", "x"]);
    }
}
