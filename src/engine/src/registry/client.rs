//! An OCI distribution API client for one repository: scheme negotiation (HTTPS, or HTTP for
//! insecure registries), TLS with system roots plus per-registry CAs, Bearer token and Basic
//! auth, and docker-style error messages.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;

use super::auth::{self, Challenge};
use crate::engine::Engine;
use crate::error::{Error, Result};

pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Connection to one registry, scoped to one repository.
pub struct Client {
    agent: ureq::Agent,
    /// `https://host` or `http://host`.
    pub base: String,
    /// Registry host as in the image reference (`docker.io`, `127.0.0.1:5000`).
    pub host: String,
    pub repo: String,
    creds: Option<(String, String)>,
    scopes: Vec<String>,
    auth: Mutex<AuthState>,
}

#[derive(Default)]
struct AuthState {
    challenge: Option<Challenge>,
    token: Option<String>,
}

/// A response with the parts callers read.
pub struct Resp {
    pub status: u16,
    pub inner: ureq::Response,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.inner.header(name).map(String::from)
    }
    pub fn bytes(self, limit: u64) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.inner
            .into_reader()
            .take(limit)
            .read_to_end(&mut v)
            .map_err(|e| Error::Registry(format!("reading response: {e}")))?;
        Ok(v)
    }
    pub fn reader(self) -> Box<dyn Read + Send + Sync + 'static> {
        self.inner.into_reader()
    }
}

/// Body of a request.
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    Reader(Box<dyn Read + 'a>, u64),
}

fn tls_config(engine: &Engine, host: &str, verify: bool) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Registry(format!("tls setup: {e}")))?;
    if !verify {
        let cfg = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(
                rustls::crypto::ring::default_provider(),
            )))
            .with_no_client_auth();
        return Ok(Arc::new(cfg));
    }
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    for ca in engine.registries.ca_files(host) {
        let pem = std::fs::read(&ca).map_err(|e| Error::at(&ca, "reading CA", e))?;
        let mut rd = &pem[..];
        let mut n = 0;
        for c in rustls_pemfile::certs(&mut rd) {
            let c =
                c.map_err(|e| Error::Config(format!("invalid CA file {}: {e}", ca.display())))?;
            roots
                .add(c)
                .map_err(|e| Error::Config(format!("invalid CA file {}: {e}", ca.display())))?;
            n += 1;
        }
        if n == 0 {
            return Err(Error::Config(format!(
                "invalid CA file {}: no certificates",
                ca.display()
            )));
        }
    }
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// Accepts any certificate: only for registries the user declared insecure.
#[derive(Debug)]
struct NoVerify(rustls::crypto::CryptoProvider);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn agent(tls: Arc<rustls::ClientConfig>) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .tls_config(tls)
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(120))
        .user_agent(concat!("bay/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Registry API endpoint for a reference domain.
fn endpoint_host(host: &str) -> &str {
    if host == "docker.io" {
        "registry-1.docker.io"
    } else {
        host
    }
}

/// docker's rendering of a transport error: `Get "URL": dial tcp …: connection refused`.
fn transport_error(method: &str, url: &str, e: &ureq::Transport) -> Error {
    let mut msg = e.to_string();
    if let Some(src) = std::error::Error::source(e) {
        msg = src.to_string();
    }
    if msg.contains("UnknownIssuer") {
        msg = "tls: failed to verify certificate: x509: certificate signed by unknown authority"
            .into();
    }
    if e.kind() == ureq::ErrorKind::ConnectionFailed && msg.contains("refused") {
        let host = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or(url);
        msg = format!("dial tcp {host}: connect: connection refused");
    }
    let m = method[..1].to_string() + &method[1..].to_lowercase();
    Error::Registry(format!("{m} {url:?}: {msg}"))
}

/// `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}` → "manifest unknown: manifest unknown".
pub fn api_error(status: u16, body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(errs) = v.get("errors").and_then(|e| e.as_array()) {
            let parts: Vec<String> = errs
                .iter()
                .map(|e| {
                    let code = e
                        .get("code")
                        .and_then(|c| c.as_str())
                        .unwrap_or("UNKNOWN")
                        .to_lowercase()
                        .replace('_', " ");
                    let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
                    if msg.is_empty() {
                        code
                    } else {
                        format!("{code}: {msg}")
                    }
                })
                .collect();
            if !parts.is_empty() {
                return parts.join(", ");
            }
        }
        if let Some(d) = v.get("details").and_then(|d| d.as_str()) {
            return d.to_string();
        }
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    match status {
        401 => "unauthorized: authentication required".into(),
        _ if text.is_empty() || text.len() > 200 => format!("unexpected status {status}"),
        _ => format!("unexpected status {status}: {text}"),
    }
}

impl Client {
    /// Connects to the registry serving `host` for repository `repo`, pinging `/v2/` to learn
    /// the scheme and auth challenge. `scopes` are the token scopes to ask for.
    pub fn connect(engine: &Engine, host: &str, repo: &str, scopes: Vec<String>) -> Result<Client> {
        let ep = endpoint_host(host).to_string();
        Client::connect_base(engine, host, &ep, repo, scopes, None)
    }

    /// Connects to a registry's index endpoint (`search`), with `host`'s credentials.
    pub fn connect_index(engine: &Engine, host: &str, endpoint: &str) -> Result<Client> {
        Client::connect_base(engine, host, endpoint, "", Vec::new(), None)
    }

    /// Like `connect` but against a mirror URL (`https://mirror.example.com`).
    pub fn connect_mirror(
        engine: &Engine,
        host: &str,
        mirror: &str,
        repo: &str,
        scopes: Vec<String>,
    ) -> Result<Client> {
        let m = mirror.trim_end_matches('/');
        let (scheme, h) = m.split_once("://").unwrap_or(("https", m));
        Client::connect_base(engine, host, h, repo, scopes, Some(scheme.to_string()))
    }

    fn connect_base(
        engine: &Engine,
        host: &str,
        ep: &str,
        repo: &str,
        scopes: Vec<String>,
        scheme: Option<String>,
    ) -> Result<Client> {
        let insecure = engine.registries.is_insecure(ep) || engine.registries.is_insecure(host);
        let creds = auth::lookup(engine.client_config_dir(), host)?;
        let candidates: Vec<String> = match scheme {
            Some(s) => vec![s],
            None if insecure => vec!["https".into(), "http".into()],
            None => vec!["https".into()],
        };
        let fallback = candidates.len() > 1;
        let mut last_err = None;
        for scheme in candidates {
            let verify = !insecure;
            let agent = if scheme == "https" {
                agent(tls_config(engine, ep, verify)?)
            } else {
                agent(tls_config(engine, ep, false)?)
            };
            let c = Client {
                agent,
                base: format!("{scheme}://{ep}"),
                host: host.to_string(),
                repo: repo.to_string(),
                creds: creds.clone(),
                scopes: scopes.clone(),
                auth: Mutex::new(AuthState::default()),
            };
            // A plain-HTTP server may never answer a TLS hello: bound the HTTPS probe when
            // HTTP is the fallback, so it costs seconds at worst instead of the read timeout.
            let probe = (fallback && scheme == "https").then(|| Duration::from_secs(5));
            match c.ping(probe) {
                Ok(()) => return Ok(c),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| Error::Registry("no endpoint".into())))
    }

    /// GET /v2/: records the auth challenge. Transport errors fail; HTTP statuses do not.
    fn ping(&self, timeout: Option<Duration>) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let mut req = self.agent.get(&url);
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        match req.call() {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(401, r)) => {
                let ch = r.header("www-authenticate").and_then(auth::parse_challenge);
                self.auth.lock().expect("auth lock").challenge = ch;
                Ok(())
            }
            Err(ureq::Error::Status(_, _)) => Ok(()),
            Err(ureq::Error::Transport(t)) => Err(transport_error("GET", &url, &t)),
        }
    }

    /// Uses these credentials instead of the stored ones (for `login`).
    pub fn with_credentials(mut self, user: &str, pass: &str) -> Client {
        self.creds = Some((user.to_string(), pass.to_string()));
        self
    }

    /// Verifies credentials as `login` does: the registry must accept them.
    pub fn check_login(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let challenge = self.auth.lock().expect("auth lock").challenge.clone();
        match challenge {
            None => Ok(()),
            Some(Challenge::Basic) => match self
                .agent
                .get(&url)
                .set("Authorization", &self.basic_header()?)
                .call()
            {
                Ok(_) => Ok(()),
                Err(ureq::Error::Status(code, r)) => Err(Error::Registry(format!(
                    "login attempt to {url} failed with status: {code} {}",
                    r.status_text()
                ))),
                Err(ureq::Error::Transport(t)) => Err(transport_error("GET", &url, &t)),
            },
            Some(Challenge::Bearer(p)) => self
                .fetch_token(&p, &[])
                .map(|_| ())
                .map_err(|e| Error::Registry(format!("Get {url:?}: {e}"))),
        }
    }

    fn basic_header(&self) -> Result<String> {
        match &self.creds {
            Some((u, p)) => Ok(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )),
            None => Err(Error::Registry("no basic auth credentials".into())),
        }
    }

    fn fetch_token(
        &self,
        params: &std::collections::BTreeMap<String, String>,
        scopes: &[String],
    ) -> Result<String> {
        let realm = params
            .get("realm")
            .ok_or_else(|| Error::Registry("bearer challenge without realm".into()))?;
        let mut req = self.agent.get(realm);
        if let Some(s) = params.get("service") {
            req = req.query("service", s);
        }
        for s in scopes {
            req = req.query("scope", s);
        }
        if let Some((u, _)) = &self.creds {
            req = req
                .query("account", u)
                .set("Authorization", &self.basic_header()?);
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let mut body = Vec::new();
                let _ = r.into_reader().take(64 * 1024).read_to_end(&mut body);
                let msg = if code == 401 && self.creds.is_some() {
                    let m = api_error(code, &body);
                    if m.starts_with("unauthorized") {
                        m
                    } else {
                        format!("unauthorized: {m}")
                    }
                } else {
                    api_error(code, &body)
                };
                return Err(Error::Registry(msg));
            }
            Err(ureq::Error::Transport(t)) => return Err(transport_error("GET", realm, &t)),
        };
        let v: serde_json::Value = serde_json::from_reader(resp.into_reader().take(1 << 20))
            .map_err(|e| Error::Registry(format!("invalid token response: {e}")))?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .map(String::from)
            .ok_or_else(|| Error::Registry("token response without a token".into()))
    }

    /// The Authorization header for the next request, fetching a token when needed.
    fn auth_header(&self, refresh: bool) -> Result<Option<String>> {
        let mut st = self.auth.lock().expect("auth lock");
        match st.challenge.clone() {
            None => Ok(None),
            Some(Challenge::Basic) => self.basic_header().map(Some),
            Some(Challenge::Bearer(p)) => {
                if st.token.is_none() || refresh {
                    st.token = Some(self.fetch_token(&p, &self.scopes)?);
                }
                Ok(st.token.clone().map(|t| format!("Bearer {t}")))
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else if path.starts_with('/') {
            format!("{}{}", self.base, path)
        } else {
            format!("{}/v2/{}/{}", self.base, self.repo, path)
        }
    }

    /// Sends a request with auth, retrying once after a 401 with a fresh challenge/token.
    /// Statuses in `ok` are returned; others become docker-style errors.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        mut body: Body<'_>,
        ok: &[u16],
    ) -> Result<Resp> {
        let url = self.url(path);
        let replayable = !matches!(body, Body::Reader(..));
        for attempt in 0..2 {
            let mut req = self.agent.request(method, &url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if let Some(h) = self.auth_header(attempt > 0)? {
                req = req.set("Authorization", &h);
            }
            let res = match std::mem::replace(&mut body, Body::Empty) {
                Body::Empty => {
                    if matches!(method, "PUT" | "POST" | "PATCH") {
                        req.set("Content-Length", "0").send_bytes(&[])
                    } else {
                        req.call()
                    }
                }
                Body::Bytes(b) => {
                    body = Body::Bytes(b);
                    req.send_bytes(b)
                }
                Body::Reader(r, len) => req.set("Content-Length", &len.to_string()).send(r),
            };
            match res {
                Ok(r) if ok.contains(&r.status()) => {
                    return Ok(Resp {
                        status: r.status(),
                        inner: r,
                    })
                }
                Ok(r) => {
                    return Err(Error::Registry(format!(
                        "unexpected status {} from {method} {url}",
                        r.status()
                    )))
                }
                Err(ureq::Error::Status(code, r)) if ok.contains(&code) => {
                    return Ok(Resp {
                        status: code,
                        inner: r,
                    })
                }
                Err(ureq::Error::Status(401, r)) if attempt == 0 && replayable => {
                    let ch = r.header("www-authenticate").and_then(auth::parse_challenge);
                    let mut st = self.auth.lock().expect("auth lock");
                    let had = st.challenge.clone();
                    st.challenge = ch.clone();
                    st.token = None;
                    drop(st);
                    if ch.is_none() || (had == ch && matches!(ch, Some(Challenge::Basic))) {
                        let mut b = Vec::new();
                        let _ = r.into_reader().take(64 * 1024).read_to_end(&mut b);
                        return Err(Error::Registry(api_error(401, &b)));
                    }
                    continue;
                }
                Err(ureq::Error::Status(code, r)) => {
                    let mut b = Vec::new();
                    let _ = r.into_reader().take(64 * 1024).read_to_end(&mut b);
                    return Err(Error::Registry(api_error(code, &b)));
                }
                Err(ureq::Error::Transport(t)) => return Err(transport_error(method, &url, &t)),
            }
        }
        Err(Error::Registry(
            "unauthorized: authentication required".into(),
        ))
    }
}
