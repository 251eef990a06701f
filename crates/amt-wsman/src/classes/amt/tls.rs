//! TLS configuration: `AMT_TLSSettingData` (remote and local instances),
//! `AMT_TLSCredentialContext` (which certificate the TLS endpoints use) and
//! `AMT_TLSProtocolEndpointCollection` (AMT-PROTOCOLS.md §2.5, §6).
//!
//! Sources: recorded fixtures `amt/tls/**`; Intel's generated classes (intel/lms
//! `CIM_Framework`: `AMT_TLSSettingData.cpp`, `AMT_TLSCredentialContext.cpp`); the Create body
//! of go-wsman-messages `pkg/wsman/amt/tls/credentialcontext.go` and MeshCentral.

use crate::value::{EndpointReference, SelectorSet};

/// `InstanceID` of the remote (network, 802.3) TLS settings instance.
pub const TLS_REMOTE_INSTANCE_ID: &str = "Intel(r) AMT 802.3 TLS Settings";
/// `InstanceID` of the local (LMS) TLS settings instance.
pub const TLS_LOCAL_INSTANCE_ID: &str = "Intel(r) AMT LMS TLS Settings";
/// `ElementName` of the one `AMT_TLSProtocolEndpointCollection`, as devices report it
/// (fixture `amt/tls/protocolendpointcollection/get.xml`).
pub const TLS_ENDPOINT_COLLECTION_NAME: &str = "TLSProtocolEndpoint Instances Collection";
/// The spelling (no space) MeshCentral and go-wsman-messages put in the
/// `ElementProvidingContext` selector when creating a credential context; firmware accepts it,
/// so a device should too.
pub const TLS_ENDPOINT_COLLECTION_NAME_LEGACY: &str = "TLSProtocolEndpointInstances Collection";

wsman_struct! {
    /// `AMT_TLSSettingData`: one instance for the network interface, one for LMS.
    /// Writable: `Enabled`, `MutualAuthentication`, `TrustedCN`, `AcceptNonSecureConnections`;
    /// `NonSecureConnectionsSupported` is read-only and must be left out of a Put.
    /// Source: fixture `amt/tls/settingdata/pull.xml`; Intel `AMT_TLSSettingData.cpp`.
    class AmtTlsSettingData = "AMT_TLSSettingData" {
        /// Also accept plain-text connections on 16992 when TLS is enabled.
        "AcceptNonSecureConnections" => accept_non_secure_connections: Option<bool>,
        /// [`TLS_REMOTE_INSTANCE_ID`] or [`TLS_LOCAL_INSTANCE_ID`].
        "ElementName" => element_name: Option<String>,
        /// TLS enabled.
        "Enabled" => enabled: Option<bool>,
        /// [`TLS_REMOTE_INSTANCE_ID`] or [`TLS_LOCAL_INSTANCE_ID`].
        "InstanceID" => instance_id: Option<String>,
        /// Require a client certificate (mutual TLS).
        "MutualAuthentication" => mutual_authentication: Option<bool>,
        /// Read-only: whether non-TLS connections can be allowed at all.
        "NonSecureConnectionsSupported" => non_secure_connections_supported: Option<bool>,
        /// Allowed client-certificate subject CNs (mutual TLS).
        "TrustedCN" => trusted_cn: Vec<String>,
        /// Issuer of the certificate in use.
        "X509IssuerName" => x509_issuer_name: Option<String>,
        /// Serial number of the certificate in use (base64).
        "X509SerialNumber" => x509_serial_number: Option<String>,
    }
}

impl AmtTlsSettingData {
    /// True for the remote (network) instance.
    pub fn is_remote(&self) -> bool {
        self.instance_id.as_deref() == Some(TLS_REMOTE_INSTANCE_ID)
    }

    /// True for the local (LMS) instance.
    pub fn is_local(&self) -> bool {
        self.instance_id.as_deref() == Some(TLS_LOCAL_INSTANCE_ID)
    }

    /// A copy fit for Put: the read-only `NonSecureConnectionsSupported` removed.
    pub fn for_put(&self) -> Self {
        AmtTlsSettingData {
            non_secure_connections_supported: None,
            ..self.clone()
        }
    }
}

wsman_struct! {
    /// `AMT_TLSCredentialContext`: associates the TLS server certificate with the TLS
    /// endpoints. Both properties are references.
    /// Source: fixture `amt/tls/credentialcontext/pull.xml`.
    class AmtTlsCredentialContext = "AMT_TLSCredentialContext" {
        /// The `AMT_PublicKeyCertificate` (selector `InstanceID`).
        "ElementInContext" => element_in_context: Option<EndpointReference>,
        /// The `AMT_TLSProtocolEndpointCollection` (selector `ElementName`).
        "ElementProvidingContext" => element_providing_context: Option<EndpointReference>,
    }
}

impl AmtTlsCredentialContext {
    /// The body consoles Create (or Put) to make the certificate with this `InstanceID`
    /// (`Intel(r) AMT Certificate: Handle: N`) the TLS server certificate. Uses the address
    /// `/wsman` and the selector spelling that MeshCentral and go-wsman-messages send.
    pub fn for_certificate(cert_instance_id: &str) -> Self {
        let mut in_context = EndpointReference::to_class(
            "AMT_PublicKeyCertificate",
            SelectorSet::one("InstanceID", cert_instance_id),
        );
        in_context.address = "/wsman".into();
        let mut providing = EndpointReference::to_class(
            "AMT_TLSProtocolEndpointCollection",
            SelectorSet::one("ElementName", TLS_ENDPOINT_COLLECTION_NAME_LEGACY),
        );
        providing.address = "/wsman".into();
        AmtTlsCredentialContext {
            element_in_context: Some(in_context),
            element_providing_context: Some(providing),
            extra: Vec::new(),
        }
    }

    /// `InstanceID` of the certificate in context, when the reference carries one.
    pub fn certificate_instance_id(&self) -> Option<&str> {
        self.element_in_context
            .as_ref()
            .and_then(|e| e.selectors.get("InstanceID"))
    }

    /// True when `ElementProvidingContext` names the TLS endpoint collection (either spelling).
    pub fn provides_tls_endpoints(&self) -> bool {
        self.element_providing_context.as_ref().is_some_and(|e| {
            e.resource_uri
                .as_deref()
                .is_some_and(|u| crate::ns::class_of(u) == "AMT_TLSProtocolEndpointCollection")
                && matches!(
                    e.selectors.get("ElementName"),
                    None | Some(TLS_ENDPOINT_COLLECTION_NAME)
                        | Some(TLS_ENDPOINT_COLLECTION_NAME_LEGACY)
                )
        })
    }
}

wsman_struct! {
    /// `AMT_TLSProtocolEndpointCollection`: the collection of TLS endpoints.
    /// Source: fixture `amt/tls/protocolendpointcollection/get.xml`.
    class AmtTlsProtocolEndpointCollection = "AMT_TLSProtocolEndpointCollection" {
        /// [`TLS_ENDPOINT_COLLECTION_NAME`].
        "ElementName" => element_name: Option<String>,
        /// Instance key (not sent by current firmware).
        "InstanceID" => instance_id: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::Typed;
    use crate::value::Value;

    #[test]
    fn credential_context_properties_are_references() {
        let ctx = AmtTlsCredentialContext::for_certificate("Intel(r) AMT Certificate: Handle: 3");
        let i = ctx.to_instance();
        assert_eq!(i.name, "AMT_TLSCredentialContext");
        let Some(Value::Epr(a)) = i.get("ElementInContext") else {
            panic!("ElementInContext is not an EPR");
        };
        assert_eq!(a.address, "/wsman");
        assert_eq!(
            a.resource_uri.as_deref(),
            Some("http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate")
        );
        let Some(Value::Epr(b)) = i.get("ElementProvidingContext") else {
            panic!("ElementProvidingContext is not an EPR");
        };
        assert_eq!(
            b.selectors.get("ElementName"),
            Some(TLS_ENDPOINT_COLLECTION_NAME_LEGACY)
        );
        let back = AmtTlsCredentialContext::from_instance(&i).unwrap();
        assert_eq!(back, ctx);
        assert_eq!(
            back.certificate_instance_id(),
            Some("Intel(r) AMT Certificate: Handle: 3")
        );
        assert!(back.provides_tls_endpoints());
    }

    #[test]
    fn tls_put_body_omits_read_only_property() {
        let s = AmtTlsSettingData {
            instance_id: Some(TLS_REMOTE_INSTANCE_ID.into()),
            enabled: Some(true),
            non_secure_connections_supported: Some(true),
            ..Default::default()
        };
        assert!(s.is_remote() && !s.is_local());
        let put = s.for_put().to_instance();
        assert!(put.get("NonSecureConnectionsSupported").is_none());
        assert_eq!(put.get_text("Enabled"), Some("true"));
    }
}
