//! A small builder that runs the real `custos` binary and captures what it printed.

#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one run of `custos` printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A `custos` invocation being put together.
pub struct Custos {
    command: Command,
    stdin: Option<String>,
    closed: Option<Stream>,
}

/// An output stream of the process.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Starts a `custos` invocation with a clean environment of custos variables.
pub fn custos() -> Custos {
    let mut command = Command::new(env!("CARGO_BIN_EXE_custos"));
    for variable in [
        "CUSTOS_STORE",
        "CUSTOS_POLICIES",
        "CUSTOS_LOG",
        "CUSTOS_SIGNING_KEY",
    ] {
        command.env_remove(variable);
    }
    Custos {
        command,
        stdin: None,
        closed: None,
    }
}

impl Custos {
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.to_owned());
        self
    }

    /// Connects `stream` to a pipe nobody reads, closed before custos starts, as when the
    /// reader of `custos ... | head -1` has already gone: every write to it fails.
    pub fn closed(mut self, stream: Stream) -> Self {
        self.closed = Some(stream);
        self
    }

    /// Runs to completion and returns what happened.
    pub fn run(mut self) -> Run {
        use std::io::Write;

        let stdio = |stream| match self.closed {
            Some(closed) if closed == stream => {
                let (reader, writer) = std::io::pipe().expect("a pipe");
                drop(reader);
                Stdio::from(writer)
            }
            _ => Stdio::piped(),
        };
        let (stdout, stderr) = (stdio(Stream::Stdout), stdio(Stream::Stderr));
        self.command
            .stdout(stdout)
            .stderr(stderr)
            .stdin(Stdio::piped());
        let mut child = self.command.spawn().expect("the custos binary starts");
        let mut stdin = child.stdin.take().expect("stdin is piped");
        if let Some(text) = &self.stdin {
            stdin
                .write_all(text.as_bytes())
                .expect("stdin takes the input");
        }
        drop(stdin);
        let output = child.wait_with_output().expect("custos runs to completion");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// The repository's top directory.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Makes the drill tokens of `scripts/rehearsal-tokens` under `home`; returns the
/// `SOFTHSM2_CONF` path to give custos.
pub fn rehearsal_tokens(home: &Path) -> PathBuf {
    let output = Command::new(repo().join("scripts/rehearsal-tokens"))
        .env("CUSTOS_HOME", home)
        .env("CUSTOS_DRILL_PIN", "123456")
        .output()
        .expect("scripts/rehearsal-tokens runs (softhsm2 and opensc must be installed)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout
        .lines()
        .last()
        .expect("the script prints the export line");
    PathBuf::from(last.trim_start_matches("export SOFTHSM2_CONF="))
}
