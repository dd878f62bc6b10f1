//! The runbook file as serde reads it, before any meaning is given to it.
//!
//! Reading here never fails for the shape of a value: a list where text belongs, a word where
//! a number belongs, a mapping that is empty or holds keys the format does not know. Each is
//! kept as what it was ([`Loose`], `found`, `unknown`) so that [`super::build`] can report every
//! such problem of a file at once, with its position and the node it sits in. Only what stops
//! YAML itself (bad syntax, a repeated key) ends reading early.

use super::model::Pos;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::cell::RefCell;
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

/// Any YAML value where the format wants a scalar, kept as what it turned out to be.
#[derive(Clone, Debug, PartialEq)]
pub enum Loose {
    Text(String),
    /// A number, as its text.
    Number(String),
    Bool(bool),
    /// `~`, `null` or nothing at all.
    Nothing,
    Sequence,
    Mapping,
}

impl Loose {
    /// What the value is, for a message that says what was expected instead.
    pub fn describe(&self) -> String {
        match self {
            Self::Text(text) if text.chars().count() > 40 => "a long text".to_owned(),
            Self::Text(text) => format!("the text `{text}`"),
            Self::Number(number) => format!("the number `{number}`"),
            Self::Bool(flag) => format!("`{flag}`"),
            Self::Nothing => "nothing".to_owned(),
            Self::Sequence => "a list".to_owned(),
            Self::Mapping => "a mapping".to_owned(),
        }
    }
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Loose, E> {
        Ok(Loose::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Loose, E> {
        Ok(Loose::Number(value.to_string()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Loose, E> {
        Ok(Loose::Number(value.to_string()))
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<Loose, E> {
        Ok(Loose::Number(value.to_string()))
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<Loose, E> {
        Ok(Loose::Number(value.to_string()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Loose, E> {
        Ok(Loose::Number(value.to_string()))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Loose, E> {
        Ok(Loose::Text(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Loose, E> {
        Ok(Loose::Text(value))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Loose, E> {
        Ok(Loose::Nothing)
    }

    fn visit_none<E: de::Error>(self) -> Result<Loose, E> {
        Ok(Loose::Nothing)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Loose, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Loose, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose::Sequence)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose::Mapping)
    }
}

/// A type read from a YAML mapping, or kept as what was found when the value is not one.
pub trait FromMapping<'de>: Sized {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
    fn instead(found: Loose) -> Self;
}

/// Reads a [`FromMapping`] type from any YAML value.
struct Lenient<T>(PhantomData<T>);

impl<'de, T: FromMapping<'de>> Visitor<'de> for Lenient<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::from_map(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        LooseVisitor.visit_seq(seq).map(T::instead)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<T, E> {
        LooseVisitor.visit_bool(value).map(T::instead)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        LooseVisitor.visit_i64(value).map(T::instead)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        LooseVisitor.visit_u64(value).map(T::instead)
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<T, E> {
        LooseVisitor.visit_i128(value).map(T::instead)
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<T, E> {
        LooseVisitor.visit_u128(value).map(T::instead)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
        LooseVisitor.visit_f64(value).map(T::instead)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        LooseVisitor.visit_str(value).map(T::instead)
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::instead(Loose::Nothing))
    }

    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok(T::instead(Loose::Nothing))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// A YAML mapping kept in file order, each key with its position; `found` says what the
/// value was when it was not a mapping.
#[derive(Debug)]
pub struct Entries<T> {
    pub entries: Vec<(At<String>, T)>,
    pub found: Option<Loose>,
}

impl<T> Default for Entries<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            found: None,
        }
    }
}

/// A value of a mapping whose keys name what is being read: a node's id, when it is a node.
pub trait Keyed {
    fn reading(_key: &str) {}
}

impl Keyed for RawInput {}
impl Keyed for At<Loose> {}
impl Keyed for At<serde_json::Value> {}

impl Keyed for RawNode {
    fn reading(key: &str) {
        READING.with(|reading| reading.borrow_mut().pending = Some(key.to_owned()));
    }
}

impl<'de, T: Deserialize<'de> + Keyed> FromMapping<'de> for Entries<T> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key::<At<Word>>()? {
            let key = At {
                value: key.value.0,
                at: key.at,
            };
            T::reading(&key.value);
            entries.push((key, map.next_value()?));
        }
        // A node records one or two fields: the room a growing vector keeps spare would be
        // most of what a large runbook's fields take.
        entries.shrink_to_fit();
        Ok(Self {
            entries,
            found: None,
        })
    }

    fn instead(found: Loose) -> Self {
        Self {
            entries: Vec::new(),
            found: Some(found),
        }
    }
}

impl<'de, T: Deserialize<'de> + Keyed> Deserialize<'de> for Entries<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Lenient(PhantomData))
    }
}

/// A YAML sequence; `found` says what the value was when it was not one.
#[derive(Debug)]
pub struct List<T> {
    pub items: Vec<T>,
    pub found: Option<Loose>,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
            type Value = List<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a list")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(List { items, found: None })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<List<T>, A::Error> {
                LooseVisitor.visit_map(map).map(wrong)
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<List<T>, E> {
                LooseVisitor.visit_bool(value).map(wrong)
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<List<T>, E> {
                LooseVisitor.visit_i64(value).map(wrong)
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<List<T>, E> {
                LooseVisitor.visit_u64(value).map(wrong)
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<List<T>, E> {
                LooseVisitor.visit_f64(value).map(wrong)
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<List<T>, E> {
                LooseVisitor.visit_str(value).map(wrong)
            }

            fn visit_unit<E: de::Error>(self) -> Result<List<T>, E> {
                Ok(wrong(Loose::Nothing))
            }

            fn visit_none<E: de::Error>(self) -> Result<List<T>, E> {
                Ok(wrong(Loose::Nothing))
            }
        }

        fn wrong<T>(found: Loose) -> List<T> {
            List {
                items: Vec::new(),
                found: Some(found),
            }
        }

        deserializer.deserialize_any(ListVisitor(PhantomData))
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

/// Which node this thread is reading, so that an error YAML itself stops at (a repeated key,
/// a number too large for any type) can still name the node it is in.
#[derive(Default)]
struct Reading {
    /// The key whose value is about to be read.
    pending: Option<String>,
    /// The node whose mapping is being read.
    node: Option<String>,
}

thread_local! {
    static READING: RefCell<Reading> = RefCell::new(Reading::default());
}

/// Starts a read on this thread: forgets where an earlier read stopped.
pub fn start_reading() {
    READING.with(|reading| *reading.borrow_mut() = Reading::default());
}

/// The node whose mapping a read that failed was in, if any.
pub fn node_being_read() -> Option<String> {
    READING.with(|reading| reading.borrow().node.clone())
}

/// What a mapping type does as its reading starts and ends; only nodes note it.
trait Track {
    fn enter() {}
    fn leave() {}
}

impl Track for RawRunbook {}
impl Track for RawInput {}
impl Track for RawRequire {}
impl Track for RawHolding {}

impl Track for RawNode {
    fn enter() {
        READING.with(|reading| {
            let mut reading = reading.borrow_mut();
            reading.node = reading.pending.take();
        });
    }

    fn leave() {
        READING.with(|reading| reading.borrow_mut().node = None);
    }
}

/// Declares a raw mapping type: its fields and the YAML keys they come from. Keys the format
/// does not know are kept in `unknown`; a value that is not a mapping at all, in `found`.
macro_rules! mapping {
    (
        $(#[$meta:meta])*
        $name:ident, $keys:ident {
            $($(#[$field_meta:meta])* $field:ident = $key:literal : $type:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $type,)*
            /// Keys the format does not know here, each with the position of its value (the
            /// keys of a mapping are read without positions, which is what makes reading fast).
            pub unknown: Vec<At<String>>,
            /// What the value was when it was not a mapping.
            pub found: Option<Loose>,
        }

        /// The keys this mapping accepts.
        pub const $keys: &[&str] = &[$($key),*];

        impl<'de> FromMapping<'de> for $name {
            fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
                <Self as Track>::enter();
                let mut raw = Self::default();
                while let Some(Word(key)) = map.next_key::<Word>()? {
                    match key.as_str() {
                        $($key => raw.$field = map.next_value()?,)*
                        _ => {
                            let value = map.next_value::<At<IgnoredAny>>()?;
                            raw.unknown.push(At { value: key, at: value.at });
                        }
                    }
                }
                <Self as Track>::leave();
                Ok(raw)
            }

            fn instead(found: Loose) -> Self {
                Self { found: Some(found), ..Self::default() }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_any(Lenient(PhantomData))
            }
        }
    };
}

/// A scalar field with its position, read whatever its type.
pub type Field = Option<At<Loose>>;

/// A scalar field of a node, boxed: a node uses four or five of its nineteen fields, and an
/// absent box costs a pointer where an absent value would cost its full size, which for a
/// large runbook is most of the memory its loading takes.
pub type NodeField = Option<Box<At<Loose>>>;

mapping! {
    /// The whole file.
    RawRunbook, RUNBOOK_FIELDS {
        id = "id": Field,
        title = "title": Field,
        version = "version": Field,
        severity = "severity": Field,
        summary = "summary": Field,
        ceremony = "ceremony": Field,
        inputs = "inputs": Option<At<Entries<RawInput>>>,
        start = "start": Field,
        nodes = "nodes": Option<At<Entries<RawNode>>>,
    }
}

mapping! {
    /// An input asked when an incident opens, or a field a step records. Boxed like a node's
    /// fields: a runbook of many steps holds one of these for every field they record.
    RawInput, INPUT_FIELDS {
        prompt = "prompt": NodeField,
        kind = "type": NodeField,
        choices = "choices": Option<Box<At<List<At<Loose>>>>>,
        required = "required": NodeField,
        component = "component": Option<Box<At<RawHolding>>>,
    }
}

mapping! {
    /// The key component a `person` field names the holder of.
    RawHolding, HOLDING_FIELDS {
        key = "key": Field,
        name = "name": Field,
    }
}

mapping! {
    /// One node, with the fields of every kind; which belong to which kind is checked later.
    RawNode, NODE_FIELDS {
        kind = "kind": NodeField,
        title = "title": NodeField,
        phase = "phase": NodeField,
        guidance = "guidance": NodeField,
        within = "within": NodeField,
        max_visits = "max_visits": NodeField,
        on_exhausted = "on_exhausted": NodeField,
        next = "next": NodeField,
        fields = "fields": Option<Box<At<Entries<RawInput>>>>,
        options = "options": Option<Box<At<Entries<At<Loose>>>>>,
        run = "run": NodeField,
        params = "with": Option<Box<At<Entries<At<serde_json::Value>>>>>,
        on_success = "on_success": NodeField,
        on_failure = "on_failure": NodeField,
        timeout = "timeout": NodeField,
        require = "require": Option<Box<At<RawRequire>>>,
        to = "to": NodeField,
        template = "template": NodeField,
        outcome = "outcome": NodeField,
    }
}

mapping! {
    /// Who must approve at an approval node.
    RawRequire, REQUIRE_FIELDS {
        roles = "roles": Option<At<List<At<Loose>>>>,
        count = "count": Field,
        exclude_initiator = "exclude_initiator": Field,
        each_role = "each_role": Field,
    }
}
