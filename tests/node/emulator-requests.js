#!/usr/bin/env node
// Builds WS-Management requests with Intel's own message library
// (@device-management-toolkit/wsman-messages) for crates/amt-emulator/tests/net_peers.rs, which
// sends them to an emulated device over HTTP and checks the answers. Prints JSON:
//
//   [{ "name", "class", "xml" }, ...]
//
// Pull requests carry the placeholder context __CONTEXT__; the test substitutes the context the
// device returned for the Enumerate just before.
'use strict';

const { AMT, CIM, IPS } = require('@device-management-toolkit/wsman-messages');

const amt = new AMT.Messages();
const cim = new CIM.Messages();
const ips = new IPS.Messages();
const CTX = '__CONTEXT__';

const out = [
  ['GeneralSettings.Get', 'AMT_GeneralSettings', amt.GeneralSettings.Get()],
  ['SetupAndConfigurationService.Get', 'AMT_SetupAndConfigurationService', amt.SetupAndConfigurationService.Get()],
  ['SoftwareIdentity.Enumerate', 'CIM_SoftwareIdentity', cim.SoftwareIdentity.Enumerate()],
  ['SoftwareIdentity.Pull', 'CIM_SoftwareIdentity', cim.SoftwareIdentity.Pull(CTX)],
  ['Chassis.Get', 'CIM_Chassis', cim.Chassis.Get()],
  ['HostBasedSetupService.Get', 'IPS_HostBasedSetupService', ips.HostBasedSetupService.Get()],
].map(([name, cls, xml]) => ({ name, class: cls, xml }));

process.stdout.write(JSON.stringify(out, null, 1) + '\n');
