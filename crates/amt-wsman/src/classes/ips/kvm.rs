//! `IPS_KVMRedirectionSettingData`: KVM (RFB) settings such as port 5900, the RFB password,
//! the opt-in policy and session timeout.
//!
//! Sources: recorded fixtures `ips/kvmredirection/settings/*.xml`; Intel's generated class
//! `IPS_KVMRedirectionSettingData.cpp` (intel/lms `CIM_Framework`) for types.

wsman_struct! {
    /// `IPS_KVMRedirectionSettingData`. Source: fixture `ips/kvmredirection/settings/get.xml`.
    class IpsKvmRedirectionSettingData = "IPS_KVMRedirectionSettingData" {
        /// Back-to-back frame buffer mode.
        "BackToBackFbMode" => back_to_back_fb_mode: Option<bool>,
        /// Screen shown at session start.
        "DefaultScreen" => default_screen: Option<u8>,
        /// Double buffering active.
        "DoubleBufferActive" => double_buffer_active: Option<bool>,
        /// Double buffering enabled.
        "DoubleBufferEnabled" => double_buffer_enabled: Option<bool>,
        /// `Intel(r) KVM Redirection Settings`.
        "ElementName" => element_name: Option<String>,
        /// KVM enabled in MEBx.
        "EnabledByMEBx" => enabled_by_mebx: Option<bool>,
        /// Grayscale pixel format supported.
        "GrayscalePixelFormatSupported" => grayscale_pixel_format_supported: Option<bool>,
        /// Initial decimation mode for low resolutions.
        "InitialDecimationModeForLowRes" => initial_decimation_mode_for_low_res: Option<u8>,
        /// `Intel(r) KVM Redirection Settings`.
        "InstanceID" => instance_id: Option<String>,
        /// Plain RFB on port 5900 enabled.
        "Is5900PortEnabled" => is_5900_port_enabled: Option<bool>,
        /// User consent required for KVM.
        "OptInPolicy" => opt_in_policy: Option<bool>,
        /// Seconds a consent stays valid.
        "OptInPolicyTimeout" => opt_in_policy_timeout: Option<u16>,
        /// RFB password (write-only; read back empty).
        "RFBPassword" => rfb_password: Option<String>,
        /// Session timeout, minutes.
        "SessionTimeout" => session_timeout: Option<u16>,
        /// Zlib control supported.
        "ZlibControlSupported" => zlib_control_supported: Option<bool>,
    }
}
