//! PII and secret detection in one left-to-right pass over a text.
//!
//! The scanner walks the bytes once. Most bytes of ordinary prose are letters of a
//! word that cannot start anything interesting, so it skips whole words at a time
//! and only looks closer at a few *triggers*:
//!
//! | trigger | what is checked |
//! |---|---|
//! | start of a word | provider, cloud and Airlock key prefixes, JWTs, IBANs, numbers (cards, SSNs, phones, IPv4) |
//! | `+` or `(` before a digit | phone numbers |
//! | `@` | e-mail addresses (looking back at most 64 bytes for the local part) |
//! | `:` | `scheme://user:password@host`, IPv6 addresses, `name: value` assignments |
//! | `=` | `name = value` assignments |
//! | `>` | `<password>value</password>` elements |
//! | `,` after a quoted name | `define('DB_PASSWORD', '…')` |
//! | a quote after `,` in a credential call | `getConnection(url, "user", "…")`, `NetworkCredential("u", "…")` |
//! | `-` at a word's start | `--password …`, `mysql -p…` |
//! | start of `password`, `Passwort`, `contraseña`… | "the password is …" in a sentence |
//! | `-----BEGIN` | PEM private key blocks |
//!
//! Look-backs never cross the end of the previous finding, and every look-ahead is
//! bounded, so the work is linear in the text. Findings come out sorted and never
//! overlap. Checksums decide where one exists (Luhn for cards, ISO 7064 mod 97 for
//! IBANs, Airlock's own key checksum), which keeps false positives on order numbers
//! and ordinary codes rare.

pub mod evaluation;
mod kv;
mod numbers;
mod prefixed;

use std::fmt;

/// What a finding is. The first group is personal data, which the relay may restore
/// in the answer; the second is secrets, which are never restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// An e-mail address.
    Email,
    /// A phone number: international (`+…`), North American or national (`0…`).
    Phone,
    /// A US social security number, `123-45-6789`.
    Ssn,
    /// A payment card number that passes the Luhn check.
    Card,
    /// An IBAN that passes its mod-97 check.
    Iban,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// An OpenAI API key (`sk-…`, `sk-proj-…`).
    OpenAiKey,
    /// An Anthropic API key (`sk-ant-…`).
    AnthropicKey,
    /// An AWS access key id (`AKIA…`, `ASIA…`).
    AwsAccessKey,
    /// An AWS secret access key assigned to an AWS-looking name.
    AwsSecretKey,
    /// A GitHub token (`ghp_…`, `github_pat_…`).
    GithubToken,
    /// A Stripe secret or restricted key (`sk_live_…`, `rk_test_…`).
    StripeKey,
    /// A Slack token (`xoxb-…`, `xapp-…`).
    SlackToken,
    /// A Google API key (`AIza…`).
    GoogleApiKey,
    /// A JSON Web Token.
    Jwt,
    /// A PEM private key block.
    PrivateKey,
    /// The password of a `scheme://user:password@host` connection string.
    ConnectionPassword,
    /// An Airlock relay key with a valid checksum.
    AirlockKey,
    /// A Slack, Discord or Microsoft Teams incoming-webhook URL (whoever has it can post).
    WebhookUrl,
    /// A PyPI upload token (`pypi-…`).
    PypiToken,
    /// An npm access token (`npm_…`).
    NpmToken,
    /// A Docker Hub personal access token (`dckr_pat_…`).
    DockerHubToken,
    /// A Shopify access token (`shpat_…`, `shpca_…`, `shppa_…`, `shpss_…`).
    ShopifyToken,
    /// A Twilio API key (`SK…`) or account SID (`AC…`).
    TwilioKey,
    /// A SendGrid API key (`SG.….…`).
    SendgridKey,
    /// A Mailgun API key (`key-…`).
    MailgunKey,
    /// A Hugging Face access token (`hf_…`).
    HuggingFaceToken,
    /// An Azure storage account key (`AccountKey=…`).
    AzureStorageKey,
    /// A DigitalOcean token (`dop_v1_…`, `doo_v1_…`, `dor_v1_…`).
    DigitalOceanToken,
    /// An Atlassian API token (`ATATT…`).
    AtlassianToken,
    /// A password or a high-entropy value assigned to a key-like name.
    Secret,
}

impl Kind {
    /// Every kind, personal data first.
    pub const ALL: [Kind; 31] = [
        Kind::Email,
        Kind::Phone,
        Kind::Ssn,
        Kind::Card,
        Kind::Iban,
        Kind::IpAddress,
        Kind::OpenAiKey,
        Kind::AnthropicKey,
        Kind::AwsAccessKey,
        Kind::AwsSecretKey,
        Kind::GithubToken,
        Kind::StripeKey,
        Kind::SlackToken,
        Kind::GoogleApiKey,
        Kind::Jwt,
        Kind::PrivateKey,
        Kind::ConnectionPassword,
        Kind::AirlockKey,
        Kind::WebhookUrl,
        Kind::PypiToken,
        Kind::NpmToken,
        Kind::DockerHubToken,
        Kind::ShopifyToken,
        Kind::TwilioKey,
        Kind::SendgridKey,
        Kind::MailgunKey,
        Kind::HuggingFaceToken,
        Kind::AzureStorageKey,
        Kind::DigitalOceanToken,
        Kind::AtlassianToken,
        Kind::Secret,
    ];

    /// True for credentials; false for personal data.
    pub fn is_secret(self) -> bool {
        !matches!(
            self,
            Kind::Email | Kind::Phone | Kind::Ssn | Kind::Card | Kind::Iban | Kind::IpAddress
        )
    }

    /// The snake_case name used in usage records and the `X-Airlock-Redactions` header.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Ssn => "ssn",
            Kind::Card => "card",
            Kind::Iban => "iban",
            Kind::IpAddress => "ip_address",
            Kind::OpenAiKey => "openai_key",
            Kind::AnthropicKey => "anthropic_key",
            Kind::AwsAccessKey => "aws_access_key",
            Kind::AwsSecretKey => "aws_secret_key",
            Kind::GithubToken => "github_token",
            Kind::StripeKey => "stripe_key",
            Kind::SlackToken => "slack_token",
            Kind::GoogleApiKey => "google_api_key",
            Kind::Jwt => "jwt",
            Kind::PrivateKey => "private_key",
            Kind::ConnectionPassword => "connection_password",
            Kind::AirlockKey => "airlock_key",
            Kind::WebhookUrl => "webhook_url",
            Kind::PypiToken => "pypi_token",
            Kind::NpmToken => "npm_token",
            Kind::DockerHubToken => "dockerhub_token",
            Kind::ShopifyToken => "shopify_token",
            Kind::TwilioKey => "twilio_key",
            Kind::SendgridKey => "sendgrid_key",
            Kind::MailgunKey => "mailgun_key",
            Kind::HuggingFaceToken => "huggingface_token",
            Kind::AzureStorageKey => "azure_storage_key",
            Kind::DigitalOceanToken => "digitalocean_token",
            Kind::AtlassianToken => "atlassian_token",
            Kind::Secret => "secret",
        }
    }

    /// The upper-case label inside a placeholder, `[EMAIL_1]`.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Email => "EMAIL",
            Kind::Phone => "PHONE",
            Kind::Ssn => "SSN",
            Kind::Card => "CARD",
            Kind::Iban => "IBAN",
            Kind::IpAddress => "IP_ADDRESS",
            Kind::OpenAiKey => "OPENAI_KEY",
            Kind::AnthropicKey => "ANTHROPIC_KEY",
            Kind::AwsAccessKey => "AWS_ACCESS_KEY",
            Kind::AwsSecretKey => "AWS_SECRET_KEY",
            Kind::GithubToken => "GITHUB_TOKEN",
            Kind::StripeKey => "STRIPE_KEY",
            Kind::SlackToken => "SLACK_TOKEN",
            Kind::GoogleApiKey => "GOOGLE_API_KEY",
            Kind::Jwt => "JWT",
            Kind::PrivateKey => "PRIVATE_KEY",
            Kind::ConnectionPassword => "PASSWORD",
            Kind::AirlockKey => "AIRLOCK_KEY",
            Kind::WebhookUrl => "WEBHOOK_URL",
            Kind::PypiToken => "PYPI_TOKEN",
            Kind::NpmToken => "NPM_TOKEN",
            Kind::DockerHubToken => "DOCKERHUB_TOKEN",
            Kind::ShopifyToken => "SHOPIFY_TOKEN",
            Kind::TwilioKey => "TWILIO_KEY",
            Kind::SendgridKey => "SENDGRID_KEY",
            Kind::MailgunKey => "MAILGUN_KEY",
            Kind::HuggingFaceToken => "HUGGINGFACE_TOKEN",
            Kind::AzureStorageKey => "AZURE_STORAGE_KEY",
            Kind::DigitalOceanToken => "DIGITALOCEAN_TOKEN",
            Kind::AtlassianToken => "ATLASSIAN_TOKEN",
            Kind::Secret => "SECRET",
        }
    }

    /// The kind in a sentence (`an email address`): refusals name the kind, never
    /// the value.
    pub fn described(self) -> &'static str {
        match self {
            Kind::Email => "an email address",
            Kind::Phone => "a phone number",
            Kind::Ssn => "a social security number",
            Kind::Card => "a payment card number",
            Kind::Iban => "an IBAN",
            Kind::IpAddress => "an IP address",
            Kind::OpenAiKey => "an OpenAI API key",
            Kind::AnthropicKey => "an Anthropic API key",
            Kind::AwsAccessKey => "an AWS access key",
            Kind::AwsSecretKey => "an AWS secret key",
            Kind::GithubToken => "a GitHub token",
            Kind::StripeKey => "a Stripe key",
            Kind::SlackToken => "a Slack token",
            Kind::GoogleApiKey => "a Google API key",
            Kind::Jwt => "a JSON Web Token",
            Kind::PrivateKey => "a private key",
            Kind::ConnectionPassword => "a password in a connection string",
            Kind::AirlockKey => "an Airlock relay key",
            Kind::WebhookUrl => "a webhook URL",
            Kind::PypiToken => "a PyPI token",
            Kind::NpmToken => "an npm token",
            Kind::DockerHubToken => "a Docker Hub token",
            Kind::ShopifyToken => "a Shopify token",
            Kind::TwilioKey => "a Twilio key",
            Kind::SendgridKey => "a SendGrid key",
            Kind::MailgunKey => "a Mailgun key",
            Kind::HuggingFaceToken => "a Hugging Face token",
            Kind::AzureStorageKey => "an Azure storage key",
            Kind::DigitalOceanToken => "a DigitalOcean token",
            Kind::AtlassianToken => "an Atlassian token",
            Kind::Secret => "a secret",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One detected value: its kind and its byte range in the scanned text. The range
/// always falls on `char` boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What was found.
    pub kind: Kind,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Finding {
    /// The detected value inside the text it was found in.
    pub fn value<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.start..self.end).unwrap_or_default()
    }
}

/// Every PII and secret value in `text`, in order, without overlaps.
pub fn scan(text: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    scan_into(text, &mut findings);
    findings
}

/// [`scan`] into a caller-owned buffer (cleared first), so a hot loop can reuse it.
pub fn scan_into(text: &str, findings: &mut Vec<Finding>) {
    findings.clear();
    let b = text.as_bytes();
    let mut cursor = Cursor { floor: 0 };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if is_word_byte(c) {
            let word_start = i == 0 || !is_word_byte(b[i - 1]);
            if word_start && let Some(found) = at_word_start(b, i) {
                i = cursor.push_unless_example(findings, b, found);
                continue;
            }
            i += 1;
            while i < b.len() && is_plain_word_byte(b[i]) {
                i += 1;
            }
            continue;
        }
        let found = match c {
            b'@' => prefixed::email(b, i, cursor.floor),
            b'%' => prefixed::percent_encoded_email(b, i, cursor.floor),
            b':' => kv::after_colon(b, i, cursor.floor),
            b'=' => kv::assignment(b, i, cursor.floor),
            b'>' => kv::xml_element(b, i, cursor.floor),
            b'+' => numbers::phone_with_lead(b, i),
            b'-' => prefixed::pem_private_key(b, i).or_else(|| kv::cli_flag(b, i, cursor.floor)),
            b',' => kv::positional_pair(b, i, cursor.floor),
            b'(' => numbers::phone_with_lead(b, i),
            b'"' | b'\'' => kv::positional_credential(b, i, cursor.floor),
            _ => None,
        };
        match found {
            Some(found) => i = cursor.push_unless_example(findings, b, found),
            None => i += 1,
        }
    }
}

/// Remembers where the last finding ended: look-backs must not cross it.
struct Cursor {
    floor: usize,
}

impl Cursor {
    /// Records `found` and returns where scanning resumes.
    fn push(&mut self, findings: &mut Vec<Finding>, found: Finding) -> usize {
        debug_assert!(found.start >= self.floor && found.end > found.start);
        self.floor = found.end;
        findings.push(found);
        found.end
    }
}

/// A credential-shaped value that documentation uses as an example: masked with
/// `X`s or zeros, or spelled out as an example (`AKIAIOSFODNN7EXAMPLE`).
fn is_documentation_example(value: &[u8]) -> bool {
    let run = |c: u8| {
        value
            .windows(8)
            .any(|w| w.iter().all(|&x| x.eq_ignore_ascii_case(&c)))
    };
    run(b'x') || value.windows(7).any(|w| w.eq_ignore_ascii_case(b"example"))
}

impl Cursor {
    /// Records `found` unless it is a documented example of a secret (then the
    /// scan goes on after it), and returns where scanning resumes.
    fn push_unless_example(
        &mut self,
        findings: &mut Vec<Finding>,
        b: &[u8],
        found: Finding,
    ) -> usize {
        // Every rule cuts on ASCII bytes; this keeps a bug in one from handing the
        // redactor a range inside a character (it would panic on it).
        let inside_char = |at: usize| b.get(at).is_some_and(|&c| c & 0xC0 == 0x80);
        if inside_char(found.start) || inside_char(found.end) {
            return found.end;
        }
        if found.kind.is_secret() && is_documentation_example(&b[found.start..found.end]) {
            self.floor = found.end;
            return found.end;
        }
        self.push(findings, found)
    }
}

fn at_word_start(b: &[u8], i: usize) -> Option<Finding> {
    if matches!(
        b[i] | 0x20,
        b'p' | b'k' | b'c' | b's' | b'm' | b't' | b'a' | b'i' | b'r'
    ) && let Some(found) = kv::prose_credential(b, i)
    {
        return Some(found);
    }
    if b[i].is_ascii_hexdigit()
        && let Some(found) = prefixed::mailgun_key(b, i)
    {
        return Some(found);
    }
    match b[i] {
        b'0'..=b'9' => numbers::starting_with_digit(b, i),
        b'A'..=b'Z' => prefixed::upper(b, i),
        b'c' | b'd' | b'e' | b'g' | b'h' | b'k' | b'n' | b'p' | b'r' | b's' | b'x' => {
            prefixed::lower(b, i)
        }
        _ => None,
    }
}

/// Whether a value starting at `i` is a token a prefix rule names (`ghp_…`,
/// `sk-…`, `AKIA…`): a rule that reads a value by its name leaves it to that rule.
pub(crate) fn known_token_at(b: &[u8], i: usize) -> bool {
    match b.get(i) {
        Some(b'A'..=b'Z') => prefixed::upper(b, i).is_some(),
        Some(b'a'..=b'z') => prefixed::lower(b, i).is_some(),
        _ => false,
    }
}

/// Bytes that make up a word for the purpose of "start of a word".
pub(crate) fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Bytes skipped inside a word. Digits stop the skip so that `abc123` does not hide
/// a number, and `_` stops it so that `x_sk-…` style joins are looked at.
fn is_plain_word_byte(c: u8) -> bool {
    c.is_ascii_alphabetic()
}

/// End of the run of bytes from `start` that satisfy `ok`, looking at no more than
/// `max` bytes.
pub(crate) fn run_end(b: &[u8], start: usize, max: usize, ok: impl Fn(u8) -> bool) -> usize {
    let limit = b.len().min(start.saturating_add(max));
    let mut j = start;
    while j < limit && ok(b[j]) {
        j += 1;
    }
    j
}

/// The part of the line before `at`, at most `max` bytes back (bounded, so the
/// scan stays linear).
pub(crate) fn line_before(b: &[u8], at: usize, max: usize) -> &[u8] {
    let from = at.saturating_sub(max);
    let start = b[from..at]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(from, |n| from + n + 1);
    &b[start..at]
}

/// Whether `haystack` holds `needle`, ASCII case aside.
pub(crate) fn holds_ignoring_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Whether `haystack` holds `needle`.
pub(crate) fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// True when nothing token-like continues the text at `end`.
pub(crate) fn ends_token(b: &[u8], end: usize) -> bool {
    b.get(end).is_none_or(|&c| !is_word_byte(c))
}

#[cfg(test)]
mod tests;
