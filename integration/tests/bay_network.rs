//! bay container networking end to end: the default bridge, user networks with name
//! resolution, published ports reached from the host, none/host/container modes, and the
//! `network` commands. Real containers through netavark; each test uses its own bay root,
//! its own 10.231.x.0/24 subnets and free loopback ports, and checks that nothing is left:
//! netns files, bridges, iptables rules, aardvark-dns processes, mounts.

mod bay_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bay_common::{dir_entries, free_port, CtrBay};

fn iptables() -> String {
    let mut s = String::new();
    for t in ["nat", "filter"] {
        if let Ok(o) = std::process::Command::new("iptables-save")
            .args(["-t", t])
            .output()
        {
            s.push_str(&String::from_utf8_lossy(&o.stdout));
        }
    }
    s
}

/// Removes every container, then checks nothing of the given networks or ports is left.
fn assert_no_leftovers(b: &CtrBay, subnets: &[&str], ports: &[u16], bridges: &[String]) {
    b.assert_clean();
    let ns = dir_entries(&b.root().join("netns"));
    assert!(ns.is_empty(), "netns files left: {ns:?}");
    let rules = iptables();
    for s in subnets {
        assert!(!rules.contains(s), "iptables rules for {s} left:\n{rules}");
    }
    for p in ports {
        assert!(
            !rules.contains(&format!("--dport {p} ")),
            "iptables rules for port {p} left"
        );
    }
    // Host-wide address claims of this root's namespaces are gone too.
    let root = b.root().display().to_string();
    for net in dir_entries(std::path::Path::new("/run/bay/ipam")) {
        let d = std::path::Path::new("/run/bay/ipam").join(net);
        for ip in dir_entries(&d) {
            let holder = std::fs::read_to_string(d.join(&ip)).unwrap_or_default();
            assert!(
                !holder.starts_with(&root),
                "address claim {ip} left: {holder}"
            );
        }
    }
    for br in bridges {
        assert!(
            !std::path::Path::new("/sys/class/net").join(br).exists(),
            "bridge {br} left"
        );
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn retry<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn bridge_of(b: &CtrBay, net: &str) -> String {
    let id = b.ok(&["network", "inspect", "-f", "{{.Id}}", net]);
    format!("br-{}", &id.trim()[..12])
}

#[test]
fn default_bridge_gives_eth0_a_172_address_a_gateway_route_and_docker_mac() {
    let b = CtrBay::new();
    let out = b.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "busybox ip -4 -o addr show eth0; busybox ip route; cat /sys/class/net/eth0/address; cat /etc/hosts; hostname",
    ]);
    let addr = out
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(addr.starts_with("172.") && addr.ends_with("/16"), "{out}");
    let ip = addr.trim_end_matches("/16");
    let o: Vec<u8> = ip.split('.').map(|x| x.parse().unwrap()).collect();
    let gw = format!("{}.{}.0.1", o[0], o[1]);
    assert!(out.contains(&format!("default via {gw} dev eth0")), "{out}");
    let mac = format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3]);
    assert!(out.contains(&mac), "{out}");
    let hostname = out.lines().last().unwrap_or_default();
    assert!(out.contains(&format!("{ip}\t{hostname}")), "{out}");

    // inspect of a running container shows docker's NetworkSettings.
    let id = b.ok(&[
        "run", "-d", "--name", "up", "busybox", "busybox", "sleep", "60",
    ]);
    let f = "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}} {{.NetworkSettings.IPPrefixLen}} {{.NetworkSettings.MacAddress}} {{.NetworkSettings.Networks.bridge.IPAddress}} {{.NetworkSettings.SandboxKey}}";
    let ins = b.ok(&["inspect", "-f", f, "up"]);
    let w: Vec<&str> = ins.split_whitespace().collect();
    assert_eq!(w.len(), 6, "{ins}");
    assert!(w[0].starts_with("172.") && w[0] == w[4], "{ins}");
    assert!(
        w[1].ends_with(".0.1") && w[2] == "16" && w[3].starts_with("02:42:"),
        "{ins}"
    );
    assert!(
        w[5].ends_with(id.trim()) && std::path::Path::new(w[5]).exists(),
        "{ins}"
    );
    let net = b.ok(&["network", "inspect", "-f", "{{json .Containers}}", "bridge"]);
    assert!(net.contains(id.trim()) && net.contains(w[0]), "{net}");
    assert_no_leftovers(&b, &[], &[], &[]);
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name_and_alias() {
    let b = CtrBay::new();
    let id = b.ok(&["network", "create", "--subnet", "10.231.1.0/24", "n1"]);
    assert_eq!(id.trim().len(), 64, "{id}");
    let br = bridge_of(&b, "n1");
    b.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "n1",
        "--network-alias",
        "web",
        "busybox",
        "busybox",
        "sleep",
        "60",
    ]);
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "busybox",
        "sh",
        "-c",
        "busybox ping -c1 -W3 srv && busybox ping -c1 -W3 web && cat /etc/resolv.conf",
    ]);
    assert!(out.contains("from 10.231.1.2"), "{out}");
    assert!(out.contains("nameserver 10.231.1.1"), "{out}");
    assert!(std::path::Path::new("/sys/class/net").join(&br).exists());
    // In use: refused with docker's message, and nothing changes.
    let o = b.fails(&["network", "rm", "n1"]);
    assert!(
        o.stderr.contains("has active endpoints") && o.stderr.lines().count() == 1,
        "{}",
        o.stderr
    );
    let c = b.ok(&["network", "inspect", "-f", "{{json .Containers}}", "n1"]);
    assert!(
        c.contains("\"Name\":\"srv\"") && c.contains("10.231.1.2/24"),
        "{c}"
    );
    b.ok(&["rm", "-f", "srv"]);
    assert_eq!(b.ok(&["network", "rm", "n1"]).trim(), "n1");
    assert_no_leftovers(&b, &["10.231.1."], &[], &[br]);
}

#[test]
fn published_loopback_port_serves_httpd_to_the_host_and_random_ports_show_in_port_and_ps() {
    let b = CtrBay::new();
    let port = free_port();
    let spec = format!("127.0.0.1:{port}:80");
    b.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &spec,
        "-p",
        "127.0.0.1::81",
        "-p",
        "82/udp",
        "busybox",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let hostname = b.ok(&["inspect", "-f", "{{.Config.Hostname}}", "web"]);
    let body = retry("httpd", || http_get(port, "/hostname"));
    assert!(
        body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200"),
        "{body}"
    );
    assert!(body.contains(hostname.trim()), "{body}");
    let p = b.ok(&["port", "web"]);
    let lines: Vec<&str> = p.lines().collect();
    assert!(
        lines.contains(&format!("80/tcp -> 127.0.0.1:{port}").as_str()),
        "{p}"
    );
    let random: u16 = lines
        .iter()
        .find_map(|l| l.strip_prefix("81/tcp -> 127.0.0.1:"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no 81/tcp in {p}"));
    assert!((32768..=60999).contains(&random), "{p}");
    assert!(
        lines.iter().any(|l| l.starts_with("82/udp -> 0.0.0.0:")),
        "{p}"
    );
    assert_eq!(
        b.ok(&["port", "web", "80"]).trim(),
        format!("127.0.0.1:{port}")
    );
    let o = b.fails(&["port", "web", "443"]);
    assert!(o
        .stderr
        .contains("No public port '443/tcp' published for web"));
    let ps = b.ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    assert!(ps.contains(&format!("127.0.0.1:{random}->81/tcp")), "{ps}");
    let table = b.ok(&["ps"]);
    assert!(
        table.contains(&format!("127.0.0.1:{port}->80/tcp")),
        "{table}"
    );
    b.ok(&["rm", "-f", "web"]);
    assert!(
        http_get(port, "/hostname").is_none(),
        "port still answers after rm"
    );
    assert_no_leftovers(&b, &[], &[port, random], &[]);
}

#[test]
fn publish_all_publishes_the_exposed_ports_of_the_image() {
    let b = CtrBay::new();
    let t = bay_common::busybox_tar("expose");
    b.ok(&[
        "import",
        "-c",
        "EXPOSE 80",
        t.1.to_str().unwrap(),
        "exposed",
    ]);
    b.ok(&[
        "run", "-d", "--name", "pa", "-P", "exposed", "busybox", "httpd", "-f", "-p", "80", "-h",
        "/etc",
    ]);
    let p = b.ok(&["port", "pa", "80"]);
    let port: u16 = p
        .trim()
        .rsplit(':')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{p}"));
    let body = retry("httpd", || http_get(port, "/hostname"));
    assert!(body.contains("200"), "{body}");
    let ports = b.ok(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", "pa"]);
    assert!(
        ports.contains(&format!("\"HostPort\":\"{port}\"")),
        "{ports}"
    );
    // Exposed but not running: ps shows the bare port.
    b.ok(&["create", "--name", "idle", "exposed", "true"]);
    let ps = b.ok(&[
        "ps",
        "-a",
        "--filter",
        "name=idle",
        "--format",
        "{{.Ports}}",
    ]);
    assert_eq!(ps.trim(), "80/tcp");
    b.ok(&["rm", "-f", "pa"]);
    assert_no_leftovers(&b, &[], &[port], &[]);
}

#[test]
fn none_has_only_lo_host_sees_the_host_and_container_mode_shares_the_namespace() {
    let b = CtrBay::new();
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(out.trim(), "lo");
    let host = dir_entries(std::path::Path::new("/sys/class/net"));
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    assert!(
        out.lines().count() >= host.len().min(2) && out.contains("lo"),
        "{out}"
    );
    assert!(
        out.contains("eth0") == host.contains(&"eth0".to_string()),
        "{out}"
    );
    b.ok(&[
        "run", "-d", "--name", "base", "busybox", "busybox", "sleep", "60",
    ]);
    let mac = b.ok(&["inspect", "-f", "{{.NetworkSettings.MacAddress}}", "base"]);
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "container:base",
        "busybox",
        "busybox",
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert_eq!(out.trim(), mac.trim());
    let o = b.fails(&[
        "run",
        "--rm",
        "--network",
        "container:nosuch",
        "busybox",
        "true",
    ]);
    assert!(
        o.stderr.contains("No such container: nosuch"),
        "{}",
        o.stderr
    );
    assert_no_leftovers(&b, &[], &[], &[]);
}

#[test]
fn static_ip_hostname_add_host_and_dns_reach_the_container_files() {
    let b = CtrBay::new();
    b.ok(&["network", "create", "--subnet", "10.231.2.0/24", "n2"]);
    let br = bridge_of(&b, "n2");
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "n2",
        "--ip",
        "10.231.2.50",
        "-h",
        "myhost",
        "--add-host",
        "db.local:10.231.2.99",
        "--dns",
        "10.231.2.53",
        "busybox",
        "sh",
        "-c",
        "busybox ip -4 -o addr show eth0; cat /etc/hosts /etc/resolv.conf; hostname",
    ]);
    assert!(out.contains("inet 10.231.2.50/24"), "{out}");
    assert!(out.contains("10.231.2.99\tdb.local"), "{out}");
    assert!(out.contains("10.231.2.50\tmyhost"), "{out}");
    assert!(out.contains("nameserver 10.231.2.53"), "{out}");
    assert_eq!(out.lines().last(), Some("myhost"));
    let o = b.fails(&["run", "--rm", "--ip", "10.231.2.60", "busybox", "true"]);
    assert!(o.stderr.contains("user defined networks"), "{}", o.stderr);
    let o = b.fails(&[
        "run",
        "--rm",
        "--network",
        "n2",
        "--ip",
        "10.9.9.9",
        "busybox",
        "true",
    ]);
    assert!(o.stderr.contains("no configured subnet"), "{}", o.stderr);
    b.ok(&["network", "rm", "n2"]);
    assert_no_leftovers(&b, &["10.231.2."], &[], &[br]);
}

#[test]
fn network_create_ls_inspect_rm_prune_and_bad_input() {
    let b = CtrBay::new();
    let ls = b.ok(&["network", "ls"]);
    let first = ls.lines().next().unwrap_or_default();
    assert_eq!(
        first.split_whitespace().collect::<Vec<_>>(),
        ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    );
    assert!(ls.contains("bridge    bridge    local"), "{ls}");
    assert!(ls.contains("host      host      local"), "{ls}");
    assert!(ls.contains("none      null      local"), "{ls}");
    b.ok(&[
        "network",
        "create",
        "-d",
        "bridge",
        "--subnet",
        "10.231.3.0/24",
        "--gateway",
        "10.231.3.254",
        "--label",
        "team=a",
        "n3",
    ]);
    let names = b.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert!(names.lines().any(|l| l == "n3 bridge"), "{names}");
    assert_eq!(
        b.ok(&["network", "ls", "-q", "-f", "name=n3"])
            .lines()
            .count(),
        1
    );
    assert_eq!(
        b.ok(&["network", "ls", "-q", "-f", "label=team=a"])
            .lines()
            .count(),
        1
    );
    let ins = b.ok(&["network", "inspect", "n3"]);
    let v: serde_json::Value = serde_json::from_str(&ins).expect("inspect json");
    assert_eq!(v[0]["Name"], "n3");
    assert_eq!(v[0]["Driver"], "bridge");
    assert_eq!(v[0]["Scope"], "local");
    assert_eq!(v[0]["IPAM"]["Config"][0]["Subnet"], "10.231.3.0/24");
    assert_eq!(v[0]["IPAM"]["Config"][0]["Gateway"], "10.231.3.254");
    assert_eq!(v[0]["Labels"]["team"], "a");
    assert!(v[0]["Containers"].as_object().is_some_and(|m| m.is_empty()));
    for (args, want) in [
        (
            vec!["network", "create", "--subnet", "10.231.3.128/25", "x1"],
            "Pool overlaps with other one on this address space",
        ),
        (
            vec!["network", "create", "--subnet", "10.231.4.0/24", "n3"],
            "network with name n3 already exists",
        ),
        (
            vec!["network", "create", "--subnet", "10.231.4.0", "x2"],
            "invalid subnet 10.231.4.0",
        ),
        (
            vec![
                "network",
                "create",
                "--subnet",
                "10.231.4.0/24",
                "--gateway",
                "10.231.5.1",
                "x3",
            ],
            "no matching subnet for gateway 10.231.5.1",
        ),
        (
            vec!["network", "create", "-d", "overlay", "x4"],
            "plugin \"overlay\" not found",
        ),
        (
            vec!["network", "create", "bad name"],
            "invalid network name",
        ),
        (
            vec!["network", "rm", "bridge"],
            "bridge is a pre-defined network and cannot be removed",
        ),
        (vec!["network", "rm", "nosuch"], "network nosuch not found"),
        (
            vec!["network", "inspect", "nosuch"],
            "network nosuch not found",
        ),
        (
            vec!["run", "--rm", "-p", "1.2.3:80:80", "busybox", "true"],
            "invalid IP address: 1.2.3",
        ),
        (
            vec!["run", "--rm", "-p", "80/xyz", "busybox", "true"],
            "invalid proto: xyz",
        ),
        (
            vec!["run", "--rm", "--network-alias", "a", "busybox", "true"],
            "user defined networks",
        ),
        (
            vec!["run", "--rm", "--add-host", "nohost", "busybox", "true"],
            "bad format for add-host",
        ),
    ] {
        let o = b.fails(&args);
        assert!(o.stderr.contains(want), "{args:?}: {}", o.stderr);
        assert_eq!(o.stderr.trim().lines().count(), 1, "{args:?}: {}", o.stderr);
    }
    let after = b.ok(&["network", "ls", "-q"]);
    assert_eq!(after.lines().count(), 4, "{after}");
    b.ok(&["network", "create", "--subnet", "10.231.4.0/24", "n4"]);
    let pruned = b.ok(&["network", "prune", "-f"]);
    assert!(
        pruned.contains("Deleted Networks:") && pruned.contains("n3") && pruned.contains("n4"),
        "{pruned}"
    );
    assert_eq!(b.ok(&["network", "ls", "-q"]).lines().count(), 3);
    assert_no_leftovers(&b, &["10.231.3.", "10.231.4."], &[], &[]);
}

fn monitor_pid(id: &str) -> Option<i32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd);
        if cmd.contains("container-monitor") && cmd.contains(id) {
            return Some(pid);
        }
    }
    None
}

#[test]
fn killed_monitor_leaves_nothing_after_rm_f_and_restart_reattaches() {
    let b = CtrBay::new();
    b.ok(&["network", "create", "--subnet", "10.231.7.0/24", "n7"]);
    let br = bridge_of(&b, "n7");
    let port = free_port();
    let spec = format!("127.0.0.1:{port}:80");
    let id = b.ok(&[
        "run",
        "-d",
        "--name",
        "victim",
        "--network",
        "n7",
        "-p",
        &spec,
        "busybox",
        "busybox",
        "sleep",
        "60",
    ]);
    let id = id.trim();
    // stop + start: the container gets its network back.
    b.ok(&["stop", "-t", "0", "victim"]);
    let ip = b.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.n7.IPAddress}}",
        "victim",
    ]);
    assert_eq!(ip.trim(), "", "a stopped container holds no address");
    b.ok(&["start", "victim"]);
    let ip = b.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.n7.IPAddress}}",
        "victim",
    ]);
    assert_eq!(ip.trim(), "10.231.7.2");
    let pid = b.ok(&["inspect", "-f", "{{.State.Pid}}", "victim"]);
    let mon = monitor_pid(id).expect("monitor process");
    // SAFETY: plain kill(2) of processes this test started.
    unsafe {
        libc::kill(mon, libc::SIGKILL);
        libc::kill(pid.trim().parse().unwrap_or(0), libc::SIGKILL);
    }
    retry("monitor gone", || monitor_pid(id).is_none().then_some(()));
    b.ok(&["rm", "-f", "victim"]);
    b.ok(&["network", "rm", "n7"]);
    assert_no_leftovers(&b, &["10.231.7."], &[port], &[br]);
}

#[test]
fn connect_adds_an_interface_and_a_dns_name_and_disconnect_removes_them() {
    let b = CtrBay::new();
    b.ok(&["network", "create", "--subnet", "10.231.8.0/24", "n8"]);
    let br = bridge_of(&b, "n8");
    b.ok(&[
        "run", "-d", "--name", "multi", "busybox", "busybox", "sleep", "60",
    ]);
    b.ok(&["network", "connect", "--alias", "second", "n8", "multi"]);
    let addrs = b.ok(&["exec", "multi", "busybox", "ip", "-4", "-o", "addr"]);
    assert!(addrs.contains("eth1    inet 10.231.8.2/24"), "{addrs}");
    let nets = b.ok(&["ps", "--format", "{{.Networks}}"]);
    assert_eq!(nets.trim(), "bridge,n8");
    let ip = b.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.n8.IPAddress}}",
        "multi",
    ]);
    assert_eq!(ip.trim(), "10.231.8.2");
    let out = b.ok(&[
        "run",
        "--rm",
        "--network",
        "n8",
        "busybox",
        "busybox",
        "ping",
        "-c1",
        "-W3",
        "second",
    ]);
    assert!(out.contains("from 10.231.8.2"), "{out}");
    let o = b.fails(&["network", "connect", "n8", "multi"]);
    assert!(
        o.stderr.contains("already exists in network n8"),
        "{}",
        o.stderr
    );
    b.ok(&["network", "disconnect", "n8", "multi"]);
    let addrs = b.ok(&["exec", "multi", "busybox", "ip", "-4", "-o", "addr"]);
    assert!(!addrs.contains("10.231.8."), "{addrs}");
    let o = b.fails(&["network", "disconnect", "n8", "multi"]);
    assert!(
        o.stderr.contains("is not connected to network n8"),
        "{}",
        o.stderr
    );
    b.ok(&["rm", "-f", "multi"]);
    b.ok(&["network", "rm", "n8"]);
    assert_no_leftovers(&b, &["10.231.8."], &[], &[br]);
}

#[test]
fn a_host_port_taken_by_a_container_or_a_host_listener_is_refused() {
    let b = CtrBay::new();
    let port = free_port();
    let spec = format!("127.0.0.1:{port}:80");
    b.ok(&[
        "run", "-d", "--name", "first", "-p", &spec, "busybox", "busybox", "sleep", "60",
    ]);
    let o = b.fails(&[
        "run", "-d", "--name", "second", "-p", &spec, "busybox", "true",
    ]);
    assert!(
        o.stderr.contains(&format!(
            "Bind for 127.0.0.1:{port} failed: port is already allocated"
        )),
        "{}",
        o.stderr
    );
    b.ok(&["rm", "-f", "first", "second"]);
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let taken = l.local_addr().expect("addr").port();
    let spec = format!("127.0.0.1:{taken}:80");
    let o = b.fails(&["run", "--rm", "-p", &spec, "busybox", "true"]);
    assert!(o.stderr.contains("address already in use"), "{}", o.stderr);
    assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.stderr);
    drop(l);
    assert_no_leftovers(&b, &[], &[port, taken], &[]);
}
