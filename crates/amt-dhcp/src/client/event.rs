//! What the client tells its caller: events, datagrams to send, and why a datagram was ignored.

use std::fmt;
use std::net::Ipv4Addr;

use super::Lease;
use crate::message::{Message, MessageType};
use crate::DhcpError;

/// The client's state (RFC 2131 figure 5, without INIT-REBOOT/REBOOTING), for callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateKind {
    /// Not started, or waiting to restart after a NAK.
    Init,
    /// DISCOVER sent, waiting for an OFFER.
    Selecting,
    /// REQUEST sent for an offered address, waiting for ACK or NAK.
    Requesting,
    /// Holding a lease; nothing to send before T1.
    Bound,
    /// Past T1: unicast REQUESTs to the leasing server.
    Renewing,
    /// Past T2: broadcast REQUESTs to any server.
    Rebinding,
    /// Released; does nothing until started again.
    Stopped,
}

/// Where a datagram goes (always to UDP port 67).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// 255.255.255.255.
    Broadcast,
    /// One server.
    Unicast(Ipv4Addr),
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The message.
    pub message: Message,
    /// Its encoding.
    pub bytes: Vec<u8>,
    /// Where to send it.
    pub to: Destination,
}

impl Transmit {
    pub(super) fn new(message: Message, to: Destination) -> Self {
        Self {
            bytes: message.encode(),
            message,
            to,
        }
    }
}

/// Why a lease was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostReason {
    /// A server answered DHCPNAK.
    Nak {
        /// Its option 56, if any.
        message: Option<String>,
    },
    /// The lease ran out without an ACK.
    Expired,
}

/// Something the caller must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Send this datagram.
    Transmit(Transmit),
    /// A new lease (after DISCOVER/OFFER/REQUEST/ACK): configure the address.
    Bound(Lease),
    /// The lease was extended (RENEWING or REBINDING got an ACK).
    Renewed(Lease),
    /// The lease is gone (or the request for one was refused): stop using the address. The
    /// client has already started over with a DISCOVER.
    Lost(LostReason),
}

/// Why [`Client::handle`](super::Client::handle) ignored a datagram. None of these is an error of the client: a
/// broadcast segment carries plenty of DHCP traffic meant for others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// Not a DHCP message.
    Undecodable(DhcpError),
    /// A BOOTREQUEST (another client's traffic).
    NotReply,
    /// No exchange in progress in this state.
    NotWaiting {
        /// The client's state.
        state: StateKind,
    },
    /// Another exchange's transaction id.
    WrongXid {
        /// The current exchange's xid.
        expected: u32,
        /// The reply's.
        got: u32,
    },
    /// Another client's MAC address.
    WrongChaddr {
        /// The reply's chaddr.
        got: [u8; 6],
    },
    /// No (known) option 53.
    NoMessageType,
    /// A message type that means nothing in this state (an OFFER while REQUESTING…).
    UnexpectedType {
        /// The client's state.
        state: StateKind,
        /// The message type received.
        message_type: MessageType,
    },
    /// An OFFER or ACK with `yiaddr` 0.0.0.0.
    NoAddress,
    /// An OFFER without a server identifier (option 54).
    MissingServerId,
    /// An ACK or NAK from another server than the one the client is talking to.
    WrongServer {
        /// The server the client is talking to.
        expected: Ipv4Addr,
        /// The reply's option 54.
        got: Ipv4Addr,
    },
    /// An ACK without a usable lease time (option 51 absent, malformed or zero).
    MissingLeaseTime,
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Undecodable(e) => write!(f, "undecodable: {e}"),
            Self::NotReply => f.write_str("not a BOOTREPLY"),
            Self::NotWaiting { state } => write!(f, "no exchange in progress ({state:?})"),
            Self::WrongXid { expected, got } => {
                write!(f, "xid {got:#010x}, expected {expected:#010x}")
            }
            Self::WrongChaddr { got } => write!(f, "chaddr {got:02x?} is not ours"),
            Self::NoMessageType => f.write_str("no DHCP message type"),
            Self::UnexpectedType {
                state,
                message_type,
            } => write!(f, "{message_type:?} unexpected in {state:?}"),
            Self::NoAddress => f.write_str("no address (yiaddr 0.0.0.0)"),
            Self::MissingServerId => f.write_str("no server identifier"),
            Self::WrongServer { expected, got } => {
                write!(f, "from server {got}, expected {expected}")
            }
            Self::MissingLeaseTime => f.write_str("ACK without a usable lease time"),
        }
    }
}
