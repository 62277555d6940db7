//! Money as integer micro-dollars: how amounts are added, parsed from what people
//! type, and shown.
//!
//! One micro-dollar is 10^-6 USD, fine enough for a single token of the cheapest
//! model. There are no floats anywhere: a float cannot hold $0.10 exactly, and
//! budgets summed over millions of requests would drift.

use std::fmt;

/// Micro-dollars per dollar.
const MICROS_PER_DOLLAR: i64 = 1_000_000;
/// Decimal places one micro-dollar needs.
const MAX_DECIMALS: usize = 6;

/// An amount of US dollars in millionths. May be negative (a refund or a
/// correction); [`MicroDollars::parse_dollars`] only reads non-negative amounts.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct MicroDollars(i64);

/// Why a text is not a dollar amount.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum MoneyError {
    /// Nothing was given.
    #[error("no amount was given; write dollars like 5, 5.25 or $0.000001")]
    Empty,
    /// A minus sign.
    #[error("the amount must not be negative")]
    Negative,
    /// More than six digits after the decimal point.
    #[error("the amount has more than 6 decimal places; the smallest unit is $0.000001")]
    TooManyDecimals,
    /// Not digits with an optional `$` and decimal point.
    #[error("the amount is not a number of dollars; write it like 5, 5.25 or $0.000001")]
    Invalid,
    /// Beyond what an `i64` of micro-dollars holds (about $9.2 trillion).
    #[error("the amount is too large")]
    TooLarge,
}

impl MicroDollars {
    /// Nothing.
    pub const ZERO: MicroDollars = MicroDollars(0);

    /// `micros` millionths of a dollar.
    pub const fn new(micros: i64) -> Self {
        MicroDollars(micros)
    }

    /// The amount in millionths of a dollar.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Whole dollars; `None` if that overflows.
    pub fn from_dollars(d: i64) -> Option<Self> {
        d.checked_mul(MICROS_PER_DOLLAR).map(MicroDollars)
    }

    /// `self + other`, `None` on overflow.
    pub fn checked_add(self, other: MicroDollars) -> Option<MicroDollars> {
        self.0.checked_add(other.0).map(MicroDollars)
    }

    /// `self - other`, `None` on overflow.
    pub fn checked_sub(self, other: MicroDollars) -> Option<MicroDollars> {
        self.0.checked_sub(other.0).map(MicroDollars)
    }

    /// `self + other`, clamped to the representable range. For running totals,
    /// where a saturated total still trips every budget check.
    pub fn saturating_add(self, other: MicroDollars) -> MicroDollars {
        MicroDollars(self.0.saturating_add(other.0))
    }

    /// Reads a non-negative dollar amount as people type it: `5`, `5.25`,
    /// `$5.25`, `0.000001`. Surrounding whitespace is ignored; at most 6
    /// decimals; no sign, exponent, thousands separator or bare `.5`/`5.`.
    pub fn parse_dollars(s: &str) -> Result<Self, MoneyError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(MoneyError::Empty);
        }
        if s.starts_with('-') || s.starts_with("$-") || s.starts_with("-$") {
            return Err(MoneyError::Negative);
        }
        let s = s.strip_prefix('$').unwrap_or(s);
        let (whole, fraction) = match s.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (s, None),
        };
        if !is_digits(whole) {
            return Err(MoneyError::Invalid);
        }
        let fraction = match fraction {
            None => "",
            Some(f) if !is_digits(f) => return Err(MoneyError::Invalid),
            Some(f) if f.len() > MAX_DECIMALS => return Err(MoneyError::TooManyDecimals),
            Some(f) => f,
        };
        // Digits only from here on, so a failed parse can only mean overflow.
        let whole: i64 = whole.parse().map_err(|_| MoneyError::TooLarge)?;
        let mut fraction_micros: i64 = 0;
        for position in 0..MAX_DECIMALS {
            let digit = fraction
                .as_bytes()
                .get(position)
                .map_or(0, |b| i64::from(b - b'0'));
            fraction_micros = fraction_micros * 10 + digit;
        }
        whole
            .checked_mul(MICROS_PER_DOLLAR)
            .and_then(|w| w.checked_add(fraction_micros))
            .map(MicroDollars)
            .ok_or(MoneyError::TooLarge)
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl fmt::Display for MicroDollars {
    /// `$5.25`, `$5.00`, `$0.000001`, `-$1.50`: at least two decimals, and no
    /// trailing zeros beyond two.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `unsigned_abs` so that i64::MIN prints instead of overflowing.
        let magnitude = self.0.unsigned_abs();
        let per_dollar = MICROS_PER_DOLLAR.unsigned_abs();
        let (whole, micros) = (magnitude / per_dollar, magnitude % per_dollar);
        let digits = format!("{micros:06}");
        let decimals = digits.trim_end_matches('0');
        let decimals = if decimals.len() < 2 {
            &digits[..2]
        } else {
            decimals
        };
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}${whole}.{decimals}")
    }
}

impl MicroDollars {
    /// The amount as people read it on a page: dollars and cents from one cent up
    /// (`$1,234.57`, rounded half away from zero), and below a cent only as many
    /// digits as it needs (`$0.000008`), so a tiny spend never reads as `$0.00`.
    /// `Display` stays exact, for forms and exports.
    pub fn readable(self) -> Readable {
        Readable(self)
    }
}

/// [`MicroDollars::readable`]: the one money format of the console.
#[derive(Clone, Copy, Debug)]
pub struct Readable(MicroDollars);

/// Micro-dollars in a cent.
const MICROS_PER_CENT: u64 = 10_000;

impl fmt::Display for Readable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0.0;
        let magnitude = micros.unsigned_abs();
        if magnitude < MICROS_PER_CENT {
            // Below a cent: exact, as `Display` writes it.
            return write!(f, "{}", self.0);
        }
        let sign = if micros < 0 { "-" } else { "" };
        let cents = (magnitude + MICROS_PER_CENT / 2) / MICROS_PER_CENT;
        let (dollars, cents) = (cents / 100, cents % 100);
        let digits = dollars.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        write!(f, "{sign}${grouped}.{cents:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn readable_money_is_cents_from_a_cent_up_and_exact_below() {
        let shown = |micros: i64| MicroDollars::new(micros).readable().to_string();
        assert_eq!(shown(0), "$0.00");
        assert_eq!(shown(8), "$0.000008");
        assert_eq!(shown(9_999), "$0.009999");
        assert_eq!(shown(10_000), "$0.01");
        assert_eq!(shown(14_999), "$0.01");
        assert_eq!(shown(15_000), "$0.02");
        assert_eq!(shown(5_000_000), "$5.00");
        assert_eq!(shown(1_234_567_890), "$1,234.57");
        assert_eq!(shown(999_995_000), "$1,000.00");
        assert_eq!(shown(-1_500_000), "-$1.50");
        assert_eq!(shown(-8), "-$0.000008");
        assert_eq!(shown(i64::MIN), "-$9,223,372,036,854.78");
    }

    fn parse(s: &str) -> Result<i64, MoneyError> {
        MicroDollars::parse_dollars(s).map(MicroDollars::as_micros)
    }

    #[test]
    fn parses_whole_and_fractional_dollars() {
        assert_eq!(parse("5"), Ok(5_000_000));
        assert_eq!(parse("5.25"), Ok(5_250_000));
        assert_eq!(parse("$5.25"), Ok(5_250_000));
        assert_eq!(parse("0.000001"), Ok(1));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("$0.5"), Ok(500_000));
        assert_eq!(parse("007.100"), Ok(7_100_000));
        assert_eq!(parse(" 12.5 "), Ok(12_500_000));
        assert_eq!(parse("9223372036854.775807"), Ok(i64::MAX));
    }

    #[test]
    fn rejects_what_is_not_a_plain_non_negative_amount() {
        assert_eq!(parse(""), Err(MoneyError::Empty));
        assert_eq!(parse("   "), Err(MoneyError::Empty));
        assert_eq!(parse("-5"), Err(MoneyError::Negative));
        assert_eq!(parse("$-5"), Err(MoneyError::Negative));
        assert_eq!(parse("-$5"), Err(MoneyError::Negative));
        assert_eq!(parse("0.0000001"), Err(MoneyError::TooManyDecimals));
        assert_eq!(parse("1.1234567"), Err(MoneyError::TooManyDecimals));
        for junk in [
            "$", ".", "5.", ".5", "+5", "5e3", "1,000", "five", "5 .25", "$$5", "5$", "1.2.3",
            "0x10", "٣", "5.2a", "NaN", "inf",
        ] {
            assert_eq!(parse(junk), Err(MoneyError::Invalid), "{junk:?}");
        }
        assert_eq!(parse("9223372036854.775808"), Err(MoneyError::TooLarge));
        assert_eq!(parse("99999999999999999999"), Err(MoneyError::TooLarge));
    }

    #[test]
    fn displays_at_least_two_decimals_and_no_needless_zeros() {
        let show = |micros| MicroDollars::new(micros).to_string();
        assert_eq!(show(5_250_000), "$5.25");
        assert_eq!(show(5_000_000), "$5.00");
        assert_eq!(show(1), "$0.000001");
        assert_eq!(show(0), "$0.00");
        assert_eq!(show(100_000), "$0.10");
        assert_eq!(show(123_450), "$0.12345");
        assert_eq!(show(-1_500_000), "-$1.50");
        assert_eq!(show(i64::MAX), "$9223372036854.775807");
        assert_eq!(show(i64::MIN), "-$9223372036854.775808");
    }

    #[test]
    fn arithmetic_reports_or_clamps_overflow() {
        let one = MicroDollars::new(1);
        let max = MicroDollars::new(i64::MAX);
        assert_eq!(one.checked_add(one), Some(MicroDollars::new(2)));
        assert_eq!(max.checked_add(one), None);
        assert_eq!(MicroDollars::new(i64::MIN).checked_sub(one), None);
        assert_eq!(one.checked_sub(one), Some(MicroDollars::ZERO));
        assert_eq!(max.saturating_add(one), max);
        assert_eq!(
            MicroDollars::from_dollars(5),
            Some(MicroDollars::new(5_000_000))
        );
        assert_eq!(MicroDollars::from_dollars(i64::MAX), None);
        assert_eq!(MicroDollars::default(), MicroDollars::ZERO);
    }

    #[test]
    fn serializes_as_a_bare_integer() {
        let amount = MicroDollars::new(2_500_000);
        assert_eq!(serde_json::to_string(&amount).unwrap(), "2500000");
        assert_eq!(
            serde_json::from_str::<MicroDollars>("2500000").unwrap(),
            amount
        );
    }

    proptest! {
        #[test]
        fn display_parses_back_for_non_negative_amounts(micros in 0i64..=i64::MAX) {
            let amount = MicroDollars::new(micros);
            prop_assert_eq!(MicroDollars::parse_dollars(&amount.to_string()), Ok(amount));
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(text in any::<String>()) {
            let _ = MicroDollars::parse_dollars(&text);
        }
    }
}
