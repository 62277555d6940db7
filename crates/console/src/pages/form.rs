//! Reading what people type into the console's forms. Empty fields mean "none"
//! (or "clear"), and every error names the field in words the page can show.

use airlock_core::class::DataClass;
use airlock_core::money::MicroDollars;
use chrono::NaiveDate;

use crate::error::ConsoleError;
use crate::tenant::Change;

pub fn invalid(message: String) -> ConsoleError {
    ConsoleError::Invalid(message)
}

/// The trimmed text, or `None` when the field is missing or blank.
pub fn text(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

/// A checkbox: present (any value) means ticked.
pub fn ticked(field: &Option<String>) -> bool {
    field.is_some()
}

/// A whole number, required.
pub fn count(field: &Option<String>, what: &str) -> Result<u32, ConsoleError> {
    let text = text(field).ok_or_else(|| invalid(format!("{what} is required")))?;
    text.replace([',', '_', ' '], "")
        .parse()
        .map_err(|_| invalid(format!("{what} is a whole number, like 600")))
}

/// A whole number, or blank to clear it.
pub fn optional_count(field: &Option<String>, what: &str) -> Result<Change<u32>, ConsoleError> {
    match text(field) {
        None => Ok(Change::Clear),
        Some(_) => count(field, what).map(Change::Set),
    }
}

/// Dollars, required.
pub fn dollars(field: &Option<String>, what: &str) -> Result<MicroDollars, ConsoleError> {
    let text = text(field).ok_or_else(|| invalid(format!("{what} is required")))?;
    MicroDollars::parse_dollars(text).map_err(|e| invalid(format!("{what}: {e}")))
}

/// Dollars, or blank to clear them.
pub fn optional_dollars(
    field: &Option<String>,
    what: &str,
) -> Result<Change<MicroDollars>, ConsoleError> {
    match text(field) {
        None => Ok(Change::Clear),
        Some(_) => dollars(field, what).map(Change::Set),
    }
}

/// A date as `<input type=date>` sends it (YYYY-MM-DD), or blank.
pub fn optional_date(
    field: &Option<String>,
    what: &str,
) -> Result<Option<NaiveDate>, ConsoleError> {
    text(field)
        .map(|t| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .map_err(|_| invalid(format!("{what} is a date like 2026-12-31")))
        })
        .transpose()
}

/// A list typed as comma- or line-separated words.
pub fn list(field: &Option<String>) -> Vec<String> {
    text(field)
        .map(|t| {
            t.split([',', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A data class by name.
pub fn class(field: &Option<String>, what: &str) -> Result<DataClass, ConsoleError> {
    text(field).and_then(|t| t.parse().ok()).ok_or_else(|| {
        invalid(format!(
            "{what} is one of public, internal, confidential or restricted"
        ))
    })
}

/// A choice from a fixed list of words (`parse` is the type's `FromStr`).
pub fn choice<T: std::str::FromStr>(
    field: &Option<String>,
    what: &str,
    allowed: &str,
) -> Result<T, ConsoleError> {
    text(field)
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| invalid(format!("{what} is one of {allowed}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn blank_fields_clear_and_bad_ones_name_the_field() {
        assert_eq!(optional_count(&some("  "), "RPM").ok(), Some(Change::Clear));
        assert_eq!(
            optional_count(&some("1,200"), "RPM").ok(),
            Some(Change::Set(1200))
        );
        let err = count(&some("ten"), "RPM").err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("RPM is a whole number, like 600"));
        assert_eq!(
            dollars(&some("$5.25"), "Budget").ok(),
            Some(MicroDollars::new(5_250_000))
        );
        assert!(dollars(&some("-1"), "Budget").is_err());
        assert!(optional_date(&some("2026-02-30"), "Expiry").is_err());
        assert_eq!(
            list(&some("openai, mock,\n anthropic ,")),
            ["openai", "mock", "anthropic"]
        );
        assert!(ticked(&some("on")) && !ticked(&None));
    }
}
