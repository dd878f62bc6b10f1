//! Where an approval comes from: the user, host, terminal and process of the person approving.
//!
//! Read from the environment and `/proc`, without unsafe code. None of it is proof: a user can
//! set `USER`. It lets an auditor see two approvals typed at one terminal, which is the usual
//! shape of one person holding both secrets.

use std::io::IsTerminal;

use crate::store::Origin;

/// The terminal recorded when standard input is not a terminal.
pub const NO_TERMINAL: &str = "no terminal";

/// The current user, host, terminal (tty name, or [`NO_TERMINAL`]), process id and SSH client.
pub fn origin() -> Origin {
    Origin {
        user: user(),
        host: host(),
        terminal: terminal(),
        pid: std::process::id(),
        ssh_client: ssh_client(),
    }
}

/// The SSH client's address: the first field of `SSH_CONNECTION` ("client-ip client-port
/// server-ip server-port") or, failing that, of `SSH_CLIENT` ("client-ip client-port
/// server-port").
pub fn ssh_client() -> Option<String> {
    ["SSH_CONNECTION", "SSH_CLIENT"].iter().find_map(|name| {
        let text = std::env::var(name).ok()?;
        text.split_whitespace().next().map(str::to_owned)
    })
}

/// The login name: `USER` or its kin, else the name `/etc/passwd` gives this process's uid
/// (cron jobs and CI often run without `USER`).
pub fn user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(crate::store::os_user)
}

fn host() -> String {
    let from_kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let from_etc = || std::fs::read_to_string("/etc/hostname").ok();
    from_kernel
        .or_else(from_etc)
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown host".to_owned())
}

/// The tty of standard input, as `pts/3`, with the SSH client's address when there is one.
fn terminal() -> String {
    if !std::io::stdin().is_terminal() {
        return NO_TERMINAL.to_owned();
    }
    let tty = std::fs::read_link("/proc/self/fd/0")
        .ok()
        .and_then(|path| path.to_str().map(str::to_owned))
        .map_or_else(
            || "a terminal".to_owned(),
            |path| path.trim_start_matches("/dev/").to_owned(),
        );

    match ssh_client() {
        Some(client) => format!("{tty} (ssh from {client})"),
        None => tty,
    }
}
