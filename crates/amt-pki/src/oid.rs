//! Object identifiers AMT certificates use.

use const_oid::ObjectIdentifier;

/// TLS web server authentication (1.3.6.1.5.5.7.3.1).
pub const SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
/// TLS web client authentication (1.3.6.1.5.5.7.3.2).
pub const CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
/// Intel AMT "console usage" (2.16.840.1.113741.1.2.1): mutual-TLS console certificates.
pub const AMT_CONSOLE_USAGE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.113741.1.2.1");
/// Intel AMT "agent usage" (2.16.840.1.113741.1.2.2).
pub const AMT_AGENT_USAGE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.113741.1.2.2");
/// Intel AMT "setup and configuration" (2.16.840.1.113741.1.2.3): provisioning certificates.
pub const AMT_SETUP_USAGE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.113741.1.2.3");
