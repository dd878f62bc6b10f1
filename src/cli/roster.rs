//! `custos roster`: add people, set passphrases, revoke, assign key components, list; the file
//! is rewritten atomically.
//!
//! Passphrases are read into wiped buffers, hashed with Argon2id and never printed. A person
//! is never deleted: revocation keeps them, and their history of components, in the file.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use custos::policy::roster::{self, Component, Person, Roster, Standing};
use jiff::Timestamp;
use jiff::civil::Date;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Add a person with a name, roles and a passphrase.
    Add {
        /// Lowercase id, typed after `--as` when approving.
        id: String,
        /// Full name, as it appears on records.
        #[arg(long)]
        name: String,
        /// A role the person holds (repeat for more).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The first day the person may act; today if not given.
        #[arg(long)]
        active_from: Option<Date>,
        /// Read the passphrase from this variable instead of a prompt (scripts and tests).
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Change a person's passphrase: they give the current one, or a security officer resets
    /// it with `--reset-by`. The roster records the day (and who reset it).
    Passwd {
        id: String,
        /// Read the new passphrase from this variable instead of a prompt (scripts and tests).
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
        /// Read the current passphrase from this variable instead of a prompt.
        #[arg(long, value_name = "VAR", conflicts_with = "reset_by")]
        old_passphrase_env: Option<String>,
        /// A security officer resets the passphrase instead, authenticating with their own.
        #[arg(long, value_name = "OFFICER")]
        reset_by: Option<String>,
        /// Read the officer's passphrase from this variable instead of a prompt.
        #[arg(long, value_name = "VAR", requires = "reset_by")]
        officer_passphrase_env: Option<String>,
    },
    /// Revoke a person from a day on; they stay in the file for the record.
    Revoke {
        id: String,
        /// The first day the person may no longer act; today if not given.
        #[arg(long)]
        on: Option<Date>,
    },
    /// Record that a custodian now holds a key component; refused if they hold or have held
    /// another component of the same key (PCI PIN 21-2.4).
    Assign {
        id: String,
        /// The key's label, as in the key register.
        #[arg(long)]
        key: String,
        /// The component's name or index (`A`, `B`, `1`...).
        #[arg(long)]
        component: String,
    },
    /// Record that a custodian handed back (or destroyed) a component; the history stays.
    Return {
        id: String,
        #[arg(long)]
        key: String,
        #[arg(long)]
        component: String,
        /// The day it was returned; today if not given.
        #[arg(long)]
        on: Option<Date>,
    },
    /// List the people, their roles, state and key components.
    List,
}

pub fn run(args: &Args, policies: &Path) -> anyhow::Result<ExitCode> {
    let path = roster::path_in(policies);
    match &args.command {
        Command::Add {
            id,
            name,
            roles,
            active_from,
            passphrase_env,
        } => {
            let mut roster = load_or_new(&path)?;
            add(&mut roster, id, name, roles, *active_from)?;
            let hash = new_hash(passphrase_env.as_deref(), id)?;
            if let Some(person) = roster.person_mut(id) {
                person.credential = hash;
            }
            save(&roster, &path)?;
            errln!("custos: added `{id}` to `{}`", path.display());
        }
        Command::Passwd {
            id,
            passphrase_env,
            old_passphrase_env,
            reset_by,
            officer_passphrase_env,
        } => {
            let mut roster = load(&path)?;
            let Some(person) = roster.person(id) else {
                bail!("there is no `{id}` in the roster `{}`", path.display());
            };
            match reset_by {
                Some(officer) => {
                    let env = officer_passphrase_env.as_deref();
                    officer_may_reset(&roster, officer, id, env)?;
                }
                None => {
                    let prompt = format!("Current passphrase for {id}:");
                    let old =
                        super::passphrase::read(old_passphrase_env.as_deref(), &prompt, false)?;
                    if !roster::verify_passphrase(&person.credential, &old) {
                        bail!(
                            "the current passphrase of `{id}` is wrong; nothing was changed (a \
                             security officer can reset it with `--reset-by OFFICER`)"
                        );
                    }
                }
            }
            let hash = new_hash(passphrase_env.as_deref(), id)?;
            if let Some(person) = roster.person_mut(id) {
                person.credential = hash;
                person.changed = Some(today());
                person.reset_by.clone_from(reset_by);
            }
            save(&roster, &path)?;
            match reset_by {
                Some(officer) => {
                    errln!("custos: the passphrase of `{id}` is reset by `{officer}`");
                }
                None => errln!("custos: the passphrase of `{id}` is changed"),
            }
        }
        Command::Revoke { id, on } => {
            let mut roster = load(&path)?;
            let on = on.unwrap_or_else(today);
            let Some(person) = roster.person_mut(id) else {
                bail!("there is no `{id}` in the roster `{}`", path.display());
            };
            person.revoked_on = Some(on);
            save(&roster, &path)?;
            errln!("custos: `{id}` is revoked from {on}");
        }
        Command::Assign { id, key, component } => {
            let mut roster = load(&path)?;
            assign(&mut roster, id, key, component)?;
            save(&roster, &path)?;
            errln!("custos: `{id}` holds component {component} of `{key}`");
        }
        Command::Return {
            id,
            key,
            component,
            on,
        } => {
            let mut roster = load(&path)?;
            let on = on.unwrap_or_else(today);
            give_back(&mut roster, id, key, component, on)?;
            save(&roster, &path)?;
            errln!("custos: `{id}` returned component {component} of `{key}` on {on}");
        }
        Command::List => list(&load(&path)?),
    }
    Ok(ExitCode::SUCCESS)
}

fn add(
    roster: &mut Roster,
    id: &str,
    name: &str,
    roles: &[String],
    active_from: Option<Date>,
) -> anyhow::Result<()> {
    if !roster::is_id(id) {
        bail!("`{id}` is not a person id; use lowercase letters, digits, `-`, `_` and `.`");
    }
    if roster.person(id).is_some() {
        bail!("`{id}` is already in the roster; use `custos roster passwd {id}` to change it");
    }
    for role in roles {
        if !roster.roles.contains_key(role) {
            let known: Vec<&str> = roster.roles.keys().map(String::as_str).collect();
            bail!(
                "the roster declares no role `{role}`; the roles are {}",
                known.join(", ")
            );
        }
    }

    roster.people.push(Person {
        id: id.to_owned(),
        name: name.to_owned(),
        roles: roles.to_vec(),
        credential: String::new(),
        changed: None,
        reset_by: None,
        active_from: active_from.unwrap_or_else(today),
        revoked_on: None,
        components: Vec::new(),
        at: custos::runbook::Pos::default(),
    });
    Ok(())
}

fn assign(roster: &mut Roster, id: &str, key: &str, component: &str) -> anyhow::Result<()> {
    let Some(person) = roster.person_mut(id) else {
        bail!("there is no `{id}` in the roster");
    };
    if !person.has_role("custodian") {
        bail!("`{id}` is not a custodian; only custodians hold key components");
    }
    if let Some(held) = person.conflicting_component(key, component) {
        let when = if held.returned_on.is_some() {
            "has held"
        } else {
            "holds"
        };
        bail!(
            "`{id}` {when} component {} of `{key}` and may never hold component {component} of \
             the same key (PCI PIN 21-2.4); give it to another custodian",
            held.component
        );
    }
    let current = person
        .components
        .iter()
        .any(|c| c.key == key && c.component == component && c.returned_on.is_none());
    if current {
        bail!("`{id}` already holds component {component} of `{key}`");
    }

    person.components.push(Component {
        key: key.to_owned(),
        component: component.to_owned(),
        returned_on: None,
        at: custos::runbook::Pos::default(),
    });
    Ok(())
}

fn give_back(
    roster: &mut Roster,
    id: &str,
    key: &str,
    component: &str,
    on: Date,
) -> anyhow::Result<()> {
    let Some(person) = roster.person_mut(id) else {
        bail!("there is no `{id}` in the roster");
    };
    let held = person
        .components
        .iter_mut()
        .find(|c| c.key == key && c.component == component && c.returned_on.is_none());
    let Some(held) = held else {
        bail!("`{id}` does not hold component {component} of `{key}`");
    };
    held.returned_on = Some(on);
    Ok(())
}

/// Refuses unless `officer` is an active security officer, not `id`, who proves it with their
/// own passphrase.
fn officer_may_reset(
    roster: &Roster,
    officer: &str,
    id: &str,
    env: Option<&str>,
) -> anyhow::Result<()> {
    let refused =
        |why: &str| anyhow::anyhow!("`{officer}` may not reset the passphrase of `{id}`: {why}");
    let Some(entry) = roster.person(officer) else {
        return Err(refused("not in the roster"));
    };
    if officer == id {
        return Err(refused(
            "a person changes their own passphrase with the current one, not by a reset",
        ));
    }
    if !entry.has_role("security-officer") {
        return Err(refused("only a security officer may reset a passphrase"));
    }
    if entry.standing(Timestamp::now()) != Standing::Active {
        return Err(refused("not active in the roster"));
    }

    let prompt = format!("Passphrase of {officer} (security officer):");
    let passphrase = super::passphrase::read(env, &prompt, false)?;
    match roster::authenticate(&entry.credential, &passphrase) {
        Ok(()) => Ok(()),
        Err(roster::Mismatch::Wrong) => Err(refused("wrong passphrase")),
        Err(roster::Mismatch::Unusable(reason)) => {
            Err(refused(&format!("their own credential {reason}")))
        }
    }
}

/// Reads a new passphrase (twice at a prompt) and hashes it; the text is wiped on return.
fn new_hash(env: Option<&str>, id: &str) -> anyhow::Result<String> {
    let prompt = format!("New passphrase for {id}:");
    let passphrase = super::passphrase::read(env, &prompt, true)?;
    roster::hash_passphrase(&passphrase).map_err(|reason| anyhow::anyhow!("{reason}; refused"))
}

fn load(path: &Path) -> anyhow::Result<Roster> {
    Roster::load(path).map_err(|report| {
        err!("{report}");
        anyhow::anyhow!("the roster `{}` cannot be read", path.display())
    })
}

fn load_or_new(path: &Path) -> anyhow::Result<Roster> {
    if path.exists() {
        return load(path);
    }
    Ok(Roster::with_standard_roles())
}

fn save(roster: &Roster, path: &Path) -> anyhow::Result<()> {
    roster::save(roster, path).with_context(|| format!("cannot write `{}`", path.display()))
}

fn today() -> Date {
    jiff::tz::TimeZone::UTC.to_datetime(Timestamp::now()).date()
}

fn list(roster: &Roster) {
    let now = Timestamp::now();
    outln!(
        "{:<12} {:<24} {:<10} {:<34} COMPONENTS",
        "ID",
        "NAME",
        "STATE",
        "ROLES"
    );
    for person in &roster.people {
        let state = match person.standing(now) {
            Standing::Active => "active",
            Standing::NotYetActive => "pending",
            Standing::Revoked => "revoked",
        };
        let components: Vec<String> = person
            .components
            .iter()
            .map(|c| {
                let returned = c
                    .returned_on
                    .map_or(String::new(), |d| format!(" (returned {d})"));
                format!("{}/{}{returned}", c.key, c.component)
            })
            .collect();
        outln!(
            "{:<12} {:<24} {:<10} {:<34} {}",
            person.id,
            person.name,
            state,
            person.roles.join(", "),
            components.join(", ")
        );
    }
}
