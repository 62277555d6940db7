//! Outgoing mail (invitations, address verification, password reset) over SMTP
//! with lettre. Mail never carries a secret of the product: links only, which
//! work once and expire.
//!
//! `smtp://host:port` sends in clear (a local relay, or the sink the tests run),
//! `smtp://host?tls=required` upgrades with STARTTLS, `smtps://host` is TLS from
//! the first byte; credentials go in the URL (`smtp://user:pass@host`). The URL is
//! never logged.

use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(
        "the SMTP URL is not valid (smtp://host:port, smtps://host, with user:pass@ if needed)"
    )]
    Url,
    #[error("the sender address is not valid: {0}")]
    From(String),
    #[error("the address is not a valid email address")]
    To,
    #[error("the mail server did not take the message: {0}")]
    Send(String),
}

/// A piece of a mail's HTML part.
enum Block {
    /// A paragraph (its lines kept).
    Text(String),
    /// A link on a line of its own: a button.
    Link(String),
    /// Lines starting with "- ".
    List(Vec<String>),
}

#[derive(Template)]
#[template(path = "mail/message.html")]
struct HtmlMail<'a> {
    subject: &'a str,
    blocks: Vec<Block>,
}

/// The HTML part of a mail, made from its text (one set of words, two forms):
/// paragraphs stay paragraphs, a link on a line of its own becomes a button,
/// "- " lines a list. Askama escapes everything.
fn html_of(subject: &str, text: &str) -> String {
    let mut blocks = Vec::new();
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        let mut plain = Vec::new();
        let mut items = Vec::new();
        let flush_plain = |plain: &mut Vec<&str>, blocks: &mut Vec<Block>| {
            if !plain.is_empty() {
                blocks.push(Block::Text(plain.join("\n")));
                plain.clear();
            }
        };
        for line in paragraph.lines().map(str::trim) {
            if let Some(item) = line.strip_prefix("- ") {
                flush_plain(&mut plain, &mut blocks);
                items.push(item.to_owned());
                continue;
            }
            if !items.is_empty() {
                blocks.push(Block::List(std::mem::take(&mut items)));
            }
            if (line.starts_with("https://") || line.starts_with("http://")) && !line.contains(' ')
            {
                flush_plain(&mut plain, &mut blocks);
                blocks.push(Block::Link(line.to_owned()));
            } else {
                plain.push(line);
            }
        }
        flush_plain(&mut plain, &mut blocks);
        if !items.is_empty() {
            blocks.push(Block::List(items));
        }
    }
    HtmlMail { subject, blocks }
        .render()
        .unwrap_or_else(|_| format!("<pre>{}</pre>", askama_escape(text)))
}

/// Minimal HTML escaping for the fallback (the template escapes otherwise).
fn askama_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(smtp_url: &str, from: &str) -> Result<Mailer, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|_| MailError::Url)?
            .build();
        let from = from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::From(e.to_string()))?;
        Ok(Mailer { transport, from })
    }

    /// Sends a plain-text message to `to`.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        self.send_to_all(&[to.to_owned()], subject, body).await
    }

    /// Sends one plain-text message addressed to all of `to` together (a team
    /// notification: one SMTP transaction, so it reaches all or is retried for
    /// all, never half).
    pub async fn send_to_all(
        &self,
        to: &[String],
        subject: &str,
        body: String,
    ) -> Result<(), MailError> {
        let mut message = Message::builder().from(self.from.clone());
        for address in to {
            message = message.to(address.parse().map_err(|_| MailError::To)?);
        }
        let html = html_of(subject, &body);
        let message = message
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(body, html))
            .map_err(|e| MailError::Send(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Send(e.to_string()))
    }

    /// Sends the invitation link to `to`.
    pub async fn send_invitation(
        &self,
        to: &str,
        tenant_name: &str,
        inviter: &str,
        role: &str,
        link: &str,
    ) -> Result<(), MailError> {
        let body = format!(
            "{inviter} invited you to the tenant \"{tenant_name}\" on Airlock, as {role}.\n\n\
             Accept the invitation here (sign up or sign in with this address first):\n\n\
             {link}\n\n\
             The link works once and expires in 7 days. If you did not expect it, ignore this mail.\n"
        );
        self.send(
            to,
            &format!("[Airlock] You are invited to {tenant_name}"),
            body,
        )
        .await
    }

    /// Sends the link that proves `to` is the new account's address.
    pub async fn send_verification(&self, to: &str, link: &str) -> Result<(), MailError> {
        let body = format!(
            "Someone (we hope you) made an Airlock account with this address.\n\n\
             Confirm the address here to finish setting it up:\n\n\
             {link}\n\n\
             The link works once and expires in {} hours. If it was not you, ignore this mail.\n",
            crate::accounts::VERIFY_HOURS
        );
        self.send(to, "[Airlock] Confirm your email address", body)
            .await
    }

    /// Sends a password reset link.
    pub async fn send_reset(&self, to: &str, link: &str) -> Result<(), MailError> {
        let body = format!(
            "A password reset was asked for the Airlock account with this address.\n\n\
             Choose a new password here:\n\n\
             {link}\n\n\
             The link works once and expires in {} minutes; it signs you out everywhere.\n\
             If you did not ask for it, ignore this mail: your password stays as it is.\n",
            crate::accounts::RESET_MINUTES
        );
        self.send(to, "[Airlock] Reset your password", body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_html_part_says_what_the_text_says_escaped() {
        let html = html_of(
            "[Airlock] acme: <test>",
            "The key dev_Ab <b>x</b> reached 80 %.\nNothing was stopped.\n\nhttps://airlock.example/t/acme/alerts\n\n- one\n- two & three",
        );
        assert!(
            html.contains(
                "The key dev_Ab &#60;b&#62;x&#60;/b&#62; reached 80 %.<br>Nothing was stopped."
            ),
            "{html}"
        );
        assert!(
            html.contains(r#"<a href="https://airlock.example/t/acme/alerts""#),
            "{html}"
        );
        assert!(html.contains("<li>one</li>"), "{html}");
        assert!(html.contains("<li>two &#38; three</li>"), "{html}");
        assert!(!html.contains("<test>") && !html.contains("<b>x"));
    }
}
