//! The roles a member can hold in a tenant. What each role may do is decided by
//! the console; this module only fixes the names and their order.
//!
//! The order runs from most to least power (`Owner < … < Viewer` as derived), which
//! is only a listing order: finance is not "more" than a viewer in every respect,
//! so permission checks match on roles rather than compare them.

use std::fmt;
use std::str::FromStr;

/// A member's role in a tenant.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including billing and deleting the tenant.
    Owner,
    /// Manages members, keys, credentials and policies.
    Admin,
    /// Manages their own keys and reads usage.
    Developer,
    /// Reads usage, budgets and invoices.
    Finance,
    /// Reads.
    Viewer,
}

/// A text that names no role.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[error("unknown role; expected one of owner, admin, developer, finance, viewer")]
pub struct UnknownRole;

impl Role {
    /// Every role, in listing order.
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Developer,
        Role::Finance,
        Role::Viewer,
    ];

    /// The lowercase name, as in forms, tokens and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Developer => "developer",
            Role::Finance => "finance",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    /// Case-insensitive, surrounding whitespace ignored. The error does not echo
    /// the input.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Role::ALL
            .into_iter()
            .find(|role| role.as_str().eq_ignore_ascii_case(s))
            .ok_or(UnknownRole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_display_from_str_and_serde() {
        for role in Role::ALL {
            assert_eq!(role.to_string().parse(), Ok(role));
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
    }

    #[test]
    fn parsing_ignores_case_and_surrounding_whitespace() {
        assert_eq!(" Admin\n".parse(), Ok(Role::Admin));
        assert_eq!("FINANCE".parse(), Ok(Role::Finance));
    }

    #[test]
    fn unknown_names_are_rejected_with_the_valid_values() {
        for bad in ["", "root", "superadmin", "dev"] {
            assert_eq!(bad.parse::<Role>(), Err(UnknownRole));
        }
        let message = UnknownRole.to_string();
        for role in Role::ALL {
            assert!(message.contains(role.as_str()));
        }
    }

    #[test]
    fn all_lists_every_role_in_declaration_order() {
        let mut sorted = Role::ALL;
        sorted.sort();
        assert_eq!(sorted, Role::ALL);
        assert!(Role::Owner < Role::Viewer);
    }
}
