//! The `custos` command: parses the command line and reports errors; the work is in `cli`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
