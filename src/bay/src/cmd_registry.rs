//! `pull`, `push`, `login`, `logout`.

use std::io::{BufRead, Read, Write};

use anyhow::{anyhow, bail, Result};
use bay_engine::registry::login_host;
use bay_engine::registry::pull::PullOptions;
use bay_engine::{Engine, Reference};

use crate::progress::Printer;
use crate::{LoginArgs, LogoutArgs, PullArgs, PushArgs};

pub fn pull(engine: &Engine, a: PullArgs) -> Result<()> {
    let platform = match &a.platform {
        Some(p) => Some(
            bay_engine::oci::parse_platform(p)
                .ok_or_else(|| anyhow!("invalid platform {p:?}: expected os/arch[/variant]"))?,
        ),
        None => None,
    };
    let r = Reference::parse(&a.name)?;
    let printer = Printer::new(a.quiet);
    let opts = PullOptions { platform };
    if a.all_tags {
        if r.tag.is_some() || r.digest.is_some() {
            bail!("tag can't be used with --all-tags/-a");
        }
        let mut changed = false;
        for tag in engine.list_tags(&a.name)? {
            let res = engine.pull(&r.with_tag(&tag).to_string(), &opts, &printer)?;
            printer.line(&format!("Digest: {}", res.digest));
            changed |= res.changed;
        }
        let what = if changed {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        };
        printer.line(&format!("Status: {what} {}", r.familiar_name()));
        println!("{}", r.name());
        return Ok(());
    }
    if r.tag.is_none() && r.digest.is_none() {
        printer.line("Using default tag: latest");
    }
    let res = engine.pull(&a.name, &opts, &printer)?;
    printer.line(&format!("Digest: {}", res.digest));
    let shown = res.reference.familiar();
    if res.changed {
        printer.line(&format!("Status: Downloaded newer image for {shown}"));
    } else {
        printer.line(&format!("Status: Image is up to date for {shown}"));
    }
    println!("{}", res.reference);
    Ok(())
}

pub fn push(engine: &Engine, a: PushArgs) -> Result<()> {
    let printer = Printer::new(a.quiet);
    let names: Vec<String> = if a.all_tags {
        let r = Reference::parse(&a.name)?;
        if r.tag.is_some() || r.digest.is_some() {
            bail!("tag can't be used with --all-tags/-a");
        }
        let tags = engine.local_tags(&a.name)?;
        if tags.is_empty() {
            return Err(bay_engine::Error::InvalidArgument(format!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            ))
            .into());
        }
        tags.iter().map(|t| t.to_string()).collect()
    } else {
        vec![a.name.clone()]
    };
    for (i, name) in names.iter().enumerate() {
        // docker prints "The push refers to repository" once for all tags
        printer.set_skip_header(i > 0);
        let res = engine.push(name, &printer)?;
        if a.quiet {
            println!("{}", Reference::parse_tagged(name)?);
        } else {
            println!("{}: digest: {} size: {}", res.tag, res.digest, res.size);
        }
    }
    Ok(())
}

/// Reads a line from the terminal without echo (for passwords).
fn read_secret(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    // SAFETY: termios calls on fd 0 with a zeroed struct filled by tcgetattr.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    let tty = unsafe { libc::tcgetattr(0, &mut t) } == 0;
    if tty {
        let mut quiet = t;
        quiet.c_lflag &= !libc::ECHO;
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let res = std::io::stdin().lock().read_line(&mut line);
    if tty {
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        eprintln!();
    }
    res?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn login(engine: &Engine, a: LoginArgs) -> Result<()> {
    if a.password.is_some() && a.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    if a.password_stdin && a.username.is_none() {
        bail!("Must provide --username with --password-stdin");
    }
    let host = login_host(a.server.as_deref());
    if a.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let user = match a.username {
        Some(u) => u,
        None => {
            eprint!("Username: ");
            std::io::stderr().flush()?;
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim().to_string()
        }
    };
    if user.is_empty() {
        bail!("Error: Non-null Username Required");
    }
    let pass = match (a.password, a.password_stdin) {
        (Some(p), _) => p,
        (None, true) => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => read_secret("Password: ")?,
    };
    if pass.is_empty() {
        bail!("Error: Password Required");
    }
    let path = engine.login(&host, &user, &pass)?;
    eprintln!(
        "WARNING! Your password will be stored unencrypted in {}.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/engine/reference/commandline/login/#credentials-store\n",
        path.display()
    );
    println!("Login Succeeded");
    Ok(())
}

pub fn logout(engine: &Engine, a: LogoutArgs) -> Result<()> {
    let host = login_host(a.server.as_deref());
    let shown = if host == "docker.io" {
        bay_engine::registry::auth::HUB_AUTH_KEY.to_string()
    } else {
        host.clone()
    };
    if engine.logout(&host)? {
        println!("Removing login credentials for {shown}");
    } else {
        println!("Not logged in to {shown}");
    }
    Ok(())
}
