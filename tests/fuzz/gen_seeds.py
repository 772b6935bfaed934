#!/usr/bin/python3
# icehub - SPDX-License-Identifier: MIT
#
# gen_seeds.py: writes the seed corpora of fuzz_stream, fuzz_http,
# fuzz_api, fuzz_ledger and fuzz_config (their formats are in the targets'
# headers). Run from the top directory after changing a format:
#   /usr/bin/python3 tests/fuzz/gen_seeds.py
import os
import struct
import zlib

MAGIC = 0x2112A442


def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\0" * ((4 - len(v) % 4) % 4)


def stun(mtype, body=b"", tid=b"0123456789ab", fp=True):
    msg = struct.pack("!HHI", mtype, len(body) + (8 if fp else 0), MAGIC) + tid + body
    if fp:
        msg += struct.pack("!HHI", 0x8028, 4, (zlib.crc32(msg) ^ 0x5354554E) & 0xFFFFFFFF)
    return msg


def chdata(ch, data):
    return struct.pack("!HH", ch, len(data)) + data + b"\0" * ((4 - len(data) % 4) % 4)


BIND = stun(0x0001)
ALLOC = stun(0x0003, attr(0x0019, b"\x11\0\0\0") + attr(0x0006, b"alice") +
             attr(0x0014, b"icehub") + attr(0x0015, b"nonce"))
SEND = stun(0x0016, attr(0x0012, b"\0\x01\x21\x13\x5e\x12\xa4\x43") + attr(0x0013, b"hello"),
            fp=False)

STREAM = {
    "binding": b"\x00" + BIND,
    "allocate-then-channel": b"\x01" + ALLOC + chdata(0x4001, b"abc") + chdata(0x4002, b""),
    "many": b"\x00" + BIND * 3 + SEND * 2,
    "channel-too-early": b"\x02" + BIND + chdata(0x4001, b"x" * 13) + BIND,
    "http-garbage": b"\x00GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad-cookie": b"\x00" + BIND[:4] + b"\0\0\0\0" + BIND[8:],
    "odd-length": b"\x00\x00\x01\x00\x03\x21\x12\xa4\x42" + b"\0" * 15,
    "big-declared": b"\x00\x00\x16\xff\xfc\x21\x12\xa4\x42" + b"\0" * 40,
    "channel-big": b"\x00\x40\x01\xff\xff" + b"\0" * 100,
    "truncated": b"\x01" + ALLOC[:-3],
    "first-byte-c0": b"\x00" + BIND + b"\xc0abc",
}

HTTP = {
    "append": b"\x00\x04user=alice\nlimit=10\nflag\nx=a b&c\n=v",
    "append-small": b"\x00\x01user=%\xff\x01",
    "get-user": b"\x01\x00user=al%20ice&limit=5",
    "get-bad-escape": b"\x01\x00user=%zz",
    "get-plus": b"\x01\x08a=1+2&user=b%2Bc",
    "bearer": b"\x02\x00Bearer  s3cret  ",
    "bearer-case": b"\x02\x00bEaReR tok",
    "bearer-basic": b"\x02\x00Basic dXNlcjpwdw==",
    "api-summary": b"\x03\x00/api/summary",
    "api-allocs": b"\x03\x00/api/allocations\x00user=alice&limit=100000",
    "api-alloc-id": b"\x03\x03/api/allocations/0042",
    "api-alloc-bad": b"\x03\x00/api/allocations/18446744073709551616",
    "api-revoke": b"\x03\x01/api/users/alice%20x/revoke",
    "api-revoke-bad": b"\x03\x01/api/users//revoke",
    "api-wrong-method": b"\x03\x02/api/usage",
    "api-unknown": b"\x03\x00/api/nope",
}


def api_rec(op, a=0, c=0, body=b""):
    return bytes([op, a, c, len(body)]) + body


API = {
    "two-users": api_rec(0, 100, 1, b"alice") + api_rec(0, 50, 2, b"bob") + api_rec(3),
    "hostile-names": api_rec(0, 1, 1, b'a"b\\c\nd') + api_rec(0, 1, 1, b"\xff\xfe") +
    api_rec(0, 1, 1, b"other") + api_rec(0, 1, 1, b"") + api_rec(4),
    "quota": api_rec(2, 10, 0) + api_rec(0, 200, 3, b"alice") + api_rec(8, 1, 1, b"alice") +
    api_rec(3),
    "period-roll": api_rec(0, 9, 9, b"u") + api_rec(1, 255, 1) + api_rec(1, 255, 1) +
    api_rec(0, 1, 1, b"v") + api_rec(3),
    "month": api_rec(2, 0, 1) + api_rec(0, 7, 7, b"m") + api_rec(4),
}

REC_FINAL = (b'{"type":"final","alloc_id":7,"seq":3,"user":"1764633600:alice",'
             b'"quota_user":"alice","realm":"example.org","client":"203.0.113.5:40000",'
             b'"client_transport":"udp","relay":["192.0.2.10:50112"],'
             b'"start":"2026-12-01T10:00:00.120Z","end":"2026-12-01T10:03:10.481Z",'
             b'"to_peer_bytes":10416,"to_client_bytes":91230,"to_peer_packets":88,'
             b'"to_client_packets":95,"peers":["198.51.100.7"],"peers_total":1,'
             b'"end_reason":"client"}')
REC_INTERIM = (b'{"type":"interim","alloc_id":7,"seq":2,"user":"bob","realm":"r",'
               b'"start":"2026-12-01T10:02:00.131+01:00","end":"1796162706.5",'
               b'"to_peer_bytes":1,"to_client_bytes":2,"to_peer_packets":3,'
               b'"to_client_packets":4}')

LEDGER = {
    "file": b"\x00" + REC_FINAL + b"\n" + REC_INTERIM + b"\n",
    "file-torn": b"\x00" + REC_FINAL + b"\n" + REC_FINAL[:70],
    "file-bad": b"\x00" + b'{"type":"final"}\n[1,2]\n\n' + REC_INTERIM + b"\nnot json\n",
    "time-rfc3339": b"\x012026-12-01T22:05:06.123Z",
    "time-offset": b"\x012026-12-01T23:05:06-00:30",
    "time-date": b"\x012026-02-28",
    "time-unix": b"\x011796162706.25",
    "record": b"\x02" + bytes(range(64)) + b"\x01" * 64 + b"alice\x00al\xffice\x00realm\"",
}

# The sample configuration without its comments (it must fit -max_len).
with open("deploy/icehub.conf", "rb") as f:
    SAMPLE = b"".join(l for l in f if l.strip() and not l.lstrip().startswith(b"#"))

CONFIG = {
    "sample": SAMPLE,
    "small": b'turn = { realm = "x"; users = [ "a:b" ]; relay_ports = "40000-40100"; };\n',
    "flags": b'log = { level = "debug"; };\x00turn.threads=2\x00quota.user_bytes=10Gi'
             b'\x00ICEHUB_TURN_REALM=env.example',
    "include": b'@include "inc.conf"\nturn = { threads = 1; };\x00inc:http = { enabled = false; };',
    "lists": b'turn = { denied_peers = [ "10.0.0.0/8", "::1" ];'
             b' external_ip = [ "203.0.113.7/10.0.0.7" ];'
             b' listen = [ "[::1]:3478", "127.0.0.1:3479" ]; };\n'
             b'quota = { users = [ "bob=1M", "team-*=10M" ]; period = "day"; };\n',
    "bad": b'turn = { threads = "x"; };',
    "unknown": b'turn = { relayports = "1-2"; };',
    "admin": b'admin = { enabled = true; token = "t"; };\nhttp = { listen = [ "127.0.0.1:8080" ]; };',
}


def write(dirname, seeds):
    os.makedirs(dirname, exist_ok=True)
    for name, data in seeds.items():
        assert len(data) < 4096, name
        with open(os.path.join(dirname, name), "wb") as f:
            f.write(data)


def config_dict():
    """Every setting name and section of the schema, and libconfig's syntax."""
    import re
    with open("common/cmn_config_schema.c") as f:
        names = re.findall(r'\.name = "([a-z_]+)\.([a-z_]+)"', f.read())
    out = ["# Generated by tests/fuzz/gen_seeds.py from common/cmn_config_schema.c."]
    for sec in sorted({s for s, _ in names}):
        out.append(f'sec_{sec}="{sec} = {{"')
    for sec, key in names:
        out.append(f'{sec}_{key}="{key} = "')
        out.append(f'flag_{sec}_{key}="{sec}.{key}="')
    out += ['include="@include \\"inc.conf\\""', 'list="[ \\"a\\", \\"b\\" ]"', 'yes="true"',
            'end="};"', 'env="ICEHUB_"']
    with open("tests/fuzz/config.dict", "w") as f:
        f.write("\n".join(out) + "\n")


config_dict()
write("tests/fuzz/corpus/stream", STREAM)
write("tests/fuzz/corpus/http", HTTP)
write("tests/fuzz/corpus/api", API)
write("tests/fuzz/corpus/ledger", LEDGER)
write("tests/fuzz/corpus/config", CONFIG)
