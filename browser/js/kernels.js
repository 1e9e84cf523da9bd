// The runtime's matrix kernels (browser/kernels, assembled into kernels/
// by scripts/build-kernels.mjs): WebAssembly SIMD code that runs two ways.
//
// - On the Go runtime's own memory (go-<level>.wasm), one thread: Go
//   (browser/kern) calls them through a shim's table, with no JavaScript
//   on the way.
// - On threads (arena-<level>.wasm): a Pool is a shared WebAssembly.Memory,
//   the arena, that holds weights and activations, with the kernels
//   instantiated on it in this thread and in T−1 kernel workers
//   (kernel-worker.js). Go calls accelkern.threaded, a trampoline that
//   copies the vectors into the arena, runs the job on every thread and
//   copies the products back.
//
// A classic script: worker.js imports it, and so does the kernel tests'
// node host.
//
//   await AccelKernels.setup(go.importObject, load, spawn)  before Go's module is instantiated
//   await AccelKernels.attach(instance)                      after, before go.run(instance)
//   AccelKernels.levels()                                    the levels attached, best first
//   AccelKernels.threads(level, n)                           a Pool of n threads, starting; its arena takes regions at once
//   AccelKernels.arenaBytes()                                the size of the pools' arenas
//
// load(name) resolves with the bytes of kernels/<name>; spawn(), when
// given, returns a new Worker (or an object with its postMessage,
// onmessage, onerror and terminate) that runs kernel-worker.js. Levels the
// engine does not validate (relaxed SIMD is new) are left out; without any
// — or without the files — the runtime keeps its Go kernels.
'use strict';

(() => {
  // The kernel levels, best first; a level's index is its slot in the
  // shim's table, the number browser/kern passes.
  const LEVELS = ['relaxed', 'simd128'];
  let shim = null;
  let modules = []; // [level, go-memory module, arena module] validated by this engine
  let spawnWorker = null;
  let goMem = null; // the Go runtime's memory
  const attached = [];
  const pools = []; // by the id browser/kern passes to threaded

  globalThis.AccelKernels = {
    async setup(importObject, load, spawn) {
      // Never called without a level attached or a pool started; set so
      // that Go's module links whatever happens below.
      importObject.accelkern = { matmul: () => -1, threaded: () => -1 };
      try {
        shim = (await WebAssembly.instantiate(await load('shim.wasm'))).instance;
        for (const level of LEVELS) {
          const [go, arena] = await Promise.all([load(`go-${level}.wasm`), load(`arena-${level}.wasm`)]);
          if (WebAssembly.validate(go)) {
            modules.push([level, await WebAssembly.compile(go), WebAssembly.validate(arena) ? await WebAssembly.compile(arena) : null]);
          }
        }
        importObject.accelkern = { matmul: shim.exports.matmul, threaded: (job, pool) => pools[pool].matmul(job) };
        spawnWorker = spawn ?? null;
      } catch (err) {
        console.warn(`accel kernels: ${err.message}; the runtime uses its Go kernels`);
        modules = [];
      }
    },

    async attach(instance) {
      goMem = instance.exports.mem;
      for (const [level, module] of modules) {
        const kernels = await WebAssembly.instantiate(module, { env: { mem: goMem } });
        shim.exports.table.set(LEVELS.indexOf(level), kernels.exports.matmul);
        attached.push(level);
      }
    },

    levels() {
      return [...attached];
    },

    arenaBytes() {
      return pools.reduce((sum, p) => sum + (p ? p.size() : 0), 0);
    },

    /**
     * Starts a Pool of n threads running the arena kernels of level; its
     * state says when they run. Where threads cannot run — no shared
     * memory (a page that is not cross-origin isolated), no way to start
     * workers, no arena kernels of that level — its state is 'failed'.
     */
    threads(level, n) {
      const failed = (error) => ({ state: 'failed', error, close() {} });
      const found = modules.find(([l]) => l === level);
      if (!found || !found[2]) return failed(`no ${level} arena kernels`);
      if (n > 1 && !spawnWorker) return failed('no kernel workers here');
      if (typeof SharedArrayBuffer !== 'function') return failed('no SharedArrayBuffer (the page is not cross-origin isolated)');
      try {
        const pool = new Pool(pools.length, found[2], n);
        pools.push(pool);
        return pool;
      } catch (err) {
        return failed(err.message);
      }
    },
  };

  // The arena's layout: the control block (kernels.wat) at CTRL, the job
  // the trampoline writes at JOB with its matrices at MATS, in the first
  // page; regions from the second page on.
  const PAGE = 65536;
  const CTRL = 0;
  const JOB = 64;
  const MATS = 128;
  const MAX_MATS = (PAGE - MATS) / 32;
  // Vectors a dispatch takes at most: longer batches go in chunks (each
  // vector's products are its own), so the activations' room is bounded.
  const CHUNK = 64;
  // How long an idle thread polls the control block before it sleeps, and
  // how long a pool times its polls to know how many that is.
  const SPIN_MICROSECONDS = 100;
  const CALIBRATION_MS = 20;
  // The largest arena tried first, in pages (4 GiB), and the smallest.
  const MAX_PAGES = 65536;
  const MIN_PAGES = 16;

  /**
   * Pool is one arena and its threads. state is 'starting', 'ready' once
   * every worker runs, or 'failed' (error says why). Regions are allocated
   * first-fit and 64-byte aligned; the arena grows as they need.
   */
  class Pool {
    constructor(id, module, threads) {
      this.id = id;
      this.threads = threads;
      this.state = 'starting';
      this.error = '';
      this.memory = sharedMemory();
      this.kernels = new WebAssembly.Instance(module, { env: { mem: this.memory } }).exports;
      this.views();
      this.free = [[PAGE, this.memory.buffer.byteLength - PAGE]]; // [addr, size], by address
      this.sizes = new Map(); // allocated regions' sizes by address
      this.act = [0, 0]; // the activations' region: [addr, size]
      // Polls per microsecond: the best of runs over CALIBRATION_MS, the
      // engine optimizing the kernels as they run hot.
      let perMicrosecond = 0;
      for (const start = performance.now(); performance.now() - start < CALIBRATION_MS;) {
        const t0 = performance.now();
        this.kernels.poll(CTRL, 1 << 20);
        perMicrosecond = Math.max(perMicrosecond, (1 << 20) / Math.max((performance.now() - t0) * 1000, 1));
      }
      this.i32[(CTRL >> 2) + 8] = threads;
      this.i32[(CTRL >> 2) + 9] = Math.min(Math.round(SPIN_MICROSECONDS * perMicrosecond), 1 << 24);
      this.i32[(CTRL >> 2) + 4] = JOB;
      this.workers = [];
      let ready = 1;
      const started = () => {
        if (++ready === threads && this.state === 'starting') this.state = 'ready';
      };
      if (threads === 1) this.state = 'ready';
      for (let id = 1; id < threads; id++) {
        const w = spawnWorker();
        w.onmessage = started;
        w.onerror = (event) => {
          this.state = 'failed';
          this.error = `kernel worker: ${event.message || 'failed to start'}`;
        };
        w.postMessage({ module, memory: this.memory, ctrl: CTRL, id });
        this.workers.push(w);
      }
    }

    /** Tells the workers to stop, and ends them. */
    stopWorkers() {
      Atomics.store(this.i32, (CTRL >> 2) + 3, 1);
      Atomics.add(this.i32, CTRL >> 2, 1);
      Atomics.notify(this.i32, CTRL >> 2);
      for (const w of this.workers) w.terminate();
      this.workers = [];
    }

    /** Refreshes the views of the arena (after it grows). */
    views() {
      this.u8 = new Uint8Array(this.memory.buffer);
      this.i32 = new Int32Array(this.memory.buffer);
      this.f32 = new Float32Array(this.memory.buffer);
    }

    /** A region of size bytes (its address), or 0 when the arena cannot grow to hold it. */
    alloc(size) {
      size = Math.ceil(Math.max(size, 1) / 64) * 64;
      for (;;) {
        const i = this.free.findIndex(([, s]) => s >= size);
        if (i >= 0) {
          const [addr, s] = this.free[i];
          if (s === size) this.free.splice(i, 1);
          else this.free[i] = [addr + size, s - size];
          this.sizes.set(addr, size);
          return addr;
        }
        // Grow by what the free run at the end (if any) lacks.
        const end = this.memory.buffer.byteLength;
        const last = this.free.at(-1);
        const tail = last && last[0] + last[1] === end ? last[1] : 0;
        try {
          this.memory.grow(Math.ceil((size - tail) / PAGE));
        } catch {
          return 0;
        }
        this.views();
        this.release(end, this.memory.buffer.byteLength - end);
      }
    }

    /** Frees the region at addr. */
    dealloc(addr) {
      const size = this.sizes.get(addr);
      if (size === undefined) throw new Error(`arena: no region at ${addr}`);
      this.sizes.delete(addr);
      this.release(addr, size);
    }

    /** Adds [addr, addr+size) to the free list, merged with its neighbours. */
    release(addr, size) {
      let i = this.free.findIndex(([a]) => a > addr);
      if (i < 0) i = this.free.length;
      this.free.splice(i, 0, [addr, size]);
      if (i + 1 < this.free.length && addr + size === this.free[i + 1][0]) {
        this.free[i][1] += this.free[i + 1][1];
        this.free.splice(i + 1, 1);
      }
      if (i > 0 && this.free[i - 1][0] + this.free[i - 1][1] === addr) {
        this.free[i - 1][1] += this.free[i][1];
        this.free.splice(i, 1);
      }
    }

    /** A view of n bytes at addr (for Go's CopyBytesToJS and CopyBytesToGo). */
    bytes(addr, n) {
      return this.u8.subarray(addr, addr + n);
    }

    /** Copies the bytes of v (a Uint8Array) to addr. */
    write(addr, v) {
      this.u8.set(v, addr);
    }

    /** The arena's size in bytes. */
    size() {
      return this.memory.buffer.byteLength;
    }

    /**
     * The trampoline: runs the job at job in Go's memory (browser/kern's
     * job; weights at arena addresses, vectors and products in Go's
     * memory) on the pool's threads, CHUNK vectors at a time. It returns
     * the kernels' code (1 too for more matrices than the job area holds),
     * or 2 when the arena cannot hold the activations.
     */
    matmul(job) {
      if (this.goBuffer !== goMem.buffer) { // new, or Go's memory grew
        this.goBuffer = goMem.buffer;
        this.go32 = new Uint32Array(this.goBuffer);
        this.goF32 = new Float32Array(this.goBuffer);
      }
      const { go32, goF32 } = this;
      const j = job >>> 2;
      const [n, cols, x, nmat, mats] = [go32[j], go32[j + 1], go32[j + 2], go32[j + 9], go32[j + 10] >>> 2];
      if (nmat > MAX_MATS) return 1;
      // The activations: x, q8, q8s, q8sum, tail, each matrix's y, then
      // every thread's scratch (work: 512·nb bytes, gx: 4·nb per vector).
      const chunk = Math.min(n, CHUNK);
      const nb = (cols + 31) >> 5;
      const round = (b) => Math.ceil(b / 64) * 64;
      const layout = [chunk * cols * 4, chunk * nb * 32, chunk * nb * 4, chunk * nb * 4, 128];
      for (let i = 0; i < nmat; i++) layout.push(chunk * go32[mats + 8 * i + 4] * 4);
      const scratch = round(512 * nb + 4 * chunk * nb);
      const need = layout.reduce((sum, b) => sum + round(b), 0) + this.threads * scratch;
      if (this.act[1] < need) {
        if (this.act[0]) this.dealloc(this.act[0]);
        this.act = [this.alloc(need), need];
        if (!this.act[0]) {
          this.act = [0, 0];
          return 2;
        }
      }
      const at = [];
      let next = this.act[0];
      for (const b of layout) {
        at.push(next);
        next += round(b);
      }
      const a = this.i32;
      a[(CTRL >> 2) + 6] = next;
      a[(CTRL >> 2) + 7] = scratch;
      const J = JOB >> 2;
      a.set([0, cols, at[0], at[1], at[2], at[3], 0, 0, at[4], nmat, MATS], J);
      for (let i = 0; i < nmat; i++) {
        const g = mats + 8 * i;
        const m = (MATS >> 2) + 8 * i;
        for (let k = 0; k < 7; k++) a[m + k] = go32[g + k];
        a[m + 7] = at[5 + i];
      }
      for (let t0 = 0; t0 < n; t0 += CHUNK) {
        const nt = Math.min(CHUNK, n - t0);
        a[J] = nt;
        this.f32.set(goF32.subarray((x >>> 2) + t0 * cols, (x >>> 2) + (t0 + nt) * cols), at[0] >> 2);
        const rc = this.kernels.dispatch(CTRL);
        if (rc !== 0) return rc;
        for (let i = 0; i < nmat; i++) {
          const rows = go32[mats + 8 * i + 4];
          const y = go32[mats + 8 * i + 7] >>> 2;
          goF32.set(this.f32.subarray(at[5 + i] >> 2, (at[5 + i] >> 2) + nt * rows), y + t0 * rows);
        }
      }
      return 0;
    }

    /** Runs every job on this thread alone from now on: the workers stop (they did not start, or computed wrong). */
    alone() {
      this.stopWorkers();
      this.threads = 1;
      this.i32[(CTRL >> 2) + 8] = 1;
      this.state = 'ready';
    }

    /** Stops the workers and drops the arena: the pool is not used again. */
    close() {
      this.stopWorkers();
      this.state = 'failed';
      this.error = 'closed';
      pools[this.id] = null;
    }
  }

  /** A shared memory of MIN_PAGES that can grow as large as the engine lets it. */
  function sharedMemory() {
    for (let max = MAX_PAGES; ; max /= 2) {
      try {
        return new WebAssembly.Memory({ initial: MIN_PAGES, maximum: max, shared: true });
      } catch (err) {
        if (max <= MIN_PAGES) throw err;
      }
    }
  }
})();
