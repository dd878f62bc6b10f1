//! Reading `roster.yaml` strictly, and writing it back atomically.
//!
//! The file is read with serde-saphyr with unknown fields denied, duplicate keys refused and
//! only `true`/`false` as booleans; a problem is reported as `path:line:col: message`. Writing
//! goes to a temporary file in the same directory, synced, then renamed over the old one, so a
//! crash leaves either the old roster or the new one, never half of one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use jiff::civil::Date;
use serde::Deserialize;
use serde_saphyr::{Options, Spanned};

use super::render::render;
use super::{Component, Person, Roster};
use crate::runbook::{Diagnostic, Pos, Report};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoster {
    #[serde(default)]
    roles: BTreeMap<String, String>,
    #[serde(default)]
    people: Vec<Spanned<RawPerson>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerson {
    id: String,
    name: String,
    #[serde(default)]
    roles: Vec<String>,
    credential: String,
    #[serde(default)]
    changed: Option<Date>,
    #[serde(default)]
    reset_by: Option<String>,
    active_from: Date,
    #[serde(default)]
    revoked_on: Option<Date>,
    #[serde(default)]
    components: Vec<Spanned<RawComponent>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    key: String,
    component: String,
    #[serde(default)]
    returned_on: Option<Date>,
}

/// Reads the roster at `path`.
pub(super) fn load(path: &Path) -> Result<Roster, Report> {
    let source = std::fs::read_to_string(path).map_err(|error| {
        let message = format!("cannot read the roster: {error}");
        Report::new(path, String::new(), vec![Diagnostic::new(None, message)])
    })?;
    parse(&source).map_err(|diagnostics| Report::new(path, source, diagnostics))
}

/// Parses roster text; the diagnostics carry line and column.
pub fn parse(source: &str) -> Result<Roster, Vec<Diagnostic>> {
    let options: Options = serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
    };
    let raw: RawRoster = serde_saphyr::from_str_with_options(source, options)
        .map_err(|error| vec![Diagnostic::from_yaml(&error)])?;

    let people = raw
        .people
        .into_iter()
        .map(|spanned| {
            let at = pos(&spanned);
            let person = spanned.value;
            Person {
                id: person.id,
                name: person.name,
                roles: person.roles,
                credential: person.credential,
                changed: person.changed,
                reset_by: person.reset_by,
                active_from: person.active_from,
                revoked_on: person.revoked_on,
                components: person.components.into_iter().map(component).collect(),
                at,
            }
        })
        .collect();
    Ok(Roster {
        roles: raw.roles,
        people,
    })
}

fn component(spanned: Spanned<RawComponent>) -> Component {
    let at = pos(&spanned);
    let raw = spanned.value;
    Component {
        key: raw.key,
        component: raw.component,
        returned_on: raw.returned_on,
        at,
    }
}

fn pos<T>(spanned: &Spanned<T>) -> Pos {
    crate::runbook::position(spanned)
}

/// Writes `roster` to `path` atomically: a synced temporary file renamed over the old one.
pub fn save(roster: &Roster, path: &Path) -> std::io::Result<()> {
    let text = render(roster);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("roster.yaml");
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));

    let written =
        write_synced(&temporary, text.as_bytes()).and_then(|()| std::fs::rename(&temporary, path));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(error);
    }

    // The rename is durable only once the directory entry is on disk.
    File::open(dir)?.sync_all()
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
