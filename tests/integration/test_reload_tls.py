"""Reload without a dropped call: SIGHUP reads tls.cert and tls.key again. A
turns: allocation (our TURN client over TLS, relaying through a channel) and
two wss: peers in a room are open when the certificate files are replaced
and SIGHUP arrives; afterwards a new TLS connection to turn.tls_listen and a
new HTTPS connection to http.tls_listen see the new certificate, while the
allocation keeps refreshing and relaying and the peers keep talking over
their old connections. A reload with a key that does not match its
certificate fails as a whole: new connections keep the previous
certificate and nothing else changes."""
import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile

import websockets

from harness import Daemon, free_port, wait_for
from test_drain import relay_round
from test_ledger import Peer
from turnclient import TurnClient, error_code


def make_pair(dirpath, cn):
    cert = os.path.join(dirpath, f"{cn}.crt")
    key = os.path.join(dirpath, f"{cn}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", f"/CN={cn}"], check=True, capture_output=True)
    return cert, key


def install(src, dst):
    """Replace <dst> with a copy of <src> the way a renewal tool does: a new
    file renamed over the old one."""
    with open(src, "rb") as f:
        data = f.read()
    with open(dst + ".new", "wb") as f:
        f.write(data)
    os.replace(dst + ".new", dst)


def tls_client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def cn_of_der(der):
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"],
                         input=der, capture_output=True, check=True).stdout.decode()
    return out.strip().rsplit("CN", 1)[1].lstrip(" =")


def peer_cn(port):
    """The CN of the certificate a new TLS connection to <port> gets."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as raw:
        with tls_client_ctx().wrap_socket(raw) as s:
            return cn_of_der(s.getpeercert(binary_form=True))


async def wss_peer(port, room):
    ws = await websockets.connect(f"wss://127.0.0.1:{port}/ws", ssl=tls_client_ctx(),
                                  open_timeout=5, ping_interval=None)
    await ws.send(json.dumps({"type": "join", "room": room}))
    m = json.loads(await asyncio.wait_for(ws.recv(), 3))
    assert m["type"] == "joined", m
    return ws


async def expect(ws, type_):
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), 3))
        if m["type"] == type_:
            return m


def test_sighup_reloads_certificates_without_dropping_connections():
    tmp = tempfile.TemporaryDirectory()
    cert, key = os.path.join(tmp.name, "cert.pem"), os.path.join(tmp.name, "key.pem")
    a_cert, a_key = make_pair(tmp.name, "cert-a")
    b_cert, b_key = make_pair(tmp.name, "cert-b")
    c_cert, _ = make_pair(tmp.name, "cert-c")
    install(a_cert, cert)
    install(a_key, key)
    https = free_port(udp_and_tcp=False)
    peer = Peer()
    d = Daemon("reload-tls", tls=True,
               args=["--turn.users=alice:pw-a", "--turn.allowed_peers=127.0.0.0/8",
                     f"--tls.cert={cert}", f"--tls.key={key}",
                     f"--http.tls_listen=127.0.0.1:{https}"])

    async def go():
        assert peer_cn(d.tls_port) == "cert-a" and peer_cn(https) == "cert-a"
        t = TurnClient(d.tls_port, "alice", "pw-a", transport="tls")
        cls, attrs, _ = await asyncio.to_thread(t.allocate)
        assert cls == 2, error_code(attrs)
        assert (await asyncio.to_thread(t.channel_bind, 0x4001, peer.addr))[0] == 2
        await asyncio.to_thread(relay_round, t, peer, 0x4001)
        wa, wb = await wss_peer(https, "r"), await wss_peer(https, "r")
        await expect(wa, "peer-joined")

        # A renewed certificate written over the old files, then SIGHUP.
        install(b_cert, cert)
        install(b_key, key)
        d.send_signal(signal.SIGHUP)
        assert await asyncio.to_thread(
            wait_for, lambda: "certificate loaded for new TLS connections: CN=cert-b" in d.log())
        assert await asyncio.to_thread(wait_for, lambda: peer_cn(https) == "cert-b")
        assert peer_cn(d.tls_port) == "cert-b"
        # What was open goes on, on the old certificate.
        assert cn_of_der(t.sock.getpeercert(binary_form=True)) == "cert-a"
        assert (await asyncio.to_thread(t.refresh, 600))[0] == 2
        await asyncio.to_thread(relay_round, t, peer, 0x4001)
        await wa.send(json.dumps({"type": "broadcast", "data": "after reload"}))
        m = await expect(wb, "broadcast")
        assert m["data"] == "after reload", m

        # A key that does not match: the reload fails, nothing changes.
        install(c_cert, cert)
        d.send_signal(signal.SIGHUP)
        assert await asyncio.to_thread(
            wait_for, lambda: "reload failed, keeping the running configuration" in d.log())
        assert peer_cn(d.tls_port) == "cert-b" and peer_cn(https) == "cert-b"
        await asyncio.to_thread(relay_round, t, peer, 0x4001)
        await wb.send(json.dumps({"type": "broadcast", "data": "still"}))
        assert (await expect(wa, "broadcast"))["data"] == "still"
        m = d.metrics()
        assert m["icehub_connections_open"] >= 1
        await wa.close()
        await wb.close()
        t.close()

    try:
        d.start()
        asyncio.run(go())
        rc, _ = d.stop()
        assert rc == 0, d.log()[-2000:]
        errors = [l for l in d.log().splitlines() if " error " in l]
        assert len(errors) == 1 and "reload failed" in errors[0], errors
    finally:
        d.stop()
        peer.close()
        tmp.cleanup()
