//! What the inventory names in other files, checked before anything is watched: the recipient
//! groups and templates of its alerts, the environments of its token certificates, and the
//! runbooks its incidents are opened from, with the inputs each object gives them.
//!
//! Every problem points into `inventory.yaml` at the name that does not resolve. A key of the
//! register has no place in the inventory; a problem with its incident points at the rule of
//! its kind. This module reads runbooks but does not open incidents or send anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_saphyr::Location;

use super::alert;
use super::inventory::{Alert, Inventory, NamesAt, Object, Source, sorted};
use crate::policy::environment::{PolicyError, Problem};
use crate::runbook::Loaded;

/// The names the other policies define; a `None` is not checked (its file does not exist or
/// does not load, which its own check reports).
#[derive(Clone, Debug, Default)]
pub struct Names {
    /// The recipient groups of `notify.yaml`.
    pub groups: Option<BTreeSet<String>>,
    /// The templates of `templates/`.
    pub templates: Option<BTreeSet<String>>,
    /// The environments of `environments.yaml`.
    pub environments: Option<BTreeSet<String>>,
}

impl Names {
    /// What the policies in `dir` define.
    pub fn of(dir: &Path) -> Names {
        Self::with_notify(crate::notify::Policy::load(dir).ok().as_ref(), dir)
    }

    /// What the policies in `dir` define, the notification policy already loaded from it.
    pub fn with_notify(notify: Option<&crate::notify::Policy>, dir: &Path) -> Names {
        let environments =
            crate::policy::environment::Environments::load(dir.join(crate::policy::ENVIRONMENTS))
                .ok()
                .map(|environments| environments.names().map(str::to_owned).collect());
        Names {
            groups: notify.and_then(crate::notify::Policy::groups),
            templates: notify.and_then(crate::notify::Policy::template_names),
            environments,
        }
    }
}

/// Every name `inventory` refers to that `names` or the runbooks beside `policies` lack, all
/// reported at once with their positions.
pub fn check(inventory: &Inventory, policies: &Path, names: &Names) -> Result<(), PolicyError> {
    let mut checker = Checker {
        inventory,
        names,
        runbooks: Runbooks::new(policies),
        problems: Vec::new(),
    };

    for band in &inventory.bands {
        let what = format!("band {}", band.days);
        checker.alert(&what, &band.alert, band.at);
    }
    checker.alert("`expired`", &inventory.expired, inventory.expired_at);
    for object in &inventory.objects {
        checker.object(object);
    }

    if checker.problems.is_empty() {
        return Ok(());
    }
    Err(PolicyError::Invalid {
        path: inventory.path.clone(),
        problems: sorted(checker.problems),
    })
}

struct Checker<'a> {
    inventory: &'a Inventory,
    names: &'a Names,
    runbooks: Runbooks,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn report(&mut self, at: Location, message: String) {
        self.problems.push(self.inventory.problem(at, message));
    }

    /// The group and template of one alert.
    fn alert(&mut self, what: &str, alert: &Alert, at: NamesAt) {
        if let Some(groups) = &self.names.groups
            && !groups.contains(&alert.notify)
        {
            let message = format!(
                "{what} notifies `{}`, which is not a group of notify.yaml",
                alert.notify
            );
            self.report(at.notify, message);
        }
        if let Some(templates) = &self.names.templates
            && !templates.contains(&alert.template)
        {
            let message = format!(
                "{what} uses template `{}`, which is not in templates/",
                alert.template
            );
            self.report(at.template, message);
        }
    }

    fn object(&mut self, object: &Object) {
        let defaults: Vec<NamesAt> = self.inventory.bands.iter().map(|band| band.at).collect();
        for band in &object.bands {
            if !defaults.contains(&band.at) {
                let what = format!("`{}`: band {}", object.name, band.days);
                self.alert(&what, &band.alert, band.at);
            }
        }

        if let Source::Token { environment, .. } = &object.source
            && let Some(known) = &self.names.environments
            && !known.contains(environment)
        {
            let message = format!(
                "certificate `{}`: environment `{environment}` is not defined in \
                 environments.yaml",
                object.name
            );
            self.report(object.at.environment, message);
        }

        self.incident(object);
    }

    /// The object's runbook exists, loads, and takes the inputs the object gives.
    fn incident(&mut self, object: &Object) {
        let Some(rule) = &object.incident else {
            return;
        };
        let loaded = match self.runbooks.get(&rule.runbook) {
            Ok(loaded) => loaded,
            Err(problem) => {
                let problem = problem.clone();
                self.report(rule.runbook_at, problem);
                return;
            }
        };
        if object.from_register() {
            // A key of the register gives no inputs, so only a runbook that needs none fits.
            let runbook = &loaded.runbook;
            if let Some(needed) = runbook.inputs.iter().find(|input| input.required) {
                let message = format!(
                    "key `{}` of the key register: runbook `{}` needs the input `{}`, which a \
                     key of the register cannot give; name a runbook whose inputs are optional",
                    object.name, runbook.id, needed.name
                );
                self.report(rule.runbook_at, message);
            }
            return;
        }
        if let Err(error) = alert::inputs(loaded, object) {
            let message = format!("`{}`: {error}", object.name);
            self.report(object.at.name, message);
        }
    }
}

/// The runbooks in `runbooks/` beside the policies, each loaded once.
pub(crate) struct Runbooks {
    policies: PathBuf,
    loaded: BTreeMap<String, Result<Loaded, String>>,
}

impl Runbooks {
    pub(crate) fn new(policies: &Path) -> Runbooks {
        Runbooks {
            policies: policies.to_path_buf(),
            loaded: BTreeMap::new(),
        }
    }

    /// The runbook `id`, or why it cannot be used.
    pub(crate) fn get(&mut self, id: &str) -> Result<&Loaded, &String> {
        let policies = &self.policies;
        self.loaded
            .entry(id.to_owned())
            .or_insert_with(|| load(policies, id))
            .as_ref()
    }
}

fn load(policies: &Path, id: &str) -> Result<Loaded, String> {
    let dir = policies.parent().unwrap_or(Path::new(".")).join("runbooks");
    let path = dir.join(format!("{id}.yaml"));
    if !path.exists() {
        return Err(format!(
            "runbook `{id}` does not exist: there is no `{}`",
            path.display()
        ));
    }

    let context = crate::policy::context(policies);
    crate::runbook::load(&path, &context).map_err(|_| {
        format!(
            "runbook `{id}` (`{}`) is invalid; `custos validate` shows why",
            path.display()
        )
    })
}
