// The classes and methods `Call` knows; included by call.rs.
known_classes! {
    // AMT_*: provisioning and configuration.
    AmtGeneralSettings => amt::AmtGeneralSettings,
    AmtSetupAndConfigurationService => amt::AmtSetupAndConfigurationService,
    AmtAuthorizationService => amt::AmtAuthorizationService,
    AmtPublicKeyManagementService => amt::AmtPublicKeyManagementService,
    AmtPublicKeyCertificate => amt::AmtPublicKeyCertificate,
    AmtPublicPrivateKeyPair => amt::AmtPublicPrivateKeyPair,
    AmtCrl => amt::AmtCrl,
    AmtTlsSettingData => amt::AmtTlsSettingData,
    AmtTlsCredentialContext => amt::AmtTlsCredentialContext,
    AmtTlsProtocolEndpointCollection => amt::AmtTlsProtocolEndpointCollection,
    AmtTimeSynchronizationService => amt::AmtTimeSynchronizationService,
    AmtEthernetPortSettings => amt::AmtEthernetPortSettings,
    AmtKerberosSettingData => amt::AmtKerberosSettingData,
    // AMT_*: management.
    AmtRedirectionService => amt::AmtRedirectionService,
    AmtBootSettingData => amt::AmtBootSettingData,
    AmtBootCapabilities => amt::AmtBootCapabilities,
    AmtSystemDefensePolicy => amt::AmtSystemDefensePolicy,
    AmtHdr8021Filter => amt::AmtHdr8021Filter,
    AmtIpHeadersFilter => amt::AmtIpHeadersFilter,
    AmtNetworkPortSystemDefensePolicy => amt::AmtNetworkPortSystemDefensePolicy,
    AmtAuditLog => amt::AmtAuditLog,
    AmtMessageLog => amt::AmtMessageLog,
    AmtEventLogEntry => amt::AmtEventLogEntry,
    AmtAlarmClockService => amt::AmtAlarmClockService,
    // CIM_*.
    CimPowerManagementService => cim::CimPowerManagementService,
    CimAssociatedPowerManagementService => cim::CimAssociatedPowerManagementService,
    CimComputerSystemPackage => cim::CimComputerSystemPackage,
    CimSoftwareIdentity => cim::CimSoftwareIdentity,
    CimChassis => cim::CimChassis,
    CimCard => cim::CimCard,
    CimBiosElement => cim::CimBiosElement,
    CimProcessor => cim::CimProcessor,
    CimPhysicalMemory => cim::CimPhysicalMemory,
    CimChip => cim::CimChip,
    CimMediaAccessDevice => cim::CimMediaAccessDevice,
    CimBootService => cim::CimBootService,
    CimBootConfigSetting => cim::CimBootConfigSetting,
    CimBootSourceSetting => cim::CimBootSourceSetting,
    CimKvmRedirectionSap => cim::CimKvmRedirectionSap,
    // IPS_*.
    IpsHostBasedSetupService => ips::IpsHostBasedSetupService,
    IpsOptInService => ips::IpsOptInService,
    IpsKvmRedirectionSettingData => ips::IpsKvmRedirectionSettingData,
    IpsPowerManagementService => ips::IpsPowerManagementService,
    IpsAlarmClockOccurrence => ips::IpsAlarmClockOccurrence,
}

known_methods! {
    // CIM_PowerManagementService.
    RequestPowerStateChange => (cim::RequestPowerStateChangeInput, cim::RequestPowerStateChangeOutput),
    // IPS_HostBasedSetupService.
    Setup => (ips::SetupInput, ips::SetupOutput),
    AdminSetup => (ips::AdminSetupInput, ips::AdminSetupOutput),
    AddNextCertInChain => (ips::AddNextCertInChainInput, ips::AddNextCertInChainOutput),
    UpgradeClientToAdmin => (ips::UpgradeClientToAdminInput, ips::UpgradeClientToAdminOutput),
    // AMT_SetupAndConfigurationService.
    CommitChanges => (amt::CommitChangesInput, amt::CommitChangesOutput),
    Unprovision => (amt::UnprovisionInput, amt::UnprovisionOutput),
    PartialUnprovision => (amt::PartialUnprovisionInput, amt::PartialUnprovisionOutput),
    SetMebxPassword => (amt::SetMebxPasswordInput, amt::SetMebxPasswordOutput),
    GetUuid => (amt::GetUuidInput, amt::GetUuidOutput),
    // AMT_AuthorizationService.
    SetAdminAclEntryEx => (amt::SetAdminAclEntryExInput, amt::SetAdminAclEntryExOutput),
    AddUserAclEntryEx => (amt::AddUserAclEntryExInput, amt::AddUserAclEntryExOutput),
    UpdateUserAclEntryEx => (amt::UpdateUserAclEntryExInput, amt::UpdateUserAclEntryExOutput),
    GetAdminAclEntry => (amt::GetAdminAclEntryInput, amt::GetAdminAclEntryOutput),
    GetAdminAclEntryStatus => (amt::GetAdminAclEntryStatusInput, amt::GetAdminAclEntryStatusOutput),
    GetAdminNetAclEntryStatus => (amt::GetAdminNetAclEntryStatusInput, amt::GetAdminNetAclEntryStatusOutput),
    EnumerateUserAclEntries => (amt::EnumerateUserAclEntriesInput, amt::EnumerateUserAclEntriesOutput),
    GetUserAclEntryEx => (amt::GetUserAclEntryExInput, amt::GetUserAclEntryExOutput),
    RemoveUserAclEntry => (amt::RemoveUserAclEntryInput, amt::RemoveUserAclEntryOutput),
    GetAclEnabledState => (amt::GetAclEnabledStateInput, amt::GetAclEnabledStateOutput),
    SetAclEnabledState => (amt::SetAclEnabledStateInput, amt::SetAclEnabledStateOutput),
    // AMT_PublicKeyManagementService.
    AddTrustedRootCertificate => (amt::AddTrustedRootCertificateInput, amt::AddTrustedRootCertificateOutput),
    AddCertificate => (amt::AddCertificateInput, amt::AddCertificateOutput),
    AddKey => (amt::AddKeyInput, amt::AddKeyOutput),
    GenerateKeyPair => (amt::GenerateKeyPairInput, amt::GenerateKeyPairOutput),
    GeneratePkcs10RequestEx => (amt::GeneratePkcs10RequestExInput, amt::GeneratePkcs10RequestExOutput),
    AddCrl => (amt::AddCrlInput, amt::AddCrlOutput),
    ResetCrlList => (amt::ResetCrlListInput, amt::ResetCrlListOutput),
    // AMT_TimeSynchronizationService.
    GetLowAccuracyTimeSynch => (amt::GetLowAccuracyTimeSynchInput, amt::GetLowAccuracyTimeSynchOutput),
    SetHighAccuracyTimeSynch => (amt::SetHighAccuracyTimeSynchInput, amt::SetHighAccuracyTimeSynchOutput),
    // AMT_EthernetPortSettings.
    SetLinkPreference => (amt::SetLinkPreferenceInput, amt::SetLinkPreferenceOutput),
    // AMT_KerberosSettingData.
    GetCredentialCacheState => (amt::GetCredentialCacheStateInput, amt::GetCredentialCacheStateOutput),
    SetCredentialCacheState => (amt::SetCredentialCacheStateInput, amt::SetCredentialCacheStateOutput),
    // AMT_RedirectionService.
    RedirectionRequestStateChange => (amt::RedirectionRequestStateChangeInput, amt::RedirectionRequestStateChangeOutput),
    // AMT_AuditLog, AMT_MessageLog.
    ReadRecords => (amt::ReadRecordsInput, amt::ReadRecordsOutput),
    PositionToFirstRecord => (amt::PositionToFirstRecordInput, amt::PositionToFirstRecordOutput),
    GetRecords => (amt::GetRecordsInput, amt::GetRecordsOutput),
    MessageLogRequestStateChange => (amt::MessageLogRequestStateChangeInput, amt::MessageLogRequestStateChangeOutput),
    // AMT_AlarmClockService.
    AddAlarm => (amt::AddAlarmInput, amt::AddAlarmOutput),
    // CIM_BootService, CIM_BootConfigSetting.
    SetBootConfigRole => (cim::SetBootConfigRoleInput, cim::SetBootConfigRoleOutput),
    BootServiceRequestStateChange => (cim::BootServiceRequestStateChangeInput, cim::BootServiceRequestStateChangeOutput),
    ChangeBootOrder => (cim::ChangeBootOrderInput, cim::ChangeBootOrderOutput),
    // CIM_KVMRedirectionSAP.
    KvmRequestStateChange => (cim::KvmRequestStateChangeInput, cim::KvmRequestStateChangeOutput),
    // IPS_OptInService.
    StartOptIn => (ips::StartOptInInput, ips::StartOptInOutput),
    CancelOptIn => (ips::CancelOptInInput, ips::CancelOptInOutput),
    SendOptInCode => (ips::SendOptInCodeInput, ips::SendOptInCodeOutput),
    // IPS_PowerManagementService.
    RequestOsPowerSavingStateChange => (ips::RequestOsPowerSavingStateChangeInput, ips::RequestOsPowerSavingStateChangeOutput),
}
