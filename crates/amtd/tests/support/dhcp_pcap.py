#!/usr/bin/env python3
"""Decodes the DHCP packets of a pcap file (written by tcpdump) for the DHCP/DNS peer tests.

Usage: dhcp_pcap.py FILE.pcap

Prints one JSON object per DHCP packet, in capture order:
  {"time": float, "src": "ip:port", "dst": "ip:port", "op": 1|2,
   "direction": "client" (op 1, BOOTREQUEST) | "server" (op 2, BOOTREPLY),
   "xid": int, "chaddr": "aa:bb:cc:dd:ee:ff", "ciaddr", "yiaddr", "siaddr", "giaddr",
   "flags": int, "message_type": int | null,
   "options": [{"code": int, "hex": "…"}, …]}
The options are taken from the raw UDP payload, in wire order, byte for byte (pad options are
skipped; parsing stops at the end option), not from scapy's interpreted values.
"""

import json
import socket
import sys

from scapy.all import IP, UDP, Ether, rdpcap  # type: ignore


def udp_payload(pkt) -> bytes:
    """The UDP payload exactly as captured: sliced from the frame's original bytes (scapy
    rebuilds dissected layers, which need not reproduce the wire bytes)."""
    raw = getattr(pkt, "original", None)
    if raw and Ether in pkt:
        off = 14
        ethertype = int.from_bytes(raw[12:14], "big")
        while ethertype in (0x8100, 0x88A8) and len(raw) >= off + 4:
            ethertype = int.from_bytes(raw[off + 2 : off + 4], "big")
            off += 4
        if ethertype == 0x0800 and len(raw) > off:
            ihl = (raw[off] & 0x0F) * 4
            start = off + ihl + 8
            length = int.from_bytes(raw[off + ihl + 4 : off + ihl + 6], "big") - 8
            return bytes(raw[start : start + length])
    return bytes(pkt[UDP].payload)


def decode(payload: bytes):
    if len(payload) < 240 or payload[236:240] != b"\x63\x82\x53\x63":
        return None
    op = payload[0]
    hlen = min(payload[2], 16)
    options = []
    i = 240
    while i < len(payload):
        code = payload[i]
        if code == 0:
            i += 1
            continue
        if code == 255 or i + 1 >= len(payload):
            break
        length = payload[i + 1]
        options.append({"code": code, "hex": payload[i + 2 : i + 2 + length].hex()})
        i += 2 + length
    mtype = next((bytes.fromhex(o["hex"]) for o in options if o["code"] == 53), b"")
    return {
        "op": op,
        "direction": "client" if op == 1 else "server",
        "xid": int.from_bytes(payload[4:8], "big"),
        "flags": int.from_bytes(payload[10:12], "big"),
        "ciaddr": socket.inet_ntoa(payload[12:16]),
        "yiaddr": socket.inet_ntoa(payload[16:20]),
        "siaddr": socket.inet_ntoa(payload[20:24]),
        "giaddr": socket.inet_ntoa(payload[24:28]),
        "chaddr": ":".join(f"{b:02x}" for b in payload[28 : 28 + hlen]),
        "message_type": mtype[0] if len(mtype) == 1 else None,
        "options": options,
    }


def main() -> int:
    for pkt in rdpcap(sys.argv[1]):
        if IP not in pkt or UDP not in pkt:
            continue
        udp = pkt[UDP]
        if not {udp.sport, udp.dport} & {67, 68}:
            continue
        d = decode(udp_payload(pkt))
        if d is None:
            continue
        out = {
            "time": float(pkt.time),
            "src": f"{pkt[IP].src}:{udp.sport}",
            "dst": f"{pkt[IP].dst}:{udp.dport}",
        }
        out.update(d)
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
