//! Institution-wide facts that runbooks refer to by name, read from `policies/`.

pub mod environment;
