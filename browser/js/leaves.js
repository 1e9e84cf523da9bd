// The runtime worker's loader of components' raw leaves:
// importScripts('leaves.js') defines self.AccelLeaves.
//
// A source streams many blocks for one request: a trustless gateway answers
// GET /ipfs/<component root> with a CAR (the component's DAG, depth first),
// the page's libp2p peer a pipelined batch over /accel/blocks/1.0.0. Each
// block is parsed as it arrives, hashed (WebCrypto, several digests in
// flight) against the CID it was asked for, and only then written to where
// the runtime holds the component's file and to the cache. Nothing a source
// sends is trusted: a CAR section or block is at most MAX_BLOCK bytes and
// memory is taken only for bytes that arrived; a block that does not hash
// to its CID is rejected, reported with its source, and fetched elsewhere.
'use strict';

(() => {
  /** The largest block a source may send (transfer.MaxBlockSize), plus room for its CID. */
  const MAX_BLOCK = (2 << 20) + 128;
  /** The largest CAR header accepted. */
  const MAX_CAR_HEADER = 64 << 10;
  /** Digests in flight while a stream goes on. */
  const DIGESTS_IN_FLIGHT = 8;
  /** A stream that brings no bytes for this long fails. */
  const STALL_MS = 30000;

  const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

  /** The multibase base32 string of a CIDv1's bytes (the form the runtime names CIDs by). */
  function cidString(bytes) {
    let out = 'b';
    let bits = 0;
    let value = 0;
    for (const b of bytes) {
      value = (value << 8) | b;
      bits += 8;
      while (bits >= 5) {
        out += BASE32[(value >>> (bits - 5)) & 31];
        bits -= 5;
      }
      value &= (1 << bits) - 1;
    }
    if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
    return out;
  }

  /** The bytes of a multibase base32 CID string. */
  function cidBytes(s) {
    if (s[0] !== 'b') throw new Error(`CID ${s} is not in base32`);
    const out = [];
    let bits = 0;
    let value = 0;
    for (const ch of s.slice(1)) {
      const v = BASE32.indexOf(ch);
      if (v < 0) throw new Error(`CID ${s} is not in base32`);
      value = (value << 5) | v;
      bits += 5;
      if (bits >= 8) {
        out.push((value >>> (bits - 8)) & 255);
        bits -= 8;
        value &= (1 << bits) - 1;
      }
    }
    return Uint8Array.from(out);
  }

  /** Reads an unsigned varint at bytes[at]; returns [value, next] or null when bytes end first. */
  function uvarint(bytes, at) {
    let value = 0;
    for (let shift = 0; shift < 63; shift += 7) {
      if (at >= bytes.length) return null;
      const b = bytes[at++];
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return [value, at];
    }
    throw new Error('varint too long');
  }

  /** The SHA-256 digest a CIDv1 string names, or null when it names another hash. */
  function sha256Of(cid) {
    const bytes = cidBytes(cid);
    let at = 0;
    let v;
    for (let i = 0; i < 2; i++) { // version, codec
      v = uvarint(bytes, at);
      at = v[1];
    }
    const [code, a] = uvarint(bytes, at);
    const [length, b] = uvarint(bytes, a);
    return code === 0x12 && length === 32 && bytes.length === b + 32 ? bytes.subarray(b) : null;
  }

  /** The length of the CID at the start of section (v0 or v1), or throws. */
  function cidLength(section) {
    if (section[0] === 0x12 && section[1] === 0x20) return 34; // CIDv0
    let at = 0;
    for (let i = 0; i < 3; i++) { // version, codec, hash code
      const v = uvarint(section, at);
      if (!v) throw new Error('CAR: truncated CID');
      at = v[1];
    }
    const v = uvarint(section, at);
    if (!v || v[1] + v[0] > section.length) throw new Error('CAR: truncated CID');
    return v[1] + v[0];
  }

  /** The smallest read of a section's head, whose rest lands in the block's buffer. */
  const HEAD_READ = 4096;
  /** The most buffers a BufferPool keeps. */
  const POOL_BUFFERS = 64;

  /**
   * Buffers for blocks' bytes, used again: a block read from a stream
   * lands in one, which comes back (put) once the bytes are where they are
   * held and in the cache. Fresh memory costs the page more than the copy
   * into it (the system maps and zeroes every page of it).
   */
  class BufferPool {
    #free = [];

    /** A view of n bytes at the start of a free buffer of at most twice n, or of a new one. */
    get(n) {
      const i = this.#free.findIndex((b) => b.byteLength >= n && b.byteLength <= 2 * n);
      const buffer = i >= 0 ? this.#free.splice(i, 1)[0] : new ArrayBuffer(n);
      return new Uint8Array(buffer, 0, n);
    }

    /** Takes back the buffer of view: nothing uses it after. */
    put(view) {
      if (this.#free.length < POOL_BUFFERS && view.buffer instanceof ArrayBuffer && view.buffer.byteLength > 0) this.#free.push(view.buffer);
    }

    /** Lets the free buffers go (the page keeps no memory for a load that is over). */
    clear() {
      this.#free = [];
    }
  }

  const buffers = new BufferPool();

  /**
   * Bytes arriving in chunks from a stream of bytes: take(n) resolves with
   * the next n bytes (a copy only when they span chunks), or null at a
   * clean end; takeInto(n) with them in a buffer of the pool, read
   * straight into it where the stream reads into the caller's memory
   * (a BYOB reader).
   */
  class ChunkReader {
    #reader;
    #byob;
    #chunks = [];
    #length = 0;
    #done = false;

    constructor(body) {
      try {
        this.#reader = body.getReader({ mode: 'byob' });
        this.#byob = true;
      } catch {
        this.#reader = body.getReader();
        this.#byob = false;
      }
    }

    /** The reader's next read (into view, for a BYOB reader), failing after STALL_MS without bytes. */
    async #read(view) {
      let timer;
      const stalled = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no bytes for ${STALL_MS / 1000} s`)), STALL_MS);
      });
      try {
        return await Promise.race([this.#byob ? this.#reader.read(view) : this.#reader.read(), stalled]);
      } finally {
        clearTimeout(timer);
      }
    }

    /** Waits until n bytes are buffered or the stream ends; returns whether they are. */
    async #fill(n) {
      while (this.#length < n && !this.#done) {
        const { value, done } = await this.#read(this.#byob ? new Uint8Array(Math.max(n - this.#length, HEAD_READ)) : undefined);
        if (done) this.#done = true;
        else if (value.length > 0) {
          this.#chunks.push(value);
          this.#length += value.length;
        }
      }
      return this.#length >= n;
    }

    /** The first up to n buffered bytes, without consuming them (at least n when the stream has them). */
    async peek(n) {
      await this.#fill(n);
      if (this.#chunks.length === 0) return new Uint8Array(0);
      if (this.#chunks[0].length >= Math.min(n, this.#length)) return this.#chunks[0];
      return this.#gather(Math.min(n, this.#length), false);
    }

    async take(n) {
      if (!await this.#fill(n)) {
        if (this.#length === 0) return null;
        throw new Error('CAR: the stream ended in the middle of a section');
      }
      return this.#gather(n, true);
    }

    /** The next n bytes in a buffer of the pool (the caller puts it back), or a new one without a BYOB reader. */
    async takeInto(n) {
      if (!this.#byob) {
        const bytes = await this.take(n);
        if (bytes === null) throw new Error('CAR: the stream ended in the middle of a section');
        return bytes;
      }
      let view = buffers.get(n);
      let off = Math.min(n, this.#length);
      if (off > 0) view.set(this.#gather(off, true));
      while (off < n) {
        const { value, done } = await this.#read(new Uint8Array(view.buffer, off, n - off));
        view = new Uint8Array(value.buffer, 0, n); // the read moved the buffer to value's
        if (done) {
          this.#done = true;
          buffers.put(view);
          throw new Error('CAR: the stream ended in the middle of a section');
        }
        off += value.length;
      }
      return view;
    }

    #gather(n, consume) {
      const head = this.#chunks[0];
      if (consume && head.length === n) {
        this.#chunks.shift();
        this.#length -= n;
        return head;
      }
      if (head.length > n) {
        if (!consume) return head.subarray(0, n);
        this.#chunks[0] = head.subarray(n);
        this.#length -= n;
        return head.slice(0, n);
      }
      const out = new Uint8Array(n);
      let off = 0;
      let i = 0;
      while (off < n) {
        const c = this.#chunks[i];
        const take = Math.min(c.length, n - off);
        out.set(c.subarray(0, take), off);
        off += take;
        if (!consume) i++;
        else if (take === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(take);
      }
      if (consume) this.#length -= n;
      return out;
    }

    /** Reads a varint; null at a clean end. */
    async uvarint() {
      const head = await this.peek(10);
      if (head.length === 0) return null;
      const v = uvarint(head, 0);
      if (!v) throw new Error('CAR: the stream ended in a varint');
      await this.take(v[1]);
      return v[0];
    }

    cancel() {
      this.#reader.cancel().catch(() => {});
    }
  }

  /**
   * Reads a CARv1 stream (a ReadableStream of bytes), calling onBlock(cid,
   * bytes) for each section as it completes; each block's bytes are its
   * own, in a buffer of the pool where the stream allows (buffers.put
   * gives it back). Resolves at the end of the stream.
   */
  async function readCar(body, onBlock) {
    const r = new ChunkReader(body);
    try {
      const headerLength = await r.uvarint();
      if (headerLength === null || headerLength > MAX_CAR_HEADER) throw new Error(`CAR: header of ${headerLength} bytes`);
      await r.take(headerLength);
      for (;;) {
        const n = await r.uvarint();
        if (n === null) return;
        if (n === 0 || n > MAX_BLOCK) throw new Error(`CAR: a section of ${n} bytes`);
        const head = await r.peek(Math.min(n, 128));
        const k = cidLength(head);
        if (k > n) throw new Error('CAR: a section shorter than its CID');
        const cid = await r.take(k);
        const bytes = n > k ? await r.takeInto(n - k) : new Uint8Array(0);
        await onBlock(cid[0] === 0x12 ? null : cidString(cid), bytes);
      }
    } finally {
      r.cancel();
    }
  }

  /**
   * A trustless gateway at base as a source: block(cid) GETs one raw
   * block; leaves(root, cids, onBlock) GETs the CAR of the DAG at root
   * (every block, depth first, no duplicates) and passes its blocks on.
   */
  function gatewaySource(base, timeoutMs) {
    return {
      name: base,
      async block(cid) {
        const url = new URL(`/ipfs/${cid}?format=raw`, base);
        const response = await fetch(url, {
          headers: { Accept: 'application/vnd.ipld.raw' },
          cache: 'no-store', // the model cache keeps blocks, under its quota
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
        return new Uint8Array(await response.arrayBuffer());
      },
      async leaves(root, cids, onBlock) {
        const url = new URL(`/ipfs/${root}?format=car&dag-scope=all`, base);
        const response = await fetch(url, {
          headers: { Accept: 'application/vnd.ipld.car; version=1; order=dfs; dups=n' },
          cache: 'no-store',
        });
        if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
        await readCar(response.body, onBlock);
      },
    };
  }

  /**
   * The block sources of one load, in the order they are asked, counting
   * requests per source in stats ({requests, sources, dropped, rejected,
   * cached}). A source that fails a request, or sends a block that does
   * not match its CID, is dropped for the rest of the load while another
   * is left.
   */
  class Sources {
    #list;
    #stats;

    constructor(list, stats) {
      if (list.length === 0) throw new Error('load: no block source (no libp2p connection and no gateway)');
      this.#list = list;
      this.#stats = stats;
    }

    /** The source to ask next, counted as asked. */
    next() {
      const source = this.#list[0];
      this.#stats.requests++;
      this.#stats.sources[source.name] = (this.#stats.sources[source.name] ?? 0) + 1;
      return source;
    }

    /** Drops source, while another is left. */
    drop(source) {
      if (this.#list.length > 1 && this.#list.includes(source)) {
        this.#list.splice(this.#list.indexOf(source), 1);
        this.#stats.dropped.push(source.name);
      }
    }
  }

  /**
   * Returns a fetchLeaves for the runtime (see browser/wasm's loadModel)
   * over sources, with cache (a ModelCache, or null), tries attempts per
   * leaf. memory() is the runtime's linear memory (where a dst that is a
   * number points); nodes(root) the inner nodes the runtime verified for
   * component root ([cid, bytes] pairs, stored beside its file);
   * onProgress(component, bytes) is told of each leaf's bytes placed. A
   * component's file goes on into the cache after fetchLeaves returns:
   * fetchLeaves.cached() resolves once every file it began is stored, and
   * the load's buffers are let go.
   */
  function leafFetcher({ sources, cache, stats, tries, memory, nodes, onProgress }) {
    const commits = [];
    const fetchLeaves = async (info, leaves, dst, goDigest) => {
      const digest = self.crypto?.subtle
        ? async (bytes) => new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
        : async (bytes) => goDigest(bytes);
      const digests = new Uint8Array(32 * leaves.length);
      const sizes = new Array(leaves.length).fill(0);
      const want = new Map(); // cid → {i, size, offsets, sum}
      leaves.forEach(({ cid, size, offsets }, i) => {
        const sum = sha256Of(cid);
        if (!sum) throw new Error(`leaf ${cid} is not named by a SHA-256 digest`);
        for (const off of offsets) {
          if (!(off >= 0 && off + size <= info.size)) throw new Error(`leaf ${cid}: bytes [${off}, +${size}) are outside the ${info.size}-byte file`);
        }
        want.set(cid, { i, size, offsets, sum });
      });
      const pending = new Set(want.keys());
      let writer = null;
      let writerReady = Promise.resolve();
      // place writes leaf cid's verified bytes (whose digest is sum) to dst and the cache.
      // The writer takes bytes: nothing reads them after.
      const place = (cid, bytes, sum) => {
        const { i, offsets } = want.get(cid);
        for (const off of offsets) {
          if (typeof dst === 'number') new Uint8Array(memory().buffer, dst + off, bytes.length).set(bytes);
          else dst.set(bytes, off);
        }
        digests.set(sum, 32 * i);
        sizes[i] = bytes.length;
        pending.delete(cid);
        onProgress(info.component, bytes.length * offsets.length);
        if (writer) writer.write(bytes, offsets, (b) => buffers.put(b));
        else buffers.put(bytes);
      };
      // check resolves with bytes' digest if they are leaf cid's, else null.
      const check = async (cid, bytes) => {
        const w = want.get(cid);
        if (bytes.length !== w.size) return null;
        const sum = await digest(bytes);
        return equal(sum, w.sum) ? sum : null;
      };

      const file = cache && await cache.readFile(info.root);
      if (file) {
        let bad = false;
        try {
          await inWindow([...pending], async (cid) => {
            const w = want.get(cid);
            const into = buffers.get(w.size);
            const bytes = file.read(w.offsets[0], into);
            const sum = bytes && await check(cid, bytes);
            if (sum) {
              place(cid, bytes, sum);
              stats.cached++;
            } else {
              buffers.put(into);
              bad = true;
            }
          });
        } finally {
          file.close();
        }
        if (bad) await cache.delete(info.root);
      } else if (cache) {
        // The cache's file opens while the request goes out.
        writerReady = cache.writeFile(info.root, info.size, { priority: info.priority }).then((w) => { writer = w; });
      }

      let last = null;
      for (let t = 0; pending.size > 0 && t < tries; t++) {
        const source = sources.next();
        let failed = false;
        const inFlight = [];
        try {
          await source.leaves(info.root, [...pending], async (cid, bytes) => {
            if (cid === null || !pending.has(cid) || want.get(cid).busy) { // a node, or a block met before
              buffers.put(bytes);
              return;
            }
            const w = want.get(cid);
            w.busy = true;
            await writerReady;
            inFlight.push(check(cid, bytes).then((sum) => {
              w.busy = false;
              if (sum) {
                place(cid, bytes, sum);
              } else {
                stats.rejected.push({ cid, source: source.name });
                failed = true;
                buffers.put(bytes);
              }
            }));
            if (inFlight.length >= DIGESTS_IN_FLIGHT) await inFlight.shift();
            await writer?.ready();
          });
        } catch (err) {
          last = err;
          failed = true;
        }
        await Promise.all(inFlight);
        if (failed || pending.size > 0) sources.drop(source);
      }
      await writerReady;
      if (pending.size > 0) {
        await writer?.abort();
        const why = last ? `, the last error: ${last.message}` : '';
        throw new Error(`component ${info.component}: ${pending.size} of ${leaves.length} leaves not received with matching bytes after ${tries} tries${why}`);
      }
      // The cache is best effort: a file it fails to store is fetched again next time.
      if (writer) commits.push(writer.commit(nodes(info.root)).catch((err) => console.warn(`accel worker: component ${info.component} not cached: ${err.message}`)));
      return { digests, sizes };
    };
    fetchLeaves.cached = async () => {
      await Promise.all(commits);
      buffers.clear();
    };
    return fetchLeaves;
  }

  /** Runs fn on each of items, DIGESTS_IN_FLIGHT at a time. */
  async function inWindow(items, fn) {
    const running = new Set();
    for (const item of items) {
      const p = fn(item).finally(() => running.delete(p));
      running.add(p);
      if (running.size >= DIGESTS_IN_FLIGHT) await Promise.race(running);
    }
    await Promise.all(running);
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  self.AccelLeaves = { gatewaySource, Sources, leafFetcher, readCar, cidString };
})();
