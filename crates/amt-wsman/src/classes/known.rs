// The classes and methods `Call` knows; included by call.rs.
known_classes! {
    AmtGeneralSettings => amt::AmtGeneralSettings,
    CimPowerManagementService => cim::CimPowerManagementService,
    CimAssociatedPowerManagementService => cim::CimAssociatedPowerManagementService,
    IpsHostBasedSetupService => ips::IpsHostBasedSetupService,
}

known_methods! {
    RequestPowerStateChange => (cim::RequestPowerStateChangeInput, cim::RequestPowerStateChangeOutput),
    Setup => (ips::SetupInput, ips::SetupOutput),
    AdminSetup => (ips::AdminSetupInput, ips::AdminSetupOutput),
}
