//! Data classes: how sensitive a request's content is declared to be.
//!
//! The order is the point: `Public < Internal < Confidential < Restricted`, so
//! "is this request allowed on this key / provider" is a `<=` comparison against
//! the highest class allowed there.

use std::fmt;
use std::str::FromStr;

/// How sensitive a request's content is, from least to most.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DataClass {
    /// May be published.
    Public,
    /// Internal to the organisation.
    Internal,
    /// Harmful if disclosed: customer data, contracts.
    Confidential,
    /// Regulated or secret: health, payment, credentials.
    Restricted,
}

/// A text that names no data class.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[error("unknown data class; expected one of public, internal, confidential, restricted")]
pub struct UnknownDataClass;

impl DataClass {
    /// Every class, least sensitive first.
    pub const ALL: [DataClass; 4] = [
        DataClass::Public,
        DataClass::Internal,
        DataClass::Confidential,
        DataClass::Restricted,
    ];

    /// The lowercase name, as in headers, forms and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DataClass::Public => "public",
            DataClass::Internal => "internal",
            DataClass::Confidential => "confidential",
            DataClass::Restricted => "restricted",
        }
    }
}

impl fmt::Display for DataClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DataClass {
    type Err = UnknownDataClass;

    /// Case-insensitive, surrounding whitespace ignored (`X-Airlock-Classification:
    /// Confidential` works). The error does not echo the input.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        DataClass::ALL
            .into_iter()
            .find(|class| class.as_str().eq_ignore_ascii_case(s))
            .ok_or(UnknownDataClass)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_ordered_by_sensitivity() {
        assert!(DataClass::Public < DataClass::Internal);
        assert!(DataClass::Internal < DataClass::Confidential);
        assert!(DataClass::Confidential < DataClass::Restricted);
        let mut sorted = DataClass::ALL;
        sorted.sort();
        assert_eq!(sorted, DataClass::ALL);
    }

    #[test]
    fn names_round_trip_through_display_from_str_and_serde() {
        for class in DataClass::ALL {
            assert_eq!(class.to_string().parse(), Ok(class));
            let json = serde_json::to_string(&class).unwrap();
            assert_eq!(json, format!("\"{}\"", class.as_str()));
            assert_eq!(serde_json::from_str::<DataClass>(&json).unwrap(), class);
        }
    }

    #[test]
    fn parsing_ignores_case_and_surrounding_whitespace() {
        assert_eq!(" Confidential\t".parse(), Ok(DataClass::Confidential));
        assert_eq!("RESTRICTED".parse(), Ok(DataClass::Restricted));
    }

    #[test]
    fn unknown_names_are_rejected_with_the_valid_values() {
        for bad in ["", "secret", "pub lic", "public,internal"] {
            assert_eq!(bad.parse::<DataClass>(), Err(UnknownDataClass));
        }
        let message = UnknownDataClass.to_string();
        for class in DataClass::ALL {
            assert!(message.contains(class.as_str()));
        }
        assert!(serde_json::from_str::<DataClass>("\"Public\"").is_err());
    }
}
