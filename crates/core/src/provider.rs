//! The wire formats Airlock can speak to a provider. `OpenAi` covers every
//! OpenAI-compatible endpoint (DeepSeek, vLLM, …) through a base URL.

/// A provider's wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// OpenAI Chat Completions and compatible endpoints.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `generateContent`.
    Gemini,
    /// The deterministic in-process mock (no network, no credential).
    Mock,
}

impl ProviderKind {
    /// Every kind, in display order.
    pub const ALL: [ProviderKind; 4] = [
        ProviderKind::OpenAi,
        ProviderKind::Anthropic,
        ProviderKind::Gemini,
        ProviderKind::Mock,
    ];

    /// The stored, lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Mock => "mock",
        }
    }

    /// Parses the stored name (exact, lowercase).
    pub fn parse(text: &str) -> Option<ProviderKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Where the provider's public API lives when no base URL is configured.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "https://api.openai.com/v1",
            ProviderKind::Anthropic => "https://api.anthropic.com",
            ProviderKind::Gemini => "https://generativelanguage.googleapis.com",
            ProviderKind::Mock => "",
        }
    }

    /// Whether calls need a credential (the in-process mock does not).
    pub fn needs_credential(self) -> bool {
        self != ProviderKind::Mock
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in ProviderKind::ALL {
            assert_eq!(ProviderKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ProviderKind::parse("OpenAI"), None);
    }
}
