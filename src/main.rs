//! The `custos` command: parses the command line and reports errors; the work is in `cli`.

fn main() {}
