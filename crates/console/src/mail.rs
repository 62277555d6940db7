//! Outgoing mail: invitations, over SMTP with lettre.
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

    /// Sends the invitation link to `to`.
    pub async fn send_invitation(
        &self,
        to: &str,
        tenant_name: &str,
        inviter: &str,
        role: &str,
        link: &str,
    ) -> Result<(), MailError> {
        let to: Mailbox = to.parse().map_err(|_| MailError::To)?;
        let body = format!(
            "{inviter} invited you to the tenant \"{tenant_name}\" on Airlock, as {role}.\n\n\
             Accept the invitation here (sign up or sign in with this address first):\n\n\
             {link}\n\n\
             The link works once and expires in 7 days. If you did not expect it, ignore this mail.\n"
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("You are invited to {tenant_name} on Airlock"))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Send(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Send(e.to_string()))
    }
}
