//! What a model call costs: list prices per model, how a model name finds its
//! price, which provider family a bare model name belongs to, and the cost
//! arithmetic.
//!
//! Cost is computed in integer micro-dollars and rounded *up* per side, so
//! Airlock never under-counts against a budget; the difference is at most one
//! micro-dollar per side per request.

use std::collections::BTreeMap;

use crate::money::MicroDollars;

/// Tokens the per-token prices are quoted for.
const TOKENS_PER_PRICE_UNIT: i128 = 1_000_000;

/// A model's price per 1,000,000 tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Price {
    /// Per million input (prompt) tokens.
    pub input_per_mtok: MicroDollars,
    /// Per million output (completion) tokens.
    pub output_per_mtok: MicroDollars,
}

impl Price {
    /// A price from micro-dollars per million input and output tokens.
    pub const fn from_micros(input_per_mtok: i64, output_per_mtok: i64) -> Price {
        Price {
            input_per_mtok: MicroDollars::new(input_per_mtok),
            output_per_mtok: MicroDollars::new(output_per_mtok),
        }
    }
}

/// The cost of a call: each side rounded up to the next micro-dollar, the total
/// saturated to the `i64` range. Integer math in `i128`, which cannot overflow:
/// `u64::MAX × i64::MAX < i128::MAX`.
pub fn cost(price: Price, input_tokens: u64, output_tokens: u64) -> MicroDollars {
    let input = side_cost(price.input_per_mtok, input_tokens);
    let output = side_cost(price.output_per_mtok, output_tokens);
    let total = input.saturating_add(output);
    let clamped = total.clamp(i128::from(i64::MIN), i128::from(i64::MAX));
    MicroDollars::new(i64::try_from(clamped).unwrap_or(i64::MAX))
}

fn side_cost(per_mtok: MicroDollars, tokens: u64) -> i128 {
    let numerator = i128::from(per_mtok.as_micros()) * i128::from(tokens);
    // Ceiling division that is also right for a negative (credit) price.
    let quotient = numerator.div_euclid(TOKENS_PER_PRICE_UNIT);
    if numerator.rem_euclid(TOKENS_PER_PRICE_UNIT) == 0 {
        quotient
    } else {
        quotient + 1
    }
}

/// List prices in USD micro-dollars per 1M tokens (input, output), as of late
/// 2025. Standard tier, no batch or cache discounts. Providers change prices
/// without notice: override per deployment with [`PriceTable::with`].
const BUILTIN: &[(&str, i64, i64)] = &[
    // OpenAI
    ("gpt-5", 1_250_000, 10_000_000),
    ("gpt-5-mini", 250_000, 2_000_000),
    ("gpt-5-nano", 50_000, 400_000),
    ("gpt-4.1", 2_000_000, 8_000_000),
    ("gpt-4.1-mini", 400_000, 1_600_000),
    ("gpt-4.1-nano", 100_000, 400_000),
    ("gpt-4o", 2_500_000, 10_000_000),
    ("gpt-4o-mini", 150_000, 600_000),
    ("o3", 2_000_000, 8_000_000),
    ("o3-mini", 1_100_000, 4_400_000),
    ("o4-mini", 1_100_000, 4_400_000),
    ("o1", 15_000_000, 60_000_000),
    // Anthropic
    ("claude-opus-4-1", 15_000_000, 75_000_000),
    ("claude-opus-4", 15_000_000, 75_000_000),
    ("claude-sonnet-4-5", 3_000_000, 15_000_000),
    ("claude-sonnet-4", 3_000_000, 15_000_000),
    ("claude-3-7-sonnet", 3_000_000, 15_000_000),
    ("claude-haiku-4-5", 1_000_000, 5_000_000),
    ("claude-3-5-haiku", 800_000, 4_000_000),
    // Google
    ("gemini-2.5-pro", 1_250_000, 10_000_000),
    ("gemini-2.5-flash", 300_000, 2_500_000),
    ("gemini-2.5-flash-lite", 100_000, 400_000),
    ("gemini-2.0-flash", 100_000, 400_000),
    // DeepSeek
    ("deepseek-chat", 280_000, 420_000),
    ("deepseek-reasoner", 280_000, 420_000),
    // The in-process mock provider: priced so that tests see a non-zero cost.
    ("mock", 1_000_000, 2_000_000),
];

/// Prices by model name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
}

impl PriceTable {
    /// The built-in list prices.
    pub fn builtin() -> PriceTable {
        let prices = BUILTIN
            .iter()
            .map(|&(model, input, output)| (model.to_owned(), Price::from_micros(input, output)))
            .collect();
        PriceTable { prices }
    }

    /// A table with no prices, for deployments that configure every model.
    pub fn empty() -> PriceTable {
        PriceTable {
            prices: BTreeMap::new(),
        }
    }

    /// Adds `model`, or replaces its price.
    pub fn with(mut self, model: &str, price: Price) -> Self {
        self.prices.insert(model.to_owned(), price);
        self
    }

    /// The price of `model`. A leading `provider/` part is dropped
    /// (`openai/gpt-4o` → `gpt-4o`); then an exact entry wins, else the longest
    /// entry that is followed by `-` in the name, so dated and suffixed releases
    /// find their base model (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`, not
    /// `gpt-4o`). Case-sensitive. `None` if nothing matches: the caller decides
    /// whether an unpriced model may be used.
    pub fn lookup(&self, model: &str) -> Option<Price> {
        let model = model.split_once('/').map_or(model, |(_, rest)| rest);
        if let Some(price) = self.prices.get(model) {
            return Some(*price);
        }
        self.prices
            .iter()
            .filter(|(entry, _)| {
                model
                    .strip_prefix(entry.as_str())
                    .is_some_and(|rest| rest.starts_with('-'))
            })
            .max_by_key(|(entry, _)| entry.len())
            .map(|(_, price)| *price)
    }

    /// Every entry, ordered by model name.
    pub fn entries(&self) -> impl Iterator<Item = (&str, Price)> {
        self.prices
            .iter()
            .map(|(model, price)| (model.as_str(), *price))
    }
}

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable::builtin()
    }
}

/// The provider family a bare model name belongs to, by its well-known prefix:
/// `gpt-`, `chatgpt-`, `o1`, `o3`, `o4` → `openai`; `claude-` → `anthropic`;
/// `gemini-` → `gemini`; `deepseek-` → `deepseek`; `mock…` → `mock`. The `o`
/// series matches only exactly or followed by `-` (`o3`, `o3-mini`), so an
/// unrelated name starting with `o1…` is not sent to OpenAI.
///
/// A name containing `/` is explicit routing (`provider/model`) and returns
/// `None`: the caller resolves it, not a guess here.
pub fn family_of(model: &str) -> Option<&'static str> {
    if model.contains('/') {
        return None;
    }
    let o_series = ["o1", "o3", "o4"].iter().any(|series| {
        model
            .strip_prefix(series)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
    });
    if o_series || model.starts_with("gpt-") || model.starts_with("chatgpt-") {
        Some("openai")
    } else if model.starts_with("claude-") {
        Some("anthropic")
    } else if model.starts_with("gemini-") {
        Some("gemini")
    } else if model.starts_with("deepseek-") {
        Some("deepseek")
    } else if model.starts_with("mock") {
        Some("mock")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd(micros: i64) -> MicroDollars {
        MicroDollars::new(micros)
    }

    #[test]
    fn a_million_input_tokens_cost_the_list_price() {
        let gpt_4o = Price::from_micros(2_500_000, 10_000_000);
        assert_eq!(cost(gpt_4o, 1_000_000, 0), usd(2_500_000));
        assert_eq!(cost(gpt_4o, 0, 1_000_000), usd(10_000_000));
        assert_eq!(cost(gpt_4o, 1_000_000, 1_000_000), usd(12_500_000));
    }

    #[test]
    fn fractions_of_a_micro_dollar_round_up_per_side() {
        let mini = Price::from_micros(150_000, 600_000);
        // 1 token at $0.15/M is 0.15 micro-dollars: charged as 1.
        assert_eq!(cost(mini, 1, 0), usd(1));
        // 0.15 + 0.6, each rounded up separately.
        assert_eq!(cost(mini, 1, 1), usd(2));
        // 1000 × 0.15 = 150 exactly; 7 × 0.6 = 4.2 → 5.
        assert_eq!(cost(mini, 1_000, 7), usd(155));
        assert_eq!(
            cost(Price::from_micros(1_000_000, 2_000_000), 12, 3),
            usd(18)
        );
    }

    #[test]
    fn zero_tokens_or_a_zero_price_cost_nothing() {
        let price = Price::from_micros(2_500_000, 10_000_000);
        assert_eq!(cost(price, 0, 0), MicroDollars::ZERO);
        assert_eq!(
            cost(Price::from_micros(0, 0), 123_456, 789),
            MicroDollars::ZERO
        );
    }

    #[test]
    fn enormous_counts_saturate_instead_of_overflowing() {
        let max = Price::from_micros(i64::MAX, i64::MAX);
        assert_eq!(cost(max, u64::MAX, u64::MAX), usd(i64::MAX));
        let o1 = Price::from_micros(15_000_000, 60_000_000);
        assert_eq!(cost(o1, u64::MAX, 0), usd(i64::MAX));
        // Just below saturation the arithmetic is still exact.
        assert_eq!(cost(o1, 1_000_000_000_000, 0), usd(15_000_000_000_000));
    }

    #[test]
    fn a_negative_price_rounds_towards_the_larger_charge() {
        let credit = Price::from_micros(-150_000, 0);
        assert_eq!(cost(credit, 1, 0), MicroDollars::ZERO);
        assert_eq!(cost(credit, 10, 0), usd(-1));
        assert_eq!(
            cost(Price::from_micros(i64::MIN, i64::MIN), u64::MAX, u64::MAX),
            usd(i64::MIN)
        );
    }

    #[test]
    fn lookup_finds_exact_and_dated_model_names() {
        let table = PriceTable::builtin();
        let price_of = |model| table.lookup(model);
        let gpt_4o = Price::from_micros(2_500_000, 10_000_000);
        let gpt_4o_mini = Price::from_micros(150_000, 600_000);
        assert_eq!(price_of("gpt-4o"), Some(gpt_4o));
        assert_eq!(price_of("gpt-4o-2024-08-06"), Some(gpt_4o));
        assert_eq!(price_of("gpt-4o-mini-2024-07-18"), Some(gpt_4o_mini));
        assert_eq!(price_of("openai/gpt-4o-mini"), Some(gpt_4o_mini));
        assert_eq!(
            price_of("claude-sonnet-4-5-20250929"),
            Some(Price::from_micros(3_000_000, 15_000_000))
        );
        assert_eq!(
            price_of("claude-opus-4-1-20250805"),
            Some(Price::from_micros(15_000_000, 75_000_000))
        );
        assert_eq!(
            price_of("claude-3-5-haiku-20241022"),
            Some(Price::from_micros(800_000, 4_000_000))
        );
        assert_eq!(
            price_of("gemini-2.5-flash-lite-preview-06-17"),
            Some(Price::from_micros(100_000, 400_000))
        );
        assert_eq!(
            price_of("o3-mini-2025-01-31"),
            Some(Price::from_micros(1_100_000, 4_400_000))
        );
        assert_eq!(
            price_of("mock"),
            Some(Price::from_micros(1_000_000, 2_000_000))
        );
    }

    #[test]
    fn lookup_does_not_match_a_prefix_without_a_dash() {
        let table = PriceTable::builtin();
        assert_eq!(table.lookup("gpt-4oz"), None);
        assert_eq!(table.lookup("o30"), None);
        assert_eq!(table.lookup("gpt"), None);
        assert_eq!(table.lookup("GPT-4O"), None);
        assert_eq!(table.lookup(""), None);
        assert_eq!(table.lookup("llama-3.1-70b"), None);
        assert_eq!(table.lookup("openai/"), None);
    }

    #[test]
    fn with_overrides_and_adds_entries() {
        let cheap = Price::from_micros(1, 1);
        let table = PriceTable::builtin()
            .with("gpt-4o", cheap)
            .with("llama-3.1-70b", cheap);
        assert_eq!(table.lookup("gpt-4o-2024-08-06"), Some(cheap));
        assert_eq!(table.lookup("groq/llama-3.1-70b-versatile"), Some(cheap));
        assert_eq!(
            table.lookup("gpt-4o-mini"),
            Some(Price::from_micros(150_000, 600_000))
        );
        assert_eq!(PriceTable::empty().lookup("gpt-4o"), None);
    }

    #[test]
    fn builtin_entries_are_listed_in_order_and_all_priced() {
        let table = PriceTable::builtin();
        let names: Vec<&str> = table.entries().map(|(name, _)| name).collect();
        assert_eq!(names.len(), BUILTIN.len());
        assert!(names.windows(2).all(|w| w[0] < w[1]));
        for (name, price) in table.entries() {
            assert!(price.input_per_mtok > MicroDollars::ZERO, "{name}");
            assert!(price.output_per_mtok >= price.input_per_mtok, "{name}");
            assert!(family_of(name).is_some(), "{name} has no family");
        }
    }

    #[test]
    fn family_of_knows_the_usual_prefixes() {
        let cases = [
            ("gpt-4o", Some("openai")),
            ("gpt-5-mini", Some("openai")),
            ("chatgpt-4o-latest", Some("openai")),
            ("o1", Some("openai")),
            ("o3-mini", Some("openai")),
            ("o4-mini-2025-04-16", Some("openai")),
            ("claude-sonnet-4-5", Some("anthropic")),
            ("gemini-2.5-pro", Some("gemini")),
            ("deepseek-chat", Some("deepseek")),
            ("mock", Some("mock")),
            ("mock-slow", Some("mock")),
            ("openai/gpt-4o", None),
            ("mock/anything", None),
            ("llama-3.1-70b", None),
            ("o1337", None),
            ("claude", None),
            ("", None),
        ];
        for (model, family) in cases {
            assert_eq!(family_of(model), family, "{model}");
        }
    }

    proptest! {
        #[test]
        fn cost_never_decreases_with_more_tokens(
            input_price in 0i64..=100_000_000,
            output_price in 0i64..=100_000_000,
            input in 0u64..=1_000_000_000_000,
            output in 0u64..=1_000_000_000_000,
            more_input in 0u64..=1_000_000,
            more_output in 0u64..=1_000_000,
        ) {
            let price = Price::from_micros(input_price, output_price);
            let base = cost(price, input, output);
            prop_assert!(cost(price, input + more_input, output) >= base);
            prop_assert!(cost(price, input, output + more_output) >= base);
            prop_assert!(base >= MicroDollars::ZERO);
        }

        #[test]
        fn cost_is_within_one_micro_dollar_per_side_of_the_exact_value(
            input_price in 0i64..=100_000_000,
            output_price in 0i64..=100_000_000,
            input in 0u64..=10_000_000_000,
            output in 0u64..=10_000_000_000,
        ) {
            let price = Price::from_micros(input_price, output_price);
            let exact_times_million =
                i128::from(input_price) * i128::from(input) + i128::from(output_price) * i128::from(output);
            let charged = i128::from(cost(price, input, output).as_micros()) * 1_000_000;
            prop_assert!(charged >= exact_times_million);
            prop_assert!(charged < exact_times_million + 2_000_000);
        }
    }
}
