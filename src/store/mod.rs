//! The incident log: an append-only, hash-chained, sealed record in one SQLite file.

pub mod event;
