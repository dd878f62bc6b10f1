//! Runbooks: the YAML format, loading with source positions, validation, and rendering.
