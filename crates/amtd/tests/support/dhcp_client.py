#!/usr/bin/env python3
"""An independent DHCP client (scapy) for the DHCP/DNS peer tests: one DISCOVER/OFFER,
REQUEST/ACK exchange on IFACE, run inside the device network namespace.

Usage: dhcp_client.py --iface IF [--mac MAC] [--hostname NAME] [--fqdn FQDN]
                      [--fqdn-flags N] [--params 1,3,6,...] [--request-params 1,3,...]
                      [--xid N] [--timeout S]

Prints one JSON object on stdout: {"yiaddr", "server_id", "xid", "mac", "offer": [...],
"ack": [...]}, where offer/ack are the server's options as [{"code", "hex"}] in wire order
(raw bytes from the UDP payload, not scapy's interpretation). Exits 1 (with a message on
stderr) when there is no OFFER or no ACK (or a NAK) within the timeout.

Option 81 is sent with flags S|E (0x05) by default: without the E bit Kea reads the
wire-format name as ASCII and registers a wrong name.
"""

import argparse
import json
import sys

from scapy.all import (  # type: ignore
    BOOTP,
    DHCP,
    IP,
    UDP,
    Ether,
    conf,
    get_if_hwaddr,
    mac2str,
    srp1,
)


def wire_name(fqdn: str) -> bytes:
    out = b""
    for label in fqdn.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\x00"


def raw_options(pkt) -> list:
    """The options of a BOOTP packet as [{"code", "hex"}], from the raw UDP payload."""
    payload = bytes(pkt[UDP].payload)
    opts = []
    i = 240  # 236-byte BOOTP header + 4-byte magic cookie
    while i < len(payload):
        code = payload[i]
        if code == 0:
            i += 1
            continue
        if code == 255:
            break
        if i + 1 >= len(payload):
            break
        length = payload[i + 1]
        opts.append({"code": code, "hex": payload[i + 2 : i + 2 + length].hex()})
        i += 2 + length
    return opts


def option(opts: list, code: int):
    for o in opts:
        if o["code"] == code:
            return bytes.fromhex(o["hex"])
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", required=True)
    ap.add_argument("--mac")
    ap.add_argument("--hostname")
    ap.add_argument("--fqdn")
    ap.add_argument("--fqdn-flags", type=int, default=0x05)
    ap.add_argument("--params", default="1,3,6,12,15,28,42,51,54,58,59,81")
    ap.add_argument("--request-params")
    ap.add_argument("--xid", type=lambda s: int(s, 0), default=0x1234ABCD)
    ap.add_argument("--timeout", type=float, default=5.0)
    a = ap.parse_args()

    conf.checkIPaddr = False
    conf.verb = 0
    mac = a.mac or get_if_hwaddr(a.iface)
    params = [int(p) for p in a.params.split(",") if p]
    req_params = [int(p) for p in (a.request_params or a.params).split(",") if p]
    extra = []
    if a.hostname:
        extra.append(("hostname", a.hostname.encode("ascii")))
    if a.fqdn:
        extra.append((81, bytes([a.fqdn_flags, 0, 0]) + wire_name(a.fqdn)))

    base = (
        Ether(dst="ff:ff:ff:ff:ff:ff", src=mac)
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
    )
    bootp = BOOTP(chaddr=mac2str(mac), xid=a.xid, flags=0x8000)
    discover = base / bootp / DHCP(
        options=[("message-type", "discover")] + extra + [("param_req_list", params), "end"]
    )
    offer = srp1(discover, iface=a.iface, timeout=a.timeout, verbose=0)
    if offer is None or BOOTP not in offer:
        print("no OFFER", file=sys.stderr)
        return 1
    offer_opts = raw_options(offer)
    sid = option(offer_opts, 54)
    yiaddr = offer[BOOTP].yiaddr
    request = base / bootp / DHCP(
        options=[
            ("message-type", "request"),
            ("requested_addr", yiaddr),
            ("server_id", ".".join(str(b) for b in sid) if sid else "0.0.0.0"),
        ]
        + extra
        + [("param_req_list", req_params), "end"]
    )
    ack = srp1(request, iface=a.iface, timeout=a.timeout, verbose=0)
    if ack is None or BOOTP not in ack:
        print("no ACK", file=sys.stderr)
        return 1
    ack_opts = raw_options(ack)
    mtype = option(ack_opts, 53)
    if mtype != b"\x05":
        print(f"not an ACK: message type {mtype!r}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "yiaddr": ack[BOOTP].yiaddr,
                "server_id": ".".join(str(b) for b in sid) if sid else None,
                "xid": a.xid,
                "mac": mac,
                "offer": offer_opts,
                "ack": ack_opts,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
