//! Turning an outbox row into a mail and handing it over: to an SMTP server through lettre, or
//! into a local Maildir for drills.
//!
//! The message is built from what the row fixed at queue time, including its `Date` (the
//! queue time) and Message-ID, so a resend is the same message. TLS trusts the public roots and
//! the policy's `ca_file`, for a relay with a certificate from an internal CA.
//!
//! Credentials come from the environment at send time and are held in zeroized memory. lettre
//! takes the password as a plain `String`: it is handed over only when the transport is built,
//! right before the send, and the transport is dropped right after it (lettre frees its copy
//! without wiping it; that copy lives for one send). The password, and the base64 forms in which
//! AUTH PLAIN and AUTH LOGIN send it, are cut out of any error text, which may echo the server.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
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
    let login = credentials(smtp)?;
    let secret = login
        .as_ref()
        .map(|(user, password)| Secret::new(user, password));
    let redact = |text: String| match &secret {
        Some(secret) => secret.redact(text),
        None => text,
    };

    let transport = transport(smtp, login).map_err(redact)?;
    let sent = transport.send(message);
    drop(transport);

    match sent {
        Ok(response) => {
            let lines: Vec<&str> = response.message().collect();
            Ok(redact(format!("{} {}", response.code(), lines.join(" "))))
        }
        Err(error) => Err(redact(format!(
            "the mail server {}:{} did not take the message: {}",
            smtp.host,
            smtp.port,
            describe(&error)
        ))),
    }
}

type Login = (String, Zeroizing<String>);

/// The user name and password from the variables `notify.yaml` names.
fn credentials(smtp: &Smtp) -> Result<Option<Login>, String> {
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

/// The password as it may appear in text: as is, and base64-encoded the way AUTH LOGIN (the
/// password alone) and AUTH PLAIN (`\0user\0password`) send it, with and without padding.
struct Secret {
    forms: Vec<Zeroizing<String>>,
}

impl Secret {
    fn new(user: &str, password: &str) -> Secret {
        let mut plain = Zeroizing::new(Vec::with_capacity(user.len() + password.len() + 2));
        plain.push(0);
        plain.extend_from_slice(user.as_bytes());
        plain.push(0);
        plain.extend_from_slice(password.as_bytes());

        let mut forms = vec![Zeroizing::new(password.to_owned())];
        for encoded in [base64(password.as_bytes()), base64(&plain)] {
            let unpadded = Zeroizing::new(encoded.trim_end_matches('=').to_owned());
            forms.push(encoded);
            forms.push(unpadded);
        }
        forms.retain(|form| !form.is_empty());
        // The longest first, so a form that contains another is cut out whole.
        forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
        Secret { forms }
    }

    fn redact(&self, mut text: String) -> String {
        for form in &self.forms {
            if text.contains(form.as_str()) {
                text = text.replace(form.as_str(), "********");
            }
        }
        text
    }
}

/// Standard base64 with padding (RFC 4648), as SMTP AUTH uses it.
fn base64(bytes: &[u8]) -> Zeroizing<String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Zeroizing::new(String::with_capacity(bytes.len().div_ceil(3) * 4));
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn transport(smtp: &Smtp, login: Option<Login>) -> Result<SmtpTransport, String> {
    let builder = match smtp.security {
        Security::Starttls => {
            SmtpTransport::builder_dangerous(&smtp.host).tls(Tls::Required(tls(smtp)?))
        }
        Security::Tls => SmtpTransport::builder_dangerous(&smtp.host).tls(Tls::Wrapper(tls(smtp)?)),
        // Only loopback hosts may use no TLS; the policy loader refuses any other.
        Security::None => SmtpTransport::builder_dangerous(&smtp.host).tls(Tls::None),
    };
    let timeout = Duration::try_from(smtp.timeout).unwrap_or(Duration::from_secs(30));
    let builder = builder.port(smtp.port).timeout(Some(timeout));
    let builder = match login {
        // lettre wants a plain `String`; it lives in the transport, which the caller drops
        // right after the send.
        Some((user, password)) => {
            builder.credentials(Credentials::new(user, password.as_str().to_owned()))
        }
        None => builder,
    };
    Ok(builder.build())
}

/// The TLS parameters for the server: the public roots, and the policy's `ca_file` if any.
fn tls(smtp: &Smtp) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(smtp.host.clone());
    if let Some(path) = &smtp.ca_file {
        let pem = std::fs::read(path)
            .map_err(|error| format!("cannot read the `ca_file` `{}`: {error}", path.display()))?;
        let certificate = Certificate::from_pem(&pem).map_err(|error| {
            format!(
                "the `ca_file` `{}` holds no usable certificate: {}",
                path.display(),
                describe(&error)
            )
        })?;
        builder = builder.add_root_certificate(certificate);
    }
    builder.build_rustls().map_err(|error| {
        format!(
            "cannot set up TLS for `{}`: {}",
            smtp.host,
            describe(&error)
        )
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (text, encoded) in cases {
            assert_eq!(base64(text.as_bytes()).as_str(), encoded, "{text}");
        }
    }

    #[test]
    fn the_password_and_its_auth_plain_and_login_forms_are_cut_out() {
        let secret = Secret::new("custos", "Tr0ub4dor&3");
        let plain = base64(b"\0custos\0Tr0ub4dor&3");
        let login = base64(b"Tr0ub4dor&3");
        let text = format!(
            "535 refused {} then {} and {} for Tr0ub4dor&3",
            plain.as_str(),
            login.as_str(),
            login.trim_end_matches('=')
        );

        let redacted = secret.redact(text);

        assert_eq!(
            redacted,
            "535 refused ******** then ******** and ******** for ********"
        );
    }
}
