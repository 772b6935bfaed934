#!/usr/bin/python3
"""Write the seed corpora of the live upgrade's fuzz targets, from the
formats' descriptions (not from the C code):
- fuzz_turn_state: allocations encoded as turn/turn_state.c describes
  (version 1): a bare one, one with permissions, a bound channel, a channel
  in its quarantine and a cached answer, a dual-stack one with an IPv6
  client, and a time-limited user;
- fuzz_upgrade_state: 0x01 + a handover stream as
  daemon/ihd_handover_codec.c describes (one worker, two listeners, one
  allocation, a reservation, the hub's rooms), and 0x00 + the hub's rooms as
  signal/sig_state.c describes.
usage: gen_upgrade_seeds.py [CORPUS_DIR]"""
import os
import socket
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def addr(text, port=0):
    if ":" in text:
        return struct.pack("!BH", 6, port) + socket.inet_pton(socket.AF_INET6, text)
    return struct.pack("!BH", 4, port) + socket.inet_pton(socket.AF_INET, text) + b"\0" * 12


def s(text):
    b = text.encode()
    return struct.pack("!H", len(b)) + b


def f64(v):
    return struct.pack("!d", v)


def alloc(client=("203.0.113.5", 40000), server=("198.51.100.1", 3478), ident=7,
          user="alice", quota_user="alice", relays=(("198.51.100.1", 50000),), flags=0,
          peers=(), perms=(), chans=(), resp=b"", cred_expiry=0.0):
    out = struct.pack("!BB", 1, 0) + addr(*client) + addr(*server) + struct.pack("!Q", ident)
    out += s(user) + s(quota_user)
    out += f64(550.0) + f64(cred_expiry) + f64(50.0) + f64(1800000000.0)
    out += struct.pack("!B", len(relays)) + b"".join(addr(*r) for r in relays)
    out += struct.pack("!B", flags) + struct.pack("!QQQQ", 1000, 10, 2000, 20)
    out += f64(65536.0) + f64(1000.0)
    out += struct.pack("!B", len(peers)) + b"".join(addr(p) for p in peers)
    out += struct.pack("!I", len(peers))
    out += struct.pack("!H", len(perms)) + b"".join(addr(p) + f64(t) for p, t in perms)
    out += struct.pack("!H", len(chans))
    out += b"".join(struct.pack("!H", n) + addr(*p) + f64(t) for n, p, t in chans)
    out += b"\xab" * 12 + struct.pack("!HH", 0x004 if resp else 0, len(resp)) + resp
    return out


HUB = (b'{"version":1,"rooms":[{"name":"r","peers":[{"id":"Ab12","resume":"'
       b'abcdefghijklmnopqrstuvwxyz012345","away_until":1700000030.0,"queue":[{"text":'
       b'"{\\"type\\":\\"signal\\"}","from":"Cd34","ref":7}]},{"id":"Cd34","resume":"'
       b'abcdefghijklmnopqrstuvwxyz012346","away_until":1700000031.0,"queue":[]}]}]}')

# A cluster node's rooms: tokens after the node's name, join orders, and a
# member on another node.
HUB_CLUSTER = (b'{"version":1,"rooms":[{"name":"r","peers":[{"id":"Ab12","seq":1,"resume":"'
               b'n1.abcdefghijklmnopqrstuvwxyz012345","away_until":1700000030.0,"queue":[]},'
               b'{"id":"Ef56","seq":2,"node":"n2"}]}]}')


def stream(blob):
    u32, no_fd = (lambda v: struct.pack("!I", v)), 0xFFFFFFFF
    out = b"IHUS" + u32(1) + b"\x42" * 32
    for text in (b"auto-secret", b"token-key"):
        out += u32(len(text)) + text
    out += struct.pack("!Q", 7) + f64(12345.5) + u32(1)
    out += u32(2) + b"\x00" + addr("127.0.0.1", 3478) + u32(0)
    out += b"\x01" + addr("127.0.0.1", 3478) + u32(1)
    out += u32(1) + u32(len(blob)) + blob + u32(2) + u32(no_fd) + b"\x00" + u32(0)
    out += b"\x01" + struct.pack("!QQQQ", 1000, 10, 0, 0) + f64(1.8e9) + f64(30.0) + u32(2)
    out += u32(1) + b"\x01" * 8 + addr("127.0.0.1", 50001) + u32(3) + f64(12.0)
    return out + u32(len(HUB)) + HUB


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    d = os.path.join(root, "turn_state")
    os.makedirs(d, exist_ok=True)
    seeds = {
        "bare": alloc(),
        "tables": alloc(peers=("192.0.2.80", "192.0.2.81"),
                        perms=(("192.0.2.80", 250.0), ("192.0.2.81", 20.0)),
                        chans=((0x4001, ("192.0.2.80", 5000), 500.0),
                               (0x4002, ("192.0.2.81", 6000), -100.0)),
                        resp=b"\x01\x04\x00\x08" + b"\x21\x12\xa4\x42" + b"\xab" * 12 +
                        b"\x00\x0d\x00\x04\x00\x00\x02\x58", flags=3),
        "dual": alloc(client=("2001:db8::5", 40000), server=("2001:db8::1", 3478),
                      relays=(("198.51.100.1", 50002), ("2001:db8::1", 50004)),
                      peers=("2001:db8::80",), perms=(("2001:db8::80", 100.0),)),
        "ephemeral": alloc(user="1800000600:bob", quota_user="bob", cred_expiry=1800000600.0,
                           ident=1 << 40),
    }
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    d = os.path.join(root, "upgrade_state")
    os.makedirs(d, exist_ok=True)
    # The second peer lists the first among the peers it sent stats reports about.
    reported = HUB.replace(b'"away_until":1700000031.0,"queue":[]',
                           b'"away_until":1700000031.0,"queue":[],"reported":["Ab12"]')
    for name, data in {"handover": b"\x01" + stream(seeds["tables"]), "hub": b"\x00" + HUB,
                       "hub-cluster": b"\x02" + HUB_CLUSTER,
                       "hub-cluster-reported": b"\x02" + HUB_CLUSTER.replace(
                           b'"queue":[]}', b'"queue":[],"reported":["Ef56"]}'),
                       "hub-empty": b'\x00{"version":1,"rooms":[]}',
                       "hub-reported": b"\x00" + reported}.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
