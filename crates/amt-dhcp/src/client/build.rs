//! The messages the client sends (RFC 2131 §4.4.1 table 5), with the ME's option layout.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::{ClientConfig, Lease};
use crate::message::{code, ClientFqdn, DhcpOption, Message, MessageType, Op};

/// Seconds elapsed since `started`, for the `secs` field (saturating).
pub(super) fn secs_since(started: Duration, now: Duration) -> u16 {
    u16::try_from(now.saturating_sub(started).as_secs()).unwrap_or(u16::MAX)
}

impl ClientConfig {
    fn base(&self, op_type: MessageType, xid: u32, secs: u16) -> Message {
        let mut m = Message::new(Op::BootRequest, xid, self.mac);
        m.secs = secs;
        m.options.push(DhcpOption::message_type(op_type));
        if let Some(id) = &self.client_id {
            m.options.push(DhcpOption::new(code::CLIENT_ID, id.clone()));
        }
        m
    }

    fn push_host_name(&self, m: &mut Message) {
        if let Some(host) = &self.host_name {
            m.options
                .push(DhcpOption::new(code::HOST_NAME, host.as_bytes()));
        }
    }

    /// Pushes option 81 when there is a name to send; returns the name sent.
    fn push_fqdn(&self, m: &mut Message, domain: Option<&str>) -> Option<String> {
        let name = self.fqdn_for(domain)?;
        // RFC 4702 §2.2: "A client SHOULD set the RCODE1 and RCODE2 fields to 0"; §3.1: S=1
        // asks the server to do the A update (the ME never updates DNS itself, SPEC D2), and
        // E=1 selects the canonical wire format (§2.3.1).
        let data = ClientFqdn::server_updates(name.clone()).encode().ok()?;
        m.options.push(DhcpOption::new(code::CLIENT_FQDN, data));
        Some(name)
    }

    fn push_parameter_request_list(&self, m: &mut Message) {
        if !self.parameter_request_list.is_empty() {
            m.options.push(DhcpOption::new(
                code::PARAMETER_REQUEST_LIST,
                self.parameter_request_list.clone(),
            ));
        }
    }

    /// DHCPDISCOVER: 53, (61), (12), 55.
    pub(super) fn discover(&self, xid: u32, secs: u16) -> Message {
        let mut m = self.base(MessageType::Discover, xid, secs);
        m.broadcast = self.broadcast;
        self.push_host_name(&mut m);
        self.push_parameter_request_list(&mut m);
        m
    }

    /// DHCPREQUEST in SELECTING: 53, (61), 50, 54, (12), (81), 55; returns the FQDN sent.
    pub(super) fn request_selecting(
        &self,
        xid: u32,
        secs: u16,
        offer: &Message,
    ) -> (Message, Option<String>) {
        let mut m = self.base(MessageType::Request, xid, secs);
        m.broadcast = self.broadcast;
        m.options
            .push(DhcpOption::address(code::REQUESTED_ADDRESS, offer.yiaddr));
        if let Some(server) = offer.server_id() {
            m.options.push(DhcpOption::address(code::SERVER_ID, server));
        }
        self.push_host_name(&mut m);
        let fqdn = self.push_fqdn(&mut m, offer.domain_name().as_deref());
        self.push_parameter_request_list(&mut m);
        (m, fqdn)
    }

    /// DHCPREQUEST in RENEWING or REBINDING: ciaddr set, no 50/54: 53, (61), (12), (81), 55.
    pub(super) fn request_extending(
        &self,
        xid: u32,
        secs: u16,
        lease: &Lease,
    ) -> (Message, Option<String>) {
        let mut m = self.base(MessageType::Request, xid, secs);
        m.ciaddr = lease.address;
        self.push_host_name(&mut m);
        let domain = lease
            .domain
            .clone()
            .or_else(|| lease.offer.as_ref().and_then(Message::domain_name));
        let fqdn = self.push_fqdn(&mut m, domain.as_deref());
        self.push_parameter_request_list(&mut m);
        (m, fqdn)
    }

    /// DHCPRELEASE: 53, (61), 54; ciaddr set.
    pub(super) fn release(&self, xid: u32, address: Ipv4Addr, server: Ipv4Addr) -> Message {
        let mut m = self.base(MessageType::Release, xid, 0);
        m.ciaddr = address;
        m.options.push(DhcpOption::address(code::SERVER_ID, server));
        m
    }
}
