#!/usr/bin/python3
# icehub - SPDX-License-Identifier: MIT
#
# gen_ice_seeds.py: writes the seed corpus of fuzz_ice ([mode][bytes], see
# tests/fuzz/fuzz_ice.c). Run from the top directory after changing a format:
#   /usr/bin/python3 tests/fuzz/gen_ice_seeds.py
import hashlib
import os
import struct
import zlib

SIG, CAND, URL, RTP, TURNC = range(5)
KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
CANDS = [
    "candidate:1 1 UDP 2015363327 127.0.0.1 42420 typ host",
    "candidate:2 1 UDP 8331263 127.0.0.1 50123 typ relay raddr 127.0.0.1 rport 40000",
    "candidate:842163049 1 udp 1677729535 203.0.113.7 61665 typ srflx raddr 10.0.0.2 rport 61665 generation 0 ufrag 4ZcD network-cost 999",
    "a=candidate:Ab+/ 2 TCP 4294967295 2001:db8::1 9 typ host tcptype active",
]


def offer(kind="offer", suite="AES_CM_128_HMAC_SHA1_80", key=KEY):
    cands = ",".join('"%s"' % c for c in CANDS[:2])
    return ('{"type":"signal","from":"peer-9","data":{"probe":"icehub-probe/1","kind":"%s",'
            '"ufrag":"abcd","pwd":"0123456789abcdefghij+/","candidates":[%s],'
            '"srtp":{"suite":"%s","key":"%s"}}}' % (kind, cands, suite, key))


def stun(method, cls, attrs, tid=b"\x01" * 12):
    t = ((method & 0xF80) << 2) | ((method & 0x70) << 1) | (method & 0xF) | \
        ((cls & 2) << 7) | ((cls & 1) << 4)
    body = b"".join(struct.pack(">HH", a, len(v)) + v + b"\0" * ((4 - len(v) % 4) % 4)
                    for a, v in attrs)
    return struct.pack(">HHI", t, len(body), 0x2112A442) + tid + body


def xor_addr(ip, port):
    raw = bytes(int(x) for x in ip.split("."))
    x = bytes(a ^ b for a, b in zip(raw, struct.pack(">I", 0x2112A442)))
    return struct.pack(">BBH", 0, 1, port ^ 0x2112) + x


SEEDS = {
    "joined": (SIG, '{"type":"joined","room":"r","id":"me_1","peers":["a"],"iceServers":'
               '[{"urls":["stun:127.0.0.1:3478"]},{"urls":["turn:127.0.0.1:3478?transport=udp",'
               '"turn:127.0.0.1:3478?transport=tcp","turns:h:5349?transport=tcp"],'
               '"username":"1767225600:me_1","credential":"c+/="}],"resume":"x","ref":"join"}'),
    "peer-joined": (SIG, '{"type":"peer-joined","id":"p"}'),
    "peer-left": (SIG, '{"type":"peer-left","id":"p","reason":"timeout"}'),
    "error": (SIG, '{"type":"error","code":"room-full","message":"full","ref":"join"}'),
    "offer": (SIG, offer()),
    "answer-gcm": (SIG, offer("answer", "AEAD_AES_128_GCM", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw==")),
    "done": (SIG, '{"type":"signal","from":"p","data":{"probe":"icehub-probe/1","kind":"done",'
             '"sent":150,"received":148}}'),
    "cand-host": (CAND, CANDS[0]),
    "cand-relay": (CAND, CANDS[1]),
    "cand-srflx": (CAND, CANDS[2]),
    "cand-tcp": (CAND, CANDS[3]),
    "url-turn": (URL, "turn:127.0.0.1:3478?transport=tcp"),
    "url-turns": (URL, "turns:[::1]:5349"),
    "url-ws": (URL, "wss://hub.example.com:8443/ws?x=1"),
    "url-bare": (URL, "stun.example.org:19302"),
    "rtp": (RTP, bytes([0x80, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]) + b"IHP1" + bytes(24) + b"x" * 8),
    "rtp-ext-pad": (RTP, bytes([0xB2, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(8) +
                    bytes([0xBE, 0xDE, 0, 1]) + bytes(4) + b"IHP1" + bytes(26) + bytes([3])),
    "turn-401": (TURNC, stun(3, 3, [(0x0009, b"\0\0\x04\x01Unauthorized"), (0x0014, b"realm"),
                                     (0x0015, b"nonce-1")])),
    "turn-438": (TURNC, stun(8, 3, [(0x0009, b"\0\0\x04\x26Stale Nonce"), (0x0014, b"realm"),
                                     (0x0015, b"nonce-2")])),
    "turn-alloc-ok": (TURNC, stun(3, 2, [(0x0016, xor_addr("192.0.2.1", 50000)),
                                          (0x0020, xor_addr("203.0.113.5", 40000)),
                                          (0x000D, struct.pack(">I", 600))])),
    "binding-ok": (TURNC, stun(1, 2, [(0x0020, xor_addr("127.0.0.1", 4242))])),
}


def main():
    out = os.path.join("tests", "fuzz", "corpus", "ice")
    os.makedirs(out, exist_ok=True)
    for name, (mode, body) in sorted(SEEDS.items()):
        if isinstance(body, str):
            body = body.encode()
        data = bytes([mode]) + body
        with open(os.path.join(out, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()
