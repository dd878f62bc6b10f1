//! Shared pieces of the integration tests: running the real `custos` binary.

#![allow(dead_code)]

pub mod cli;
