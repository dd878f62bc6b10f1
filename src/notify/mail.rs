//! Turning an outbox row into a mail and handing it over: to an SMTP server through lettre, or
//! into a local Maildir for drills.
//!
//! The message is built from what the row fixed at queue time, including its `Date` (the
//! queue time) and Message-ID, so a resend is the same message. Credentials come from the
//! environment at send time, are held in zeroized memory, and are cut out of any error text.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::{Message, SmtpTransport, Transport};
use zeroize::Zeroizing;

use super::policy::{Security, Smtp};
use crate::store::Notification;

/// The `X-Custos-Notification` header: which outbox row a mail came from.
#[derive(Clone, Debug)]
struct NotificationHeader(String);

impl Header for NotificationHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Custos-Notification")
    }

    fn parse(text: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(text.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// The mail for `notification`, exactly as it was queued.
pub(crate) fn message(notification: &Notification) -> Result<Message, String> {
    let mailbox = |text: &str| {
        text.parse::<Mailbox>()
            .map_err(|error| format!("`{text}` is not a mailbox: {error}"))
    };

    let mut builder = Message::builder()
        .from(mailbox(&notification.sender)?)
        .subject(notification.subject.clone())
        .message_id(Some(notification.message_id.clone()))
        .date(SystemTime::try_from(notification.queued_at).unwrap_or_else(|_| SystemTime::now()))
        .header(NotificationHeader(notification.id.to_string()));
    for recipient in &notification.recipients {
        builder = builder.to(mailbox(recipient)?);
    }

    let plain = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(notification.body.clone());
    let built = match &notification.html {
        Some(html) => builder.multipart(
            MultiPart::alternative().singlepart(plain).singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html.clone()),
            ),
        ),
        None => builder.singlepart(plain),
    };
    built.map_err(|error| format!("cannot build the message: {error}"))
}

/// Sends `message` through the server; the server's response, or why it failed.
pub(crate) fn send_smtp(smtp: &Smtp, message: &Message) -> Result<String, String> {
    let credentials = credentials(smtp)?;
    let secret = credentials.as_ref().map(|(_, password)| password.clone());
    let redact = |text: String| match &secret {
        Some(password) if !password.is_empty() => text.replace(password.as_str(), "********"),
        _ => text,
    };

    let transport = transport(smtp, credentials).map_err(redact)?;
    match transport.send(message) {
        Ok(response) => {
            let lines: Vec<&str> = response.message().collect();
            Ok(format!("{} {}", response.code(), lines.join(" ")))
        }
        Err(error) => Err(redact(format!(
            "the mail server {}:{} did not take the message: {}",
            smtp.host,
            smtp.port,
            describe(&error)
        ))),
    }
}

type Secret = (String, Zeroizing<String>);

/// The user name and password from the variables `notify.yaml` names.
fn credentials(smtp: &Smtp) -> Result<Option<Secret>, String> {
    let (Some(user_env), Some(password_env)) = (&smtp.username_env, &smtp.password_env) else {
        return Ok(None);
    };
    let read = |name: &str| {
        std::env::var(name).map_err(|_| {
            format!(
                "the environment variable `{name}`, which `notify.yaml` names for the SMTP \
                 login, is not set"
            )
        })
    };
    let user = read(user_env)?;
    let password = Zeroizing::new(read(password_env)?);
    Ok(Some((user, password)))
}

fn transport(smtp: &Smtp, credentials: Option<Secret>) -> Result<SmtpTransport, String> {
    let relay = |error: lettre::transport::smtp::Error| {
        format!(
            "cannot set up TLS for `{}`: {}",
            smtp.host,
            describe(&error)
        )
    };
    let builder = match smtp.security {
        Security::Starttls => SmtpTransport::starttls_relay(&smtp.host).map_err(relay)?,
        Security::Tls => SmtpTransport::relay(&smtp.host).map_err(relay)?,
        // Only loopback hosts may use no TLS; the policy loader refuses any other.
        Security::None => SmtpTransport::builder_dangerous(&smtp.host).tls(Tls::None),
    };
    let timeout = Duration::try_from(smtp.timeout).unwrap_or(Duration::from_secs(30));
    let builder = builder.port(smtp.port).timeout(Some(timeout));
    let builder = match credentials {
        Some((user, password)) => builder.credentials(Credentials::new(user, password.to_string())),
        None => builder,
    };
    Ok(builder.build())
}

/// The error and its causes on one line.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = cause_of(source);
    }
    text
}

fn cause_of<'a>(
    error: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    error.and_then(std::error::Error::source)
}

/// Writes `message` into the Maildir `dir` (`tmp/`, then renamed into `new/`), so a drill needs
/// no mail server. The file is named after the notification and its attempt, so a resend is
/// a second, recognisable file with the same Message-ID.
pub(crate) fn store_maildir(
    dir: &Path,
    notification: &Notification,
    message: &Message,
) -> Result<String, String> {
    let fail = |what: &str, error: std::io::Error| {
        format!(
            "cannot {what} the drill mailbox `{}`: {error}",
            dir.display()
        )
    };
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| fail("create", e))?;
    }

    let name = format!(
        "{}.{}.{}.custos",
        jiff::Timestamp::now().as_second(),
        notification.id,
        notification.attempts
    );
    let tmp = dir.join("tmp").join(&name);
    let mut file = std::fs::File::create(&tmp).map_err(|e| fail("write into", e))?;
    let addresses: Vec<String> = message
        .envelope()
        .to()
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut bytes = format!("X-RcptTo: {}\r\n", addresses.join(", ")).into_bytes();
    bytes.extend(message.formatted());
    file.write_all(&bytes).map_err(|e| fail("write into", e))?;
    file.sync_all().map_err(|e| fail("write into", e))?;
    std::fs::rename(&tmp, dir.join("new").join(&name)).map_err(|e| fail("write into", e))?;
    Ok(format!("stored in the drill mailbox as new/{name}"))
}
