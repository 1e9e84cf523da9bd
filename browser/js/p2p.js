// The page's libp2p peer: it dials a daemon over WebTransport, WebRTC-direct
// or WebSockets (Noise, yamux), asks it for blocks over the node's bulk
// block protocol, and carries length-prefixed frames for other protocols
// (offload). It runs in the page, not in the runtime's worker, because
// browsers offer WebRTC only to pages. Nothing it returns is trusted: the
// runtime checks every block against its CID.

import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { identify } from '@libp2p/identify';
import { webRTCDirect } from '@libp2p/webrtc';
import { webSockets } from '@libp2p/websockets';
import { webTransport } from '@libp2p/webtransport';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { CID } from 'multiformats/cid';

/** The node's bulk block protocol (transfer/protocol.go). */
export const BLOCKS_PROTOCOL = '/accel/blocks/1.0.0';

/** The node's offload protocol (proto/offloadwire/wire.go): layers run for a peer. */
export const OFFLOAD_PROTOCOL = '/accel/offload/1.0.0';

/** The transports a page can dial, in the order they are tried. */
export const TRANSPORTS = ['webtransport', 'webrtc-direct', 'websocket', 'circuit-relay'];

const DIAL_TIMEOUT_MS = 10000;
const MAX_BLOCK = 2 << 20; // transfer.MaxBlockSize
const MAX_FRAME = 16 << 20; // wire.MaxFrameSize
const BATCH = 64; // CIDs per request of a batch (the protocol allows 1024)

/** A "don't have" answer: the stream stays in step. */
class MissingBlock extends Error {}

/** The transport a multiaddr uses, or null if a page cannot dial it. */
export function transportOf(addr) {
  const s = addr.toString();
  if (s.includes('/p2p-circuit')) return 'circuit-relay';
  if (s.includes('/webtransport')) return 'webtransport';
  if (s.includes('/webrtc-direct')) return 'webrtc-direct';
  if (/\/wss?(\/|$)/.test(s) || s.includes('/tls/ws')) return 'websocket';
  return null;
}

/**
 * The libp2p transports a peer dialling the allowed ones starts: each
 * costs the page's start (a WebRTC certificate, say) whether it dials or
 * not. A relayed connection reaches its relay over any of them.
 */
function transportsFor(allowed) {
  const relay = allowed.includes('circuit-relay');
  const transports = [];
  if (relay || allowed.includes('webtransport')) transports.push(webTransport());
  if (relay || allowed.includes('webrtc-direct')) transports.push(webRTCDirect());
  if (relay || allowed.includes('websocket')) transports.push(webSockets());
  if (relay) transports.push(circuitRelayTransport());
  return transports;
}

/**
 * Starts a libp2p peer and connects to the first address of addrs that
 * answers, trying transports in the order of allowed. Resolves with a Peer,
 * or rejects with every dial's error when none connects.
 * @param {string[]} addrs daemon multiaddrs ending in /p2p/<id>
 * @param {string[]} allowed transports to try, in order
 */
export async function connect(addrs, allowed = TRANSPORTS) {
  const candidates = addrs
    .map((a) => multiaddr(a))
    .filter((a) => allowed.includes(transportOf(a)))
    .sort((a, b) => allowed.indexOf(transportOf(a)) - allowed.indexOf(transportOf(b)));
  if (candidates.length === 0) {
    throw new Error(`libp2p: no address for the transports ${allowed.join(', ')} among ${addrs.length} bootstrap addresses`);
  }
  const node = await createLibp2p({
    transports: transportsFor(allowed),
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    // The daemons a page talks to are often on loopback or a LAN.
    connectionGater: { denyDialMultiaddr: () => false },
  });
  const errors = [];
  for (const addr of candidates) {
    try {
      const conn = await node.dial(addr, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) });
      return new Peer(node, conn, addr);
    } catch (err) {
      errors.push(`${addr}: ${err.message}`);
    }
  }
  await node.stop();
  throw new Error(`libp2p: could not connect to the daemon:\n${errors.join('\n')}`);
}

/**
 * A connection to one daemon. When the connection drops, the next stream
 * dials the daemon again, at the address that connected (not the other
 * candidates).
 */
export class Peer {
  #node;
  #conn;
  #addr; // the address that connected
  #redial = null; // Promise<Connection> while dialling again
  #blocks = null; // Promise<BlockStream> of single blocks, opened on first use and after one ends
  #batchStreams = []; // BlockStreams of batches, idle: one batch on each at a time
  #frames = new Map(); // handle → FrameStream
  #supported = new Map(); // protocol → Promise<boolean>
  #nextHandle = 1;

  constructor(node, conn, addr) {
    this.#node = node;
    this.#conn = conn;
    this.#addr = addr;
    /** The transport of the connection: one of TRANSPORTS. */
    this.transport = transportOf(addr);
    // The first single block (a load's manifest) and the first batch (its
    // first component) find their streams open.
    this.#blockStream();
    this.#newStream(BLOCKS_PROTOCOL).then((s) => this.#batchStreams.push(new BlockStream(s)), () => {});
  }

  /** The open connection to the daemon, dialled again if it dropped. */
  #connection() {
    if (this.#conn.status === 'open') return Promise.resolve(this.#conn);
    this.#redial ??= this.#node.dial(this.#addr, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
      .then((conn) => { this.#conn = conn; return conn; }, (err) => {
        // A WebSocket's failure is an Event, with no message.
        const why = err instanceof Error ? err.message : `the transport reported "${err?.type ?? err}", with no detail`;
        throw new Error(`libp2p: the connection to the daemon dropped, and dialling it again at ${this.#addr} failed: ${why}. Check that the daemon still runs.`);
      })
      .finally(() => { this.#redial = null; });
    return this.#redial;
  }

  /** Opens a stream of protocol on the connection. */
  async #newStream(protocol) {
    return (await this.#connection()).newStream(protocol);
  }

  /**
   * Resolves with whether the daemon speaks protocol, by opening a stream of it: once when it
   * does; again at the next call when it did not (the connection may have been down).
   */
  supports(protocol) {
    if (!this.#supported.has(protocol)) {
      const answer = this.#newStream(protocol).then(
        async (stream) => { await stream.close(); return true; },
        () => false,
      );
      this.#supported.set(protocol, answer);
      answer.then((yes) => { if (!yes) this.#supported.delete(protocol); });
    }
    return this.#supported.get(protocol);
  }

  /** Resolves with block cid's bytes (unverified), or rejects when the daemon does not have it. */
  async block(cid) {
    let blocks = await this.#blockStream();
    if (blocks.ended) {
      // The daemon closed the last stream (idle, say): the next one serves.
      blocks = await this.#blockStream(blocks);
    }
    return blocks.get(cid);
  }

  /**
   * Asks for the blocks cids as one pipelined batch and calls onBlock(cid,
   * bytes) with each the daemon has, in order, as it arrives (unverified);
   * resolves once every answer came, with the number of blocks received.
   * Each batch has a stream of its own while it runs: batches at once
   * arrive side by side, none waiting behind another.
   */
  async blocks(cids, onBlock) {
    let stream = this.#batchStreams.pop();
    while (stream?.ended) stream = this.#batchStreams.pop();
    stream ??= new BlockStream(await this.#newStream(BLOCKS_PROTOCOL));
    try {
      return await stream.many(cids, onBlock);
    } finally {
      if (!stream.ended) this.#batchStreams.push(stream);
    }
  }

  /** The block stream in use, or a new one in place of stale (which is aborted). */
  #blockStream(stale = null) {
    if (this.#blocks === null || stale !== null) {
      stale?.abort();
      this.#blocks = this.#newStream(BLOCKS_PROTOCOL).then((s) => new BlockStream(s));
      this.#blocks.catch(() => { this.#blocks = null; }); // the next call dials again
    }
    return this.#blocks;
  }

  /** Opens a stream of protocol for framed exchanges; resolves with its handle. */
  async openFrames(protocol) {
    const handle = this.#nextHandle++;
    this.#frames.set(handle, new FrameStream(await this.#newStream(protocol)));
    return handle;
  }

  /** Writes one uvarint-length-prefixed frame on handle's stream and resolves with the reply frame's body. */
  exchange(handle, body) {
    const s = this.#frames.get(handle);
    if (!s) return Promise.reject(new Error(`libp2p: no open stream ${handle}`));
    return s.exchange(body);
  }

  /** Closes handle's stream. */
  async closeFrames(handle) {
    const s = this.#frames.get(handle);
    this.#frames.delete(handle);
    await s?.close();
  }

  /** Closes the connection and stops the libp2p peer. */
  async stop() {
    await this.#node.stop();
  }
}

/**
 * Reads a libp2p stream as bytes: read(n) resolves with exactly the next n
 * bytes, or rejects when the stream ends first.
 */
class StreamReader {
  #chunks = [];
  #length = 0;
  #ended = null; // the reason reads fail once the stream ended
  #waiting = null;

  constructor(stream) {
    stream.addEventListener('message', (e) => {
      const data = e.data.subarray ? e.data.subarray() : e.data;
      this.#chunks.push(data);
      this.#length += data.length;
      this.#wake();
    });
    const end = (why) => {
      this.#ended ??= why;
      this.#wake();
    };
    stream.addEventListener('remoteCloseWrite', () => end(new Error('libp2p: the daemon closed the stream')));
    stream.addEventListener('close', (e) => end(e.error ?? new Error('libp2p: the stream closed')));
  }

  #wake() {
    const w = this.#waiting;
    this.#waiting = null;
    w?.();
  }

  async read(n) {
    while (this.#length < n) {
      if (this.#ended) throw this.#ended;
      await new Promise((resolve) => { this.#waiting = resolve; });
    }
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const head = this.#chunks[0];
      const take = Math.min(head.length, n - off);
      out.set(head.subarray(0, take), off);
      off += take;
      if (take === head.length) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(take);
    }
    this.#length -= n;
    return out;
  }

  /** Reads an unsigned LEB128 varint. */
  async uvarint() {
    let value = 0;
    for (let shift = 0; shift < 63; shift += 7) {
      const [b] = await this.read(1);
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    throw new Error('libp2p: varint too long');
  }
}

function uvarint(n) {
  const out = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Uint8Array.from(out);
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * One /accel/blocks/1.0.0 stream, pipelined: each get writes a one-CID
 * request at once, and the answers, which come in request order, settle the
 * gets in turn. Once the stream ends or an answer breaks the format, ended
 * is true and the gets left fail.
 */
class BlockStream {
  #stream;
  #reader;
  #queue = Promise.resolve();
  ended = false;

  constructor(stream) {
    this.#stream = stream;
    this.#reader = new StreamReader(stream);
    const end = () => { this.ended = true; };
    stream.addEventListener('close', end);
    stream.addEventListener('remoteCloseWrite', end);
  }

  get(cid) {
    const bytes = CID.parse(cid).bytes;
    try {
      this.#stream.send(concat(uvarint(1), uvarint(bytes.length), bytes));
    } catch (err) {
      this.ended = true;
      return Promise.reject(err);
    }
    const answer = this.#queue.then(async () => {
      const [status] = await this.#reader.read(1);
      if (status === 0) throw new MissingBlock(`libp2p: the daemon does not have block ${cid}`);
      if (status !== 1) throw new Error(`libp2p: bad status byte ${status}`);
      const n = await this.#reader.uvarint();
      if (n > MAX_BLOCK) throw new Error(`libp2p: block of ${n} bytes is over the limit`);
      return this.#reader.read(n);
    });
    // An answer that breaks the format leaves the stream out of step (a
    // "don't have" does not): later gets go to a new one.
    this.#queue = answer.then(() => {}, (err) => { if (!(err instanceof MissingBlock)) this.ended = true; });
    return answer;
  }

  /**
   * Writes requests for cids, BATCH at a time, and calls onBlock(cid,
   * bytes) with each block the answers hold, in order; resolves with how
   * many there were. A "don't have" skips its CID.
   */
  many(cids, onBlock) {
    try {
      for (let i = 0; i < cids.length; i += BATCH) {
        const batch = cids.slice(i, i + BATCH).map((c) => CID.parse(c).bytes);
        this.#stream.send(concat(uvarint(batch.length), ...batch.flatMap((b) => [uvarint(b.length), b])));
      }
    } catch (err) {
      this.ended = true;
      return Promise.reject(err);
    }
    const answer = this.#queue.then(async () => {
      let received = 0;
      for (const cid of cids) {
        const [status] = await this.#reader.read(1);
        if (status === 0) continue;
        if (status !== 1) throw new Error(`libp2p: bad status byte ${status}`);
        const n = await this.#reader.uvarint();
        if (n > MAX_BLOCK) throw new Error(`libp2p: block of ${n} bytes is over the limit`);
        onBlock(cid, await this.#reader.read(n));
        received++;
      }
      return received;
    });
    this.#queue = answer.then(() => {}, () => { this.ended = true; });
    return answer;
  }

  abort() {
    this.#stream.abort(new Error('replaced'));
  }
}

/** A stream of uvarint-length-prefixed frames, one reply per request, in order. */
class FrameStream {
  #stream;
  #reader;
  #queue = Promise.resolve();

  constructor(stream) {
    this.#stream = stream;
    this.#reader = new StreamReader(stream);
  }

  exchange(body) {
    this.#stream.send(concat(uvarint(body.length), body));
    const reply = this.#queue.then(async () => {
      const n = await this.#reader.uvarint();
      if (n > MAX_FRAME) throw new Error(`libp2p: frame of ${n} bytes is over the limit`);
      return this.#reader.read(n);
    });
    this.#queue = reply.catch(() => {});
    return reply;
  }

  async close() {
    await this.#stream.close().catch(() => this.#stream.abort(new Error('closed')));
  }
}
