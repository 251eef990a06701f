//! `AMT_GeneralSettings`: host name, domain, digest realm, network switches.

wsman_struct! {
    /// `AMT_GeneralSettings`: the device's identity and general network behaviour.
    /// Source: recorded fixture `amt/general/get.xml`; AMT SDK class reference.
    class AmtGeneralSettings = "AMT_GeneralSettings" {
        /// 0 = disabled, 1 = enabled.
        "AMTNetworkEnabled" => amt_network_enabled: Option<u32>,
        /// Minutes between DDNS refreshes.
        "DDNSPeriodicUpdateInterval" => ddns_periodic_update_interval: Option<u32>,
        /// TTL of DDNS records (seconds).
        "DDNSTTL" => ddns_ttl: Option<u32>,
        /// Whether the DHCP server registers the name (the usual enterprise set-up).
        "DDNSUpdateByDHCPServerEnabled" => ddns_update_by_dhcp_server_enabled: Option<bool>,
        /// Whether the firmware updates DNS itself.
        "DDNSUpdateEnabled" => ddns_update_enabled: Option<bool>,
        /// Whether DHCP sync needs a host name.
        "DHCPSyncRequiresHostname" => dhcp_sync_requires_hostname: Option<u32>,
        /// DHCPv6 configuration timeout.
        "DHCPv6ConfigurationTimeout" => dhcpv6_configuration_timeout: Option<u32>,
        /// `Digest:` followed by 32 upper-case hex characters.
        "DigestRealm" => digest_realm: Option<String>,
        /// The ME's domain name.
        "DomainName" => domain_name: Option<String>,
        /// `Intel(r) AMT: General Settings`.
        "ElementName" => element_name: Option<String>,
        /// The ME's host name.
        "HostName" => host_name: Option<String>,
        /// The host OS's FQDN.
        "HostOSFQDN" => host_os_fqdn: Option<String>,
        /// Minutes before the ME sleeps when idle.
        "IdleWakeTimeout" => idle_wake_timeout: Option<u32>,
        /// `Intel(r) AMT: General Settings`.
        "InstanceID" => instance_id: Option<String>,
        /// Network interface enabled.
        "NetworkInterfaceEnabled" => network_interface_enabled: Option<bool>,
        /// Answers ICMP ping.
        "PingResponseEnabled" => ping_response_enabled: Option<bool>,
        /// Power source.
        "PowerSource" => power_source: Option<u32>,
        /// Preferred address family.
        "PreferredAddressFamily" => preferred_address_family: Option<u32>,
        /// Presence notification interval.
        "PresenceNotificationInterval" => presence_notification_interval: Option<u32>,
        /// Privacy level.
        "PrivacyLevel" => privacy_level: Option<u32>,
        /// Answers RMCP ping.
        "RmcpPingResponseEnabled" => rmcp_ping_response_enabled: Option<bool>,
        /// ME and host share one FQDN.
        "SharedFQDN" => shared_fqdn: Option<bool>,
        /// Thunderbolt dock.
        "ThunderboltDockEnabled" => thunderbolt_dock_enabled: Option<u32>,
        /// WS-Man only mode (legacy EOI off).
        "WsmanOnlyMode" => wsman_only_mode: Option<bool>,
    }
}
