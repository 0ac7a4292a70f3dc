//! `bay network create|ls|inspect|rm|prune`, with docker's columns, messages and JSON.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use anyhow::{anyhow, bail, Result};
use bay_engine::network::{CreateNetwork, Network};
use bay_engine::Engine;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::format::{escape_html, tabwrite, Template};
use crate::Exit;

#[derive(Subcommand)]
pub enum NetworkCmd {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(Args)]
pub struct ConnectArgs {
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    ip: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long)]
    alias: Vec<String>,
    network: String,
    container: String,
}

#[derive(Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    force: bool,
    network: String,
    container: String,
}

#[derive(Args)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short, long)]
    driver: Option<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    subnet: Option<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long)]
    gateway: Option<String>,
    /// Restrict external access to the network
    #[arg(long)]
    internal: bool,
    /// Set metadata on a network
    #[arg(long)]
    label: Vec<String>,
    name: String,
}

#[derive(Args)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate the output
    #[arg(long)]
    no_trunc: bool,
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Args)]
pub struct RmArgs {
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn run(engine: &Engine, c: NetworkCmd) -> Result<()> {
    match c {
        NetworkCmd::Create(a) => create(engine, a),
        NetworkCmd::Ls(a) => ls(engine, a),
        NetworkCmd::Inspect(a) => inspect(engine, a),
        NetworkCmd::Rm(a) => rm(engine, a),
        NetworkCmd::Prune(a) => prune(engine, a),
        NetworkCmd::Connect(a) => {
            let c = engine.container(&a.container).map_err(daemon_error)?;
            engine
                .connect_network(&a.network, &c, a.ip.as_deref(), &a.alias)
                .map_err(daemon_error)
        }
        NetworkCmd::Disconnect(a) => {
            let _ = a.force;
            let c = engine.container(&a.container).map_err(daemon_error)?;
            engine
                .disconnect_network(&a.network, &c)
                .map_err(daemon_error)
        }
    }
}

fn daemon_error(e: impl std::fmt::Display) -> anyhow::Error {
    eprintln!("Error response from daemon: {e}");
    Exit(1).into()
}

fn create(engine: &Engine, a: CreateArgs) -> Result<()> {
    let n = engine
        .create_network(&CreateNetwork {
            name: a.name,
            driver: a.driver,
            subnet: a.subnet,
            gateway: a.gateway,
            internal: a.internal,
            labels: a.label,
        })
        .map_err(daemon_error)?;
    println!("{}", n.id);
    Ok(())
}

fn row(n: &Network, no_trunc: bool) -> Value {
    json!({
        "ID": if no_trunc { n.id.clone() } else { n.short_id().to_string() },
        "Name": n.name,
        "Driver": n.driver,
        "Scope": n.scope(),
        "IPv6": "false",
        "Internal": n.internal.to_string(),
        "CreatedAt": n.created,
        "Labels": n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
    })
}

fn matches(n: &Network, filters: &[(String, String)]) -> Result<bool> {
    for (k, v) in filters {
        let ok = match k.as_str() {
            "name" => n.name.contains(v.as_str()),
            "id" => n.id.starts_with(v.as_str()),
            "driver" => n.driver == *v,
            "scope" => v == "local",
            "type" => match v.as_str() {
                "builtin" => n.is_predefined(),
                "custom" => !n.is_predefined(),
                _ => bail!("invalid filter: 'type'='{v}'"),
            },
            "label" => match v.split_once('=') {
                Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
                None => n.labels.contains_key(v.as_str()),
            },
            _ => bail!("invalid filter '{k}'"),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn ls(engine: &Engine, a: LsArgs) -> Result<()> {
    let mut filters = Vec::new();
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))?;
        filters.push((k.to_string(), v.to_string()));
    }
    let mut list = Vec::new();
    for n in engine.networks()? {
        if matches(&n, &filters)? {
            list.push(n);
        }
    }
    // docker sorts by name
    list.sort_by(|a, b| a.name.cmp(&b.name));
    if a.quiet {
        for n in &list {
            println!("{}", if a.no_trunc { &n.id } else { n.short_id() });
        }
        return Ok(());
    }
    if let Some(f) = &a.format {
        let t = Template::parse(f).map_err(|e| anyhow!(e))?;
        let mut out = String::new();
        if t.table {
            let header = json!({"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER",
                "Scope": "SCOPE", "IPv6": "IPV6", "Internal": "INTERNAL",
                "CreatedAt": "CREATED AT", "Labels": "LABELS"});
            out.push_str(&t.render(&header).map_err(|e| anyhow!(e))?);
            out.push('\n');
        }
        for n in &list {
            out.push_str(&t.render(&row(n, a.no_trunc)).map_err(|e| anyhow!(e))?);
            out.push('\n');
        }
        print!("{}", if t.table { tabwrite(&out) } else { out });
        return Ok(());
    }
    let mut out = String::from("NETWORK ID\tNAME\tDRIVER\tSCOPE\n");
    for n in &list {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            if a.no_trunc { &n.id } else { n.short_id() },
            n.name,
            n.driver,
            n.scope()
        ));
    }
    print!("{}", tabwrite(&out));
    Ok(())
}

/// docker's network inspect JSON.
fn inspect_value(engine: &Engine, n: &Network) -> Result<Value> {
    let mut containers = BTreeMap::new();
    for ep in engine.network_endpoints(n)? {
        let Some(ip) = &ep.ip else { continue };
        let name = engine
            .container_by_id(&ep.container_id)
            .ok()
            .flatten()
            .map(|c| c.name)
            .unwrap_or_default();
        let prefix = n.subnet.split('/').nth(1).unwrap_or("32");
        containers.insert(
            ep.container_id.clone(),
            json!({
                "Name": name,
                "EndpointID": ep.endpoint_id,
                "MacAddress": bay_engine::network::ipam::parse_ip(ip).map(bay_engine::network::ipam::mac_of).unwrap_or_default(),
                "IPv4Address": format!("{ip}/{prefix}"),
                "IPv6Address": "",
            }),
        );
    }
    let ipam_config = if n.subnet.is_empty() {
        json!([])
    } else {
        json!([{"Subnet": n.subnet, "Gateway": n.gateway}])
    };
    let mut options = BTreeMap::new();
    if n.name == "bridge" {
        options.insert("com.docker.network.bridge.default_bridge", "true");
        options.insert("com.docker.network.bridge.enable_icc", "true");
        options.insert("com.docker.network.bridge.enable_ip_masquerade", "true");
        options.insert("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0");
        options.insert("com.docker.network.bridge.name", n.iface.as_str());
        options.insert("com.docker.network.driver.mtu", "1500");
    }
    Ok(json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": n.scope(),
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": if n.name == "bridge" || n.subnet.is_empty() { Value::Null } else { json!({}) }, "Config": ipam_config},
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": n.labels,
    }))
}

fn inspect(engine: &Engine, a: InspectArgs) -> Result<()> {
    let mut out = Vec::new();
    let mut failed = false;
    for name in &a.names {
        match engine.network(name) {
            Ok(n) => out.push(inspect_value(engine, &n)?),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    if let Some(f) = &a.format {
        let t = Template::parse(f).map_err(|e| anyhow!(e))?;
        for v in &out {
            println!("{}", t.render(v).map_err(|e| anyhow!(e))?);
        }
    } else if !out.is_empty() || !failed {
        let mut buf = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
        serde::Serialize::serialize(&out, &mut ser)?;
        println!("{}", escape_html(&String::from_utf8(buf)?));
    }
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}

fn rm(engine: &Engine, a: RmArgs) -> Result<()> {
    let mut failed = false;
    for name in &a.names {
        match engine.remove_network(name) {
            Ok(_) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}

fn prune(engine: &Engine, a: PruneArgs) -> Result<()> {
    if !a.force {
        print!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(());
        }
    }
    let gone = engine.prune_networks()?;
    if !gone.is_empty() {
        println!("Deleted Networks:");
        for n in gone {
            println!("{n}");
        }
    }
    Ok(())
}
