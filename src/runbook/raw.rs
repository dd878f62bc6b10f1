//! The runbook file as serde reads it, before any meaning is given to it.
//!
//! Every field is optional here and kept as text where the format has a closed set of words,
//! so that [`super::build`] can report every missing field and every misspelt word of a file
//! at once, with its position, instead of stopping at the first as serde would.

use super::model::Pos;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;
use std::marker::PhantomData;

/// A value and the place in the file it came from.
///
/// serde-saphyr's `Spanned` keeps two full locations; this keeps the line, column and width
/// the diagnostics need, which matters when a large runbook holds one for every value.
#[derive(Clone, Debug)]
pub struct At<T> {
    pub value: T,
    pub at: Pos,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for At<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<T>::deserialize(deserializer)?;
        Ok(Self {
            at: position(&spanned),
            value: spanned.value,
        })
    }
}

/// The position of a value serde-saphyr read, for pointing at it.
pub fn position<T>(spanned: &Spanned<T>) -> Pos {
    let location = spanned.referenced;
    Pos {
        line: u32::try_from(location.line()).unwrap_or(u32::MAX),
        column: u32::try_from(location.column()).unwrap_or(u32::MAX),
        width: u32::try_from(location.span().len()).unwrap_or(1),
    }
}

/// A YAML mapping kept in file order, each key with its position.
#[derive(Debug)]
pub struct Entries<T>(pub Vec<(At<String>, T)>);

impl<T> Default for Entries<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Entries<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for EntriesVisitor<T> {
            type Value = Entries<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a mapping")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(key) = map.next_key::<At<Word>>()? {
                    let key = At {
                        value: key.value.0,
                        at: key.at,
                    };
                    entries.push((key, map.next_value()?));
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}

/// Any scalar read as its text, so that `yes:` and `3:` are keys like any other.
#[derive(Debug)]
pub struct Word(pub String);

impl<'de> Deserialize<'de> for Word {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WordVisitor;

        impl Visitor<'_> for WordVisitor {
            type Value = Word;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a word")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Word, E> {
                Ok(Word(value.to_owned()))
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Word, E> {
                Ok(Word(value.to_string()))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Word, E> {
                Ok(Word(value.to_string()))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Word, E> {
                Ok(Word(value.to_string()))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Word, E> {
                Ok(Word(value.to_string()))
            }
        }

        deserializer.deserialize_any(WordVisitor)
    }
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRunbook {
    pub id: Option<At<String>>,
    pub title: Option<At<String>>,
    pub version: Option<At<u32>>,
    pub severity: Option<At<String>>,
    pub summary: Option<At<String>>,
    #[serde(default)]
    pub ceremony: bool,
    #[serde(default)]
    pub inputs: Entries<RawInput>,
    pub start: Option<At<String>>,
    pub nodes: Option<At<Entries<RawNode>>>,
}

/// An input asked when an incident opens, or a field a step records.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    pub prompt: Option<At<String>>,
    #[serde(rename = "type")]
    pub kind: Option<At<String>>,
    pub choices: Option<At<Vec<String>>>,
    pub required: Option<bool>,
    pub component: Option<At<RawHolding>>,
}

/// The key component a `person` field names the holder of.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHolding {
    pub key: Option<At<String>>,
    pub name: Option<At<String>>,
}

/// One node, with the fields of every kind; which belong to which kind is checked later.
///
/// Each field is boxed: a node uses four or five of them, and an absent box costs a pointer
/// where an absent span would cost its full size, which for a large runbook is most of the
/// memory its loading takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub kind: Option<Box<At<String>>>,
    pub title: Option<Box<At<String>>>,
    pub phase: Option<Box<At<String>>>,
    pub guidance: Option<Box<At<String>>>,
    pub within: Option<Box<At<String>>>,
    pub max_visits: Option<Box<At<u32>>>,
    pub on_exhausted: Option<Box<At<String>>>,
    pub next: Option<Box<At<String>>>,
    pub fields: Option<Box<At<Entries<RawInput>>>>,
    pub options: Option<Box<At<Entries<At<String>>>>>,
    pub run: Option<Box<At<String>>>,
    #[serde(rename = "with")]
    pub params: Option<Box<At<Entries<At<serde_json::Value>>>>>,
    pub on_success: Option<Box<At<String>>>,
    pub on_failure: Option<Box<At<String>>>,
    pub timeout: Option<Box<At<String>>>,
    pub require: Option<Box<At<RawRequire>>>,
    pub to: Option<Box<At<String>>>,
    pub template: Option<Box<At<String>>>,
    pub outcome: Option<Box<At<String>>>,
}

/// Who must approve at an approval node.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequire {
    pub roles: Option<At<Vec<At<String>>>>,
    pub count: Option<At<u32>>,
    #[serde(default)]
    pub exclude_initiator: bool,
    #[serde(default)]
    pub each_role: bool,
}

/// The names each mapping of the format accepts, for the outline check of unknown fields.
pub const RUNBOOK_FIELDS: &[&str] = &[
    "id", "title", "version", "severity", "summary", "ceremony", "inputs", "start", "nodes",
];
pub const INPUT_FIELDS: &[&str] = &["prompt", "type", "choices", "required", "component"];
pub const NODE_FIELDS: &[&str] = &[
    "kind",
    "title",
    "phase",
    "guidance",
    "within",
    "max_visits",
    "on_exhausted",
    "next",
    "fields",
    "options",
    "run",
    "with",
    "on_success",
    "on_failure",
    "timeout",
    "require",
    "to",
    "template",
    "outcome",
];
pub const REQUIRE_FIELDS: &[&str] = &["roles", "count", "exclude_initiator", "each_role"];
