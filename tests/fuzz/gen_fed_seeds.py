#!/usr/bin/python3
# icehub - SPDX-License-Identifier: MIT
#
# gen_fed_seeds.py: writes the seed corpus of fuzz_fed (scripts of
# [op][arg][len:2][bytes] records, see tests/fuzz/fuzz_fed.c): a node "me"
# whose clients join, signal and resume while the cluster's messages,
# answers and heartbeats come in. Run from the top directory after changing
# a format:
#   /usr/bin/python3 tests/fuzz/gen_fed_seeds.py
import hashlib
import os
import struct

(ROOM, NODE, HEARTBEAT, CLIENT, GONE, SUBSCRIBED, RESULT, LINK, TICK, DECODE,
 FAIL) = range(11)


def rec(op, arg=0, body=b""):
    if isinstance(body, str):
        body = body.encode()
    return struct.pack(">BBH", op, arg, len(body)) + body


def join_here(conn, peer, seq, members):
    m = ",".join(f'["{i}",{s},"{n}"]' for i, s, n in members)
    return (rec(CLIENT, conn, f'{{"type":"join","room":"r","peer":"{peer}","ref":{conn}}}') +
            rec(SUBSCRIBED, 0) + rec(RESULT, conn, b"\0") +
            rec(ROOM, 0, f'{{"k":"join","n":"me","id":"{peer}","s":{seq},"m":[{m}]}}'))


ALICE = join_here(0, "alice", 1, [("alice", 1, "me")])
BOB_JOINS = rec(ROOM, 0, '{"k":"join","n":"n2","id":"bob","s":2,'
                         '"m":[["alice",1,"me"],["bob",2,"n2"]]}')
HB = ('{"k":"node","n":"n2","t":1700000000000,"host":"10.0.0.2","port":3478,"tls":5349,'
      '"sig":true,"drain":false,"allocs":3,"max":100,"bps":1000,"cap":1000000,"up":1700000000}')

SEEDS = {
    "join-here": ALICE,
    "remote-relay-left": ALICE + BOB_JOINS +
    rec(CLIENT, 0, '{"type":"signal","to":"bob","data":{"sdp":"v=0"},"ref":"o"}') +
    rec(CLIENT, 0, '{"type":"broadcast","data":1}') +
    rec(ROOM, 0, '{"k":"sig","n":"n2","from":"bob","to":"alice","ref":3}\n'
                 '{"type":"signal","from":"bob","data":{"sdp":"v=0"}}') +
    rec(ROOM, 0, '{"k":"bc","n":"n2","from":"bob"}\n{"type":"broadcast","from":"bob","data":2}') +
    rec(ROOM, 0, '{"k":"left","n":"n2","id":"bob","why":"timeout"}'),
    "away-queue-full-undelivered": ALICE + BOB_JOINS + rec(GONE, 0) +
    rec(ROOM, 0, '{"k":"sig","n":"n2","from":"bob","to":"alice","ref":1}\n{"type":"signal","from":"bob","data":1}') * 6 +
    rec(TICK, 20) +
    rec(ROOM, 0, '{"k":"und","n":"n2","to":"alice"}\n{"type":"error","code":"undelivered","to":"bob","message":"x"}'),
    "resume-here": rec(CLIENT, 1, '{"type":"resume","token":"n2.abcdefghijklmnopqrstuvwxyz012345","ref":"R"}') +
    rec(NODE, 0, '{"k":"took","n":"n2","r":1,"ok":true,"room":"r","id":"carol"}') +
    rec(SUBSCRIBED, 0) + rec(RESULT, 0, b"\0") +
    rec(ROOM, 0, '{"k":"moved","n":"me","id":"carol","from":"n2","r":1,"s":4,"m":[["carol",4,"me"]]}') +
    rec(NODE, 0, '{"k":"state","n":"n2","r":1,"q":[["{\\"type\\":\\"signal\\",\\"from\\":\\"dan\\",\\"data\\":1}","dan",7]]}'),
    "take-and-move-away": ALICE + BOB_JOINS +
    rec(NODE, 0, '{"k":"take","n":"n3","tok":"me.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","r":9}') +
    rec(ROOM, 0, '{"k":"moved","n":"n3","id":"alice","from":"me","r":9,"s":1,"m":[["alice",1,"n3"],["bob",2,"n2"]]}'),
    "stats-then-move-away": ALICE + BOB_JOINS +
    rec(CLIENT, 0, '{"type":"stats","peer":"bob","result":"connected","local":"relay",'
                   '"remote":"srflx","relay":"udp","seconds":0.8,"restarts":0}') +
    rec(NODE, 0, '{"k":"take","n":"n3","tok":"me.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","r":9}') +
    rec(ROOM, 0, '{"k":"moved","n":"n3","id":"alice","from":"me","r":9,"s":1,"m":[["alice",1,"n3"],["bob",2,"n2"]]}'),
    "resume-here-reported": rec(CLIENT, 1, '{"type":"resume","token":"n2.abcdefghijklmnopqrstuvwxyz012345","ref":"R"}') +
    rec(NODE, 0, '{"k":"took","n":"n2","r":1,"ok":true,"room":"r","id":"carol"}') +
    rec(SUBSCRIBED, 0) + rec(RESULT, 0, b"\0") +
    rec(ROOM, 0, '{"k":"moved","n":"me","id":"carol","from":"n2","r":1,"s":4,"m":[["dan",3,"n2"],["carol",4,"me"]]}') +
    rec(NODE, 0, '{"k":"state","n":"n2","r":1,"q":[],"rp":["dan","gone"]}') +
    rec(CLIENT, 1, '{"type":"stats","peer":"dan","result":"failed","restarts":1}'),
    "link-down-up-sync": ALICE + BOB_JOINS + rec(LINK, 0) +
    rec(CLIENT, 2, '{"type":"join","room":"r","peer":"eve"}') + rec(LINK, 1) +
    rec(SUBSCRIBED, 0) +
    rec(ROOM, 0, '{"k":"sync","n":"me","m":[["alice",1,"me"],["eve",3,"n2"]]}') +
    rec(ROOM, 0, '{"k":"sync","n":"n2","m":[["eve",3,"n2"]]}') + rec(TICK, 40),
    "heartbeats-reap": rec(HEARTBEAT, 0, HB) + ALICE + BOB_JOINS + rec(TICK, 5) +
    rec(HEARTBEAT, 0, '{"k":"bye","n":"n2"}') + rec(TICK, 5),
    "fail-and-results": rec(FAIL, 1) + ALICE + rec(FAIL, 0) +
    rec(CLIENT, 3, '{"type":"join","room":"standup","peer":"x"}') + rec(SUBSCRIBED, 1) +
    rec(RESULT, 1, b"\1") + rec(RESULT, 1, b"\2") + rec(TICK, 3),
    "decode": rec(DECODE, 0, '{"u":[["alice",1000,20,3,1,1],["bob",0,0,0,0,2]]}') +
    rec(DECODE, 0, '{"on":true,"at":1700000000123,"until":0}') + rec(DECODE, 0, HB),
}


def main():
    out = os.path.join("tests", "fuzz", "corpus", "fed")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()
