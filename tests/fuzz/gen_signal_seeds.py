#!/usr/bin/python3
# icehub - SPDX-License-Identifier: MIT
#
# gen_signal_seeds.py: writes the seed corpora of fuzz_signal (scripts of
# [op][arg][len:2][bytes] records, see tests/fuzz/fuzz_signal.c) and
# fuzz_signal_rest. Run from the top directory after changing a format:
#   /usr/bin/python3 tests/fuzz/gen_signal_seeds.py
import os
import struct

OPEN, TEXT, TMPL, BINARY, TOO_LARGE, GONE, RESUME, CLOCK, TICK, ADMIN, RELOAD = range(11)
PEER = b"\x01"      # + index: a peer id the hub sent
RESUME_TOK = b"\x02"  # + index: a resume token the hub sent
ROOM_TOK = b"\x03"  # + bits: a room token (room = bits & 3, bound when & 4, expired when & 8)


def rec(op, arg=0, body=b""):
    if isinstance(body, str):
        body = body.encode()
    return struct.pack(">BBH", op, arg, len(body)) + body


def say(conn, body):
    return rec(TMPL, conn, body)


def two_peers(room=b"standup"):
    return (rec(OPEN, 0) + rec(OPEN, 1) +
            say(0, b'{"type":"join","room":"' + room + b'","ref":1}') +
            say(1, b'{"type":"join","room":"' + room + b'","peer":"bob","ref":"j"}'))


SEEDS = {
    "join-ping": rec(OPEN, 0) + say(0, '{"type":"join","room":"standup","ref":1}') +
    say(0, '{"type":"ping","ref":"p"}') + say(0, '{"type":"ice-servers","ref":3}'),
    "signal-offer-answer": two_peers() +
    say(1, b'{"type":"signal","to":"' + PEER + b'\x00","data":{"type":"offer","sdp":"v=0\\r\\n"},"ref":"o1"}') +
    say(0, b'{"type":"signal","to":"bob","data":{"type":"answer","sdp":"v=0\\r\\n"}}') +
    say(0, b'{"type":"signal","to":"bob","data":{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host"},"ref":2}'),
    "broadcast-leave": two_peers() + say(0, '{"type":"broadcast","data":{"mute":true},"ref":7}') +
    say(1, '{"type":"leave","ref":"bye"}') + say(1, '{"type":"join","room":"r1"}'),
    "resume-queued": two_peers() + rec(GONE, 1) +
    say(0, '{"type":"signal","to":"bob","data":1,"ref":"q1"}') +
    say(0, '{"type":"broadcast","data":[1,2]}') + rec(CLOCK, 200) +
    rec(RESUME, 1) + rec(TICK, 2),
    "expire-undelivered": two_peers() + rec(GONE, 1) +
    say(0, '{"type":"signal","to":"bob","data":"x","ref":9}') * 6 + rec(TICK, 70),
    "takeover": two_peers() + rec(RESUME, 1) + rec(GONE, 0) + rec(TICK, 80),
    "bad-json": rec(OPEN, 0) + rec(TEXT, 0, "garbage") + rec(TEXT, 0, '{"type":"join"') +
    rec(TEXT, 0, "[1,2]") + rec(TEXT, 0, '{"type":7}') + rec(TEXT, 0, '{"ref":{},"type":"ping"}') +
    rec(TEXT, 0, '{"type":"ping","type":"ping"}') + rec(TEXT, 0, b'{"type":"\xff"}') +
    rec(TEXT, 0, '{"type":"nope","ref":1.5}') + rec(TEXT, 0, '{"type":"signal"}') +
    rec(BINARY, 0) + rec(TOO_LARGE, 0),
    "join-errors": rec(OPEN, 0) + say(0, '{"type":"join"}') + say(0, '{"type":"join","room":""}') +
    say(0, '{"type":"join","room":"a\\u0001"}') + say(0, '{"type":"join","room":"x","peer":"b@d"}') +
    say(0, '{"type":"join","room":"x","token":5}') + say(0, '{"type":"leave"}') +
    say(0, '{"type":"broadcast","data":0}') + say(0, '{"type":"resume","token":"nope"}'),
    "tokens": rec(OPEN, 0) + rec(OPEN, 1) + rec(RELOAD, 8) +
    say(0, '{"type":"join","room":"standup"}') +
    say(0, b'{"type":"join","room":"standup","token":"' + ROOM_TOK + b'\x00"}') +
    say(1, b'{"type":"join","room":"r1","token":"' + ROOM_TOK + b'\x01","peer":"p"}') +
    say(1, b'{"type":"join","room":"r1","token":"' + ROOM_TOK + b'\x09"}') +
    say(1, b'{"type":"join","room":"standup","token":"' + ROOM_TOK + b'\x04"}'),
    "limits": b"".join(rec(OPEN, i) for i in range(6)) +
    b"".join(say(i, '{"type":"join","room":"r%d"}' % (i % 5)) for i in range(6)) +
    rec(RELOAD, 7) + say(0, '{"type":"join","room":"standup"}'),
    "flood": rec(OPEN, 0) + rec(BINARY, 0) * 80 + rec(GONE, 0),
    "drain": two_peers() + rec(ADMIN, 0xaa) + rec(OPEN, 2) + say(2, '{"type":"join","room":"r1"}') +
    rec(ADMIN, 0x55) + rec(GONE, 0),
    "origins": rec(OPEN, 0x04) + rec(OPEN, 0x08) + rec(OPEN, 0x0c) + rec(OPEN, 0x14) +
    rec(OPEN, 0x24) + say(0, '{"type":"ice-servers"}') + rec(RELOAD, 16) +
    say(1, '{"type":"ice-servers"}') + rec(TICK, 200),
    # An even length: the target leaves the away peer and its queue to
    # sig_hub_free (odd lengths expire everything first).
    "free-with-queue": two_peers() + rec(GONE, 1) +
    say(0, '{"type":"signal","to":"bob","data":{"sdp":"v=0"},"ref":"f"}') * 2 + rec(11, 0, "x"),
    "drain-resume": two_peers() + rec(OPEN, 2) + rec(GONE, 1) + rec(ADMIN, 0xaa) +
    say(1, b'{"type":"resume","token":"' + RESUME_TOK + b'\x01"}'),
    "stats": two_peers() +
    say(0, '{"type":"stats","peer":"bob","result":"connected","local":"relay","remote":"srflx","relay":"tcp","seconds":1.5,"restarts":1,"ref":"s1"}') +
    say(0, '{"type":"stats","peer":"bob","result":"connected","local":"host","remote":"host","seconds":0.2}') +
    say(1, b'{"type":"stats","peer":"' + PEER + b'\x00","result":"failed","restarts":2,"ref":5}') +
    say(1, '{"type":"stats","peer":"bob","result":"failed"}') +
    say(0, '{"type":"stats","peer":"bob","result":"connected","local":"relay","remote":"host","seconds":99999}') +
    rec(RELOAD, 64) + say(1, '{"type":"stats","peer":"x","result":"failed"}') +
    say(1, '{"type":"leave"}') + say(1, '{"type":"join","room":"standup","peer":"bob"}') +
    say(0, '{"type":"stats","peer":"bob","result":"connected","local":"prflx","remote":"relay","seconds":3}'),
    "token-other-peer": rec(OPEN, 0) + rec(OPEN, 1) + say(0, '{"type":"join","room":"r1"}') +
    say(1, b'{"type":"join","room":"r1","peer":"eve","token":"' + ROOM_TOK + b'\x05"}'),
    "refresh": rec(OPEN, 0x10) + say(0, '{"type":"join","room":"standup"}') + rec(TICK, 170) +
    rec(TICK, 170),
}

# fuzz_signal_rest: [mode][sel][bytes]; see tests/fuzz/fuzz_signal_rest.c.
REST = {
    "ice-servers": b"\x02\x00peer=web-7",
    "ice-servers-key": b"\x02\x04key=k1&peer=a%20b",
    "turn-credentials": b"\x02\x01service=turn&username=alice",
    "turn-credentials-bad": b"\x02\x01service=stun&username=a:b",
    "room-token": b"\x02\x02room=standup&peer=alice&ttl=60",
    "room-token-bad": b"\x02\x02room=&ttl=0x10",
    "room-token-pct": b"\x02\x02room=%E2%9C%93+x&ttl=604800",
    "no-key": b"\x02\x06room=standup",
    "post": b"\x02\x10",
    "other-path": b"\x02\x03x=1",
    "verify-raw": b"\x00\x00eyJyIjoic3RhbmR1cCIsImUiOjE3NjcyMjU2MDB9.AAAA",
    "verify-signed": b'\x01\x00{"r":"standup","p":"alice","e":1800000000}',
    "verify-signed-expired": b'\x01\x00{"r":"standup","e":1}',
    "mint": b"\x03\x05standup\x00alice",
}


def write(dirname, seeds):
    os.makedirs(dirname, exist_ok=True)
    for name, data in seeds.items():
        assert len(data) < 2048, name
        with open(os.path.join(dirname, name), "wb") as f:
            f.write(data)


write("tests/fuzz/corpus/signal", SEEDS)
write("tests/fuzz/corpus/signal_rest", REST)
