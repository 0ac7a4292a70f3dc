//! `--format`: a subset of Go's text/template as docker uses it (fields, `json`, `index`,
//! `join`, `upper`, `lower`, `len`, `println`, `range`, `if`/`else`, `with`, pipes), and the
//! tabwriter that aligns `table` output.

use serde_json::Value;

#[derive(Debug)]
enum Node {
    Text(String),
    Action(Vec<Cmd>),
    If(Vec<Cmd>, Vec<Node>, Vec<Node>),
    Range(Vec<Cmd>, Vec<Node>, Vec<Node>),
    With(Vec<Cmd>, Vec<Node>, Vec<Node>),
}

/// One command of a pipeline: words like `json .Config` or `index .Labels "k"`.
type Cmd = Vec<Arg>;

#[derive(Debug, Clone)]
enum Arg {
    Field(Vec<String>), // `.A.B`; empty = `.`
    Str(String),
    Num(f64),
    Ident(String),
}

pub struct Template {
    nodes: Vec<Node>,
    pub table: bool,
}

fn perr(msg: impl std::fmt::Display) -> String {
    format!("template parsing error: {msg}")
}

impl Template {
    /// Parses a docker `--format` string (`table` prefix, `\t` and `\n` escapes).
    pub fn parse(format: &str) -> Result<Template, String> {
        let mut f = format;
        let mut table = false;
        if let Some(rest) = f.strip_prefix("table") {
            if rest.is_empty() || rest.starts_with(char::is_whitespace) {
                table = true;
                f = rest.trim_start();
            }
        }
        let f = f.replace("\\t", "\t").replace("\\n", "\n");
        let tokens = lex(&f)?;
        let mut pos = 0;
        let (nodes, end) = parse_list(&tokens, &mut pos)?;
        if let Some(e) = end {
            return Err(perr(format!("unexpected {{{{{e}}}}}")));
        }
        Ok(Template { nodes, table })
    }

    pub fn render(&self, v: &Value) -> Result<String, String> {
        let mut out = String::new();
        exec(&self.nodes, v, &mut out)?;
        Ok(out)
    }
}

enum Tok {
    Text(String),
    Action(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("{{") {
        let mut text = &rest[..i];
        let after = &rest[i + 2..];
        let (after, trim_left) = match after.strip_prefix("- ") {
            Some(a) => (a, true),
            None => (after, false),
        };
        if trim_left {
            text = text.trim_end();
        }
        if !text.is_empty() {
            out.push(Tok::Text(text.to_string()));
        }
        let j = after.find("}}").ok_or_else(|| perr("unclosed action"))?;
        let mut inner = &after[..j];
        let mut next = &after[j + 2..];
        if let Some(x) = inner.strip_suffix(" -") {
            inner = x;
            next = next.trim_start();
        }
        out.push(Tok::Action(inner.trim().to_string()));
        rest = next;
    }
    if !rest.is_empty() {
        out.push(Tok::Text(rest.to_string()));
    }
    Ok(out)
}

fn parse_list(toks: &[Tok], pos: &mut usize) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while *pos < toks.len() {
        let t = &toks[*pos];
        *pos += 1;
        match t {
            Tok::Text(s) => nodes.push(Node::Text(s.clone())),
            Tok::Action(a) => {
                let (kw, rest) = a
                    .split_once(char::is_whitespace)
                    .unwrap_or((a.as_str(), ""));
                match kw {
                    "end" | "else" => return Ok((nodes, Some(kw.to_string()))),
                    "if" | "range" | "with" => {
                        let pipe = parse_pipeline(rest)?;
                        let (body, end) = parse_list(toks, pos)?;
                        let els = match end.as_deref() {
                            Some("else") => {
                                let (e, end2) = parse_list(toks, pos)?;
                                if end2.as_deref() != Some("end") {
                                    return Err(perr(format!("missing {{{{end}}}} for {kw}")));
                                }
                                e
                            }
                            Some("end") => Vec::new(),
                            _ => return Err(perr(format!("missing {{{{end}}}} for {kw}"))),
                        };
                        nodes.push(match kw {
                            "if" => Node::If(pipe, body, els),
                            "range" => Node::Range(pipe, body, els),
                            _ => Node::With(pipe, body, els),
                        });
                    }
                    _ => nodes.push(Node::Action(parse_pipeline(a)?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

fn parse_pipeline(s: &str) -> Result<Vec<Cmd>, String> {
    let words = split_words(s)?;
    let mut cmds = vec![Vec::new()];
    for w in words {
        if w == "|" {
            cmds.push(Vec::new());
            continue;
        }
        let arg = if let Some(q) = w.strip_prefix('"') {
            Arg::Str(
                serde_json::from_str(&format!("\"{q}"))
                    .map_err(|_| perr(format!("bad string {w}")))?,
            )
        } else if w.starts_with('.') {
            Arg::Field(
                w.split('.')
                    .skip(1)
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect(),
            )
        } else if let Ok(n) = w.parse::<f64>() {
            Arg::Num(n)
        } else {
            Arg::Ident(w)
        };
        cmds.last_mut().expect("pipeline has a command").push(arg);
    }
    if cmds.iter().any(|c| c.is_empty()) {
        return Err(perr(format!("missing value in {s:?}")));
    }
    Ok(cmds)
}

fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            let mut w = String::from('"');
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                w.push(c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        w.push(n);
                    }
                } else if c == '"' {
                    closed = true;
                    break;
                }
            }
            if !closed {
                return Err(perr("unterminated quoted string"));
            }
            out.push(w);
        } else if c == '|' {
            chars.next();
            out.push("|".into());
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '|' {
                    break;
                }
                w.push(c);
                chars.next();
            }
            out.push(w);
        }
    }
    Ok(out)
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn exec(nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&to_text(&eval_pipeline(p, dot)?)),
            Node::If(p, body, els) => {
                if truthy(&eval_pipeline(p, dot)?) {
                    exec(body, dot, out)?
                } else {
                    exec(els, dot, out)?
                }
            }
            Node::With(p, body, els) => {
                let v = eval_pipeline(p, dot)?;
                if truthy(&v) {
                    exec(body, &v, out)?
                } else {
                    exec(els, dot, out)?
                }
            }
            Node::Range(p, body, els) => {
                let v = eval_pipeline(p, dot)?;
                let items: Vec<Value> = match v {
                    Value::Array(a) => a,
                    Value::Object(o) => o.into_iter().map(|(_, v)| v).collect(),
                    Value::Null => Vec::new(),
                    other => {
                        return Err(format!(
                            "template: range can't iterate over {}",
                            to_text(&other)
                        ))
                    }
                };
                if items.is_empty() {
                    exec(els, dot, out)?;
                }
                for it in &items {
                    exec(body, it, out)?;
                }
            }
        }
    }
    Ok(())
}

/// Go's default printing of a value.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(to_text).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => format!(
            "map[{}]",
            o.iter()
                .map(|(k, v)| format!("{k}:{}", to_text(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn field(dot: &Value, path: &[String]) -> Result<Value, String> {
    let mut cur = dot.clone();
    for p in path {
        cur = match cur {
            Value::Object(mut o) => match o.remove(p) {
                Some(v) => v,
                None => {
                    return Err(format!(
                        "template: executing at <.{p}>: can't evaluate field {p}"
                    ))
                }
            },
            Value::Null => Value::Null,
            _ => {
                return Err(format!(
                    "template: executing at <.{p}>: can't evaluate field {p}"
                ))
            }
        };
    }
    Ok(cur)
}

fn eval_arg(a: &Arg, dot: &Value) -> Result<Value, String> {
    match a {
        Arg::Field(p) => field(dot, p),
        Arg::Str(s) => Ok(Value::String(s.clone())),
        Arg::Num(n) => Ok(serde_json::json!(n)),
        Arg::Ident(i) => call(i, &[], dot),
    }
}

fn eval_pipeline(p: &[Cmd], dot: &Value) -> Result<Value, String> {
    let mut prev: Option<Value> = None;
    for cmd in p {
        let v = match &cmd[0] {
            Arg::Ident(name) => {
                let mut args = cmd[1..]
                    .iter()
                    .map(|a| eval_arg(a, dot))
                    .collect::<Result<Vec<_>, _>>()?;
                if let Some(pv) = prev.take() {
                    args.push(pv);
                }
                call(name, &args, dot)?
            }
            a => {
                if cmd.len() > 1 || prev.is_some() {
                    return Err("template: can't give arguments to a non-function".into());
                }
                eval_arg(a, dot)?
            }
        };
        prev = Some(v);
    }
    Ok(prev.unwrap_or(Value::Null))
}

fn call(name: &str, args: &[Value], _dot: &Value) -> Result<Value, String> {
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .ok_or_else(|| format!("template: wrong number of args for {name}"))
    };
    let s = |v: Value| to_text(&v);
    Ok(match name {
        "json" => Value::String(go_json(&arg(0)?)),
        "upper" => Value::String(s(arg(0)?).to_uppercase()),
        "lower" => Value::String(s(arg(0)?).to_lowercase()),
        "title" => {
            let t = s(arg(0)?);
            let mut c = t.chars();
            Value::String(
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default(),
            )
        }
        "len" => match arg(0)? {
            Value::Array(a) => a.len().into(),
            Value::Object(o) => o.len().into(),
            Value::String(x) => x.len().into(),
            _ => return Err("template: len of a non-collection".into()),
        },
        "join" => {
            let (list, sep) = (arg(0)?, s(arg(1)?));
            match list {
                Value::Array(a) => {
                    Value::String(a.iter().map(to_text).collect::<Vec<_>>().join(&sep))
                }
                other => Value::String(to_text(&other)),
            }
        }
        "split" => Value::Array(
            s(arg(0)?)
                .split(&s(arg(1)?))
                .map(|x| Value::String(x.into()))
                .collect(),
        ),
        "index" => {
            let mut cur = arg(0)?;
            for k in &args[1..] {
                cur = match (&cur, k) {
                    (Value::Object(o), key) => o.get(&to_text(key)).cloned().unwrap_or(Value::Null),
                    (Value::Array(a), Value::Number(n)) => a
                        .get(n.as_f64().unwrap_or(-1.0) as usize)
                        .cloned()
                        .ok_or("template: index out of range")?,
                    _ => return Err("template: can't index item".into()),
                };
            }
            cur
        }
        "println" => Value::String(args.iter().map(to_text).collect::<Vec<_>>().join(" ") + "\n"),
        "print" => Value::String(args.iter().map(to_text).collect::<Vec<_>>().join("")),
        "printf" => {
            let f = s(arg(0)?);
            let mut out = String::new();
            let mut rest = args[1..].iter();
            let mut chars = f.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '%' {
                    match chars.next() {
                        Some('%') => out.push('%'),
                        Some('q') => out.push_str(&format!(
                            "{:?}",
                            rest.next().map(to_text).unwrap_or_default()
                        )),
                        Some(_) => out.push_str(&rest.next().map(to_text).unwrap_or_default()),
                        None => out.push('%'),
                    }
                } else {
                    out.push(c);
                }
            }
            Value::String(out)
        }
        "not" => Value::Bool(!truthy(&arg(0)?)),
        "eq" => Value::Bool(arg(0)? == arg(1)?),
        "ne" => Value::Bool(arg(0)? != arg(1)?),
        _ => {
            return Err(format!(
                "template parsing error: function {name:?} not defined"
            ))
        }
    })
}

/// JSON the way Go's encoder writes it (`<`, `>`, `&` escaped).
pub fn go_json(v: &Value) -> String {
    escape_html(&serde_json::to_string(v).unwrap_or_default())
}

pub fn escape_html(s: &str) -> String {
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Go's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)` as docker's tables use it.
pub fn tabwrite(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        for (j, c) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            let w = (c.chars().count() + 3).max(10);
            if widths.len() <= j {
                widths.push(w);
            } else {
                widths[j] = widths[j].max(w);
            }
        }
    }
    let mut out = String::new();
    for (i, cells) in lines.iter().enumerate() {
        for (j, c) in cells.iter().enumerate() {
            out.push_str(c);
            if j + 1 < cells.len() {
                out.push_str(&" ".repeat(widths[j] - c.chars().count()));
            }
        }
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_fields_functions_and_range() {
        let v = serde_json::json!({"A": "x", "L": ["a", "b"], "M": {"k": "v"}, "N": null});
        let t = |f: &str| Template::parse(f).unwrap().render(&v).unwrap();
        assert_eq!(t("{{.A}}:{{json .L}}"), "x:[\"a\",\"b\"]");
        assert_eq!(t("{{range .L}}<{{.}}>{{end}}"), "<a><b>");
        assert_eq!(
            t("{{index .M \"k\"}} {{join .L \",\"}} {{.A | upper}}"),
            "v a,b X"
        );
        assert_eq!(t("{{if .N}}y{{else}}n{{end}}"), "n");
        assert!(Template::parse("{{.A").is_err());
        assert!(Template::parse("{{.Nope}}").unwrap().render(&v).is_err());
    }

    #[test]
    fn tables_align_like_tabwriter() {
        assert_eq!(
            tabwrite("A\tBB\nxxxxxxxxxx\ty"),
            "A            BB\nxxxxxxxxxx   y"
        );
    }
}
