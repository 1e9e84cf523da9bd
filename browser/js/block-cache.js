// The accel runtime's persistent cache of verified blocks, for its worker:
// importScripts('block-cache.js') defines self.BlockCache.
//
// Each block is kept by CID in two stores: its bytes in Cache Storage and a
// record {cid, size, priority, lastUse} in IndexedDB. A block is held only
// when both are there; a page that dies between two writes leaves one
// without the other, which counts as absent and is deleted by the next
// open. Under its quota the cache evicts by weighted LRU, as the node's
// GCTo does:
//
//   weight = lastUse + PRIORITY_STEP_MS × priority
//
// where lastUse is when the block was last put or got (ms) and priority is
// its component's cache priority, higher for blocks more critical to keep
// (the runtime's info.priority). Blocks go lightest first: within one model
// the late layers go first and the manifest last, and a block used more
// recently outweighs an older one unless the gap is smaller than the
// priority difference times PRIORITY_STEP_MS.
'use strict';

(() => {
  const CACHE_NAME = 'accel-blocks-v1';
  const DB_NAME = 'accel-blocks';
  const STORE = 'blocks';
  /** The age that one step of priority is worth in a block's weight (node.PriorityStep). */
  const PRIORITY_STEP_MS = 60_000;

  /** The Cache Storage key of a block. */
  const cacheKey = (cid) => new URL(`/accel-block/${cid}`, self.location.origin).href;

  /** @typedef {{cid: string, size: number, priority: number, lastUse: number}} BlockRecord */

  /** The weight of a block: the lighter, the sooner it is evicted. */
  const weight = (r) => r.lastUse + PRIORITY_STEP_MS * r.priority;

  /**
   * Returns the lightest of records (CID order among equals), lightest
   * first, whose sizes add up to at least excess bytes.
   * @param {BlockRecord[]} records
   * @param {number} excess
   */
  function lightest(records, excess) {
    const sorted = records.toSorted((a, b) => weight(a) - weight(b) || (a.cid < b.cid ? -1 : a.cid > b.cid ? 1 : 0));
    const out = [];
    for (const r of sorted) {
      if (excess <= 0) break;
      out.push(r);
      excess -= r.size;
    }
    return out;
  }

  /**
   * A persistent cache of verified blocks by CID that holds at most its
   * quota in bytes, evicting the lightest blocks (see weight). Writes —
   * put, delete and the lastUse updates of get — run one at a time in the
   * order they were asked for. One instance per origin is assumed at a
   * time: what another instance writes meanwhile is seen at the next open.
   */
  class BlockCache {
    #cache; // Cache Storage: cacheKey(cid) → the block's bytes
    #db; // IndexedDB: STORE holds the BlockRecords, keyed by cid
    #quota;
    /** @type {Map<string, BlockRecord>} the blocks held */
    #held = new Map();
    #bytes = 0; // the sum of the held blocks' sizes
    #evicted = 0;
    #writes = Promise.resolve(); // settles when the writes asked for so far are done

    /** Use BlockCache.open. */
    constructor(cache, db, quota) {
      this.#cache = cache;
      this.#db = db;
      this.#quota = quota;
    }

    /**
     * Opens the origin's block cache with a quota of quotaBytes, capped by
     * the origin's storage quota where navigator.storage.estimate() tells
     * it. It deletes the halves of blocks a dying page left, then evicts
     * down to the quota. Resolves with null where the browser offers no
     * Cache Storage or IndexedDB.
     * @param {{quotaBytes: number}} options
     * @returns {Promise<BlockCache|null>}
     */
    static async open({ quotaBytes }) {
      if (!(quotaBytes >= 0)) throw new RangeError(`BlockCache: quotaBytes ${quotaBytes} is not a size`);
      if (!self.caches || !self.indexedDB) return null;
      const [cache, db, estimate] = await Promise.all([
        self.caches.open(CACHE_NAME),
        openDB(),
        self.navigator.storage?.estimate().catch(() => undefined),
      ]);
      const bc = new BlockCache(cache, db, Math.min(quotaBytes, estimate?.quota ?? Infinity));
      await bc.#reconcile();
      await bc.#evict(lightest([...bc.#held.values()], bc.#bytes - bc.#quota));
      return bc;
    }

    /**
     * Resolves with the bytes of block cid, or null when it is not held.
     * A hit makes the block the most recently used; a failure to record
     * that only makes it look older.
     * @param {string} cid
     * @returns {Promise<Uint8Array|null>}
     */
    async get(cid) {
      const record = this.#held.get(cid);
      if (!record) return null;
      const hit = await this.#cache.match(cacheKey(cid));
      const stillHeld = () => this.#held.get(cid) === record;
      if (!hit) {
        // The bytes are gone (storage cleared behind our back): forget the record.
        this.#enqueue(() => stillHeld() && this.#remove(record)).catch(() => {});
        return null;
      }
      const bytes = new Uint8Array(await hit.arrayBuffer());
      record.lastUse = Date.now();
      this.#enqueue(() => stillHeld() && this.#writeRecord(record)).catch(() => {});
      return bytes;
    }

    /**
     * Stores a copy of block cid (bytes the caller verified against cid)
     * with its priority, as the most recently used, then evicts the
     * lightest blocks until the cache is within its quota. A block that
     * would itself be evicted — one bigger than the quota, or lighter than
     * all it would displace — is not stored and counts as evicted. Putting
     * a block already held only raises its priority to the higher of the
     * two and makes it the most recently used. Resolves once stored.
     * @param {string} cid
     * @param {Uint8Array} bytes
     * @param {{priority: number}} options
     * @returns {Promise<void>}
     */
    put(cid, bytes, { priority }) {
      const copy = bytes.slice();
      return this.#enqueue(async () => {
        const now = Date.now();
        const held = this.#held.get(cid);
        if (held) {
          held.priority = Math.max(held.priority, priority);
          held.lastUse = now;
          await this.#writeRecord(held);
          return;
        }
        const record = { cid, size: copy.byteLength, priority, lastUse: now };
        const victims = lightest([...this.#held.values(), record], this.#bytes + record.size - this.#quota);
        if (victims.includes(record)) {
          this.#evicted++;
          return;
        }
        await this.#evict(victims);
        await this.#cache.put(cacheKey(cid), new Response(copy));
        await this.#writeRecord(record);
        this.#held.set(cid, record);
        this.#bytes += record.size;
      });
    }

    /**
     * Deletes block cid (one that failed verification, say); resolves once
     * it is gone.
     * @param {string} cid
     * @returns {Promise<void>}
     */
    delete(cid) {
      return this.#enqueue(async () => {
        const record = this.#held.get(cid);
        if (record) await this.#remove(record);
      });
    }

    /**
     * Resolves, once the writes asked for so far are done, with the bytes
     * and the number of blocks held and the number of blocks this instance
     * evicted or did not store to keep within the quota.
     * @returns {Promise<{bytes: number, blocks: number, evicted: number}>}
     */
    async usage() {
      await this.#writes;
      return { bytes: this.#bytes, blocks: this.#held.size, evicted: this.#evicted };
    }

    /** Runs task after the writes asked for before it; a failed one does not stop the next. */
    #enqueue(task) {
      const done = this.#writes.then(task);
      this.#writes = done.catch(() => {});
      return done;
    }

    /** Loads the records whose bytes are stored and deletes the halves of blocks. */
    async #reconcile() {
      const records = await transact(this.#db, 'readonly', (store) => store.getAll());
      const unrecorded = new Set((await this.#cache.keys()).map((request) => request.url));
      for (const record of records) {
        if (unrecorded.delete(cacheKey(record.cid))) {
          this.#held.set(record.cid, record);
          this.#bytes += record.size;
        } else {
          await transact(this.#db, 'readwrite', (store) => store.delete(record.cid));
        }
      }
      for (const url of unrecorded) await this.#cache.delete(url);
    }

    /** Removes records from the cache, counting them as evicted. */
    async #evict(records) {
      for (const record of records) {
        await this.#remove(record);
        this.#evicted++;
      }
    }

    /** Removes a held block: its record first, so that it is never held without bytes. */
    async #remove(record) {
      this.#held.delete(record.cid);
      this.#bytes -= record.size;
      await transact(this.#db, 'readwrite', (store) => store.delete(record.cid));
      await this.#cache.delete(cacheKey(record.cid));
    }

    /** Stores a held block's record. */
    #writeRecord(record) {
      return transact(this.#db, 'readwrite', (store) => store.put(record));
    }
  }

  /** Opens the records' database, creating its store the first time. */
  function openDB() {
    return new Promise((resolve, reject) => {
      const request = self.indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: 'cid' });
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  /**
   * Makes one request on STORE in a transaction of its own and resolves
   * with its result once the transaction has committed. Commits are
   * relaxed (not flushed to disk one by one): a record lost in a crash
   * leaves bytes without a record, which the next open deletes.
   * @param {IDBDatabase} db
   * @param {IDBTransactionMode} mode
   * @param {(store: IDBObjectStore) => IDBRequest} request
   */
  function transact(db, mode, request) {
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode, { durability: 'relaxed' });
      const req = request(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = tx.onabort = () => reject(tx.error);
    });
  }

  self.BlockCache = BlockCache;
})();
