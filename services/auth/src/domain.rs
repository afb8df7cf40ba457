//! Validated account inputs: parse once at the edge, then trust the type.

use tandem_shared::ids::Role;

/// An email address: trimmed, 3-254 chars, one `@` with text on both sides, no spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parse a user-supplied email.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let valid_shape = match s.split_once('@') {
            Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !domain.contains('@'),
            None => false,
        };
        if !(3..=254).contains(&s.len()) || !valid_shape || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("email must be a valid address".into());
        }
        Ok(Self(s.to_string()))
    }

    /// The lowercase form used for uniqueness and throttling.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A public handle: 3-30 characters of `[a-z0-9_]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle(String);

impl Handle {
    /// Parse a user-supplied handle.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = (3..=30).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err("handle must be 3-30 characters of a-z, 0-9 and _".into())
        }
    }
}

impl AsRef<str> for Handle {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A new password: 10-128 characters.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    /// Parse a new password.
    ///
    /// # Errors
    /// Too short or too long.
    pub fn parse(raw: String) -> Result<Self, String> {
        let n = raw.chars().count();
        if (10..=128).contains(&n) {
            Ok(Self(raw))
        } else {
            Err("password must be 10-128 characters".into())
        }
    }

    /// The secret itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A role a user may sign up with (operators come only from the CLI).
///
/// # Errors
/// Anything but `creator` or `fan`.
pub fn signup_role(raw: &str) -> Result<Role, String> {
    match raw {
        "creator" => Ok(Role::Creator),
        "fan" => Ok(Role::Fan),
        _ => Err("role must be `creator` or `fan`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(Email::parse("a@b").is_ok());
        assert_eq!(Email::parse(" Ann@Example.COM ").unwrap().normalized(), "ann@example.com");
        for bad in ["", "ab", "no-at-sign", "@x.com", "x@", "a b@c.d", "a@b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn handles() {
        assert!(Handle::parse("ann_99").is_ok());
        for bad in ["ab", "Ann", "a-b", "ä_ok", &"x".repeat(31), "robert'); drop table users;--"] {
            assert!(Handle::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("x".repeat(10)).is_ok());
        assert!(Password::parse("x".repeat(9)).is_err());
        assert!(Password::parse("x".repeat(129)).is_err());
        assert_eq!(format!("{:?}", Password::parse("supersecret1".into()).unwrap()), "Password([redacted])");
    }

    #[test]
    fn operators_cannot_sign_up() {
        assert!(signup_role("operator").is_err());
        assert_eq!(signup_role("fan"), Ok(Role::Fan));
    }
}
