//! Asking for a passphrase: a hidden prompt, or an environment variable for scripts and tests.
//!
//! The passphrase lives in a [`Zeroizing`] buffer, wiped when dropped, and is never printed.

use anyhow::{Context as _, bail};
use inquire::{Password, PasswordDisplayMode};
use zeroize::Zeroizing;

/// The passphrase from the variable `env`, or from a hidden prompt (typed twice if `confirm`).
pub fn read(env: Option<&str>, prompt: &str, confirm: bool) -> anyhow::Result<Zeroizing<String>> {
    if let Some(variable) = env {
        let value = std::env::var(variable).map_err(|_| {
            anyhow::anyhow!("the passphrase variable `{variable}` is not set or not UTF-8")
        })?;
        return Ok(Zeroizing::new(value));
    }

    let mut question = Password::new(prompt).with_display_mode(PasswordDisplayMode::Hidden);
    if confirm {
        question = question.with_custom_confirmation_message("Type it again:");
    } else {
        question = question.without_confirmation();
    }
    let answer = question
        .prompt()
        .context("cannot read a passphrase; without a terminal, use `--passphrase-env VAR`")?;
    if answer.is_empty() {
        bail!("the passphrase is empty");
    }
    Ok(Zeroizing::new(answer))
}
