// The operations amtd checks against Intel's own WS-Management message library
// (@device-management-toolkit/wsman-messages, the library Intel's RPS and MPS build requests
// with). Shared by gen-requests.js (conformance test input) and bench.js (build throughput).
//
// Each entry is [name, class, args, build]: `build(args)` calls the library with the values in
// `args` and returns the request XML. `args` holds fixed, deterministic test values (no clock, no
// randomness) under stable names that crates/amt-wsman/tests/intel_ops read back. Every `build`
// makes fresh objects for the library (it rewrites the objects it is given), so `args` is never
// modified and one `args` can be built from any number of times.
//
// The library keeps one MessageID counter per `Messages` object (starting at 0). `messages()`
// makes one object per schema (AMT, CIM, IPS), so IDs repeat across schemas.
'use strict';

const crypto = require('crypto');
const { AMT, CIM, IPS } = require('@device-management-toolkit/wsman-messages');

// Deterministic filler bytes: byte i = (i * mul + add) mod 256.
function bytes(len, mul, add) {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * mul + add) & 0xff;
  return b;
}

const DIGEST_REALM = 'Digest:A3829B3827DE4D33D4449B366831FD01';
const ADMIN_HASH = crypto
  .createHash('md5')
  .update(`admin:${DIGEST_REALM}:P@ssw0rd-Conformance1`)
  .digest('hex');
const MC_NONCE = bytes(20, 7, 3).toString('base64');
const SIGNATURE = bytes(256, 13, 5).toString('base64');
const ROOT_CERT = bytes(612, 31, 17).toString('base64');
const LEAF_CERT = bytes(700, 11, 1).toString('base64');
const CLIENT_CERT = bytes(540, 5, 9).toString('base64');
const NULL_SIGNED_CSR = bytes(400, 3, 77).toString('base64');
const ENUM_CONTEXT = 'E2020000-0000-0000-0000-000000000000';
const KEY_HANDLE = 'Intel(r) AMT Key: Handle: 0';
const CERT_HANDLE = 'Intel(r) AMT Certificate: Handle: 1';

// The KeyPair argument of GeneratePKCS10RequestEx is an endpoint reference. The library's
// model types it as a string that it inserts verbatim, and its callers (RPS) pass the EPR's
// children as XML text, as here.
const KEY_PAIR_EPR =
  '<a:Address>/wsman</a:Address><a:ReferenceParameters>' +
  '<w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicPrivateKeyPair</w:ResourceURI>' +
  `<w:SelectorSet><w:Selector Name="InstanceID">${KEY_HANDLE}</w:Selector></w:SelectorSet>` +
  '</a:ReferenceParameters>';

// A fresh set of the library's message builders: { amt, cim, ips }.
function messages() {
  return { amt: new AMT.Messages(), cim: new CIM.Messages(), ips: new IPS.Messages() };
}

// The operations, built with `m` (from `messages()`): [name, class, args, build(args) -> xml].
function operations(m) {
  const { amt, cim, ips } = m;
  return [
    // ---- AMT: Get / Enumerate / Pull -----------------------------------------------------
    ['GeneralSettings.Get', 'AMT_GeneralSettings', {}, () => amt.GeneralSettings.Get()],
    ['SetupAndConfigurationService.Get', 'AMT_SetupAndConfigurationService', {},
      () => amt.SetupAndConfigurationService.Get()],
    ['RedirectionService.Get', 'AMT_RedirectionService', {}, () => amt.RedirectionService.Get()],
    ['BootSettingData.Get', 'AMT_BootSettingData', {}, () => amt.BootSettingData.Get()],
    ['PublicKeyCertificate.Enumerate', 'AMT_PublicKeyCertificate', {},
      () => amt.PublicKeyCertificate.Enumerate()],
    ['PublicKeyCertificate.Pull', 'AMT_PublicKeyCertificate', { context: ENUM_CONTEXT },
      (a) => amt.PublicKeyCertificate.Pull(a.context)],
    ['TLSSettingData.Enumerate', 'AMT_TLSSettingData', {}, () => amt.TLSSettingData.Enumerate()],
    ['TLSSettingData.Pull', 'AMT_TLSSettingData', { context: 'E3020000-0000-0000-0000-000000000000' },
      (a) => amt.TLSSettingData.Pull(a.context)],
    ['EthernetPortSettings.Enumerate', 'AMT_EthernetPortSettings', {},
      () => amt.EthernetPortSettings.Enumerate()],
    ['EthernetPortSettings.Pull', 'AMT_EthernetPortSettings', { context: 'E4020000-0000-0000-0000-000000000000' },
      (a) => amt.EthernetPortSettings.Pull(a.context)],

    // ---- AMT: methods --------------------------------------------------------------------
    ['SetupAndConfigurationService.CommitChanges', 'AMT_SetupAndConfigurationService', {},
      () => amt.SetupAndConfigurationService.CommitChanges()],
    ['SetupAndConfigurationService.SetMEBxPassword', 'AMT_SetupAndConfigurationService',
      { password: 'Mebx-Pa55word!' }, (a) => amt.SetupAndConfigurationService.SetMEBXPassword(a.password)],
    ['SetupAndConfigurationService.Unprovision', 'AMT_SetupAndConfigurationService',
      { provisioningMode: 1 }, (a) => amt.SetupAndConfigurationService.Unprovision(a.provisioningMode)],
    ['SetupAndConfigurationService.GetUuid', 'AMT_SetupAndConfigurationService', {},
      () => amt.SetupAndConfigurationService.GetUuid()],
    ['PublicKeyManagementService.AddTrustedRootCertificate', 'AMT_PublicKeyManagementService',
      { certificateBlob: ROOT_CERT },
      (a) => amt.PublicKeyManagementService.AddTrustedRootCertificate({ CertificateBlob: a.certificateBlob })],
    ['PublicKeyManagementService.AddCertificate', 'AMT_PublicKeyManagementService',
      { certificateBlob: CLIENT_CERT },
      (a) => amt.PublicKeyManagementService.AddCertificate({ CertificateBlob: a.certificateBlob })],
    ['PublicKeyManagementService.GenerateKeyPair', 'AMT_PublicKeyManagementService',
      { keyAlgorithm: 0, keyLength: 2048 },
      (a) => amt.PublicKeyManagementService.GenerateKeyPair({ KeyAlgorithm: a.keyAlgorithm, KeyLength: a.keyLength })],
    ['PublicKeyManagementService.GeneratePKCS10RequestEx', 'AMT_PublicKeyManagementService',
      { keyHandle: KEY_HANDLE, signingAlgorithm: 1, nullSignedCertificateRequest: NULL_SIGNED_CSR },
      (a) => amt.PublicKeyManagementService.GeneratePKCS10RequestEx({
        KeyPair: KEY_PAIR_EPR,
        SigningAlgorithm: a.signingAlgorithm,
        NullSignedCertificateRequest: a.nullSignedCertificateRequest,
      })],
    ['AuthorizationService.SetAdminAclEntryEx', 'AMT_AuthorizationService',
      { username: 'admin', digestPassword: ADMIN_HASH },
      (a) => amt.AuthorizationService.SetAdminACLEntryEx(a.username, a.digestPassword)],
    ['AuthorizationService.AddUserAclEntryEx', 'AMT_AuthorizationService',
      { accessPermission: 2, realms: [3, 5, 7, 13], digestUsername: 'operator1', digestPassword: 'b5ce2ad3f1e8d0f7f1d4e5a9c0b6a7e2' },
      (a) => amt.AuthorizationService.AddUserAclEntryEx(a.accessPermission, a.realms, a.digestUsername, a.digestPassword)],
    ['TimeSynchronizationService.GetLowAccuracyTimeSynch', 'AMT_TimeSynchronizationService', {},
      () => amt.TimeSynchronizationService.GetLowAccuracyTimeSynch()],
    ['TimeSynchronizationService.SetHighAccuracyTimeSynch', 'AMT_TimeSynchronizationService',
      { ta0: 1700000000, tm1: 1700000001, tm2: 1700000002 },
      (a) => amt.TimeSynchronizationService.SetHighAccuracyTimeSynch(a.ta0, a.tm1, a.tm2)],
    ['RedirectionService.RequestStateChange', 'AMT_RedirectionService', { requestedState: 32771 },
      (a) => amt.RedirectionService.RequestStateChange(a.requestedState)],
    ['KerberosSettingData.GetCredentialCacheState', 'AMT_KerberosSettingData', {},
      () => amt.KerberosSettingData.GetCredentialCacheState()],

    // ---- AMT: Put / Create / Delete ------------------------------------------------------
    ['TLSSettingData.Put', 'AMT_TLSSettingData',
      {
        ElementName: 'Intel(r) AMT 802.3 TLS Settings',
        InstanceID: 'Intel(r) AMT 802.3 TLS Settings',
        MutualAuthentication: false,
        Enabled: true,
        AcceptNonSecureConnections: false,
        NonSecureConnectionsSupported: true,
      },
      (a) => amt.TLSSettingData.Put({ ...a })],
    ['BootSettingData.Put', 'AMT_BootSettingData',
      {
        ElementName: 'Intel(r) AMT Boot Configuration Settings',
        InstanceID: 'Intel(r) AMT:BootSettingData 0',
        BIOSPause: false,
        BIOSSetup: false,
        BootMediaIndex: 0,
        ConfigurationDataReset: false,
        FirmwareVerbosity: 0,
        ForcedProgressEvents: false,
        IDERBootDevice: 0,
        LockKeyboard: false,
        LockPowerButton: false,
        LockResetButton: false,
        LockSleepButton: false,
        ReflashBIOS: false,
        SecureErase: false,
        UseIDER: false,
        UseSOL: true,
        UseSafeMode: false,
        UserPasswordBypass: false,
      },
      (a) => amt.BootSettingData.Put({ ...a })],
    ['TLSCredentialContext.Create', 'AMT_TLSCredentialContext', { certHandle: CERT_HANDLE },
      (a) => amt.TLSCredentialContext.Create(a.certHandle)],
    ['PublicKeyCertificate.Delete', 'AMT_PublicKeyCertificate',
      { selectorName: 'InstanceID', selectorValue: 'Intel(r) AMT Certificate: Handle: 0' },
      (a) => amt.PublicKeyCertificate.Delete({ name: a.selectorName, value: a.selectorValue })],

    // ---- CIM -----------------------------------------------------------------------------
    ['PowerManagementService.RequestPowerStateChange', 'CIM_PowerManagementService', { powerState: 8 },
      (a) => cim.PowerManagementService.RequestPowerStateChange(a.powerState)],
    ['SoftwareIdentity.Enumerate', 'CIM_SoftwareIdentity', {}, () => cim.SoftwareIdentity.Enumerate()],
    ['SoftwareIdentity.Pull', 'CIM_SoftwareIdentity', { context: ENUM_CONTEXT },
      (a) => cim.SoftwareIdentity.Pull(a.context)],
    ['SoftwareIdentity.Get', 'CIM_SoftwareIdentity', {}, () => cim.SoftwareIdentity.Get()],
    ['PowerManagementService.Get', 'CIM_PowerManagementService', {}, () => cim.PowerManagementService.Get()],
    ['KVMRedirectionSAP.RequestStateChange', 'CIM_KVMRedirectionSAP', { requestedState: 2 },
      (a) => cim.KVMRedirectionSAP.RequestStateChange(a.requestedState)],

    // ---- IPS -----------------------------------------------------------------------------
    ['HostBasedSetupService.Get', 'IPS_HostBasedSetupService', {}, () => ips.HostBasedSetupService.Get()],
    ['HostBasedSetupService.Setup', 'IPS_HostBasedSetupService',
      { adminPassEncryptionType: 2, adminPassword: ADMIN_HASH },
      (a) => ips.HostBasedSetupService.Setup(a.adminPassEncryptionType, a.adminPassword)],
    ['HostBasedSetupService.AdminSetup', 'IPS_HostBasedSetupService',
      { adminPassEncryptionType: 2, adminPassword: ADMIN_HASH, mcNonce: MC_NONCE, signingAlgorithm: 2, digitalSignature: SIGNATURE },
      (a) => ips.HostBasedSetupService.AdminSetup(a.adminPassEncryptionType, a.adminPassword, a.mcNonce, a.signingAlgorithm, a.digitalSignature)],
    ['HostBasedSetupService.UpgradeClientToAdmin', 'IPS_HostBasedSetupService',
      { mcNonce: MC_NONCE, signingAlgorithm: 2, digitalSignature: SIGNATURE },
      (a) => ips.HostBasedSetupService.UpgradeClientToAdmin(a.mcNonce, a.signingAlgorithm, a.digitalSignature)],
    ['HostBasedSetupService.AddNextCertInChain', 'IPS_HostBasedSetupService',
      { cert: LEAF_CERT, isLeaf: true, isRoot: false },
      (a) => ips.HostBasedSetupService.AddNextCertInChain(a.cert, a.isLeaf, a.isRoot)],
    ['OptInService.Get', 'IPS_OptInService', {}, () => ips.OptInService.Get()],
    ['OptInService.StartOptIn', 'IPS_OptInService', {}, () => ips.OptInService.StartOptIn()],
    ['OptInService.SendOptInCode', 'IPS_OptInService', { optInCode: 482913 },
      (a) => ips.OptInService.SendOptInCode(a.optInCode)],
    ['OptInService.CancelOptIn', 'IPS_OptInService', {}, () => ips.OptInService.CancelOptIn()],
    ['PowerManagementService.RequestOSPowerSavingStateChange', 'IPS_PowerManagementService',
      { osPowerSavingState: 2 },
      (a) => ips.PowerManagementService.RequestOSPowerSavingStateChange(a.osPowerSavingState)],
  ];
}

module.exports = { messages, operations };
