//! Registry authentication end to end: HTTPS with a self-signed CA and htpasswd basic auth
//! (Debian `docker-registry`), and Docker-style Bearer tokens from a small token issuer in
//! this test speaking the Docker token protocol (RS256 JWTs signed with openssl).

mod bay_common;

use bay_common::{free_port, run_ok, Bay, Registry, TempDir};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn htpasswd_registry_over_tls_needs_login_and_trusted_ca() {
    let reg = Registry::start_with(true, Some(("alice", "s3cret")));
    let bay = Bay::new();
    bay.import_busybox("auth:1", "auth");
    let name = format!("{}/auth:1", reg.host());
    bay.ok(&["tag", "auth:1", &name]);

    // Loopback is insecure by default (TLS without verification), like docker: auth is still needed.
    let o = bay.fails(&["push", &name]);
    assert_eq!(
        o.stderr.trim(),
        "Error response from daemon: no basic auth credentials"
    );

    let o = bay.fails(&["login", "-u", "alice", "-p", "wrong", &reg.host()]);
    assert_eq!(o.code, 1);
    assert!(o
        .stderr
        .contains("WARNING! Using --password via the CLI is insecure. Use --password-stdin."));
    assert!(
        o.stderr.contains(&format!("Error response from daemon: login attempt to https://{}/v2/ failed with status: 401 Unauthorized", reg.host())),
        "{}",
        o.stderr
    );
    assert!(
        !bay.docker_config().join("config.json").exists(),
        "failed login stores nothing"
    );

    let o = bay.run_stdin(
        &["login", "-u", "alice", "--password-stdin", &reg.host()],
        b"s3cret\n",
    );
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "Login Succeeded\n"),
        "{}",
        o.stderr
    );
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bay.docker_config().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(
        cfg["auths"][reg.host()]["auth"],
        "YWxpY2U6czNjcmV0",
        "base64 of alice:s3cret, as docker stores it"
    );

    let digest = bay
        .ok(&["push", &name])
        .lines()
        .last()
        .unwrap()
        .split("digest: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();

    // Verified TLS: fails without the CA, works with it.
    let fresh = Bay::new();
    std::fs::create_dir_all(fresh.docker_config()).unwrap();
    std::fs::copy(
        bay.docker_config().join("config.json"),
        fresh.docker_config().join("config.json"),
    )
    .unwrap();
    fresh.set_registries(&serde_json::json!({"registries": {reg.host(): {"insecure": false}}}));
    let o = fresh.fails(&["pull", &name]);
    assert!(
        o.stderr
            .contains("x509: certificate signed by unknown authority"),
        "{}",
        o.stderr
    );
    fresh.set_registries(
        &serde_json::json!({"registries": {reg.host(): {"insecure": false, "ca": reg.ca()}}}),
    );
    let out = fresh.ok(&["pull", &name]);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");

    // Per-registry CA directory, like /etc/docker/certs.d/<host:port>/ca.crt
    let certs = TempDir::new("certs.d");
    std::fs::create_dir_all(certs.path().join(reg.host())).unwrap();
    std::fs::copy(reg.ca(), certs.path().join(reg.host()).join("ca.crt")).unwrap();
    fresh.set_registries(&serde_json::json!({"certs-dir": certs.path(), "registries": {reg.host(): {"insecure": false}}}));
    fresh.ok(&["pull", "-q", &name]);

    assert_eq!(
        bay.ok(&["logout", &reg.host()]),
        format!("Removing login credentials for {}\n", reg.host())
    );
    assert_eq!(
        bay.ok(&["logout", &reg.host()]),
        format!("Not logged in to {}\n", reg.host())
    );
    let o = bay.fails(&["pull", &name]);
    assert!(
        o.stderr.contains("no basic auth credentials"),
        "{}",
        o.stderr
    );
    let o = bay.fails(&["login", "--password-stdin", &reg.host()]);
    assert!(
        o.stderr
            .contains("Must provide --username with --password-stdin"),
        "{}",
        o.stderr
    );
}

fn b64url(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..=chunk.len() {
            out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn b64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' | b'-' => 62,
            _ => 63,
        }
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::new();
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// A Docker token issuer: `GET /token?service=…&scope=…` with Basic auth for alice.
struct TokenServer {
    port: u16,
    stop: Arc<AtomicBool>,
    scopes_seen: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenServer {
    fn start(dir: &std::path::Path, issuer: &str, service: &str) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let scopes_seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, seen2, dir2, issuer, service) = (
            stop.clone(),
            scopes_seen.clone(),
            dir.to_path_buf(),
            issuer.to_string(),
            service.to_string(),
        );
        let der = run_ok(Command::new("sh").arg("-c").arg(format!(
            "openssl x509 -in {}/token.crt -outform DER | base64 -w0",
            dir.display()
        )));
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let _ = serve_token(&mut conn, &dir2, &issuer, &service, der.trim(), &seen2);
            }
        });
        TokenServer {
            port,
            stop,
            scopes_seen,
            thread: Some(thread),
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_token(
    conn: &mut TcpStream,
    dir: &std::path::Path,
    issuer: &str,
    service: &str,
    der: &str,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut auth = None;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        if h.trim().is_empty() {
            break;
        }
        if let Some(v) = h
            .split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|x| x.1.trim().to_string())
        {
            auth = Some(v);
        }
    }
    let query = request
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split_once('?')
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    let scopes: Vec<String> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(|s| {
            s.replace("%3A", ":")
                .replace("%2C", ",")
                .replace("%2F", "/")
        })
        .collect();
    seen.lock().unwrap().extend(scopes.iter().cloned());
    let user = auth
        .as_deref()
        .and_then(|a| a.strip_prefix("Basic "))
        .map(|b| String::from_utf8_lossy(&b64_decode(b)).to_string());
    let (status, body) = match user.as_deref() {
        Some("alice:s3cret") => {
            let access: Vec<serde_json::Value> = scopes
                .iter()
                .filter_map(|s| {
                    let parts: Vec<&str> = s.split(':').collect();
                    (parts.len() == 3).then(|| serde_json::json!({"type": parts[0], "name": parts[1], "actions": parts[2].split(',').collect::<Vec<_>>()}))
                })
                .collect();
            (
                "200 OK",
                serde_json::json!({"token": jwt(dir, issuer, service, "alice", access, der)})
                    .to_string(),
            )
        }
        // Anonymous callers get a token without access, as Docker Hub does for private repos.
        None => (
            "200 OK",
            serde_json::json!({"token": jwt(dir, issuer, service, "", vec![], der)}).to_string(),
        ),
        Some(_) => (
            "401 Unauthorized",
            r#"{"details":"incorrect username or password"}"#.to_string(),
        ),
    };
    write!(conn, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
    conn.flush()
}

fn jwt(
    dir: &std::path::Path,
    issuer: &str,
    service: &str,
    sub: &str,
    access: Vec<serde_json::Value>,
    der: &str,
) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [der]});
    let claims = serde_json::json!({"iss": issuer, "sub": sub, "aud": service, "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", access.len()), "access": access});
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(dir.join("token.key"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(signing_input.as_bytes())
        .unwrap();
    let sig = child.wait_with_output().unwrap().stdout;
    format!("{signing_input}.{}", b64url(&sig))
}

struct TokenRegistry {
    port: u16,
    child: Child,
    _dir: TempDir,
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        // SAFETY: signalling our own unreaped child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

#[test]
fn bearer_token_auth_gets_scoped_tokens_and_reports_failures() {
    let dir = TempDir::new("token");
    run_ok(Command::new("openssl").current_dir(dir.path()).args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "token.key",
        "-out",
        "token.crt",
        "-days",
        "2",
        "-subj",
        "/CN=bay token issuer",
    ]));
    let tokens = TokenServer::start(dir.path(), "bay-issuer", "bay-registry");
    let port = free_port();
    let cfg = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: bay-registry\n    issuer: bay-issuer\n    rootcertbundle: {}\n",
        dir.path().join("data").display(),
        tokens.port,
        dir.path().join("token.crt").display()
    );
    std::fs::write(dir.path().join("config.yml"), cfg).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(dir.path().join("config.yml"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("registry.log")).unwrap())
        .spawn()
        .unwrap();
    let reg = TokenRegistry {
        port,
        child,
        _dir: TempDir::new("token-reg"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", reg.port)).is_err() {
        assert!(Instant::now() < deadline, "registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let host = format!("127.0.0.1:{port}");
    let bay = Bay::new();
    bay.import_busybox("tok:1", "token");
    let name = format!("{host}/team/tok:1");
    bay.ok(&["tag", "tok:1", &name]);

    let o = bay.fails(&["push", &name]);
    assert_eq!(
        o.stderr.trim(),
        "Error response from daemon: unauthorized: authentication required"
    );
    let o = bay.fails(&["login", "-u", "alice", "-p", "nope", &host]);
    assert!(
        o.stderr.contains(&format!(
            "Get \"http://{host}/v2/\": unauthorized: incorrect username or password"
        )),
        "{}",
        o.stderr
    );
    bay.ok(&["login", "-u", "alice", "-p", "s3cret", &host]);
    let out = bay.ok(&["push", &name]);
    assert!(out.lines().nth(2).unwrap().ends_with(": Pushed"), "{out}");
    assert!(
        tokens
            .scopes_seen
            .lock()
            .unwrap()
            .iter()
            .any(|s| s == "repository:team/tok:pull,push"),
        "{:?}",
        tokens.scopes_seen.lock().unwrap()
    );
    let fresh = Bay::new();
    std::fs::create_dir_all(fresh.docker_config()).unwrap();
    std::fs::copy(
        bay.docker_config().join("config.json"),
        fresh.docker_config().join("config.json"),
    )
    .unwrap();
    fresh.ok(&["pull", &name]);
    assert!(tokens
        .scopes_seen
        .lock()
        .unwrap()
        .iter()
        .any(|s| s == "repository:team/tok:pull"));
    // anonymous pull is refused by the registry
    let anon = Bay::new();
    let o = anon.fails(&["pull", &name]);
    assert!(
        o.stderr.contains("unauthorized: authentication required"),
        "{}",
        o.stderr
    );
}
