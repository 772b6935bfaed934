"""STUN Binding over UDP, TCP, TLS, IPv4 and IPv6, with real clients
(coturn's turnutils_stunclient, the stun-client package's `stun`) and
with hand-built messages for the edge cases."""
import os
import socket
import ssl
import struct
import subprocess
import tempfile
import time

from harness import (Daemon, binding_request, build, attr, parse, get_attr, xor_address,
                     plain_address, check_fingerprint, udp_query, tcp_frames, wait_for, ARTIFACTS)


def test_turnutils_stunclient_udp():
    with Daemon("stunclient") as d:
        r = subprocess.run(["turnutils_stunclient", "-p", str(d.port), "127.0.0.1"],
                           capture_output=True, text=True, timeout=20)
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        # It prints the reflexive address the server saw.
        assert "UDP reflexive addr: 127.0.0.1:" in out, out
        assert d.metrics()['icehub_stun_requests_total{method="binding",class="success"}'] >= 1


def test_stun_client_rfc3489():
    """Debian's `stun` (Vovida 0.97) speaks classic RFC 3489: cookie-less
    requests that must be answered with MAPPED-ADDRESS."""
    with Daemon("stun-client") as d:
        r = subprocess.run(["stun", f"127.0.0.1:{d.port}", "-v"], capture_output=True,
                           text=True, timeout=30)
        out = r.stdout + r.stderr
        assert "MappedAddress = 127.0.0.1:" in out, out


def test_udp_response_is_minimal():
    with Daemon("minimal") as d:
        msg, tid = binding_request(fp=True)
        data, (lip, lport) = udp_query(d.port, msg)
        t, cookie, rtid, attrs = parse(data)
        assert t == 0x0101 and rtid == tid
        assert [a for a, _ in attrs] == [0x0020, 0x8022, 0x8028], attrs
        assert xor_address(get_attr(attrs, 0x0020), tid) == (lip, lport)
        assert get_attr(attrs, 0x8022) == b"icehub"
        check_fingerprint(data)
        assert len(data) == 20 + 12 + 12 + 8
        # Padding in the request is not reflected: the response stays the same size.
        big, tid2 = build(0x0001, attr(0x8030, b"x" * 1000), fp=True)
        data2, _ = udp_query(d.port, big)
        assert len(data2) == len(data)


def test_software_can_be_omitted():
    with Daemon("nosoftware", args=["--turn.software="]) as d:
        msg, tid = binding_request()
        data, _ = udp_query(d.port, msg)
        assert [a for a, _ in parse(data)[3]] == [0x0020, 0x8028]


def test_unknown_comprehension_required_gets_420():
    with Daemon("420") as d:
        msg, tid = build(0x0001, attr(0x0031, b"abcd") + attr(0x8031, b"ok"), fp=True)
        data, _ = udp_query(d.port, msg)
        t, cookie, rtid, attrs = parse(data)
        assert t == 0x0111, hex(t)
        err = get_attr(attrs, 0x0009)
        assert err[2] * 100 + err[3] == 420
        assert struct.unpack("!H", get_attr(attrs, 0x000A)[:2])[0] == 0x0031
        assert d.metrics()['icehub_stun_requests_total{method="binding",class="error"}'] == 1


def test_classic_request_gets_mapped_address():
    with Daemon("classic") as d:
        tid16 = os.urandom(16)
        msg = struct.pack("!HH", 0x0001, 0) + tid16
        data, (lip, lport) = udp_query(d.port, msg)
        assert data[4:20] == tid16
        t, cookie, rtid, attrs = parse(data)
        assert t == 0x0101
        assert plain_address(get_attr(attrs, 0x0001)) == (lip, lport)
        assert get_attr(attrs, 0x0020) is None and get_attr(attrs, 0x8028) is None


def test_tcp_framing():
    with Daemon("tcp") as d:
        s = socket.create_connection(("127.0.0.1", d.port))
        m1, t1 = binding_request()
        m2, t2 = binding_request()
        m3, t3 = binding_request()
        # Two messages in one segment, then one split across three.
        s.sendall(m1 + m2)
        s.sendall(m3[:3])
        time.sleep(0.05)
        s.sendall(m3[3:15])
        time.sleep(0.05)
        s.sendall(m3[15:])
        frames = tcp_frames(s, 3)
        lip, lport = s.getsockname()
        for f, tid in zip(frames, (t1, t2, t3)):
            t, cookie, rtid, attrs = parse(f)
            assert t == 0x0101 and rtid == tid
            assert xor_address(get_attr(attrs, 0x0020), tid) == (lip, lport)
        s.close()
        # A client that closes is not an error.
        assert wait_for(lambda: d.metrics()['icehub_connections_closed_total{reason="peer"}'] == 1)
        assert d.metrics()['icehub_connections_closed_total{reason="error"}'] == 0


def test_tcp_garbage_disconnects():
    with Daemon("tcp-garbage") as d:
        s = socket.create_connection(("127.0.0.1", d.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(3)
        assert s.recv(100) == b""  # closed by the server
        s.close()
        m = wait_for(lambda: d.metrics().get('icehub_invalid_packets_total{reason="tcp_framing"}'))
        assert m == 1
        # And the server still answers.
        msg, tid = binding_request()
        data, _ = udp_query(d.port, msg)
        assert parse(data)[2] == tid


def test_tcp_idle_timeout():
    with Daemon("tcp-idle", args=["--turn.tcp_idle_timeout=1"]) as d:
        s = socket.create_connection(("127.0.0.1", d.port))
        s.settimeout(5)
        t0 = time.time()
        assert s.recv(10) == b""
        assert 0.9 <= time.time() - t0 <= 4.0
        assert d.metrics()['icehub_connections_closed_total{reason="idle"}'] == 1


def make_cert(dirpath):
    cert = os.path.join(dirpath, "cert.pem")
    key = os.path.join(dirpath, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True)
    return cert, key


def make_two_certs(dirpath):
    """Two (cert, key) pairs in subdirectories a/ and b/ of <dirpath>."""
    pairs = []
    for sub in ("a", "b"):
        os.mkdir(os.path.join(dirpath, sub))
        pairs.append(make_cert(os.path.join(dirpath, sub)))
    return pairs


def test_tls_binding():
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_cert(tmp)
        with Daemon("tls", args=[f"--tls.cert={cert}", f"--tls.key={key}"], tls=True) as d:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            raw = socket.create_connection(("127.0.0.1", d.tls_port))
            s = ctx.wrap_socket(raw, server_hostname="localhost")
            assert s.version() in ("TLSv1.2", "TLSv1.3")
            msg, tid = binding_request()
            s.sendall(msg)
            (f,) = tcp_frames(s, 1)
            t, cookie, rtid, attrs = parse(f)
            assert t == 0x0101 and rtid == tid
            assert xor_address(get_attr(attrs, 0x0020), tid) == s.getsockname()
            s.close()
            # TLS 1.1 is refused.
            old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            old.check_hostname = False
            old.verify_mode = ssl.CERT_NONE
            try:
                old.minimum_version = ssl.TLSVersion.TLSv1_1
                old.maximum_version = ssl.TLSVersion.TLSv1_1
                raw = socket.create_connection(("127.0.0.1", d.tls_port))
                try:
                    old.wrap_socket(raw)
                    assert False, "TLS 1.1 accepted"
                except (ssl.SSLError, ConnectionResetError, OSError):
                    pass
            except ValueError:
                pass  # the local OpenSSL cannot even offer TLS 1.1
            # A plain-TCP client on the TLS port fails the handshake and is dropped.
            raw = socket.create_connection(("127.0.0.1", d.tls_port))
            raw.sendall(msg)
            raw.settimeout(5)
            try:
                raw.recv(100)
            except ConnectionResetError:
                pass
            m = wait_for(lambda: d.metrics().get(
                'icehub_connections_closed_total{reason="tls_handshake"}', 0) >= 1)
            assert m


def test_ipv6_udp_and_tcp():
    with Daemon("ipv6", listen_host="::1") as d:
        msg, tid = binding_request()
        data, local = udp_query(d.port, msg, host="::1", family=socket.AF_INET6)
        t, cookie, rtid, attrs = parse(data)
        assert xor_address(get_attr(attrs, 0x0020), tid) == ("::1", local[1])
        s = socket.create_connection(("::1", d.port))
        s.sendall(msg)
        (f,) = tcp_frames(s, 1)
        assert xor_address(get_attr(parse(f)[3], 0x0020), tid) == ("::1", s.getsockname()[1])
        s.close()
        r = subprocess.run(["turnutils_stunclient", "-p", str(d.port), "::1"],
                           capture_output=True, text=True, timeout=20)
        assert "reflexive addr: ::1" in (r.stdout + r.stderr), r.stdout + r.stderr


def test_wildcard_listen_answers_from_the_address_used():
    """Bound to 0.0.0.0, a reply must leave from the address the client
    sent to (IP_PKTINFO), or a client connected to that address drops it."""
    with Daemon("wildcard", listen_host="0.0.0.0") as d:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("127.0.0.2", d.port))  # connected: only 127.0.0.2 replies arrive
        s.settimeout(2)
        msg, tid = binding_request()
        s.send(msg)
        data = s.recv(1000)
        assert parse(data)[2] == tid
        s.close()
