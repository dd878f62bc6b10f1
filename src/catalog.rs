//! The catalog of automated actions a runbook may `run`: their typed parameters and outputs.
//!
//! The validator checks a runbook's `with` against these specifications, and the templates of
//! later nodes against the outputs; the engine dispatches on the name. The actions themselves
//! live where their work is done ([`crate::hsm`] for `hsm.*`). A new action starts here.

/// What an action looks like from a runbook.
#[derive(Debug)]
pub struct ActionSpec {
    /// The name a runbook writes after `run:`, such as `hsm.kcv`.
    pub name: &'static str,
    pub summary: &'static str,
    pub params: &'static [ParamSpec],
    pub outputs: &'static [OutputSpec],
    /// Destroys something that cannot be brought back: only allowed behind an approval.
    pub destructive: bool,
    /// May only run in a drill, never against any real incident.
    pub rehearsal_only: bool,
}

/// One parameter under `with:`.
#[derive(Debug)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
    pub help: &'static str,
}

/// The type of a parameter. Text parameters may be handlebars templates over earlier values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Text,
    Integer,
    Boolean,
    /// The name of an environment in `policies/environments.yaml`.
    Environment,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
}

/// One value an action produces, usable as `{{outputs.NODE.NAME}}` in later templates.
#[derive(Debug)]
pub struct OutputSpec {
    pub name: &'static str,
    pub help: &'static str,
}

const fn param(
    name: &'static str,
    kind: ParamKind,
    required: bool,
    help: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required,
        help,
    }
}

const fn output(name: &'static str, help: &'static str) -> OutputSpec {
    OutputSpec { name, help }
}

const ENV: ParamSpec = param(
    "environment",
    ParamKind::Environment,
    true,
    "the environment the action runs in",
);
const OBJECT_CLASSES: &[&str] = &[
    "secret-key",
    "public-key",
    "private-key",
    "certificate",
    "data",
];
const KEY_ALGORITHMS: &[&str] = &["aes-128", "aes-192", "aes-256", "tdes"];
const KCV_METHODS: &[&str] = &["ecb", "cmac"];
const KEY_STATES: &[&str] = crate::policy::keys::STATES;
const WRAP_MECHANISMS: &[&str] = &["aes-key-wrap", "aes-key-wrap-pad", "des3-ecb"];

/// Every action the engine knows.
pub const ACTIONS: &[ActionSpec] = &[
    ActionSpec {
        name: "hsm.health",
        summary: "slots, token flags, free memory, a session and a canary encryption",
        params: &[ENV],
        outputs: &[
            output("verdict", "`healthy`, `degraded` or `failed`"),
            output("token_label", "the label of the token found"),
            output("slots", "how many slots the module reports"),
            output("pin_locked", "the user PIN is locked"),
            output(
                "pin_count_low",
                "a wrong user PIN was entered since the last login",
            ),
            output("pin_final_try", "one more wrong user PIN locks the token"),
            output(
                "free_memory",
                "free private memory in bytes, where reported",
            ),
            output("canary", "`ok` when a test encryption succeeded"),
            output("details", "what was found, in words"),
        ],
        destructive: false,
        rehearsal_only: false,
    },
    ActionSpec {
        name: "hsm.find",
        summary: "objects by label, id or class, with their type, size, attributes and KCV",
        params: &[
            ENV,
            param("label", ParamKind::Text, false, "the object label"),
            param("id", ParamKind::Text, false, "the object id in hex"),
            param(
                "class",
                ParamKind::Choice(OBJECT_CLASSES),
                false,
                "the object class",
            ),
        ],
        outputs: &[
            output("count", "how many objects matched"),
            output(
                "objects",
                "each object: label, id, class; a secret key also its type, size, attributes, \
                 ECB KCV, or `kcv_unavailable` with the reason it has none",
            ),
            output("labels", "the labels of the objects, comma-separated"),
        ],
        destructive: false,
        rehearsal_only: false,
    },
    ActionSpec {
        name: "hsm.kcv",
        summary: "the key check value of a secret key (ANSI X9.24-1 method 1 or 2)",
        params: &[
            ENV,
            param("label", ParamKind::Text, true, "the key label"),
            param(
                "method",
                ParamKind::Choice(KCV_METHODS),
                false,
                "`ecb` (default) or `cmac`",
            ),
            param(
                "length",
                ParamKind::Integer,
                false,
                "bytes kept: at most 3 for ecb, 5 for cmac",
            ),
        ],
        outputs: &[
            output("kcv", "the check value in upper-case hex"),
            output("method", "`ecb` or `cmac`"),
            output("length", "the number of bytes kept"),
        ],
        destructive: false,
        rehearsal_only: false,
    },
    ActionSpec {
        name: "hsm.generate",
        summary: "a new AES or TDES secret key, sensitive and not extractable by default",
        params: &[
            ENV,
            param("label", ParamKind::Text, true, "the label of the new key"),
            param("id", ParamKind::Text, true, "the id of the new key in hex"),
            param(
                "algorithm",
                ParamKind::Choice(KEY_ALGORITHMS),
                true,
                "the key type and size",
            ),
            param(
                "extractable",
                ParamKind::Boolean,
                false,
                "may leave the HSM wrapped",
            ),
            param(
                "sensitive",
                ParamKind::Boolean,
                false,
                "never readable in clear (default)",
            ),
            param(
                "kcv_method",
                ParamKind::Choice(KCV_METHODS),
                false,
                "KCV method, default ecb",
            ),
        ],
        outputs: &[
            output("label", "the label of the new key"),
            output("kcv", "its check value by `kcv_method`"),
            output("method", "`ecb` or `cmac`"),
            output("length", "the number of bytes kept (3 for ecb, 5 for cmac)"),
        ],
        destructive: false,
        rehearsal_only: false,
    },
    ActionSpec {
        name: "hsm.wrap",
        summary: "a key encrypted under a key-encryption key (AES key wrap)",
        params: &[
            ENV,
            param("key", ParamKind::Text, true, "the label of the key to wrap"),
            param(
                "wrapping_key",
                ParamKind::Text,
                true,
                "the label of the key-encryption key",
            ),
            param(
                "mechanism",
                ParamKind::Choice(WRAP_MECHANISMS),
                false,
                "default aes-key-wrap-pad",
            ),
            param(
                "kcv_method",
                ParamKind::Choice(KCV_METHODS),
                false,
                "KCV method, default ecb",
            ),
        ],
        outputs: &[
            output(
                "wrapped",
                "the wrapped key in hex (a cryptogram, not key material)",
            ),
            output("kcv", "the check value of the wrapped key by `kcv_method`"),
            output("method", "`ecb` or `cmac`"),
            output("length", "the number of bytes kept (3 for ecb, 5 for cmac)"),
        ],
        destructive: false,
        rehearsal_only: false,
    },
    ActionSpec {
        name: "hsm.unwrap",
        summary: "a wrapped key brought in under a key-encryption key",
        params: &[
            ENV,
            param("wrapped", ParamKind::Text, true, "the wrapped key in hex"),
            param(
                "unwrapping_key",
                ParamKind::Text,
                true,
                "the label of the key-encryption key",
            ),
            param("label", ParamKind::Text, true, "the label of the new key"),
            param("id", ParamKind::Text, true, "the id of the new key in hex"),
            param(
                "algorithm",
                ParamKind::Choice(KEY_ALGORITHMS),
                true,
                "the key type and size",
            ),
            param(
                "mechanism",
                ParamKind::Choice(WRAP_MECHANISMS),
                false,
                "default aes-key-wrap-pad",
            ),
            param(
                "kcv_method",
                ParamKind::Choice(KCV_METHODS),
                false,
                "KCV method, default ecb",
            ),
        ],
        outputs: &[
            output("label", "the label of the new key"),
            output("kcv", "its check value by `kcv_method`"),
            output("method", "`ecb` or `cmac`"),
            output("length", "the number of bytes kept (3 for ecb, 5 for cmac)"),
        ],
        destructive: false,
        rehearsal_only: false,
    },
    ActionSpec {
        name: "hsm.destroy",
        summary: "destroys a key and proves it is gone",
        params: &[
            ENV,
            param(
                "label",
                ParamKind::Text,
                true,
                "the label of the object to destroy",
            ),
            param(
                "class",
                ParamKind::Choice(OBJECT_CLASSES),
                false,
                "default secret-key",
            ),
        ],
        outputs: &[
            output("destroyed", "how many objects were destroyed"),
            output("verified_absent", "`true` once a search finds none left"),
        ],
        destructive: true,
        rehearsal_only: false,
    },
    ActionSpec {
        name: "hsm.compare",
        summary: "two environments' inventories (labels and KCVs) side by side",
        params: &[
            param(
                "left",
                ParamKind::Environment,
                true,
                "the reference environment",
            ),
            param(
                "right",
                ParamKind::Environment,
                true,
                "the environment to compare with it",
            ),
        ],
        outputs: &[
            output(
                "in_sync",
                "`true` when nothing is missing, extra, different or unverified",
            ),
            output("missing", "labels in left but not in right"),
            output("extra", "labels in right but not in left"),
            output("different", "labels whose KCVs differ"),
            output(
                "unverified",
                "labels on both sides that cannot be compared: a key without a KCV",
            ),
            output("summary", "the comparison in words"),
        ],
        destructive: false,
        rehearsal_only: false,
    },
    ActionSpec {
        name: "hsm.load_components",
        summary: "a key built from XOR-ed clear components (drills only)",
        params: &[
            ENV,
            param("label", ParamKind::Text, true, "the label of the new key"),
            param("id", ParamKind::Text, true, "the id of the new key in hex"),
            param(
                "algorithm",
                ParamKind::Choice(KEY_ALGORITHMS),
                true,
                "the key type and size",
            ),
            param(
                "components",
                ParamKind::Integer,
                true,
                "how many components to combine",
            ),
            param(
                "kcv_method",
                ParamKind::Choice(KCV_METHODS),
                false,
                "KCV method, default ecb",
            ),
        ],
        outputs: &[
            output(
                "component_kcvs",
                "the check value of each component, in order",
            ),
            output("kcv", "the check value of the combined key"),
            output(
                "method",
                "`ecb` or `cmac`, for the components and the combined key",
            ),
            output("length", "the number of bytes kept (3 for ecb, 5 for cmac)"),
        ],
        destructive: false,
        rehearsal_only: true,
    },
    ActionSpec {
        name: "keys.lookup",
        summary: "keys of the register by name, or every key under a parent",
        params: &[
            param("name", ParamKind::Text, false, "a key of the register"),
            param(
                "parent",
                ParamKind::Text,
                false,
                "a key whose descendants are listed",
            ),
            param(
                "purpose",
                ParamKind::Text,
                false,
                "only keys of this purpose, such as ZPK",
            ),
        ],
        outputs: &[
            output("names", "the key names, comma-separated, nearest first"),
            output("labels", "their labels on the token, in the same order"),
            output("kcvs", "their KCVs with method, in the same order"),
            output("count", "how many keys were found"),
        ],
        destructive: false,
        rehearsal_only: false,
    },
    ActionSpec {
        name: "keys.transition",
        summary: "moves a key of the register (and, if asked, every key under it) to another \
                  NIST SP 800-57 lifecycle state",
        params: &[
            param("name", ParamKind::Text, true, "the key in the register"),
            param(
                "state",
                ParamKind::Choice(KEY_STATES),
                true,
                "the state it moves to",
            ),
            param(
                "descendants",
                ParamKind::Boolean,
                false,
                "also every key under it (default false); those already there or destroyed stay",
            ),
        ],
        outputs: &[
            output("name", "the key"),
            output("from", "the state it was in"),
            output("to", "the state it is in now"),
            output("moved", "every key moved, the named one first"),
            output("count", "how many keys moved"),
            output(
                "persisted",
                "`true` when the register was rewritten (never in a drill)",
            ),
        ],
        destructive: false,
        rehearsal_only: false,
    },
];

/// The action named `name`, if the engine knows it.
pub fn action(name: &str) -> Option<&'static ActionSpec> {
    ACTIONS.iter().find(|spec| spec.name == name)
}

impl ActionSpec {
    /// The parameter named `name`, if the action takes it.
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|param| param.name == name)
    }

    /// Whether the action produces an output named `name`.
    pub fn has_output(&self, name: &str) -> bool {
        self.outputs.iter().any(|output| output.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_are_unique() {
        for (index, spec) in ACTIONS.iter().enumerate() {
            assert!(
                ACTIONS[index + 1..]
                    .iter()
                    .all(|other| other.name != spec.name)
            );
        }
    }

    #[test]
    fn only_destroy_is_destructive() {
        let destructive: Vec<_> = ACTIONS
            .iter()
            .filter(|s| s.destructive)
            .map(|s| s.name)
            .collect();
        assert_eq!(destructive, ["hsm.destroy"]);
    }
}
