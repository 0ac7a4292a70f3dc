//! Dockerfile parsing: parser directives (`# escape=`, `# syntax=`), line continuations,
//! comments, instruction keywords, `--flags` and the JSON (exec) or shell form of the arguments.
//! Variable substitution happens later, at dispatch, with the state of the build (see `shell`).

use super::BuildError;

pub const KNOWN: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// The arguments after the keyword and flags.
#[derive(Clone, Debug, PartialEq)]
pub enum Args {
    /// `["a", "b"]`
    Json(Vec<String>),
    /// Anything else, continuation lines joined.
    Shell(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Instruction {
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// Upper-case keyword.
    pub cmd: String,
    /// `--name=value` flags before the arguments (`--name` alone has an empty value).
    pub flags: Vec<(String, String)>,
    pub args: Args,
    /// The text after the keyword (flags included).
    pub rest: String,
    /// The instruction as written (continuations joined), as docker echoes it in
    /// `Step n/m : ...`.
    pub original: String,
}

impl Instruction {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The step line: `FROM busybox`, `COPY index.html /www/`.
    pub fn display(&self) -> String {
        self.original.clone()
    }
}

#[derive(Clone, Debug)]
pub struct Dockerfile {
    pub escape: char,
    pub instructions: Vec<Instruction>,
}

fn parse_err(line: usize, msg: impl std::fmt::Display) -> BuildError {
    BuildError::Parse(format!("dockerfile parse error on line {line}: {msg}"))
}

/// A `# key=value` parser directive line, if it is one.
fn directive(line: &str) -> Option<(String, String)> {
    let t = line.trim();
    let body = t.strip_prefix('#')?.trim();
    let (k, v) = body.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || k.contains(char::is_whitespace) {
        return None;
    }
    Some((k.to_ascii_lowercase(), v.trim().to_string()))
}

pub fn parse(text: &str) -> Result<Dockerfile, BuildError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let mut escape = '\\';
    let mut i = 0;
    // Directives only at the very top, before any comment, blank line or instruction.
    while i < lines.len() {
        match directive(lines[i]) {
            Some((k, v)) if k == "escape" || k == "syntax" || k == "check" => {
                if k == "escape" {
                    escape = match v.as_str() {
                        "\\" => '\\',
                        "`" => '`',
                        _ => {
                            return Err(parse_err(
                                i + 1,
                                format!("invalid escape token '{v}' does not match ` or \\"),
                            ))
                        }
                    };
                }
                i += 1;
            }
            _ => break,
        }
    }
    let mut out = Vec::new();
    while i < lines.len() {
        let raw = lines[i];
        let t = raw.trim_start();
        if t.is_empty() || t.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut joined = String::new();
        let mut cur = raw.to_string();
        loop {
            let trimmed = cur.trim_end();
            if let Some(body) = trimmed.strip_suffix(escape) {
                joined.push_str(body);
                i += 1;
                // Comment lines and blank lines inside a continuation are dropped.
                while i < lines.len() {
                    let n = lines[i].trim_start();
                    if n.starts_with('#') || n.is_empty() {
                        i += 1;
                    } else {
                        break;
                    }
                }
                if i >= lines.len() {
                    break;
                }
                cur = lines[i].to_string();
            } else {
                joined.push_str(&cur);
                i += 1;
                break;
            }
        }
        out.push(parse_instruction(start, joined.trim(), escape)?);
    }
    Ok(Dockerfile {
        escape,
        instructions: out,
    })
}

fn parse_instruction(line: usize, s: &str, escape: char) -> Result<Instruction, BuildError> {
    let (kw, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
    let cmd = kw.to_ascii_uppercase();
    if !KNOWN.contains(&cmd.as_str()) {
        return Err(parse_err(line, format!("unknown instruction: {kw}")));
    }
    let rest = rest.trim().to_string();
    let (flags, body) = if matches!(
        cmd.as_str(),
        "FROM" | "COPY" | "ADD" | "RUN" | "HEALTHCHECK"
    ) {
        split_flags(&rest)
    } else {
        (Vec::new(), rest.as_str())
    };
    if matches!(cmd.as_str(), "RUN" | "COPY" | "ADD") && is_heredoc(body) {
        return Err(parse_err(
            line,
            "heredocs are not supported by this builder yet",
        ));
    }
    let args = json_form(body, escape)
        .map(Args::Json)
        .unwrap_or_else(|| Args::Shell(body.to_string()));
    Ok(Instruction {
        line,
        cmd,
        flags,
        args,
        rest,
        original: s.to_string(),
    })
}

/// Leading `--name[=value]` words.
pub fn split_flags(s: &str) -> (Vec<(String, String)>, &str) {
    let mut flags = Vec::new();
    let mut rest = s.trim_start();
    while let Some(f) = rest.strip_prefix("--") {
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let word = &f[..end];
        if word.is_empty() {
            break;
        }
        let (k, v) = word.split_once('=').unwrap_or((word, ""));
        flags.push((k.to_string(), v.to_string()));
        rest = f[end..].trim_start();
    }
    (flags, rest)
}

fn is_heredoc(s: &str) -> bool {
    let mut rest = s;
    while let Some(p) = rest.find("<<") {
        let after = rest[p + 2..].trim_start_matches('-');
        let after = after.trim_start_matches(['"', '\'']);
        if after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return true;
        }
        rest = &rest[p + 2..];
    }
    false
}

/// The JSON form: an array of strings, else None (then it is the shell form, as in docker).
fn json_form(s: &str, escape: char) -> Option<Vec<String>> {
    let t = s.trim();
    if !t.starts_with('[') || !t.ends_with(']') {
        return None;
    }
    // With the backtick escape, backslashes are plain characters (Windows paths).
    let owned;
    let t = if escape == '`' {
        owned = t.replace('\\', "\\\\");
        owned.as_str()
    } else {
        t
    };
    serde_json::from_str::<Vec<String>>(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_comments_and_forms() {
        let df = parse(
            "# syntax=docker/dockerfile:1\n# escape=\\\nFROM busybox AS base\n# c\nRUN echo a \\\n  # inner\n  && echo b\nCMD [\"sh\", \"-c\"]\ncopy --chown=1:2 a b\n",
        )
        .unwrap();
        let ins = &df.instructions;
        assert_eq!(ins.len(), 4);
        assert_eq!(ins[0].line, 3);
        assert_eq!(ins[1].args, Args::Shell("echo a   && echo b".into()));
        assert_eq!(ins[2].args, Args::Json(vec!["sh".into(), "-c".into()]));
        assert_eq!(ins[3].cmd, "COPY");
        assert_eq!(ins[3].flag("chown"), Some("1:2"));
    }

    #[test]
    fn unknown_instruction_names_line() {
        let e = parse("FROM busybox\n\nFOO bar\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 3: unknown instruction: FOO"
        );
    }

    #[test]
    fn backtick_escape() {
        let df = parse("# escape=`\nFROM x\nRUN a `\n b\n").unwrap();
        assert_eq!(df.instructions[1].args, Args::Shell("a  b".into()));
    }
}
