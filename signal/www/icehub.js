// icehub - SPDX-License-Identifier: MIT
//
// icehub.js: the browser client of the icehub signaling hub, served by icehubd at
// /icehub.js. One ES module, no dependencies, no build step. It
//   - opens the hub's WebSocket (default: ws:// or wss:// to /ws on the page's own
//     host) and joins a room (optionally with a room token),
//   - builds one RTCPeerConnection per remote peer with the iceServers the hub hands
//     out in `joined` (TURN credentials of icehubd's own relay) and applies the
//     `ice-servers` refreshes the hub pushes before those credentials expire,
//   - runs the "perfect negotiation" pattern over the hub for each remote peer:
//     trickle ICE, offer glare resolved by the polite peer rolling back (implicit
//     rollback in setRemoteDescription), restartIce() when the connection or ICE
//     fails (Chromium says connectionState "failed" while iceConnectionState
//     still says "disconnected"),
//   - reconnects with the resume token when the socket drops, keeping its peer id;
//     what it sends meanwhile is queued and goes out after `resumed`; a connection
//     relayed over a TURN allocation on TCP or TLS then restarts ICE (after a live
//     upgrade such an allocation stays with the old icehubd until its drain ends),
//   - reports peers joining and leaving, remote tracks, data channels, connection
//     states and the selected candidate pair type (host, srflx, relay) from getStats,
//     following the pair as it changes after "connected" (relay first, then direct;
//     one side's relay, then the other's),
//   - reports each connection's outcome to the hub once it is known (a "stats"
//     message: connected or failed, the selected pair's candidate types, the relay's
//     transport, time to connected, ICE restarts; no addresses), when the hub asks
//     for them (clientStats in joined).
//
// The wire protocol is docs/signaling.md; this module's API and an example are in
// docs/icehub-js.md. In short:
//
//   import { IcehubClient } from '/icehub.js';
//   const hub = new IcehubClient({ room: 'demo', iceTransportPolicy: 'relay' });
//   hub.on('message', ({ peer, data }) => console.log(peer.id, data));
//   hub.on('candidatepair', ({ peer, type }) => console.log(peer.id, type));
//   await hub.join();
//   hub.send('hello, everyone');          // over each peer's DataChannel
//
// Who is polite: of two peers, the one whose id sorts first (plain string
// comparison; ids are ASCII) is polite, the other impolite. The impolite peer
// offers first: it creates the default DataChannel as soon as it knows the other
// peer; the polite one creates its side of that (negotiated, id 0) channel when the
// first description arrives, or at once when it has media to send. Either side may
// renegotiate at any time afterwards (tracks added or removed, ICE restart); a
// collision is settled by the polite peer dropping its own offer.
//
// The signal payloads this module exchanges (data of {"type":"signal"}), so that
// clients in other languages can interoperate:
//   {"description": {"type": "offer"|"answer", "sdp": "..."}}
//   {"candidate": {"candidate": "...", "sdpMid": "0", "sdpMLineIndex": 0,
//                  "usernameFragment": "..."}}
//   {"resync": true}   after a resume: "send me your pending offer again"
// Any other signal payload is handed to the application as a 'signal' event.
//
// Not done here: media capture (pass a MediaStream to setLocalStream), SFU-style
// fan-out (it is a full mesh: one connection per pair of peers).

const DEFAULT_CHANNEL = Object.freeze({ label: 'icehub', negotiated: true, id: 0,
  ordered: true });

// Reconnect backoff after the socket drops: first try at once, then doubling up to
// the cap, for as long as the hub keeps the peer (resumeSeconds).
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 4000;
// ICE restarts on 'failed' are spaced at least this far apart.
const ICE_RESTART_MIN_MS = 5000;
// A connection's outcome: the selected pair this long after "connected" (it often
// changes in the first seconds), or "failed" when it is not connected this long after
// it started.
const REPORT_DELAY_MS = 5000;
const REPORT_TIMEOUT_MS = 30000;

// The TURN usernames in an iceServers list, as one string (to tell new credentials).
function turnUsers(iceServers) {
  return (iceServers || []).map((s) => s && s.username || '').join(' ');
}

function defaultUrl() {
  const loc = globalThis.location;
  if (!loc || !/^https?:$/.test(loc.protocol)) {
    throw new Error('icehub: no http(s) page location; pass options.url');
  }
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws`;
}

// True for an address that cannot be a NAT's public mapping: private, loopback,
// link-local, shared (CGNAT) or unique-local, and a missing or mDNS (.local) one.
function isLocalAddress(a) {
  if (!a || /\.local\.?$/i.test(a)) return true;
  const m = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(a);
  if (m) {
    const [x, y] = [Number(m[1]), Number(m[2])];
    return x === 10 || x === 127 || (x === 172 && y >= 16 && y < 32) ||
      (x === 192 && y === 168) || (x === 169 && y === 254) ||
      (x === 100 && y >= 64 && y < 128);
  }
  return /^(::1$|f[cd]|fe[89ab])/i.test(a);
}

// The candidate types of a pair summed up in one word, the least direct one
// winning: 'relay' if either side is relayed, else 'srflx' if either is a server-
// reflexive (NAT-mapped) address, else 'host'. A peer-reflexive candidate (learned
// from connectivity checks) counts as 'srflx' when its address is public, and as
// 'host' when it is local or hidden: browsers hide host addresses behind mDNS names,
// and such a host candidate shows up as prflx on the other side.
// Each argument is a candidate type or a stats object {candidateType, address}.
export function pairType(local, remote) {
  const kind = (c) => {
    const t = typeof c === 'string' ? c : c && c.candidateType;
    if (t !== 'prflx') return t;
    return typeof c === 'object' && !isLocalAddress(c.address) ? 'srflx' : 'host';
  };
  const t = [kind(local), kind(remote)];
  if (t.includes('relay')) return 'relay';
  if (t.includes('srflx')) return 'srflx';
  if (t.includes('host')) return 'host';
  return null;
}

// How a relayed local candidate reaches its TURN server: 'udp', 'tcp' or 'tls', from
// the stats' relayProtocol, else from the TURN URL it came from; null if unknown.
export function relayTransport(local) {
  if (!local || local.candidateType !== 'relay') return null;
  if (['udp', 'tcp', 'tls'].includes(local.relayProtocol)) return local.relayProtocol;
  const url = local.url || '';
  if (/^turns:/i.test(url)) return 'tls';
  if (/^turn:/i.test(url)) return /[?&]transport=tcp/i.test(url) ? 'tcp' : 'udp';
  return null;
}

// The selected candidate pair of an RTCPeerConnection, from getStats(), or null
// before one is selected:
//   { type, local: {candidateType, protocol, relayProtocol, address, port, url},
//     remote: {candidateType, protocol, address, port}, state, nominated,
//     bytesSent, bytesReceived, currentRoundTripTime }
export async function selectedPair(pc) {
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      pair = stats.get(s.selectedCandidatePairId) || pair;
    }
  });
  if (!pair) { // Firefox marks the pair instead of the transport.
    stats.forEach((s) => {
      if (!pair && s.type === 'candidate-pair' && (s.selected ||
          (s.nominated && s.state === 'succeeded'))) pair = s;
    });
  }
  if (!pair) return null;
  const l = stats.get(pair.localCandidateId) || {};
  const r = stats.get(pair.remoteCandidateId) || {};
  return {
    type: pairType(l, r),
    local: { candidateType: l.candidateType, protocol: l.protocol,
      relayProtocol: l.relayProtocol, address: l.address, port: l.port, url: l.url },
    remote: { candidateType: r.candidateType, protocol: r.protocol, address: r.address,
      port: r.port },
    state: pair.state, nominated: pair.nominated, bytesSent: pair.bytesSent,
    bytesReceived: pair.bytesReceived, currentRoundTripTime: pair.currentRoundTripTime,
  };
}

// Base for the client and its peers: EventTarget with CustomEvent details, plus
// on(type, fn) that hands fn the detail and returns an unsubscribe function.
class Emitter extends EventTarget {
  on(type, fn) {
    const h = (e) => fn(e.detail);
    this.addEventListener(type, h);
    return () => this.removeEventListener(type, h);
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

// One remote peer: its RTCPeerConnection and the perfect-negotiation state.
// Created by the client; applications get it in event details and from
// client.peers. Events fire on the client (with detail.peer), not here.
export class IcehubPeer {
  constructor(client, id) {
    this.client = client;
    this.id = id;
    // Of two peers, the one whose id sorts first is polite.
    this.polite = client.id < id;
    this.pc = null;
    this.channel = null;        // the default DataChannel, or null
    this.pair = null;           // last selectedPair() result
    this.outcome = null;        // {result, local, remote, relay, seconds, restarts} once known
    this.closed = false;
    // Counters, for tests and curiosity.
    this.stats = { offers: 0, answers: 0, candidatesSent: 0, candidatesReceived: 0,
      collisions: 0, ignoredOffers: 0, iceRestarts: 0, credentialRestarts: 0, resyncs: 0,
      streamRestarts: 0, staleAnswers: 0, errors: 0 };
    this._makingOffer = false;
    this._ignoreOffer = false;
    this._answerPending = false;  // setRemoteDescription(answer) in progress
    this._chain = Promise.resolve();  // incoming signals, handled one at a time
    this._senders = new Map();    // local track -> RTCRtpSender
    this._lastRestart = 0;
    this._statsTimer = null;
    this._startedAt = 0;          // performance.now() when the pc was made
    this._connectedAt = 0;        // ... and when it was first connected
    this._outcomeTimer = null;
    this._restartTimer = null;    // a pending restartIce after a failure
    this._iceTransport = null;    // the RTCIceTransport whose pair changes we follow
  }

  get connectionState() { return this.pc ? this.pc.connectionState : 'new'; }

  // Sends over the default DataChannel; returns false if it is not open.
  send(data) {
    if (!this.channel || this.channel.readyState !== 'open') return false;
    this.channel.send(data);
    return true;
  }

  // A directed message to this peer through the hub (see client.signal).
  signal(data) { return this.client.signal(this.id, data); }

  // Forces an ICE restart (renegotiation with fresh ICE credentials).
  restartIce() {
    if (!this.pc || this.closed) return;
    this._lastRestart = Date.now();
    this.stats.iceRestarts++;
    this.pc.restartIce();
  }

  // The selected candidate pair now (see selectedPair), also remembered in .pair.
  async getSelectedPair() {
    if (!this.pc) return null;
    this.pair = await selectedPair(this.pc);
    return this.pair;
  }

  // Creates the RTCPeerConnection (once). withChannel: create the default
  // DataChannel now (which starts a negotiation).
  _ensurePc(withChannel) {
    if (this.closed) return null;
    if (!this.pc) this._createPc();
    if (withChannel) this._ensureChannel();
    return this.pc;
  }

  _createPc() {
    const c = this.client;
    const pc = new c._RTCPeerConnection(c._rtcConfig());
    this.pc = pc;
    this._startedAt = performance.now();
    this._outcomeTimer = setTimeout(() => this._settle('failed'), c._reportTimeout);
    pc.onnegotiationneeded = () => this._negotiate();
    pc.onicecandidate = ({ candidate }) => {
      // null (or an empty candidate) marks the end of gathering; trickle needs no
      // end-of-candidates message.
      if (!candidate || !candidate.candidate) return;
      this.stats.candidatesSent++;
      c._sendSignal(this.id, { candidate: candidate.toJSON() });
    };
    pc.ontrack = ({ track, streams }) => c._emit('track', { peer: this, track, streams });
    pc.ondatachannel = ({ channel }) => c._emit('datachannel', { peer: this, channel });
    pc.oniceconnectionstatechange = () => {
      c._emit('iceconnectionstatechange', { peer: this, state: pc.iceConnectionState });
      if (pc.iceConnectionState === 'failed') this._restartWhenFailed();
    };
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      c._emit('connectionstatechange', { peer: this, state });
      if (state === 'connected') {
        this._watchPair();
        if (!this._connectedAt) {
          this._connectedAt = performance.now();
          clearTimeout(this._outcomeTimer);
          this._outcomeTimer = setTimeout(() => this._settle('connected'), c._reportDelay);
        }
      } else if (state === 'failed' || state === 'closed') {
        this._stopWatch();
      }
      // Chromium sets connectionState "failed" about 15 s after checks stop working
      // while iceConnectionState still says "disconnected": restart on either.
      if (state === 'failed') this._restartWhenFailed();
    };
    if (c._stream) this._syncTracks(c._stream);
  }

  // Restarts ICE on a failed connection: at once the first time, then no more often
  // than every ICE_RESTART_MIN_MS (the ICE and the connection state both fail).
  _restartWhenFailed() {
    if (this.closed || this._restartTimer) return;
    const failed = () => this.pc && (this.pc.connectionState === 'failed' ||
      this.pc.iceConnectionState === 'failed');
    const wait = Math.max(0, this._lastRestart + ICE_RESTART_MIN_MS - Date.now());
    this._restartTimer = setTimeout(() => {
      this._restartTimer = null;
      if (!this.closed && failed()) this.restartIce();
    }, wait);
  }

  // The connection's outcome, once: 'connected' with the selected pair read now
  // (REPORT_DELAY_MS after the first "connected"), or 'failed' when it never got
  // there within REPORT_TIMEOUT_MS. Emitted as 'outcome' and sent to the hub.
  async _settle(result) {
    this._outcomeTimer = null;
    if (this.closed || this.outcome) return;
    const o = { result, local: null, remote: null, relay: null, seconds: null,
      restarts: this.stats.iceRestarts };
    if (result === 'connected') {
      let p = null;
      try { p = await this.getSelectedPair(); } catch (_) { /* closed meanwhile */ }
      if (this.closed || this.outcome) return;
      if (!p) { o.result = 'failed'; } else {
        o.local = p.local.candidateType;
        o.remote = p.remote.candidateType;
        o.relay = relayTransport(p.local);
        o.seconds = Math.min(3600, Math.round(this._connectedAt - this._startedAt) / 1000);
      }
    }
    this.outcome = o;
    this.client._emit('outcome', { peer: this, outcome: o });
    this.client._reportOutcome(this, o);
  }

  _ensureChannel() {
    const c = this.client;
    if (this.channel || !c._channelOpts || !this.pc) return;
    const { label, ...init } = c._channelOpts;
    const ch = this.pc.createDataChannel(label || 'icehub', init);
    ch.binaryType = 'arraybuffer';
    this.channel = ch;
    ch.onopen = () => c._emit('channelopen', { peer: this, channel: ch });
    ch.onclose = () => c._emit('channelclose', { peer: this, channel: ch });
    ch.onmessage = ({ data }) => c._emit('message', { peer: this, data, channel: ch });
  }

  // Perfect negotiation, offer side: the browser decides when (negotiationneeded).
  async _negotiate() {
    if (this.closed) return;
    try {
      this._makingOffer = true;
      await this.pc.setLocalDescription();
      this.stats.offers++;
      this.client._sendSignal(this.id, { description: this.pc.localDescription.toJSON() });
    } catch (err) {
      this._fail('offer', err);
    } finally {
      this._makingOffer = false;
    }
  }

  // Perfect negotiation, receive side. Signals are handled strictly in order.
  _onSignal(data) {
    this._chain = this._chain.then(() => this._handle(data))
      .catch((err) => this._fail('signal', err));
  }

  async _handle({ description, candidate, resync }) {
    if (this.closed) return;
    const pc = this._ensurePc(false);
    if (resync) {
      this._resendOffer();
    } else if (description && description.type === 'answer' && pc.signalingState === 'stable') {
      // A second copy of an answer already applied (see _resync): nothing to do.
      this.stats.staleAnswers++;
    } else if (description) {
      const readyForOffer = !this._makingOffer &&
        (pc.signalingState === 'stable' || this._answerPending);
      const collision = description.type === 'offer' && !readyForOffer;
      if (collision) this.stats.collisions++;
      this._ignoreOffer = !this.polite && collision;
      if (this._ignoreOffer) { this.stats.ignoredOffers++; return; }
      // The polite side's half of the default channel; created before the remote
      // description is applied, so the answer covers it and no new offer follows.
      this._ensureChannel();
      this._answerPending = description.type === 'answer';
      // On a collision the polite peer's pending offer is rolled back implicitly here.
      await pc.setRemoteDescription(description);
      this._answerPending = false;
      if (description.type === 'offer') {
        await pc.setLocalDescription();
        this.stats.answers++;
        this.client._sendSignal(this.id, { description: pc.localDescription.toJSON() });
      }
    } else if (candidate) {
      this.stats.candidatesReceived++;
      try {
        await pc.addIceCandidate(candidate);
      } catch (err) {
        // Candidates of an offer we ignored, or of a description rolled back, are
        // expected to fail; anything else is reported but never fatal.
        if (!this._ignoreOffer) this._fail('candidate', err);
      }
    }
  }

  // After this client resumed on a new socket: what it wrote to the dying one, and
  // what the hub wrote to it, may never have arrived, an offer or an answer included,
  // and a pair that lost one waits for the other for good (each side holding an offer
  // the other never saw). So it sends its pending offer again and asks the peer to do
  // the same ({"resync": true}); perfect negotiation settles the two offers as any
  // collision, and a description that arrives twice is harmless.
  // After a resume: a connection relayed through a TURN allocation over TCP or TLS
  // restarts ICE while that allocation still works. The hub may now be a new icehubd
  // that took over with a live upgrade; a stream allocation cannot move and ends
  // with the old process's drain, and the browser fails its connection at that
  // moment. The restart gathers allocations on the process that serves now and
  // moves the connection onto them before then. <since>: when the resume came (a
  // restart since then, for new credentials, does the same).
  async _leaveStreamRelay(since) {
    if (!this.pc || this.closed || this.pc.connectionState !== 'connected') return;
    let p = null;
    try { p = await this.getSelectedPair(); } catch (_) { return; }
    const relay = p && relayTransport(p.local);
    if ((relay !== 'tcp' && relay !== 'tls') || this.closed || this._lastRestart >= since) return;
    this.stats.streamRestarts++;
    this.restartIce();
  }

  _resync() {
    if (!this.pc || this.closed) return;
    this.stats.resyncs++;
    this.client._sendSignal(this.id, { resync: true });
    this._resendOffer();
  }

  _resendOffer() {
    const pc = this.pc;
    if (!pc || this.closed || this._makingOffer || pc.signalingState !== 'have-local-offer' ||
        !pc.localDescription) return;
    this.client._sendSignal(this.id, { description: pc.localDescription.toJSON() });
  }

  // Makes the senders match the stream's tracks: replaceTrack where a track of the
  // same kind is already sent (no renegotiation), addTrack / removeTrack otherwise.
  _syncTracks(stream) {
    const pc = this.pc;
    if (!pc || this.closed) return;
    const want = stream ? stream.getTracks() : [];
    const free = [];
    for (const [track, sender] of this._senders) {
      if (!want.includes(track)) { free.push(sender); this._senders.delete(track); }
    }
    for (const track of want) {
      if (this._senders.has(track)) continue;
      const i = free.findIndex((s) => s.track && s.track.kind === track.kind);
      if (i >= 0) {
        const sender = free.splice(i, 1)[0];
        sender.replaceTrack(track).catch((err) => this._fail('replaceTrack', err));
        this._senders.set(track, sender);
      } else {
        this._senders.set(track, pc.addTrack(track, stream));
      }
    }
    for (const sender of free) pc.removeTrack(sender);
  }

  // Reads the selected pair when connected and then every few seconds while the
  // connection lives (an ICE restart can change it); emits 'candidatepair' on change.
  _watchPair() {
    const poll = async () => {
      if (this.closed || !this.pc) return;
      let p = null;
      try { p = await this.getSelectedPair(); } catch (_) { /* closed meanwhile */ }
      const key = p && `${p.local.candidateType}/${p.remote.candidateType}/` +
        `${p.local.relayProtocol || p.local.protocol}/${p.local.address}:${p.local.port}/` +
        `${p.remote.address}:${p.remote.port}`;
      if (p && key !== this._pairKey) {
        this._pairKey = key;
        this.client._emit('candidatepair', { peer: this, type: p.type, local: p.local,
          remote: p.remote, pair: p });
      }
    };
    poll();
    if (!this._statsTimer && this.client._statsInterval > 0) {
      this._statsTimer = setInterval(poll, this.client._statsInterval);
    }
    // Where the browser tells when the selected pair changes (RTCIceTransport), follow
    // it at once rather than at the next poll.
    const ice = this.pc.sctp && this.pc.sctp.transport && this.pc.sctp.transport.iceTransport;
    if (ice && ice !== this._iceTransport && ice.addEventListener) {
      this._iceTransport = ice;
      ice.addEventListener('selectedcandidatepairchange', poll);
    }
  }

  _stopWatch() {
    if (this._statsTimer) clearInterval(this._statsTimer);
    this._statsTimer = null;
  }

  _fail(where, err) {
    this.stats.errors++;
    this.client._emit('error', { code: 'webrtc', where, peer: this,
      message: String(err && err.message || err) });
  }

  _close() {
    if (this.closed) return;
    this.closed = true;
    this._stopWatch();
    clearTimeout(this._outcomeTimer);
    clearTimeout(this._restartTimer);
    if (this.pc) this.pc.close();
  }
}

// The client: one WebSocket to the hub, one room, one IcehubPeer per remote peer.
//
// options (all optional):
//   url                 WebSocket URL of the hub; default ws(s)://<page host>/ws
//   room                room to join (or give it to join())
//   token               room token, when the hub requires one
//   peer                peer id to ask for (must be the one the token binds)
//   iceTransportPolicy  'all' (default) or 'relay' (only TURN-relayed candidates)
//   rtcConfig           more RTCConfiguration; its iceServers are added after the hub's
//   localStream         MediaStream sent to every peer (see setLocalStream)
//   channel             options of the default DataChannel
//                       (default {label: 'icehub', negotiated: true, id: 0,
//                       ordered: true}), or false for none
//   reconnect           resume after the socket drops (default true)
//   leaveOnPageHide     send leave when the page goes away (default true)
//   pingInterval        ms between {"type":"ping"} keepalives (default 20000; 0: off);
//                       no pong within pongTimeout (default 10000) counts as a drop
//   connectTimeout      ms a connection attempt to the hub may take (default 10000)
//   statsInterval       ms between selected-pair checks while connected (default 3000)
//   reportDelay         ms after "connected" at which the outcome takes the selected
//                       pair (default 5000); reportTimeout: ms after which a connection
//                       that never connected is "failed" (default 30000)
//   reportStats         send each outcome to the hub when it asks (default true)
//   debug               log every hub message with console.debug (default false)
//   WebSocket, RTCPeerConnection   constructors to use instead of the globals
//
// Events (listen with addEventListener(type, e => e.detail) or on(type, detail => ...)):
//   joined        {id, room, peers: [ids], iceServers}     after join()
//   peerjoined    {peer}                  a remote peer is in the room
//   peerleft      {peer, reason}          gone ('leave' | 'closed' | 'timeout' | 'rejoin')
//   connectionstatechange     {peer, state}   RTCPeerConnection.connectionState
//   iceconnectionstatechange  {peer, state}
//   candidatepair {peer, type, local, remote, pair}  type: 'host' | 'srflx' | 'relay'
//                                         (again whenever the selected pair changes)
//   outcome       {peer, outcome}         once per connection: {result: 'connected' |
//                                         'failed', local, remote, relay, seconds,
//                                         restarts} (what a stats message reports)
//   track         {peer, track, streams}  a remote media track
//   datachannel   {peer, channel}         a DataChannel the remote side opened in-band
//   channelopen / channelclose  {peer, channel}   the default DataChannel
//   message       {peer, data, channel}   a message on the default DataChannel
//   signal        {from, data}            an application signal (not SDP/ICE)
//   broadcast     {from, data}            a room broadcast
//   iceservers    {iceServers, ttl}       refreshed credentials (already applied;
//                                         relayed connections restart ICE with them)
//   disconnected  {code, reason}          the socket dropped; resuming
//   resumed       {id, peers}             back, same peer id, queued messages follow
//   rejoined      {id, previousId}        resume was impossible; joined again afresh
//   statechange   {state}                 'idle' | 'connecting' | 'joined' |
//                                         'reconnecting' | 'closed'
//   error         {code, message, ...}    hub errors (codes of docs/signaling.md) and
//                                         'webrtc' errors {where, peer}
//   closed        {code, reason}          for good (leave(), close() or a fatal error)
export class IcehubClient extends Emitter {
  constructor(options = {}) {
    super();
    this.options = options;
    this.url = options.url || defaultUrl();
    this.room = options.room || null;
    this.token = options.token || null;
    this.id = null;
    this.state = 'idle';
    this.peers = new Map();       // id -> IcehubPeer
    this.iceServers = [];
    this.resumeToken = null;
    this.resumeSeconds = 0;
    this.stats = { sent: 0, received: 0, reconnects: 0, resumes: 0, rejoins: 0 };
    this._WebSocket = options.WebSocket || globalThis.WebSocket;
    this._RTCPeerConnection = options.RTCPeerConnection || globalThis.RTCPeerConnection;
    this._channelOpts = options.channel === false ? null
      : { ...DEFAULT_CHANNEL, ...(options.channel || {}) };
    this._stream = options.localStream || null;
    this._statsInterval = options.statsInterval ?? 3000;
    this._reportDelay = options.reportDelay ?? REPORT_DELAY_MS;
    this._reportTimeout = options.reportTimeout ?? REPORT_TIMEOUT_MS;
    this._clientStats = false;    // the hub counts stats reports (joined.clientStats)
    this._pingInterval = options.pingInterval ?? 20000;
    this._pongTimeout = options.pongTimeout ?? 10000;
    this._connectTimeout = options.connectTimeout ?? 10000;
    this._ws = null;
    this._ref = 0;
    this._pending = new Map();    // ref -> {resolve, reject, type}
    this._outbox = [];            // messages sent while reconnecting
    this._backoff = BACKOFF_FIRST_MS;
    this._timers = new Set();
    this._pingTimer = null;
    this._holdUntil = 0;
    // A closing tab leaves the room at once instead of lingering for the hub's
    // resume grace period.
    this._onPageHide = () => {
      if (this.state === 'joined' && this._ws && this._ws.readyState === 1) {
        try { this._ws.send(JSON.stringify({ type: 'leave' })); } catch (_) { /* gone */ }
      }
      this._teardown(1000, 'pagehide');
    };
  }

  // Connects and joins the room. Resolves with the joined message
  // ({id, room, peers, iceServers, ...}); rejects with an Error whose .code is the
  // hub's error code (e.g. 'token-required', 'room-full') or 'socket'.
  async join(room = this.room, opts = {}) {
    if (!room) throw new Error('icehub: no room');
    if (this.state !== 'idle' && this.state !== 'closed') {
      throw new Error(`icehub: join() while ${this.state}`);
    }
    this.room = room;
    if (opts.token !== undefined) this.token = opts.token;
    this._setState('connecting');
    if (this.options.leaveOnPageHide !== false && globalThis.addEventListener) {
      globalThis.addEventListener('pagehide', this._onPageHide);
    }
    try {
      await this._open();
      const msg = await this._request(this._joinMessage(opts.peer ?? this.options.peer));
      return msg;
    } catch (err) {
      this._teardown(err.code === 'socket' ? 1006 : 1000, err.message);
      throw err;
    }
  }

  // Leaves the room (the others get peer-left with reason 'leave') and closes.
  async leave() {
    if (this.state === 'closed' || this.state === 'idle') return;
    if (this.state === 'joined') {
      try {
        await Promise.race([this._request({ type: 'leave' }), this._sleep(2000)]);
      } catch (_) { /* closing anyway */ }
    }
    this._teardown(1000, 'leave');
  }

  // Closes the socket and every peer connection without a leave message (the hub
  // then announces this peer after its resume grace period).
  close() {
    this._teardown(1000, 'close');
  }

  // A directed message through the hub: the peer gets a 'signal' event with data.
  // Queued while reconnecting. Returns false if the client is closed.
  signal(to, data) { return this._sendSignal(to, data); }

  // A message to every other peer in the room through the hub ('broadcast' event).
  broadcast(data) { return this._send({ type: 'broadcast', data }); }

  // Sends over every peer's open default DataChannel; returns how many got it.
  send(data) {
    let n = 0;
    for (const p of this.peers.values()) if (p.send(data)) n++;
    return n;
  }

  // Sends this MediaStream's tracks to every peer, now and to peers joining later;
  // null stops sending. Tracks of a kind already sent are swapped with
  // replaceTrack; others renegotiate (perfect negotiation handles both sides
  // doing this at once).
  setLocalStream(stream) {
    this._stream = stream || null;
    for (const p of this.peers.values()) {
      p._ensurePc(false);
      p._syncTracks(this._stream);
      if (this._stream) p._ensureChannel();
    }
  }

  // Asks the hub for fresh iceServers and applies them; resolves with them.
  async refreshIceServers() {
    const msg = await this._request({ type: 'ice-servers' });
    return msg.iceServers;
  }

  // A round trip to the hub; resolves with the time in ms.
  async ping() {
    const t0 = performance.now();
    await this._request({ type: 'ping' });
    return performance.now() - t0;
  }

  // For tests: drops the WebSocket as a broken network would, without a leave, so
  // the client goes through its resume path. holdMs: stay away that long before
  // reconnecting (messages addressed to us meanwhile are queued by the hub).
  // code: the close code sent (1000 or 3000-4999).
  dropSocketForTest(holdMs = 0, code = 4000) {
    this._holdUntil = Date.now() + holdMs;
    if (this._ws) this._ws.close(code, 'test drop');
  }

  // ---- socket and protocol ------------------------------------------------

  // options.debug: one console.debug line per message to and from the hub (SDP cut).
  _debug(dir, msg) {
    if (!this.options.debug) return;
    const d = msg.data;
    const what = d && d.description ? `${d.description.type}` +
      `${/a=ice-ufrag:(\S+)/.exec(d.description.sdp || '')?.[0] ?? ''}`
      : d && d.candidate ? `candidate ${d.candidate.candidate}` : JSON.stringify(d ?? '');
    console.debug(`[icehub ${this.id}] ${dir} ${msg.type}` +
      `${msg.to ? ' to ' + msg.to : ''}${msg.from ? ' from ' + msg.from : ''} ${what}`);
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this._emit('statechange', { state });
  }

  _rtcConfig() {
    const extra = this.options.rtcConfig || {};
    const conf = { ...extra, iceServers: [...this.iceServers, ...(extra.iceServers || [])] };
    if (this.options.iceTransportPolicy) conf.iceTransportPolicy = this.options.iceTransportPolicy;
    return conf;
  }

  _joinMessage(peer) {
    const m = { type: 'join', room: this.room };
    if (this.token) m.token = this.token;
    if (peer) m.peer = peer;
    return m;
  }

  // Opens a new socket; resolves once it is open. Its messages go to _onMessage
  // and its close to _onSocketClose, as long as it is the current socket.
  _open() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new this._WebSocket(this.url);
      } catch (err) {
        reject(Object.assign(new Error(String(err.message || err)), { code: 'socket' }));
        return;
      }
      this._ws = ws;
      let opened = false;
      // A connect into a network that drops packets waits out TCP's retries (minutes);
      // give up after connectTimeout so that the next try starts fresh.
      const timer = setTimeout(() => {
        if (opened || this._ws !== ws) return;
        this._ws = null;
        ws.onopen = ws.onmessage = ws.onclose = null;
        try { ws.close(); } catch (_) { /* closing */ }
        reject(Object.assign(new Error(`icehub: no connection to ${this.url} within ` +
          `${this._connectTimeout} ms`), { code: 'socket' }));
      }, this._connectTimeout);
      ws.onopen = () => { opened = true; clearTimeout(timer); this._startPing(); resolve(); };
      ws.onmessage = (ev) => { if (this._ws === ws) this._onMessage(ev.data); };
      ws.onclose = (ev) => {
        clearTimeout(timer);
        if (this._ws !== ws) return;
        this._ws = null;
        this._stopPing();
        if (!opened) {
          // Refused at the upgrade (a 403 for a foreign Origin, say) or unreachable.
          reject(Object.assign(new Error(`icehub: cannot connect to ${this.url}` +
            ` (close ${ev.code})`), { code: 'socket', closeCode: ev.code }));
        } else {
          this._onSocketClose(ev.code, ev.reason);
        }
      };
      ws.onerror = () => { /* a close event follows */ };
    });
  }

  _send(msg) {
    if (this.state === 'closed' || this.state === 'idle') return false;
    if (this.state === 'reconnecting' || !this._ws || this._ws.readyState !== 1) {
      this._outbox.push(msg);
      return true;
    }
    this._ws.send(JSON.stringify(msg));
    this.stats.sent++;
    this._debug('>', msg);
    return true;
  }

  _sendSignal(to, data) { return this._send({ type: 'signal', to, data }); }

  // A connection's outcome as a stats message (docs/signaling.md#stats): words and
  // numbers only, never an address. Sent only when the hub counts them.
  _reportOutcome(peer, o) {
    if (!this._clientStats || this.options.reportStats === false) return;
    if (!this.peers.has(peer.id)) return;
    const types = ['host', 'srflx', 'prflx', 'relay'];
    if (o.result === 'connected' && (!types.includes(o.local) || !types.includes(o.remote) ||
        (o.local === 'relay') !== !!o.relay)) return; // a browser whose stats lack them
    const m = { type: 'stats', peer: peer.id, result: o.result, restarts: o.restarts };
    if (o.result === 'connected') {
      Object.assign(m, { local: o.local, remote: o.remote, seconds: o.seconds });
      if (o.relay) m.relay = o.relay;
    }
    this._send(m);
  }

  // Sends msg with a fresh ref; resolves with the reply that echoes it, rejects
  // with the error that does. Not queued: it needs the socket now.
  _request(msg) {
    return new Promise((resolve, reject) => {
      if (!this._ws || this._ws.readyState !== 1) {
        reject(Object.assign(new Error('icehub: not connected'), { code: 'socket' }));
        return;
      }
      const ref = `r${++this._ref}`;
      this._pending.set(ref, { resolve, reject, type: msg.type });
      this._ws.send(JSON.stringify({ ...msg, ref }));
      this.stats.sent++;
      this._debug('>', msg);
    });
  }

  _settle(msg) {
    const p = msg.ref !== undefined && this._pending.get(msg.ref);
    if (!p) return false;
    this._pending.delete(msg.ref);
    if (msg.type === 'error') {
      p.reject(Object.assign(new Error(`icehub: ${msg.code}: ${msg.message}`),
        { code: msg.code, hubError: msg }));
    } else {
      p.resolve(msg);
    }
    return true;
  }

  _rejectPending(code, message) {
    for (const p of this._pending.values()) {
      p.reject(Object.assign(new Error(message), { code }));
    }
    this._pending.clear();
  }

  _onMessage(text) {
    let msg;
    try { msg = JSON.parse(text); } catch (_) { return; }
    if (!msg || typeof msg !== 'object') return;
    this.stats.received++;
    this._debug('<', msg);
    switch (msg.type) {
      case 'joined': this._onJoined(msg); break;
      case 'resumed': this._onResumed(msg); break;
      case 'peer-joined': this._addPeer(msg.id); break;
      case 'peer-left': this._removePeer(msg.id, msg.reason || 'leave'); break;
      case 'signal': this._onSignal(msg.from, msg.data); break;
      case 'broadcast': this._emit('broadcast', { from: msg.from, data: msg.data }); break;
      case 'ice-servers': this._setIceServers(msg.iceServers, msg.ttl); break;
      case 'error':
        if (!this._settle(msg)) this._emit('error', msg);
        return;
      default: break; // left, pong, ack, and types of later versions
    }
    this._settle(msg);
  }

  _onJoined(msg) {
    this.id = msg.id;
    this.room = msg.room || this.room;
    this.resumeToken = msg.resume || null;
    this.resumeSeconds = msg.resumeSeconds || 0;
    this._clientStats = msg.clientStats === true;
    this.iceServers = Array.isArray(msg.iceServers) ? msg.iceServers : [];
    this._setState('joined');
    this._emit('joined', { id: this.id, room: this.room, peers: msg.peers || [],
      iceServers: this.iceServers });
    for (const id of msg.peers || []) this._addPeer(id);
  }

  _addPeer(id) {
    if (typeof id !== 'string' || id === this.id) return null;
    let peer = this.peers.get(id);
    if (peer) return peer;
    peer = new IcehubPeer(this, id);
    this.peers.set(id, peer);
    this._emit('peerjoined', { peer });
    // The impolite side starts the negotiation (its default channel); the polite
    // side waits for the offer, unless it has media to send anyway.
    peer._ensurePc(!peer.polite || !!this._stream);
    return peer;
  }

  _removePeer(id, reason) {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    peer._close();
    this._emit('peerleft', { peer, reason });
  }

  _onSignal(from, data) {
    if (typeof from !== 'string') return;
    if (data && typeof data === 'object' && (data.description || data.candidate)) {
      const peer = this._addPeer(from);
      if (peer) peer._onSignal(data);
    } else if (data && typeof data === 'object' && data.resync === true) {
      const peer = this.peers.get(from);
      if (peer) peer._onSignal(data);
    } else {
      this._emit('signal', { from, data });
    }
  }

  // New iceServers (pushed before the old credentials expire, or in resumed, or
  // asked for) apply to all later gathering. icehubd ends a TURN allocation when the
  // credentials it was made with expire, and a browser keeps refreshing an existing
  // allocation with the old ones, so a connection that relays through our TURN
  // server restarts ICE: the restart gathers new allocations with the new
  // credentials and moves the connection onto them.
  _setIceServers(iceServers, ttl) {
    if (!Array.isArray(iceServers)) return;
    const changed = turnUsers(iceServers) !== turnUsers(this.iceServers);
    this.iceServers = iceServers;
    const relayOnly = this._rtcConfig().iceTransportPolicy === 'relay';
    for (const p of this.peers.values()) {
      if (!p.pc || p.closed) continue;
      try {
        p.pc.setConfiguration(this._rtcConfig());
      } catch (err) {
        p._fail('setConfiguration', err);
        continue;
      }
      const relayed = relayOnly || (p.pair && p.pair.local.candidateType === 'relay');
      if (changed && relayed && p.pc.connectionState === 'connected') {
        p.stats.credentialRestarts++;
        p.restartIce();
      }
    }
    this._emit('iceservers', { iceServers, ttl });
  }

  // ---- keepalive, drops and resume -------------------------------------------

  _startPing() {
    this._stopPing();
    if (!(this._pingInterval > 0)) return;
    this._pingTimer = setInterval(() => {
      if (this.state !== 'joined') return;
      const ws = this._ws;
      const dead = setTimeout(() => {
        // No pong: the network is gone though the socket does not know yet.
        if (this._ws === ws && ws) this._abandon(ws, 4001, 'pong timeout');
      }, this._pongTimeout);
      this._request({ type: 'ping' }).then(() => clearTimeout(dead), () => clearTimeout(dead));
    }, this._pingInterval);
  }

  _stopPing() {
    if (this._pingTimer) clearInterval(this._pingTimer);
    this._pingTimer = null;
  }

  // Gives up on a socket that seems dead and carries on as if it had closed.
  _abandon(ws, code, reason) {
    this._ws = null;
    this._stopPing();
    ws.onopen = ws.onmessage = ws.onclose = null;
    try { ws.close(code, reason); } catch (_) { /* already closing */ }
    this._onSocketClose(code, reason);
  }

  _onSocketClose(code, reason) {
    this._rejectPending('socket', `icehub: socket closed (${code})`);
    if (this.state === 'closed' || this.state === 'idle') return;
    // While reconnecting, the retry loop sees the rejected request and carries on.
    if (this.state === 'reconnecting') return;
    // 1008: the hub closed us for abuse; do not hammer it.
    if (code === 1008 || this.options.reconnect === false || this.state !== 'joined') {
      this._teardown(code, reason || 'socket closed');
      return;
    }
    this._backoff = BACKOFF_FIRST_MS;
    this._setState('reconnecting');
    this._emit('disconnected', { code, reason });
    this._reconnect(Math.max(0, (this._holdUntil || 0) - Date.now()));
  }

  _reconnect(delay) {
    const t = setTimeout(async () => {
      this._timers.delete(t);
      if (this.state !== 'reconnecting') return;
      this.stats.reconnects++;
      try {
        await this._open();
        // Tried even when resumeSeconds seem to be over by our clock: the hub
        // decides, and answers resume-failed when it is too late.
        if (this.resumeToken) {
          try {
            await this._request({ type: 'resume', token: this.resumeToken });
            return;
          } catch (err) {
            if (err.code !== 'resume-failed') throw err;
          }
        }
        await this._rejoin();
      } catch (err) {
        if (this.state !== 'reconnecting') return;
        if (this._ws) this._abandonQuietly();
        this._backoff = Math.min(this._backoff * 2, BACKOFF_MAX_MS);
        this._reconnect(this._backoff);
      }
    }, delay);
    this._timers.add(t);
  }

  _abandonQuietly() {
    const ws = this._ws;
    this._ws = null;
    this._stopPing();
    ws.onopen = ws.onmessage = ws.onclose = null;
    try { ws.close(1000, 'retry'); } catch (_) { /* closing */ }
  }

  _onResumed(msg) {
    const since = Date.now();
    this.id = msg.id || this.id;
    this.room = msg.room || this.room;
    if (msg.resume) this.resumeToken = msg.resume;
    if (typeof msg.clientStats === 'boolean') this._clientStats = msg.clientStats;
    if (Array.isArray(msg.iceServers)) this._setIceServers(msg.iceServers, msg.ttl);
    this.stats.resumes++;
    this._setState('joined');
    // Peers that went while we were away (their peer-left, if queued, follows too).
    const now = new Set(msg.peers || []);
    for (const id of [...this.peers.keys()]) if (!now.has(id)) this._removePeer(id, 'timeout');
    for (const id of now) this._addPeer(id);
    this._flushOutbox();
    for (const p of this.peers.values()) p._resync();
    for (const p of this.peers.values()) p._leaveStreamRelay(since);
    this._emit('resumed', { id: this.id, peers: [...now] });
  }

  // Resume impossible (expired or refused): join the room again with a new id.
  // Every peer connection starts over, since the others know us by the old id.
  async _rejoin() {
    const previousId = this.id;
    for (const id of [...this.peers.keys()]) this._removePeer(id, 'rejoin');
    this._outbox = [];
    this.id = null;
    this.stats.rejoins++;
    await this._request(this._joinMessage(null));
    this._emit('rejoined', { id: this.id, previousId });
  }

  _flushOutbox() {
    const out = this._outbox;
    this._outbox = [];
    for (const m of out) this._send(m);
  }

  _sleep(ms) {
    return new Promise((r) => { const t = setTimeout(() => { this._timers.delete(t); r(); }, ms);
      this._timers.add(t); });
  }

  _teardown(code, reason) {
    const wasClosed = this.state === 'closed';
    this._stopPing();
    if (globalThis.removeEventListener) {
      globalThis.removeEventListener('pagehide', this._onPageHide);
    }
    for (const t of this._timers) clearTimeout(t);
    this._timers.clear();
    if (this._ws) {
      const ws = this._ws;
      this._ws = null;
      ws.onopen = ws.onmessage = ws.onclose = null;
      try { ws.close(1000, reason); } catch (_) { /* closing */ }
    }
    this._rejectPending('closed', 'icehub: closed');
    for (const id of [...this.peers.keys()]) this._removePeer(id, 'closed');
    this._outbox = [];
    this._setState('closed');
    if (!wasClosed) this._emit('closed', { code, reason });
  }
}

export default IcehubClient;
