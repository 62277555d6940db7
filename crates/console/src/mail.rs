//! Outgoing mail (invitations, address verification, password reset) over SMTP
//! with lettre. Mail never carries a secret of the product: links only, which
//! work once and expire.
//!
//! `smtp://host:port` sends in clear (a local relay, or the sink the tests run),
//! `smtp://host?tls=required` upgrades with STARTTLS, `smtps://host` is TLS from
//! the first byte; credentials go in the URL (`smtp://user:pass@host`). The URL is
//! never logged.

use lettre::message::{Mailbox, header::ContentType};
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
        let message = message
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
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
