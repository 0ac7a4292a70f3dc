//! `search`: the registry search API (`GET /v1/search?q=…&n=…`) that Docker Hub's index and
//! some registries offer. The distribution registry does not; bay then reports its status.

use serde::Deserialize;

use super::client::{Body, Client};
use crate::engine::Engine;
use crate::error::{Error, Result};

#[derive(Clone, Debug, Deserialize)]
pub struct SearchResult {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub star_count: u64,
    #[serde(default)]
    pub is_official: bool,
    #[serde(default)]
    pub is_automated: bool,
}

#[derive(Deserialize)]
struct SearchResponse {
    #[serde(default)]
    results: Vec<SearchResult>,
}

/// Splits `host:5000/term` into (index host, query); a bare term searches Docker Hub.
fn split_term(term: &str) -> (String, String) {
    match term.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (first.to_string(), rest.to_string())
        }
        _ => ("index.docker.io".to_string(), term.to_string()),
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Engine {
    pub fn search(&self, term: &str, limit: usize) -> Result<Vec<SearchResult>> {
        if !(1..=100).contains(&limit) {
            return Err(Error::InvalidArgument(format!(
                "limit {limit} is outside the range of [1, 100]"
            )));
        }
        let (host, query) = split_term(term);
        let auth_host = if host == "index.docker.io" {
            "docker.io"
        } else {
            host.as_str()
        };
        let client = Client::connect_index(self, auth_host, &host)?;
        let resp = client
            .send(
                "GET",
                &format!("/v1/search?q={}&n={limit}", encode(&query)),
                &[],
                Body::Empty,
                &[200],
            )
            .map_err(|e| match e {
                Error::Registry(m) if m.starts_with("unexpected status") => {
                    let code = m
                        .split_whitespace()
                        .nth(2)
                        .unwrap_or("")
                        .trim_end_matches(':');
                    Error::Registry(format!("Unexpected status code {code}"))
                }
                other => other,
            })?;
        let body = resp.bytes(16 << 20)?;
        let parsed: SearchResponse = serde_json::from_slice(&body)
            .map_err(|e| Error::Registry(format!("invalid search response: {e}")))?;
        let mut results = parsed.results;
        results.truncate(limit);
        Ok(results)
    }
}
