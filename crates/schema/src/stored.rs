//! Columns that hold a domain type of `airlock_core` as its stored word (`prod`,
//! `admin`, `confidential`, `redact`, `openai`). The entity field is a
//! [`Stored<T>`], so a row is parsed once, when it is read: code past the entity
//! never re-parses a string, and a word Airlock does not know (only a hand-edited
//! row can hold one) is a read error that names the column and the word, never a
//! silent default.

use std::fmt;
use std::ops::Deref;

use airlock_core::class::DataClass;
use airlock_core::key::Env;
use airlock_core::policy::{CheckAction, InjectionAction};
use airlock_core::provider::ProviderKind;
use airlock_core::redact::ContentAction;
use airlock_core::role::Role;
use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, StringLen, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, DbErr, QueryResult, TryGetError, TryGetable, Value};

/// A domain type stored as one of a fixed set of words.
pub trait StoredWord: Sized + Copy {
    /// What the word names, for the error about an unknown one ("environment").
    const WHAT: &'static str;
    fn to_word(self) -> &'static str;
    fn from_word(word: &str) -> Option<Self>;
}

macro_rules! stored_word {
    ($type:ty, $what:literal, $parse:expr) => {
        impl StoredWord for $type {
            const WHAT: &'static str = $what;
            fn to_word(self) -> &'static str {
                self.as_str()
            }
            fn from_word(word: &str) -> Option<Self> {
                $parse(word)
            }
        }
    };
}

stored_word!(Env, "environment", |w: &str| w.parse().ok());
stored_word!(Role, "role", |w: &str| w.parse().ok());
stored_word!(DataClass, "data class", |w: &str| w.parse().ok());
stored_word!(ContentAction, "content action", |w: &str| w.parse().ok());
stored_word!(CheckAction, "check action", |w: &str| w.parse().ok());
stored_word!(InjectionAction, "injection action", |w: &str| w
    .parse()
    .ok());
stored_word!(ProviderKind, "provider kind", ProviderKind::parse);

/// A column holding `T` as its word.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stored<T>(pub T);

impl<T> Deref for Stored<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: StoredWord> From<T> for Stored<T> {
    fn from(value: T) -> Self {
        Stored(value)
    }
}

impl<T: StoredWord> fmt::Debug for Stored<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.to_word())
    }
}

impl<T: StoredWord> fmt::Display for Stored<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.to_word())
    }
}

impl<T: StoredWord> From<Stored<T>> for Value {
    fn from(value: Stored<T>) -> Value {
        Value::from(value.0.to_word())
    }
}

impl<T: StoredWord> TryGetable for Stored<T> {
    fn try_get_by<I: ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
        let column = format!("{index:?}");
        let word = String::try_get_by(res, index)?;
        T::from_word(&word).map(Stored).ok_or_else(|| {
            TryGetError::DbErr(DbErr::Type(format!(
                "column {column} holds {:?}, which is not a known {}; correct the row",
                word.chars().take(40).collect::<String>(),
                T::WHAT
            )))
        })
    }
}

impl<T: StoredWord> ValueType for Stored<T> {
    fn try_from(value: Value) -> Result<Self, ValueTypeErr> {
        let word = <String as ValueType>::try_from(value)?;
        T::from_word(&word).map(Stored).ok_or(ValueTypeErr)
    }

    fn type_name() -> String {
        T::WHAT.to_owned()
    }

    fn array_type() -> ArrayType {
        ArrayType::String
    }

    fn column_type() -> ColumnType {
        ColumnType::String(StringLen::None)
    }
}

impl<T: StoredWord> Nullable for Stored<T> {
    fn null() -> Value {
        Value::String(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_unknown_words_are_refused() {
        for env in Env::ALL {
            let value: Value = Stored(env).into();
            assert_eq!(
                <Stored<Env> as ValueType>::try_from(value).unwrap(),
                Stored(env)
            );
        }
        assert!(<Stored<Role> as ValueType>::try_from(Value::from("superuser")).is_err());
        assert_eq!(Stored(ProviderKind::OpenAi).to_string(), "openai");
    }
}
