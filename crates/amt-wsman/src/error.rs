//! The one error type of this crate.

use crate::xml::XmlError;

/// Everything that can go wrong while building or parsing WS-Management traffic. Each variant
/// names what was wrong so that a caller can report it plainly; none of them is ever a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not acceptable XML (malformed, too large, too deep, DOCTYPE…).
    #[error("XML: {0}")]
    Xml(#[from] XmlError),
    /// The root element is not a SOAP 1.2 `Envelope`, or `Header`/`Body` are missing or misplaced.
    #[error("not a SOAP 1.2 envelope: {0}")]
    NotAnEnvelope(String),
    /// An element was found in a namespace other than the one the protocol requires.
    #[error("<{element}> is in namespace {found:?}, expected {expected:?}")]
    WrongNamespace {
        /// Local name of the element.
        element: String,
        /// Namespace required here.
        expected: String,
        /// Namespace found.
        found: String,
    },
    /// A required header, element or attribute is absent.
    #[error("{context}: missing {what}")]
    Missing {
        /// Where it was expected.
        context: &'static str,
        /// What is missing.
        what: &'static str,
    },
    /// An element that does not belong at this place.
    #[error("{context}: unexpected {found}")]
    Unexpected {
        /// Where it was found.
        context: &'static str,
        /// What was found.
        found: String,
    },
    /// The `Action` header names an operation this implementation does not know.
    #[error("unknown action {0:?}")]
    UnknownAction(String),
    /// A method's body does not fit the action (for example `Foo_INPUT` sent with action `…/Bar`).
    #[error("body <{body}> does not match action method {method:?}")]
    BodyMismatch {
        /// Method named by the action.
        method: String,
        /// Element found in the body.
        body: String,
    },
    /// A property's text could not be converted to its type.
    #[error("{class}.{property}: {value:?} is not a valid {expected}")]
    InvalidValue {
        /// Class (or method body) holding the property.
        class: String,
        /// Property name.
        property: String,
        /// The offending text (truncated).
        value: String,
        /// What was expected (type or enum name).
        expected: &'static str,
    },
    /// A required property is absent, or a single-valued property is repeated.
    #[error("{class}.{property}: {problem}")]
    BadProperty {
        /// Class (or method body) holding the property.
        class: String,
        /// Property name.
        property: String,
        /// `missing` or `repeated`.
        problem: &'static str,
    },
    /// A selector the operation needs is absent.
    #[error("{class}: missing selector {selector}")]
    MissingSelector {
        /// Class addressed.
        class: String,
        /// Selector name required.
        selector: String,
    },
    /// The resource URI names a class this implementation does not model.
    #[error("unknown class {0:?}")]
    UnknownClass(String),
    /// A typed conversion was asked for the wrong class.
    #[error("expected an instance of {expected}, found {found}")]
    WrongClass {
        /// Class the caller asked for.
        expected: &'static str,
        /// Element actually present.
        found: String,
    },
    /// A wire constant (enum) has a value this implementation does not define.
    #[error("{type_name}: unknown value {value}")]
    UnknownEnumValue {
        /// The enum's name.
        type_name: &'static str,
        /// The value received.
        value: i64,
    },
    /// HTTP Digest authentication failed or a header was malformed (see [`crate::digest`]).
    #[error(transparent)]
    Digest(#[from] crate::digest::DigestError),
    /// A password broke the AMT password rules (see [`crate::password`]).
    #[error(transparent)]
    Password(#[from] crate::password::PasswordError),
}
