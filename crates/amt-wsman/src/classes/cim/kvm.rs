//! `CIM_KVMRedirectionSAP`: the KVM redirection service access point; enable or disable KVM
//! with `RequestStateChange` (2 enable, 3 disable).
//!
//! Sources: recorded fixtures `cim/kvm/*.xml` (`EnabledState` 6, `RequestedState` 2/5);
//! Intel's generated class `CIM_KVMRedirectionSAP.cpp` (intel/lms `CIM_Framework`);
//! go-wsman-messages `pkg/wsman/cim/kvm/decoder.go` (value maps).

use super::{EnabledState, RequestedState, StateChangeReturn};
use crate::classes::CimDateTime;
use crate::value::EndpointReference;

wire_enum! {
    /// `KVMProtocol`.
    pub enum KvmProtocol: u16 {
        /// 0: Unknown.
        Unknown = 0,
        /// 1: Other.
        Other = 1,
        /// 2: Raw.
        Raw = 2,
        /// 3: RDP.
        Rdp = 3,
        /// 4: VNC-RFB.
        VncRfb = 4,
    }
}

wsman_struct! {
    /// `CIM_KVMRedirectionSAP`. Source: fixture `cim/kvm/get.xml`.
    class CimKvmRedirectionSap = "CIM_KVMRedirectionSAP" {
        /// `CIM_KVMRedirectionSAP`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// `KVM Redirection Service Access Point`.
        "ElementName" => element_name: Option<String>,
        /// 2 enabled and in use, 3 disabled, 6 enabled but not connected.
        "EnabledState" => enabled_state: Option<EnabledState>,
        /// Protocol.
        "KVMProtocol" => kvm_protocol: Option<KvmProtocol>,
        /// `KVM Redirection Service Access Point`.
        "Name" => name: Option<String>,
        /// Protocol description when `KVMProtocol` is 1.
        "OtherKVMProtocol" => other_kvm_protocol: Option<String>,
        /// Requested state.
        "RequestedState" => requested_state: Option<RequestedState>,
        /// `CIM_ComputerSystem`.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// `ManagedSystem`.
        "SystemName" => system_name: Option<String>,
    }
}

wsman_struct! {
    /// `RequestStateChange_INPUT` of `CIM_KVMRedirectionSAP` (MeshCentral sends only
    /// `RequestedState`).
    input KvmRequestStateChangeInput = "CIM_KVMRedirectionSAP" . "RequestStateChange" {
        /// 2 to enable, 3 to disable.
        "RequestedState" => requested_state: Option<RequestedState>,
        /// Optional timeout.
        "TimeoutPeriod" => timeout_period: Option<CimDateTime>,
    }
}

wsman_struct! {
    /// `RequestStateChange_OUTPUT` of `CIM_KVMRedirectionSAP`.
    output KvmRequestStateChangeOutput = "CIM_KVMRedirectionSAP" . "RequestStateChange" {
        /// Job reference.
        "Job" => job: Option<EndpointReference>,
        /// Return value.
        "ReturnValue" => return_value: Option<StateChangeReturn>,
    }
}
