"""Helpers for the signaling tests (test_signal*.py): an asyncio WebSocket
peer on python3-websockets (Debian), and a raw socket WebSocket client for
what a library will not send (invalid UTF-8 in a text frame, fragments
of our choosing, a client that never answers pings, a bare upgrade to
read the HTTP status). No test functions here."""
import asyncio
import base64
import json
import os
import socket
import struct
import time

import websockets

TIMEOUT = 3.0


def ws_url(d, path="/ws"):
    return f"ws://127.0.0.1:{d.http_port}{path}"


class Peer:
    """One WebSocket connection speaking the signaling protocol."""

    def __init__(self, ws):
        self.ws = ws

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, (str, bytes)) else json.dumps(obj))

    async def recv(self, timeout=TIMEOUT):
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def expect(self, type_, timeout=TIMEOUT, **fields):
        m = await self.recv(timeout)
        assert m.get("type") == type_, (type_, m)
        for k, v in fields.items():
            assert m.get(k) == v, (k, v, m)
        return m

    async def error(self, code, timeout=TIMEOUT, **fields):
        m = await self.expect("error", timeout, code=code, **fields)
        assert isinstance(m.get("message"), str) and m["message"], m
        return m

    async def nothing(self, timeout=0.3):
        try:
            m = await asyncio.wait_for(self.ws.recv(), timeout)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected message {m}")

    async def join(self, room, **extra):
        await self.send(dict(type="join", room=room, **extra))
        return await self.expect("joined", room=room)

    async def close(self):
        await self.ws.close()


async def connect(d, origin=None, path="/ws"):
    ws = await websockets.connect(ws_url(d, path), origin=origin, open_timeout=5,
                                  max_size=2 ** 24, ping_interval=None)
    return Peer(ws)


async def closed_code(peer, timeout=TIMEOUT):
    """Wait for the server to close <peer>; returns the close code."""
    try:
        while True:
            await asyncio.wait_for(peer.ws.recv(), timeout)
    except websockets.ConnectionClosed as e:
        return e.code


def run(coro):
    return asyncio.run(coro)


class RawWS:
    """A WebSocket client on a plain socket (RFC 6455 framing, masked)."""

    def __init__(self, port, path="/ws", origin=None, host=None, timeout=TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}",
                 "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"]
        if origin:
            lines.append(f"Origin: {origin}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            buf += chunk
        head, _, self.buf = buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1]) if head else 0
        self.headers = head.decode("latin-1")

    def send_frame(self, opcode, payload, fin=True):
        mask = os.urandom(4)
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(hdr + mask + masked)

    def send_text(self, data):
        self.send_frame(1, data if isinstance(data, bytes) else data.encode())

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self, timeout=TIMEOUT):
        """(opcode, payload) of the next frame from the server."""
        self.sock.settimeout(timeout)
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        return b0 & 0x0F, self._read(n)

    def recv_json(self, timeout=TIMEOUT):
        while True:
            op, payload = self.recv_frame(timeout)
            if op == 1:
                return json.loads(payload)
            if op == 8:
                raise ConnectionError(f"closed {struct.unpack('!H', payload[:2])[0]}")

    def close(self):
        self.sock.close()


def wait_until(pred, timeout=5.0, step=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False
