// The accel runtime's Web Worker (a classic worker): it starts the Go
// runtime (accel.wasm, with Go's wasm_exec.js and its matrix kernels,
// kernels.js and kernels/, all in this worker's directory) and relays
// messages between the page and globalThis.accelRuntime.
//
// Requests carry an id that every reply repeats:
//   {type:'load', id, cid, gateway, transport, offload, backend, kernels, threads, webgpuFeatures, maxMemoryUsageMB?, cacheQuotaMB?}
//                                      (gateway: a URL, a list of them, or null for
//                                      none; transport: the page's libp2p connection,
//                                      e.g. 'webtransport', or null for none; offload:
//                                      whether its peer may run layers not loaded yet,
//                                      asked of the page (op 'offload');
//                                      backend: 'webgpu' or 'wasm'; kernels: the
//                                      matrix kernels, 'auto', 'relaxed', 'simd128'
//                                      or 'go'; threads: how many threads run
//                                      them (1 where the page is not
//                                      cross-origin isolated);
//                                      webgpuFeatures: false keeps the WebGPU kernels
//                                      off optional features;
//                                      maxMemoryUsageMB: the weights to hold here, the
//                                      rest offloaded; cacheQuotaMB: the block cache's
//                                      quota, default DEFAULT_CACHE_QUOTA_MB)
//                                      → {type:'progress', id, fraction, component, bytes, componentBytes, componentMBps, mbps, etaMs, memoryMb}*
//                                        {type:'componentLoaded', id, component, loadingTimeMs}*
//                                        {type:'viable', id, info} once the model can generate
//                                        then {type:'loaded', id, info} or {type:'error', id, message}
//   {type:'generate', id, prompt, opts} → {type:'token', id, text}*
//                                        then {type:'done', id, text} or {type:'error', id, message}
//   {type:'cancel', id, target}        stops generation target at its next token
//   {type:'unload', id, component}    → {type:'unloaded', id} or {type:'error', id, message}
//   {type:'memory', id}               → {type:'memory', id, usage} or {type:'error', id, message}
//   {type:'backend', id}              → {type:'backend', id, stats} (null before a load)
// The worker asks the page to use its libp2p connection with
//   {type:'peer', req, op, ...}       → {type:'peerBlock', req, cid, bytes}* (op 'blocks')
//                                        then {type:'peerReply', req, value} or {type:'peerReply', req, error}
// and tells it {type:'exit', message} when the runtime stops for good.
// Progress counts the bytes of the components' files placed (verified and
// written where the runtime holds them), from the network or the cache:
// fraction of the load's, never decreasing and ending at 1; bytes so far;
// the component's bytes and their rate in MB/s; the load's rate and the
// time left at it.
// info is {components, remoteLayers, bytes, architecture, backend,
// transport, requests, sources, cached, dropped, rejected, cache} (viable's: the
// first six, so far): remoteLayers are the layers the peer runs for good;
// requests counts the requests made to the network — one per single block
// (the manifest, a component's inner node) and one per component's leaves
// (sources: per source) —, cached the blocks read from the model cache;
// dropped the sources dropped, rejected the blocks that did not match their
// CID, as {cid, source}; cache is the cache's {bytes, entries, evicted}
// after the load (null where the browser has no storage for it): the bytes
// and entries it holds and the entries this load evicted or did not store
// to keep within the quota.
// Blocks come from the cache, else over the page's libp2p connection, else
// from gateway (default: this worker's origin): a component's leaves as one
// CAR (GET /ipfs/<root>, format car) or one pipelined batch over libp2p,
// single blocks as GET /ipfs/<cid>?format=raw. Each is checked against its
// CID before it is used — cached ones too (see leaves.js and the runtime's
// loadModel) —, and one that does not match or does not arrive within
// BLOCK_TIMEOUT_MS is asked of the next source. Only verified data enters
// the cache (ModelCache, in model-cache.js: component files in the origin
// private file system, evicting by weighted LRU with the priority the
// runtime gives each component).
'use strict';

/** The WebAssembly module in file name in this worker's directory, compiled as it downloads where the server says application/wasm. */
async function compileFile(name) {
  const response = await fetch(new URL(name, self.location.href));
  if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
  if (WebAssembly.compileStreaming && response.headers.get('Content-Type') === 'application/wasm') return WebAssembly.compileStreaming(response);
  return WebAssembly.compile(await response.arrayBuffer());
}

// The runtime's module downloads and compiles while the scripts below load.
const accelModule = compileFile('accel.wasm');
accelModule.catch(() => {}); // awaited when the runtime starts

importScripts('wasm_exec.js', 'model-cache.js', 'leaves.js', 'webgpu.js', 'kernels.js');

const BLOCK_TIMEOUT_MS = 30000;

let wasmMemory = null; // the runtime's linear memory

/** The runtime's memories in MiB, its own and the kernels' arena (what the model costs the page). */
function memoryMb() {
  return wasmMemory ? Math.round((wasmMemory.buffer.byteLength + self.AccelKernels.arenaBytes()) / 2 ** 20) : 0;
}

/** The bytes of file name in this worker's directory. */
async function fetchFile(name) {
  const response = await fetch(new URL(name, self.location.href));
  if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

const runtime = (async () => {
  const go = new Go();
  const [module] = await Promise.all([
    accelModule,
    self.AccelKernels.setup(go.importObject, (name) => fetchFile(`kernels/${name}`), () => new Worker(new URL('kernel-worker.js', self.location.href))),
  ]);
  const instance = await WebAssembly.instantiate(module, go.importObject);
  await self.AccelKernels.attach(instance);
  wasmMemory = instance.exports.mem;
  go.run(instance).then(() => {
    // The Go runtime exited (a crash, or out of memory): nothing in flight
    // will be answered.
    self.accelRuntime = undefined;
    self.postMessage({ type: 'exit', message: 'the accel runtime stopped (out of memory, or a crash: see the console)' });
  });
  if (!self.accelRuntime) throw new Error('accel.wasm did not register accelRuntime');
  return self.accelRuntime;
})();

/**
 * The model cache (ModelCache, null where the browser has none), opened
 * while the runtime starts; each load sets its quota.
 */
const cacheOpening = self.ModelCache.open({ quotaBytes: Infinity }).catch(noCache);

/** The cache is best effort: where the browser refuses storage, loads go on without it. */
function noCache(err) {
  console.warn(`accel worker: no model cache: ${err.message}`);
  return null;
}

/** The cache quota when the load request gives no cacheQuotaMB. */
const DEFAULT_CACHE_QUOTA_MB = 1024;

/** How many sources a block or a component's leaves are asked of before the load fails. */
const FETCH_TRIES = 3;

/**
 * The block sources of a load, in order: the page's libp2p peer (when
 * transport names its connection), then the gateways (null: none; an empty
 * list: this worker's origin). A libp2p source asks the page for one block,
 * or for a component's leaves as one pipelined batch whose blocks the page
 * passes on one message each (their buffers transferred).
 */
function blockSources(gateway, transport, stats) {
  const list = [];
  if (transport) {
    list.push({
      name: transport,
      block: (cid) => askPeer({ op: 'block', cid }),
      leaves: (root, cids, onBlock) => askPeer({ op: 'blocks', cids }, BLOCK_TIMEOUT_MS, onBlock),
    });
  }
  const gateways = gateway === null ? [] : [gateway || []].flat();
  if (gateway !== null && gateways.length === 0) gateways.push(self.location.origin);
  for (const base of gateways) list.push(self.AccelLeaves.gatewaySource(base, BLOCK_TIMEOUT_MS));
  return new self.AccelLeaves.Sources(list, stats);
}

/**
 * Returns the runtime's fetchBlock, onVerified and fetchLeaves for one
 * load, over sources and the model cache (quotaMB MiB; null where the
 * browser has no storage for it), counting cache hits in stats and
 * reporting the bytes placed to onProgress; and usage, which resolves with
 * the cache's usage() once the load's writes are done (null without a
 * cache). A single block (the manifest, a component's inner node) comes
 * from the cache or else from the sources in turn: the runtime asks again
 * for a block that failed or did not match its CID, and the source that
 * gave it is dropped. Verified nodes are kept to be stored with their
 * component's file; a verified manifest is stored alone.
 */
async function loadFunctions(sources, quotaMB, stats, onProgress) {
  const cache = await cacheOpening.then((c) => c && c.limit(quotaMB * 2 ** 20).then(() => c)).catch(noCache);
  const fromCache = new Set(); // CIDs answered from the cache, not verified since
  const last = new Map(); // cid → the source that answered it last, until verified
  const nodes = new Map(); // component root → its verified inner nodes, [cid, bytes]
  const fetchBlock = async (cid) => {
    if (cache && !fromCache.has(cid)) {
      const hit = await cache.block(cid);
      if (hit) {
        fromCache.add(cid);
        stats.cached++;
        return hit;
      }
    } else if (cache && !last.has(cid)) {
      // Asked again: the cached copy did not verify.
      await cache.delete(cid);
    }
    const failed = last.get(cid);
    if (failed) sources.drop(failed);
    const source = sources.next();
    last.set(cid, source);
    return source.block(cid);
  };
  const onVerified = (cid, bytes, { priority, root }) => {
    if (fromCache.delete(cid) || !last.delete(cid)) return;
    if (root !== undefined) {
      if (!nodes.has(root)) nodes.set(root, []);
      nodes.get(root).push([cid, bytes.slice()]);
    } else if (cache) {
      // The cache is best effort: a block the browser refuses to store is
      // fetched again next time.
      cache.putBlock(cid, bytes, { priority }).catch((err) => console.warn(`accel worker: block ${cid} not cached: ${err.message}`));
    }
  };
  const fetchLeaves = self.AccelLeaves.leafFetcher({
    sources, cache, stats, tries: FETCH_TRIES, onProgress,
    memory: () => wasmMemory,
    nodes: (root) => {
      const list = nodes.get(root) ?? [];
      nodes.delete(root);
      return list;
    },
  });
  const usage = async () => {
    await fetchLeaves.cached();
    return cache && cache.usage();
  };
  return { fetchBlock, onVerified, fetchLeaves, usage };
}

/**
 * Tracks a load's progress from the bytes placed: a fraction of total that
 * never decreases and ends at 1, the rate of each component's bytes and
 * the whole load's, and the time left at the load's rate.
 */
function progressOf(id) {
  const start = performance.now();
  let placed = 0;
  const components = new Map(); // name → {bytes, start}
  return (total, component, n) => {
    placed += n;
    const now = performance.now();
    if (!components.has(component)) components.set(component, { bytes: 0, start: now });
    const c = components.get(component);
    c.bytes += n;
    const rate = placed / Math.max(now - start, 1); // bytes per ms
    self.postMessage({
      type: 'progress', id, fraction: Math.min(placed / total, 1), component, bytes: placed,
      componentBytes: c.bytes, componentMBps: c.bytes / 1e3 / Math.max(now - c.start, 1),
      mbps: rate / 1e3, etaMs: Math.round((total - placed) / rate), memoryMb: memoryMb(),
    });
  };
}

/** The runtime's access to streams over the page's libp2p connection (offload). */
const peerStreams = {
  open: (protocol) => askPeer({ op: 'open', protocol }),
  // A prefill's Forward may take the peer minutes: the stream's end, not a
  // timer, says when it failed.
  exchange: (handle, body) => askPeer({ op: 'exchange', handle, body }, 0),
  close: (handle) => askPeer({ op: 'close', handle }).catch(() => {}),
};

const peerRequests = new Map(); // req → {resolve, reject}
let nextPeerRequest = 1;

/**
 * Asks the page to run op on its libp2p connection (see Model's servePeer
 * in ipfs-accelerate.js); resolves with the value the page replies, or
 * rejects after timeoutMs (0: no limit) without an answer or, for an op
 * that streams blocks, without one. onBlock(cid, bytes) is given the
 * blocks the page streams before its reply, one at a time: the next waits
 * for the last one's promise.
 */
function askPeer(msg, timeoutMs = BLOCK_TIMEOUT_MS, onBlock = null) {
  const req = nextPeerRequest++;
  return new Promise((resolve, reject) => {
    let timer;
    const arm = () => {
      clearTimeout(timer);
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          peerRequests.delete(req);
          reject(new Error(`libp2p ${msg.op}: no answer within ${timeoutMs} ms`));
        }, timeoutMs);
      }
    };
    arm();
    let blocks = Promise.resolve();
    peerRequests.set(req, {
      block: (cid, bytes) => {
        arm();
        blocks = blocks.then(() => onBlock?.(cid, bytes));
      },
      resolve: (v) => { clearTimeout(timer); blocks.then(() => resolve(v), reject); },
      reject: (e) => { clearTimeout(timer); reject(e); },
    });
    self.postMessage({ type: 'peer', req, ...msg });
  });
}

function peerReply({ req, value, error }) {
  const pending = peerRequests.get(req);
  if (!pending) return;
  peerRequests.delete(req);
  if (error !== undefined) pending.reject(new Error(error));
  else pending.resolve(value);
}

function peerBlock({ req, cid, bytes }) {
  peerRequests.get(req)?.block(cid, bytes);
}

/** The SHA-256 of bytes, by the browser's WebCrypto (the runtime checks blocks with it). */
async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

/**
 * The threads the kernels may run on: threads, or 1 where the page is not
 * cross-origin isolated (no shared memory between workers), with a note.
 */
function threadsHere(threads = 1) {
  if (threads > 1 && !self.crossOriginIsolated) {
    console.info(`accel worker: ${threads} threads asked for, but the page is not cross-origin isolated (COOP/COEP headers): the kernels run on one thread`);
    return 1;
  }
  return threads;
}

const cancelled = new Set(); // ids of generations the page gave up on

/**
 * A load's sources and statistics, its functions over the model cache, and
 * whether its peer runs layers (offload), opened and asked while the
 * runtime may still be starting.
 */
async function startLoad(msg) {
  const offload = msg.offload ? askPeer({ op: 'offload' }).catch(() => false) : false;
  const stats = { requests: 0, cached: 0, dropped: [], rejected: [], sources: {} };
  const sources = blockSources(msg.gateway, msg.transport, stats);
  const progress = progressOf(msg.id);
  const load = { stats, total: 0, offload };
  const fns = await loadFunctions(sources, msg.cacheQuotaMB ?? DEFAULT_CACHE_QUOTA_MB, stats,
    (component, n) => progress(load.total, component, n));
  // The manifest is asked for while the runtime starts: its first
  // fetchBlock of the root takes this answer.
  let manifest = fns.fetchBlock(msg.cid);
  manifest.catch(() => {}); // the runtime sees the error, and asks again
  const { fetchBlock } = fns;
  fns.fetchBlock = (cid) => {
    if (manifest && cid === msg.cid) {
      const early = manifest;
      manifest = null;
      return early;
    }
    return fetchBlock(cid);
  };
  return Object.assign(load, fns);
}

async function handle(msg) {
  const { id } = msg;
  const starting = msg.type === 'load' ? startLoad(msg) : null;
  starting?.catch(() => {}); // awaited below, once the runtime runs
  const rt = await runtime;
  switch (msg.type) {
    case 'load': {
      const load = await starting;
      const { stats, fetchBlock, onVerified, fetchLeaves, usage } = load;
      const offload = await load.offload;
      let gpu;
      let gpuError = null;
      if (msg.backend === 'webgpu') {
        gpu = await self.AccelWebGPU.open({ features: msg.webgpuFeatures }).catch((err) => { gpuError = err.message; });
      }
      const info = await rt.loadModel(msg.cid, {
        fetchBlock,
        onVerified,
        fetchLeaves: (leafInfo, ...args) => {
          load.total = leafInfo.total;
          return fetchLeaves(leafInfo, ...args);
        },
        digest: self.crypto?.subtle ? sha256 : undefined,
        onComponentLoaded: (component, { loadingTimeMs }) => self.postMessage({ type: 'componentLoaded', id, component, loadingTimeMs }),
        onViable: (viable) => {
          if (gpuError) viable.backend.error = gpuError;
          self.postMessage({ type: 'viable', id, info: { ...viable, transport: msg.transport ?? 'gateway' } });
        },
        peer: offload ? peerStreams : undefined,
        gpu,
        kernels: msg.kernels,
        threads: threadsHere(msg.threads),
        maxLocalBytes: (msg.maxMemoryUsageMB ?? 0) * 2 ** 20,
      });
      if (gpuError) info.backend.error = gpuError;
      const cache = await usage();
      self.postMessage({ type: 'loaded', id, info: { ...info, transport: msg.transport ?? 'gateway', requests: stats.requests, sources: stats.sources, cached: stats.cached, dropped: stats.dropped, rejected: stats.rejected, cache } });
      break;
    }
    case 'generate': {
      try {
        const text = await rt.generate(msg.prompt, msg.opts || {}, (piece) => {
          if (cancelled.has(id)) return false; // stops the generation
          self.postMessage({ type: 'token', id, text: piece });
          return true;
        });
        self.postMessage({ type: 'done', id, text });
      } finally {
        cancelled.delete(id);
      }
      break;
    }
    case 'cancel':
      cancelled.add(msg.target);
      break;
    case 'unload':
      await rt.unloadComponent(msg.component);
      self.postMessage({ type: 'unloaded', id });
      break;
    case 'backend':
      self.postMessage({ type: 'backend', id, stats: rt.backendStats() });
      break;
    case 'memory':
      self.postMessage({ type: 'memory', id, usage: { ...rt.memoryUsage(), wasmBytes: wasmMemory.buffer.byteLength } });
      break;
    default:
      throw new Error(`unknown request type ${JSON.stringify(msg.type)}`);
  }
}

self.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === 'peerReply') {
    peerReply(msg);
    return;
  }
  if (msg.type === 'peerBlock') {
    peerBlock(msg);
    return;
  }
  handle(msg).catch((err) => self.postMessage({ type: 'error', id: msg.id, message: String(err && err.message || err) }));
};
