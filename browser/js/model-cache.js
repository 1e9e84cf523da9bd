// The accel runtime's persistent cache of verified model data, for its
// worker: importScripts('model-cache.js') defines self.ModelCache.
//
// An entry is either a component's file or a single block (a manifest).
// A component's file — its raw leaves' bytes at their offsets, as the
// runtime holds it — is one file in the origin private file system
// (directory CACHE_DIR, named by the component's root CID), written as the
// verified leaves arrive by a worker of its own (cache-writer.js, through
// a sync access handle), beside the load. Its inner UnixFS nodes (a few
// KiB) and single blocks are kept in the entry's IndexedDB record:
//
//   {key, kind: 'file' | 'block', size, priority, lastUse, nodes: [[cid, bytes]], bytes}
//
// An entry counts only when its record exists and, for a file, the file
// has the record's size: the record is written once the file is whole and
// closed, so a page that dies mid-write leaves a file without a record,
// which the next open deletes (as it deletes a record without its file).
// Files are not flushed to disk: what a crash of the machine loses, the
// runtime finds when it checks every leaf read back against its CID.
// Under its quota the cache evicts whole entries by weighted LRU, as the
// node's GCTo does:
//
//   weight = lastUse + PRIORITY_STEP_MS × priority
//
// where lastUse is when the entry was last written or read (ms) and
// priority its component's cache priority, higher for data more critical
// to keep (the runtime's info.priority). Entries go lightest first: within
// one model the late layers go first and the manifest last, and an entry
// used more recently outweighs an older one unless the gap is smaller than
// the priority difference times PRIORITY_STEP_MS.
//
// The cache of earlier versions (one Cache Storage entry and one IndexedDB
// record per block) is deleted when the cache opens.
'use strict';

(() => {
  const CACHE_DIR = 'accel-cache';
  const DB_NAME = 'accel-cache';
  const STORE = 'entries';
  const OLD_CACHE = 'accel-blocks-v1';
  const OLD_DB = 'accel-blocks';
  /** The age that one step of priority is worth in an entry's weight (node.PriorityStep). */
  const PRIORITY_STEP_MS = 60_000;
  /** The bytes handed to the file writer and not yet written, beyond which ready() waits. */
  const MAX_QUEUED = 32 << 20;
  /**
   * How long opening a cached file for reading may take: Chromium can
   * leave createSyncAccessHandle pending for good (rarely, after a page
   * that wrote the files went away), and a load must not wait on it.
   */
  const OPEN_TIMEOUT_MS = 1000;

  /** @typedef {{key: string, kind: 'file'|'block', size: number, priority: number, lastUse: number, nodes?: [string, Uint8Array][], bytes?: Uint8Array}} Entry */

  /** The weight of an entry: the lighter, the sooner it is evicted. */
  const weight = (e) => e.lastUse + PRIORITY_STEP_MS * e.priority;

  /**
   * Returns the lightest of entries (key order among equals), lightest
   * first, whose sizes add up to at least excess bytes.
   * @param {Entry[]} entries
   * @param {number} excess
   */
  function lightest(entries, excess) {
    const sorted = entries.toSorted((a, b) => weight(a) - weight(b) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const out = [];
    for (const e of sorted) {
      if (excess <= 0) break;
      out.push(e);
      excess -= e.size;
    }
    return out;
  }

  /**
   * A persistent cache of verified component files and blocks that holds
   * at most its quota in bytes, evicting the lightest entries (see
   * weight). Changes to the index — admissions, evictions, deletions and
   * the lastUse updates of reads — run one at a time in the order they
   * were asked for. One instance per origin is assumed at a time: what
   * another instance writes meanwhile is seen at the next open.
   */
  class ModelCache {
    #dir; // OPFS directory of the component files
    #db; // IndexedDB: STORE holds the Entries, keyed by key
    #quota;
    #originQuota; // the origin's storage quota, where the browser tells it
    /** @type {Map<string, Entry>} the entries held */
    #held = new Map();
    /** @type {Map<string, Entry>} block CID → the entry holding it (a block or a file's node) */
    #blocks = new Map();
    #bytes = 0; // the sum of the held entries' sizes
    #writing = 0; // the bytes of the files being written, not held yet
    #evicted = 0;
    #index = Promise.resolve(); // settles when the index changes asked for so far are done
    #opening = Promise.resolve(); // settles when the files asked to open for reading are open
    #stuck = false; // an open for reading timed out: nothing is read from here on

    /** Use ModelCache.open. */
    constructor(dir, db, originQuota) {
      this.#dir = dir;
      this.#db = db;
      this.#originQuota = originQuota;
      this.#quota = originQuota;
    }

    /**
     * Opens the origin's cache with a quota of quotaBytes, capped by the
     * origin's storage quota where navigator.storage.estimate() tells it.
     * It deletes the earlier versions' cache, the files without records
     * and the records without files a dying page left, then evicts down to
     * the quota. Resolves with null where the browser offers no OPFS sync
     * access handles (a page that is not a secure context) or IndexedDB.
     * @param {{quotaBytes: number}} options
     * @returns {Promise<ModelCache|null>}
     */
    static async open({ quotaBytes }) {
      if (!(quotaBytes >= 0)) throw new RangeError(`ModelCache: quotaBytes ${quotaBytes} is not a size`);
      if (!self.indexedDB || !self.navigator.storage?.getDirectory || !self.FileSystemFileHandle?.prototype.createSyncAccessHandle) return null;
      await Promise.all([
        self.caches?.delete(OLD_CACHE).catch(() => {}),
        new Promise((resolve) => {
          const request = self.indexedDB.deleteDatabase(OLD_DB);
          request.onsuccess = request.onerror = request.onblocked = resolve;
        }),
      ]);
      const [root, db, estimate] = await Promise.all([
        self.navigator.storage.getDirectory(),
        openDB(),
        self.navigator.storage.estimate().catch(() => undefined),
      ]);
      const dir = await root.getDirectoryHandle(CACHE_DIR, { create: true });
      const mc = new ModelCache(dir, db, estimate?.quota ?? Infinity);
      mc.#fileWriter(); // its worker starts now, not when the first file is written
      await mc.#reconcile();
      await mc.limit(quotaBytes);
      return mc;
    }

    /**
     * Sets the quota to quotaBytes, capped by the origin's storage quota,
     * and evicts down to it; resolves once done.
     * @param {number} quotaBytes
     * @returns {Promise<void>}
     */
    limit(quotaBytes) {
      if (!(quotaBytes >= 0)) return Promise.reject(new RangeError(`ModelCache: quotaBytes ${quotaBytes} is not a size`));
      return this.#enqueue(async () => {
        this.#quota = Math.min(quotaBytes, this.#originQuota);
        await this.#evict(lightest([...this.#held.values()], this.#bytes - this.#quota));
      });
    }

    /**
     * Resolves with the bytes of block cid — a single block, or an inner
     * node of a component file held — or null when it is not held. A hit
     * makes its entry the most recently used.
     * @param {string} cid
     * @returns {Promise<Uint8Array|null>}
     */
    async block(cid) {
      const entry = this.#blocks.get(cid);
      if (!entry) return null;
      this.#touch(entry);
      return entry.kind === 'block' ? entry.bytes.slice() : entry.nodes.find(([c]) => c === cid)[1].slice();
    }

    /**
     * Stores block cid (bytes the caller verified against cid) as an entry
     * of its own with its priority, as the most recently used, evicting as
     * put does. Resolves once stored.
     * @param {string} cid
     * @param {Uint8Array} bytes
     * @param {{priority: number}} options
     * @returns {Promise<void>}
     */
    putBlock(cid, bytes, { priority }) {
      const copy = bytes.slice();
      return this.#enqueue(async () => {
        if (this.#raise(cid, priority)) return;
        const entry = { key: cid, kind: 'block', size: copy.byteLength, priority, lastUse: Date.now(), bytes: copy };
        if (!await this.#admit(entry)) return;
        await this.#writeEntry(entry);
        this.#add(entry);
      });
    }

    /**
     * Opens component root's file for reading: resolves with {read(offset,
     * into) → into|null, close()}, or null when it is not held: read fills
     * the Uint8Array into with the bytes from offset, or gives null when
     * the file has fewer. Opening makes the entry the most recently used;
     * close it before anything else opens the file.
     * @param {string} root
     */
    async readFile(root) {
      const entry = this.#held.get(root);
      if (entry?.kind !== 'file' || this.#stuck) return null;
      // One file opens at a time: Chromium can leave one of two sync access
      // handles created at once in the same worker pending for good. One
      // that does not open within OPEN_TIMEOUT_MS is given up (closed if it
      // opens later), and so is reading from the cache for this load: its
      // files come from the network.
      const open = this.#opening.then(async () => (await this.#dir.getFileHandle(root)).createSyncAccessHandle());
      let timer;
      const timedOut = {};
      const late = new Promise((_, reject) => {
        timer = setTimeout(() => reject(timedOut), OPEN_TIMEOUT_MS);
      });
      const opening = Promise.race([open, late]).finally(() => clearTimeout(timer));
      this.#opening = opening.catch(() => {});
      let handle;
      try {
        handle = await opening;
      } catch (err) {
        if (err === timedOut) {
          this.#stuck = true;
          open.then((h) => h.close(), () => {});
          console.warn(`accel model cache: ${root} did not open within ${OPEN_TIMEOUT_MS} ms; the load fetches its files`);
        }
        return null; // gone behind our back, open elsewhere, or stuck
      }
      this.#touch(entry);
      return {
        read(offset, into) {
          return handle.read(into, { at: offset }) === into.length ? into : null;
        },
        close: () => handle.close(),
      };
    }

    /**
     * Opens a new file of size bytes for component root, with its
     * priority, if the quota admits it (evicting the lightest entries, as
     * for a block, the files being written counted): resolves with
     * {write(bytes, offsets, recycle), ready(), commit(nodes), abort()},
     * or null when the file would itself be evicted (it counts as evicted)
     * or cannot be created. write hands bytes to the file writer, to be
     * written at each of offsets: it takes them (see FileWriter.write).
     * ready() resolves once the writer is no more than MAX_QUEUED bytes
     * behind. commit(nodes), once every byte is written, closes the file
     * and records it with its inner nodes ([cid, bytes] pairs), or deletes
     * it when a write failed; abort deletes it. Resolves with null too when
     * root is held already, raising its priority to the higher of the two.
     * @param {string} root
     * @param {number} size
     * @param {{priority: number}} options
     */
    async writeFile(root, size, { priority }) {
      const opened = await this.#enqueue(async () => {
        if (this.#raise(root, priority)) return false;
        const probe = { key: root, kind: 'file', size, priority, lastUse: Date.now() };
        if (!await this.#admit(probe)) return false;
        await this.#fileWriter().call({ op: 'open', dir: CACHE_DIR, name: root, size });
        this.#writing += size;
        return true;
      }).catch(() => false);
      if (!opened) return null;
      const files = this.#fileWriter();
      // The file counts against the quota while it is written, once.
      const written = once(() => { this.#writing -= size; });
      return {
        write: (bytes, offsets, recycle) => files.write(root, bytes, offsets, recycle),
        ready: () => files.ready(),
        commit: async (nodes) => {
          try {
            await files.call({ op: 'close', name: root });
          } catch (err) {
            // The cache is best effort: the file is fetched again next time.
            console.warn(`accel worker: component ${root} not cached: ${err.message}`);
            await files.call({ op: 'abort', dir: CACHE_DIR, name: root }).catch(() => {});
            written();
            return;
          }
          const entry = { key: root, kind: 'file', size: size + nodes.reduce((n, [, b]) => n + b.byteLength, 0), priority, lastUse: Date.now(), nodes };
          await this.#enqueue(async () => {
            written();
            await this.#writeEntry(entry);
            this.#add(entry);
          });
        },
        abort: () => {
          written();
          return files.call({ op: 'abort', dir: CACHE_DIR, name: root }).catch(() => {});
        },
      };
    }

    /** The file writer, one for every cache this worker opens, started with the first. */
    #fileWriter() {
      fileWriter ??= new FileWriter(new URL('cache-writer.js', self.location.href));
      return fileWriter;
    }

    /**
     * Deletes the entry holding key — a component's root, a single
     * block's CID or an inner node's (one that failed verification, say);
     * resolves once it is gone.
     * @param {string} key
     * @returns {Promise<void>}
     */
    delete(key) {
      return this.#enqueue(async () => {
        const entry = this.#held.get(key) ?? this.#blocks.get(key);
        if (entry) await this.#remove(entry);
      });
    }

    /**
     * Resolves, once the index changes asked for so far are done, with the
     * bytes and the number of entries held (component files and single
     * blocks) and the number of entries this instance evicted or did not
     * store to keep within the quota.
     * @returns {Promise<{bytes: number, entries: number, evicted: number}>}
     */
    async usage() {
      await this.#index;
      return { bytes: this.#bytes, entries: this.#held.size, evicted: this.#evicted };
    }

    /** Runs task after the index changes asked for before it; a failed one does not stop the next. */
    #enqueue(task) {
      const done = this.#index.then(task);
      this.#index = done.catch(() => {});
      return done;
    }

    /** Makes entry the most recently used; a failure to record that only makes it look older. */
    #touch(entry) {
      entry.lastUse = Date.now();
      this.#enqueue(() => this.#held.get(entry.key) === entry && this.#writeEntry(entry)).catch(() => {});
    }

    /** If key is held, raises its priority to at least priority, touches it and returns true. */
    #raise(key, priority) {
      const held = this.#held.get(key);
      if (!held) return false;
      held.priority = Math.max(held.priority, priority);
      this.#touch(held);
      return true;
    }

    /**
     * Evicts what entry needs to fit the quota and returns true, or
     * returns false (counting entry as evicted) when entry would itself go.
     */
    async #admit(entry) {
      const victims = lightest([...this.#held.values(), entry], this.#bytes + this.#writing + entry.size - this.#quota);
      if (victims.includes(entry)) {
        this.#evicted++;
        return false;
      }
      await this.#evict(victims);
      return true;
    }

    #add(entry) {
      this.#held.set(entry.key, entry);
      this.#bytes += entry.size;
      if (entry.kind === 'block') this.#blocks.set(entry.key, entry);
      for (const [cid] of entry.nodes ?? []) this.#blocks.set(cid, entry);
    }

    /** Loads the entries whose files are whole and deletes the halves of entries. */
    async #reconcile() {
      const entries = await transact(this.#db, 'readonly', (store) => store.getAll());
      const files = new Map();
      for await (const [name, handle] of this.#dir.entries()) {
        if (handle.kind === 'file') files.set(name, (await handle.getFile()).size);
      }
      for (const entry of entries) {
        const nodeBytes = (entry.nodes ?? []).reduce((n, [, b]) => n + b.byteLength, 0);
        if (entry.kind === 'block' || files.get(entry.key) === entry.size - nodeBytes) {
          files.delete(entry.key);
          this.#add(entry);
        } else {
          await transact(this.#db, 'readwrite', (store) => store.delete(entry.key));
        }
      }
      for (const name of files.keys()) await this.#dir.removeEntry(name).catch(() => {});
    }

    /** Removes entries from the cache, counting them as evicted. */
    async #evict(entries) {
      for (const entry of entries) {
        await this.#remove(entry);
        this.#evicted++;
      }
    }

    /** Removes a held entry: its record first, so that no file is held without its bytes. */
    async #remove(entry) {
      this.#held.delete(entry.key);
      this.#bytes -= entry.size;
      for (const [cid, e] of this.#blocks) if (e === entry) this.#blocks.delete(cid);
      await transact(this.#db, 'readwrite', (store) => store.delete(entry.key));
      if (entry.kind === 'file') await this.#dir.removeEntry(entry.key).catch(() => {});
    }

    /** Stores a held entry's record. */
    #writeEntry(entry) {
      return transact(this.#db, 'readwrite', (store) => store.put(entry));
    }
  }

  /** @type {FileWriter|null} the worker's file writer, shared by its caches */
  let fileWriter = null;

  /**
   * The cache's file writer worker (cache-writer.js, at url): call sends a
   * request and resolves with its answer; write hands it bytes to write,
   * counting them as queued until it says they are written.
   */
  class FileWriter {
    #worker;
    #next = 1;
    /** @type {Map<number, {resolve: () => void, reject: (err: Error) => void}>} */
    #pending = new Map();
    #queued = 0;
    /** @type {(() => void)[]} ready() calls waiting for the queue to shrink */
    #waiting = [];
    /** @type {(((bytes: Uint8Array) => void)|null)[]} who takes back each write's bytes, in order */
    #recycle = [];
    /** @type {Error|null} why the writer stopped: later calls fail at once */
    #failed = null;

    constructor(url) {
      this.#worker = new Worker(url);
      this.#worker.onmessage = ({ data }) => {
        if (data.wrote !== undefined) {
          this.#queued -= data.wrote;
          this.#recycle.shift()?.(data.bytes);
          if (this.#queued <= MAX_QUEUED) for (const wake of this.#waiting.splice(0)) wake();
          return;
        }
        const p = this.#pending.get(data.id);
        this.#pending.delete(data.id);
        if (data.error !== undefined) p?.reject(new Error(data.error));
        else p?.resolve();
      };
      this.#worker.onerror = (event) => {
        const err = new Error(`the cache's file writer failed: ${event.message}`);
        this.#failed = err;
        for (const p of this.#pending.values()) p.reject(err);
        this.#pending.clear();
        this.#queued = 0;
        this.#recycle = [];
        for (const wake of this.#waiting.splice(0)) wake();
      };
    }

    /** Sends msg as a request; resolves once it is done, or rejects with the writer's error. */
    call(msg) {
      if (this.#failed) return Promise.reject(this.#failed);
      const id = this.#next++;
      return new Promise((resolve, reject) => {
        this.#pending.set(id, { resolve, reject });
        this.#worker.postMessage({ ...msg, id });
      });
    }

    /**
     * Hands bytes to be written at each of offsets in file name: their
     * buffer goes with them. With recycle, the caller gives up the whole
     * buffer, which comes back to recycle once written; without, bytes
     * that are not all of theirs are copied first.
     */
    write(name, bytes, offsets, recycle = null) {
      if (this.#failed) return;
      const own = recycle || (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) ? bytes : bytes.slice();
      this.#queued += own.byteLength;
      this.#recycle.push(recycle);
      this.#worker.postMessage({ op: 'write', name, bytes: own, at: offsets }, [own.buffer]);
    }

    /** Resolves once no more than MAX_QUEUED bytes wait to be written. */
    ready() {
      if (this.#queued <= MAX_QUEUED) return Promise.resolve();
      return new Promise((resolve) => this.#waiting.push(resolve));
    }
  }

  /** fn, run on the first call only. */
  function once(fn) {
    let done = false;
    return () => {
      if (!done) {
        done = true;
        fn();
      }
    };
  }

  /** Opens the records' database, creating its store the first time. */
  function openDB() {
    return new Promise((resolve, reject) => {
      const request = self.indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: 'key' });
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  /**
   * Makes one request on STORE in a transaction of its own and resolves
   * with its result once the transaction has committed. Commits are
   * relaxed (not flushed to disk one by one): a record lost in a crash
   * leaves a file without a record, which the next open deletes.
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

  self.ModelCache = ModelCache;
})();
