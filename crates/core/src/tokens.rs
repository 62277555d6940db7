//! Counting input tokens before a call.
//!
//! OpenAI models have a public tokenizer (`o200k_base` for the GPT-4o, GPT-4.1,
//! GPT-5 and o-series families, `cl100k_base` for GPT-4 and GPT-3.5), so their
//! prompts are counted exactly with `tiktoken-rs`. Other families publish none;
//! their prompts are estimated at 3.5 characters per token, a little above what
//! English text averages, so the estimate errs towards "more".
//!
//! Exact counting costs about 70 µs per 4 KB, so the relay does not do it on every
//! request: it first checks budgets against [`upper_bound`] (a byte-level BPE never
//! makes more tokens than bytes) and only counts exactly when that bound would not
//! fit. The decision is the same either way; only its cost differs.

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

/// A count that is certainly not below the real one for any byte-level tokenizer.
pub fn upper_bound(text_bytes: usize) -> u64 {
    text_bytes as u64
}

/// Tokens allowed for one image in estimates. Providers charge by size (OpenAI
/// up to about 1,100 for a high-detail 2048×768 picture, Anthropic about 1,600 at
/// its largest size, Gemini 258 per tile); the relay does not decode images, so it
/// assumes a large one. The real count, from the provider, settles it afterwards.
pub const IMAGE_TOKEN_ESTIMATE: u64 = 1_600;

/// A cheap estimate for rate limits: about four characters per token, rounded up.
pub fn quick_estimate(chars: u64) -> u64 {
    chars.div_ceil(4)
}

/// Which tokenizer a model uses, if it has a public one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tokenizer {
    /// GPT-4o, GPT-4.1, GPT-5, o1/o3/o4.
    O200k,
    /// GPT-4, GPT-3.5.
    Cl100k,
}

impl Tokenizer {
    /// The tokenizer of an OpenAI model name (without a `provider/` prefix).
    pub fn for_model(model: &str) -> Option<Tokenizer> {
        let m = model.rsplit('/').next().unwrap_or(model);
        let o200k = [
            "gpt-4o",
            "gpt-4.1",
            "gpt-4.5",
            "gpt-5",
            "o1",
            "o3",
            "o4",
            "chatgpt-4o",
        ];
        if o200k.iter().any(|p| m.starts_with(p)) {
            Some(Tokenizer::O200k)
        } else if m.starts_with("gpt-4")
            || m.starts_with("gpt-3.5")
            || m.starts_with("text-embedding")
        {
            Some(Tokenizer::Cl100k)
        } else {
            None
        }
    }

    fn bpe(self) -> Option<&'static CoreBPE> {
        static O200K: OnceLock<Option<CoreBPE>> = OnceLock::new();
        static CL100K: OnceLock<Option<CoreBPE>> = OnceLock::new();
        match self {
            Tokenizer::O200k => O200K.get_or_init(|| tiktoken_rs::o200k_base().ok()),
            Tokenizer::Cl100k => CL100K.get_or_init(|| tiktoken_rs::cl100k_base().ok()),
        }
        .as_ref()
    }
}

/// Token ids as text, with `model`'s tokenizer: `None` when the model has no known
/// tokenizer or an id is not one of its tokens.
pub fn decode(model: &str, tokens: &[u32]) -> Option<String> {
    let bpe = Tokenizer::for_model(model)?.bpe()?;
    bpe.decode(tokens).ok()
}

/// Text as token ids with `model`'s tokenizer, if it has a known one.
pub fn encode(model: &str, text: &str) -> Option<Vec<u32>> {
    Some(Tokenizer::for_model(model)?.bpe()?.encode_ordinary(text))
}

/// Input tokens of `texts` for `model`: exact for OpenAI models, an estimate
/// (3.5 characters per token, rounded up) otherwise. Each message costs a few
/// tokens of framing on every provider; 4 per message is added.
pub fn count_input<'a>(model: &str, texts: impl IntoIterator<Item = &'a str>) -> u64 {
    let bpe = Tokenizer::for_model(model).and_then(Tokenizer::bpe);
    texts
        .into_iter()
        .map(|text| {
            let body = match bpe {
                Some(bpe) => bpe.encode_ordinary(text).len() as u64,
                None => (text.chars().count() as u64 * 2).div_ceil(7),
            };
            body + 4
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_models_pick_their_tokenizer() {
        assert_eq!(Tokenizer::for_model("gpt-4o-mini"), Some(Tokenizer::O200k));
        assert_eq!(Tokenizer::for_model("openai/gpt-5"), Some(Tokenizer::O200k));
        assert_eq!(Tokenizer::for_model("o3-mini"), Some(Tokenizer::O200k));
        assert_eq!(Tokenizer::for_model("gpt-4-turbo"), Some(Tokenizer::Cl100k));
        assert_eq!(Tokenizer::for_model("claude-sonnet-4"), None);
    }

    #[test]
    fn exact_counts_for_openai_and_estimates_otherwise() {
        // "hello world" is two tokens in o200k_base.
        assert_eq!(count_input("gpt-4o", ["hello world"]), 2 + 4);
        // 35 characters at 3.5 per token.
        assert_eq!(
            count_input("claude-sonnet-4", ["x".repeat(35).as_str()]),
            10 + 4
        );
    }

    #[test]
    fn the_upper_bound_is_never_below_the_exact_count() {
        for text in [
            "hello world",
            "ünïcödé ✓ 日本語のテキスト",
            "a b c d e f g",
            "🦀🦀🦀",
        ] {
            let exact = count_input("gpt-4o", [text]) - 4;
            assert!(upper_bound(text.len()) >= exact, "{text}");
        }
    }

    #[test]
    fn token_ids_decode_with_the_model_tokenizer() {
        let ids = encode("text-embedding-3-small", "hello world").unwrap();
        assert_eq!(
            decode("text-embedding-3-small", &ids).as_deref(),
            Some("hello world")
        );
        assert_eq!(decode("gemini-embedding-001", &ids), None);
        assert_eq!(decode("text-embedding-3-small", &[u32::MAX]), None);
    }
}
