//! AMT password rules and the two password encodings AMT methods expect.
//!
//! # Rules for the admin (and MEBx) password
//! [`validate_admin_password`] checks what Intel documents for AMT "strong" passwords:
//! - 8 to 32 characters;
//! - printable 7-bit ASCII only (`0x21..=0x7E`);
//! - at least one uppercase letter, one lowercase letter, one digit and one symbol, where a
//!   symbol is a printable non-alphanumeric character;
//! - none of `:` `,` `"`.
//!
//! Two choices made here, from Intel/OEM documentation rather than firmware code:
//! - **Space is refused** (reported as [`PasswordRule::ForbiddenChar`]`(' ')`): OEM guides list
//!   it as not allowed, symbols are described as ASCII 33–126, and a trailing space is a
//!   classic copy-paste accident.
//! - **`_` is not a symbol**: Intel counts the underscore as alphanumeric, so `Passw0rd_` lacks
//!   a symbol. It is still allowed in a password.
//!
//! Validation reports **every** broken rule at once ([`PasswordError::Rules`]), so a UI can show
//! them all. Errors never contain the password; [`PasswordRule::ForbiddenChar`] names only one
//! of the four forbidden characters.
//!
//! # Encodings
//! AMT never receives the password itself, only digests of it, in two encodings
//! (AMT-PROTOCOLS §2.4):
//! - `IPS_HostBasedSetupService.Setup`/`AdminSetup` `NetworkAdminPassword`: 32 lowercase hex
//!   digits of `MD5("admin:" realm ":" password)` — [`setup_password_hash_hex`];
//! - `AMT_AuthorizationService.SetAdminAclEntryEx` / `AddUserAclEntryEx` `DigestPassword`:
//!   base64 of the raw 16-byte `MD5(user ":" realm ":" password)` —
//!   [`acl_digest_password_b64`].
//!
//! Both are the Digest `HA1` and therefore password-equivalent: whoever has them can log in.
//!
//! # Generation
//! [`generate_admin_password`] turns caller-supplied random bytes into a password that always
//! passes the rules (sans-IO: this module has no random source).

use std::fmt;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::secret::SecretString;

/// Shortest admin password AMT accepts, in characters.
pub const ADMIN_PASSWORD_MIN_LEN: usize = 8;

/// Longest admin password AMT accepts, in characters.
pub const ADMIN_PASSWORD_MAX_LEN: usize = 32;

/// Longest digest user name AMT accepts, in characters (AMT-PROTOCOLS §2.6).
pub const DIGEST_USERNAME_MAX_LEN: usize = 16;

/// Printable ASCII characters an admin password must not contain.
pub const FORBIDDEN_PASSWORD_CHARS: [char; 4] = [' ', ':', ',', '"'];

/// The built-in AMT administrator account, whose digest `NetworkAdminPassword` is hashed with.
pub const ADMIN_USERNAME: &str = "admin";

/// Length [`generate_admin_password`] callers should use unless they have a reason not to.
pub const DEFAULT_GENERATED_PASSWORD_LEN: usize = 16;

/// One broken admin password rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRule {
    /// Fewer than [`ADMIN_PASSWORD_MIN_LEN`] characters.
    TooShort {
        /// Length of the password in characters.
        len: usize,
    },
    /// More than [`ADMIN_PASSWORD_MAX_LEN`] characters.
    TooLong {
        /// Length of the password in characters.
        len: usize,
    },
    /// Contains a character outside printable 7-bit ASCII (a control character or anything
    /// above `~`). The character is not named, so the error reveals nothing of the password.
    NonAscii,
    /// No uppercase letter `A`–`Z`.
    MissingUpper,
    /// No lowercase letter `a`–`z`.
    MissingLower,
    /// No digit `0`–`9`.
    MissingDigit,
    /// No symbol: a printable non-alphanumeric character other than `_` and the forbidden ones.
    MissingSymbol,
    /// Contains one of [`FORBIDDEN_PASSWORD_CHARS`] (space, `:`, `,`, `"`); reported once per
    /// distinct character.
    ForbiddenChar(char),
}

impl fmt::Display for PasswordRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => write!(
                f,
                "too short ({len} characters, at least {ADMIN_PASSWORD_MIN_LEN})"
            ),
            Self::TooLong { len } => write!(
                f,
                "too long ({len} characters, at most {ADMIN_PASSWORD_MAX_LEN})"
            ),
            Self::NonAscii => f.write_str("contains a character that is not printable ASCII"),
            Self::MissingUpper => f.write_str("needs an uppercase letter"),
            Self::MissingLower => f.write_str("needs a lowercase letter"),
            Self::MissingDigit => f.write_str("needs a digit"),
            Self::MissingSymbol => f.write_str("needs a symbol such as ! $ or ;"),
            Self::ForbiddenChar(c) => write!(f, "must not contain {c:?}"),
        }
    }
}

/// One broken digest user name rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsernameRule {
    /// The name is empty.
    Empty,
    /// More than [`DIGEST_USERNAME_MAX_LEN`] characters.
    TooLong {
        /// Length of the name in characters.
        len: usize,
    },
    /// Contains a character that is not 7-bit ASCII.
    NonAscii,
    /// Contains an ASCII control character (it could not be sent in an HTTP header).
    ControlChar,
}

impl fmt::Display for UsernameRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("is empty"),
            Self::TooLong { len } => write!(
                f,
                "too long ({len} characters, at most {DIGEST_USERNAME_MAX_LEN})"
            ),
            Self::NonAscii => f.write_str("contains a character that is not 7-bit ASCII"),
            Self::ControlChar => f.write_str("contains a control character"),
        }
    }
}

/// Joins rules for an error message.
fn join<T: fmt::Display>(rules: &[T]) -> String {
    rules
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a password or user name was refused, or a password could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The admin password breaks these rules (all of them, in a fixed order: length, ASCII,
    /// upper, lower, digit, symbol, forbidden characters). Never empty.
    #[error("password breaks the AMT password rules: {}", join(.0))]
    Rules(Vec<PasswordRule>),
    /// The digest user name breaks these rules (all of them). Never empty.
    #[error("digest user name is invalid: {}", join(.0))]
    Username(Vec<UsernameRule>),
    /// [`generate_admin_password`] was asked for a length outside 8..=32.
    #[error(
        "cannot generate a {len}-character password: AMT allows {ADMIN_PASSWORD_MIN_LEN} to {ADMIN_PASSWORD_MAX_LEN}"
    )]
    InvalidLength {
        /// The requested length.
        len: usize,
    },
    /// [`generate_admin_password`] was given too few random bytes.
    #[error("password generation needs {needed} random bytes, got {got}")]
    NotEnoughRandom {
        /// Bytes needed ([`random_bytes_needed`]).
        needed: usize,
        /// Bytes given.
        got: usize,
    },
}

/// Whether `c` counts as a symbol for the "one symbol" rule.
fn is_symbol(c: char) -> bool {
    c.is_ascii_punctuation() && c != '_' && !FORBIDDEN_PASSWORD_CHARS.contains(&c)
}

/// Every rule `pw` breaks, in the documented order; empty when it is valid.
#[must_use]
pub fn admin_password_problems(pw: &str) -> Vec<PasswordRule> {
    let mut problems = Vec::new();
    let len = pw.chars().count();
    if len < ADMIN_PASSWORD_MIN_LEN {
        problems.push(PasswordRule::TooShort { len });
    }
    if len > ADMIN_PASSWORD_MAX_LEN {
        problems.push(PasswordRule::TooLong { len });
    }
    if pw.chars().any(|c| !(' '..='~').contains(&c)) {
        problems.push(PasswordRule::NonAscii);
    }
    if !pw.chars().any(|c| c.is_ascii_uppercase()) {
        problems.push(PasswordRule::MissingUpper);
    }
    if !pw.chars().any(|c| c.is_ascii_lowercase()) {
        problems.push(PasswordRule::MissingLower);
    }
    if !pw.chars().any(|c| c.is_ascii_digit()) {
        problems.push(PasswordRule::MissingDigit);
    }
    if !pw.chars().any(is_symbol) {
        problems.push(PasswordRule::MissingSymbol);
    }
    let mut seen = Vec::new();
    for c in pw.chars().filter(|c| FORBIDDEN_PASSWORD_CHARS.contains(c)) {
        if !seen.contains(&c) {
            seen.push(c);
            problems.push(PasswordRule::ForbiddenChar(c));
        }
    }
    problems
}

/// Checks an AMT admin (or MEBx) password against the rules in the [module docs](self).
///
/// # Errors
/// [`PasswordError::Rules`] listing every broken rule.
pub fn validate_admin_password(pw: &str) -> Result<(), PasswordError> {
    let problems = admin_password_problems(pw);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PasswordError::Rules(problems))
    }
}

/// Checks a digest user name: 1 to 16 characters of 7-bit ASCII without control characters.
///
/// # Errors
/// [`PasswordError::Username`] listing every broken rule.
pub fn validate_digest_username(name: &str) -> Result<(), PasswordError> {
    let mut problems = Vec::new();
    let len = name.chars().count();
    if len == 0 {
        problems.push(UsernameRule::Empty);
    }
    if len > DIGEST_USERNAME_MAX_LEN {
        problems.push(UsernameRule::TooLong { len });
    }
    if !name.is_ascii() {
        problems.push(UsernameRule::NonAscii);
    }
    if name.chars().any(|c| c.is_ascii_control()) {
        problems.push(UsernameRule::ControlChar);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PasswordError::Username(problems))
    }
}

const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const DIGITS: &[u8] = b"0123456789";
/// Symbols used by the generator: the allowed ones minus `_` (not a symbol for AMT), `\`
/// (escaping trouble in headers and JSON), `'` `<` `>` `&` (XML, and refused by some OEM MEBx
/// screens), `` ` `` `|` and `$` (shells), `%` (INI interpolation: the PyPI `amt` package's
/// `amtctrl` keeps passwords in a Python `configparser` file and fails on a `%`; found by the
/// server-level amtctrl test).
const SYMBOLS: &[u8] = b"!#()*+-./;=?@[]^{}~";
/// The union of the four sets above.
const ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#()*+-./;=?@[]^{}~";

/// How many random bytes [`generate_admin_password`] needs for a password of `len`
/// characters: 4 per character and 4 per shuffle step (`8 * len` is enough).
#[must_use]
pub const fn random_bytes_needed(len: usize) -> usize {
    8 * len
}

/// Builds an AMT admin password of `len` characters (8..=32) from caller-supplied random
/// bytes; the same bytes always give the same password, and it always passes
/// [`validate_admin_password`].
///
/// One character comes from each of uppercase, lowercase, digits and symbols, the rest from
/// their union (83 characters, about 6.4 bits each), then the characters are shuffled
/// (Fisher–Yates). Each choice reduces 4 random bytes modulo the set size; the bias this leaves
/// is below 2⁻²⁵ per choice. Pass at least [`random_bytes_needed`]`(len)` bytes from a CSPRNG;
/// extra bytes are ignored.
///
/// # Errors
/// [`PasswordError::InvalidLength`] for a length outside 8..=32,
/// [`PasswordError::NotEnoughRandom`] when `random` is too short.
pub fn generate_admin_password(random: &[u8], len: usize) -> Result<SecretString, PasswordError> {
    if !(ADMIN_PASSWORD_MIN_LEN..=ADMIN_PASSWORD_MAX_LEN).contains(&len) {
        return Err(PasswordError::InvalidLength { len });
    }
    let needed = random_bytes_needed(len);
    if random.len() < needed {
        return Err(PasswordError::NotEnoughRandom {
            needed,
            got: random.len(),
        });
    }
    let mut draws = random
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize);
    let mut draw_below = |n: usize| draws.next().unwrap_or(0) % n;

    let mut chars: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(len));
    for set in [UPPER, LOWER, DIGITS, SYMBOLS] {
        chars.push(set[draw_below(set.len())]);
    }
    while chars.len() < len {
        chars.push(ALPHABET[draw_below(ALPHABET.len())]);
    }
    for i in (1..len).rev() {
        let j = draw_below(i + 1);
        chars.swap(i, j);
    }
    let password = SecretString::new(chars.iter().copied().map(char::from).collect());
    // Cannot fail by construction; checked anyway so a future edit cannot hand out a password
    // the device would refuse.
    validate_admin_password(password.expose())?;
    Ok(password)
}

/// General `HA1`: 32 lowercase hex digits of `MD5(user ":" realm ":" password)`.
///
/// Password-equivalent: keep the result secret.
#[must_use]
pub fn digest_password_hex(user: &str, realm: &str, password: &str) -> String {
    crate::digest::ha1_hex(user, realm, password)
}

/// `NetworkAdminPassword` for `IPS_HostBasedSetupService.Setup` / `AdminSetup`: 32 lowercase
/// hex digits of `MD5("admin:" realm ":" password)`, with `realm` the device's
/// `AMT_GeneralSettings.DigestRealm` (`Digest:` + 32 hex digits).
///
/// Password-equivalent: keep the result secret.
#[must_use]
pub fn setup_password_hash_hex(realm: &str, password: &str) -> String {
    digest_password_hex(ADMIN_USERNAME, realm, password)
}

/// `DigestPassword` for `AMT_AuthorizationService.SetAdminAclEntryEx` and `AddUserAclEntryEx`:
/// standard base64 (with padding, 24 characters) of the raw 16-byte
/// `MD5(user ":" realm ":" password)`.
///
/// Password-equivalent: keep the result secret.
#[must_use]
pub fn acl_digest_password_b64(user: &str, realm: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(crate::digest::ha1(user, realm, password))
}
