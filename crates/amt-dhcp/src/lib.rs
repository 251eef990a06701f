//! Sans-IO DHCPv4 for Intel AMT (D2): message codec, client FQDN option, client state machine.
