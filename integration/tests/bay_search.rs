//! `bay search` against a registry search API (`/v1/search`) served by a small server in this
//! test, and against Debian's distribution registry, which has none.

mod bay_common;

use bay_common::{Bay, Registry};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

/// Serves `/v1/search` for a few canned results; returns its port. Runs until the test ends.
fn search_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            // A TLS hello (clients try HTTPS first on insecure hosts): answer like Go's HTTP server.
            let mut first = [0u8; 1];
            if conn.peek(&mut first).is_ok_and(|n| n == 1) && first[0] == 0x16 {
                let _ = conn.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n");
                continue;
            }
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, body) = if path.starts_with("/v1/search?q=busy&n=") {
                let n: usize = path.rsplit("n=").next().unwrap().parse().unwrap();
                let all = serde_json::json!([
                    {"name": "busybox", "description": "Busybox base image with a description that is long enough to be cut.", "star_count": 3000, "is_official": true, "is_automated": false},
                    {"name": "me/busybox", "description": "mine", "star_count": 3, "is_official": false, "is_automated": true},
                ]);
                let results: Vec<_> = all.as_array().unwrap().iter().take(n).cloned().collect();
                ("200 OK", serde_json::json!({"num_results": results.len(), "query": "busy", "results": results}).to_string())
            } else {
                ("404 Not Found", "404 page not found".to_string())
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn search_prints_docker_table_with_filters_and_limits() {
    let port = search_server();
    let bay = Bay::new();
    let term = format!("127.0.0.1:{port}/busy");
    let out = bay.ok(&["search", &term]);
    assert_eq!(
        out,
        "NAME         DESCRIPTION                                     STARS     OFFICIAL   AUTOMATED\n\
         busybox      Busybox base image with a description that i…   3000      [OK]       \n\
         me/busybox   mine                                            3                    [OK]\n"
    );
    assert_eq!(
        bay.ok(&[
            "search",
            "--format",
            "{{.Name}}",
            "-f",
            "is-official=true",
            &term
        ]),
        "busybox\n"
    );
    assert_eq!(
        bay.ok(&[
            "search",
            "--format",
            "{{.Name}}",
            "-f",
            "stars=10",
            "--limit",
            "1",
            &term
        ]),
        "busybox\n"
    );
    assert_eq!(
        bay.ok(&[
            "search",
            "--format",
            "{{.Name}}",
            "-f",
            "is-automated=true",
            &term
        ]),
        "me/busybox\n"
    );
    assert!(bay
        .ok(&["search", "--no-trunc", &term])
        .contains("long enough to be cut."));
    let o = bay.fails(&["search", "--limit", "101", &term]);
    assert_eq!(
        o.stderr.trim(),
        "Error response from daemon: limit 101 is outside the range of [1, 100]"
    );
    let o = bay.fails(&["search", "-f", "color=red", &term]);
    assert_eq!(
        o.stderr.trim(),
        "Error response from daemon: invalid filter 'color'"
    );
}

#[test]
fn search_on_a_registry_without_the_api_reports_its_status() {
    let reg = Registry::start();
    let bay = Bay::new();
    let o = bay.fails(&["search", &format!("{}/anything", reg.host())]);
    assert_eq!(
        o.stderr.trim(),
        "Error response from daemon: Unexpected status code 404"
    );
}
