//! Redacting wrappers for secrets: passwords, keys and digest credentials.
//!
//! [`SecretString`] and [`SecretBytes`] keep a secret out of logs and error messages: their
//! `Debug` and `Display` print `[REDACTED]`, and their memory is overwritten with zeros when they
//! are dropped (via [`zeroize`]). The secret is reached only through an explicit `expose()` call,
//! so every place that reads it is easy to find with grep.
//!
//! What these types do **not** do: they cannot stop copies the caller makes from `expose()`
//! (a `format!` of the exposed value is an ordinary `String`), and a `String` that was moved into
//! [`SecretString::new`] may already have left copies behind when it grew. Keep exposed values
//! short-lived.
//!
//! `Clone` is implemented because configuration and workflow state are cloned; each clone is
//! zeroized on its own drop.

use std::fmt;

use zeroize::Zeroize;

/// Text that `Debug` and `Display` print as `[REDACTED]`.
const REDACTED: &str = "[REDACTED]";

/// A secret UTF-8 string (a password, an HA1 hex digest, a pre-shared key).
///
/// `Debug`/`Display` print `[REDACTED]`; the buffer is zeroized on drop. Equality is not
/// implemented on purpose: compare secrets with [`SecretString::ct_eq`], which runs in constant
/// time for equal-length inputs.
#[derive(Clone, Default)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps `secret`, taking ownership of its buffer.
    #[must_use]
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// Returns the secret itself. Every call site is a place where the secret leaves the
    /// wrapper: keep what you do with it short-lived and out of logs.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length of the secret in bytes (not secret in itself for our uses).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is the empty string.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares two secrets without an early exit on the first differing byte (the length is
    /// not hidden).
    #[must_use]
    pub fn ct_eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl From<String> for SecretString {
    fn from(secret: String) -> Self {
        Self::new(secret)
    }
}

impl From<&str> for SecretString {
    fn from(secret: &str) -> Self {
        Self::new(secret.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// A secret byte string (a key, a raw digest, a PSK).
///
/// `Debug`/`Display` print `[REDACTED]`; the buffer is zeroized on drop. Compare with
/// [`SecretBytes::ct_eq`].
#[derive(Clone, Default)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps `secret`, taking ownership of its buffer.
    #[must_use]
    pub fn new(secret: Vec<u8>) -> Self {
        Self(secret)
    }

    /// Returns the secret bytes. Every call site is a place where the secret leaves the wrapper.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length of the secret in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares two secrets without an early exit on the first differing byte (the length is
    /// not hidden).
    #[must_use]
    pub fn ct_eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.ct_eq(&other.0).into()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(secret: Vec<u8>) -> Self {
        Self::new(secret)
    }
}

impl From<&[u8]> for SecretBytes {
    fn from(secret: &[u8]) -> Self {
        Self::new(secret.to_vec())
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_string_debug_and_display_are_redacted() {
        let s = SecretString::from("Sup3r$ecret");
        assert_eq!(format!("{s:?}"), "[REDACTED]");
        assert_eq!(format!("{s}"), "[REDACTED]");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some([REDACTED])");
        assert_eq!(s.expose(), "Sup3r$ecret");
    }

    #[test]
    fn secret_bytes_debug_is_redacted() {
        let b = SecretBytes::from(&b"\x01\x02key"[..]);
        assert_eq!(format!("{b:?}"), "[REDACTED]");
        assert_eq!(b.expose(), b"\x01\x02key");
    }

    #[test]
    fn ct_eq_compares_content() {
        assert!(SecretString::from("abc").ct_eq(&SecretString::from("abc")));
        assert!(!SecretString::from("abc").ct_eq(&SecretString::from("abd")));
        assert!(!SecretString::from("abc").ct_eq(&SecretString::from("ab")));
        assert!(SecretBytes::from(vec![1, 2]).ct_eq(&SecretBytes::from(vec![1, 2])));
    }
}
