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
//                                      whether its peer runs layers not loaded yet;
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
//                                      → {type:'progress', id, fraction, component, bytes, etaMs, memoryMb}*
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
//   {type:'peer', req, op, ...}       → {type:'peerReply', req, value} or {type:'peerReply', req, error}
// and tells it {type:'exit', message} when the runtime stops for good.
// info is {components, remoteLayers, bytes, architecture, backend,
// transport, requests, sources, cached, dropped, cache} (viable's: the
// first six, so far): remoteLayers are the layers the peer runs for good; requests counts the block requests made to the
// network (sources: per source), cached the blocks read from the browser
// cache; cache is the cache's {bytes, blocks, evicted} after the load (null
// where the browser has no storage for it): the bytes and blocks it holds
// and the blocks this load evicted or did not store to keep within the quota.
// Blocks come from the cache, else over the page's libp2p connection, else
// from gateway (default: this worker's origin) as GET /ipfs/<cid>?format=raw; the
// runtime verifies each against its CID — cached ones too — and asks again
// for one that does not match or does not arrive within BLOCK_TIMEOUT_MS.
// Only blocks the runtime verified enter the cache (BlockCache, in
// block-cache.js: by CID, evicting by weighted LRU with the priority the
// runtime gives each block's component); a cached block that fails
// verification is deleted and fetched from the network instead.
'use strict';

importScripts('wasm_exec.js', 'block-cache.js', 'webgpu.js', 'kernels.js');

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
  const [bytes] = await Promise.all([
    fetchFile('accel.wasm'),
    self.AccelKernels.setup(go.importObject, (name) => fetchFile(`kernels/${name}`), () => new Worker(new URL('kernel-worker.js', self.location.href))),
  ]);
  const { instance } = await WebAssembly.instantiate(bytes, go.importObject);
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

/** The cache quota when the load request gives no cacheQuotaMB. */
const DEFAULT_CACHE_QUOTA_MB = 1024;

/**
 * Returns a fetchBlock for the runtime that answers from the block cache
 * (quotaMB MiB) when it can, else from network — a fetchBlock too — counting
 * the cache hits in stats; an onVerified that caches the network blocks the
 * runtime accepted, with their component's priority; and usage, which
 * resolves with the cache's usage() once those blocks are stored (null
 * where the browser has no storage for it).
 */
async function cachingFetcher(network, quotaMB, stats) {
  // The cache is best effort: where the browser refuses storage, loads go on without it.
  const cache = await BlockCache.open({ quotaBytes: quotaMB * 2 ** 20 }).catch((err) => {
    console.warn(`accel worker: no block cache: ${err.message}`);
    return null;
  });
  const fromCache = new Set(); // CIDs answered from the cache, not verified since
  const fromNetwork = new Set(); // CIDs answered from the network, not verified since
  const fetchBlock = async (cid) => {
    if (cache && !fromCache.has(cid)) {
      const hit = await cache.get(cid);
      if (hit) {
        fromCache.add(cid);
        stats.cached++;
        return hit;
      }
    } else if (cache) {
      // Asked again: the cached copy did not verify.
      await cache.delete(cid);
    }
    fromNetwork.add(cid);
    return network(cid);
  };
  const onVerified = (cid, bytes, { priority }) => {
    fromCache.delete(cid);
    if (!fromNetwork.delete(cid)) return;
    network.verified(cid);
    if (!cache) return;
    // The cache is best effort: a block the browser refuses to store is
    // fetched again next time.
    cache.put(cid, bytes, { priority }).catch((err) => console.warn(`accel worker: block ${cid} not cached: ${err.message}`));
  };
  const usage = async () => cache && cache.usage();
  return { fetchBlock, onVerified, usage };
}

/**
 * Returns a fetchBlock for the runtime that asks the page's libp2p peer
 * (when transport names its connection) and then the gateways, counting
 * requests per source in stats. The runtime asks for a block again before
 * verifying it only when the last answer failed or did not match the CID:
 * the source that gave it is then dropped for the rest of the load (while
 * another is left) and the next one is asked. Its verified(cid) says the
 * runtime accepted cid's bytes, so that asking for cid again (a block two
 * components share) is no failure. gateway null means no gateway; an empty
 * list, this worker's origin.
 */
function networkFetcher(gateway, transport, stats) {
  const sources = [];
  if (transport) sources.push({ name: transport, fetch: (cid) => askPeer({ op: 'block', cid }) });
  const gateways = gateway === null ? [] : [gateway || []].flat();
  if (gateway !== null && gateways.length === 0) gateways.push(self.location.origin);
  for (const base of gateways) sources.push({ name: base, fetch: (cid) => fromGateway(base, cid) });
  if (sources.length === 0) throw new Error('load: no block source (no libp2p connection and no gateway)');
  const last = new Map(); // cid → the source that answered it last, until verified
  const fetchBlock = async (cid) => {
    const failed = last.get(cid);
    if (failed !== undefined && sources.length > 1 && sources.includes(failed)) {
      sources.splice(sources.indexOf(failed), 1);
      stats.dropped.push(failed.name);
    }
    const source = sources[0];
    last.set(cid, source);
    stats.requests++;
    stats.sources[source.name] = (stats.sources[source.name] ?? 0) + 1;
    return source.fetch(cid);
  };
  fetchBlock.verified = (cid) => last.delete(cid);
  return fetchBlock;
}

/** GETs block cid from the trustless gateway at base. */
async function fromGateway(base, cid) {
  const url = new URL(`/ipfs/${cid}?format=raw`, base);
  const response = await fetch(url, {
    headers: { Accept: 'application/vnd.ipld.raw' },
    cache: 'no-store', // the block cache keeps blocks, under its quota
    signal: AbortSignal.timeout(BLOCK_TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
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
 * rejects after timeoutMs (0: no limit).
 */
function askPeer(msg, timeoutMs = BLOCK_TIMEOUT_MS) {
  const req = nextPeerRequest++;
  return new Promise((resolve, reject) => {
    const timer = timeoutMs > 0 && setTimeout(() => {
      peerRequests.delete(req);
      reject(new Error(`libp2p ${msg.op}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    peerRequests.set(req, {
      resolve: (v) => { clearTimeout(timer); resolve(v); },
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

async function handle(msg) {
  const { id } = msg;
  const rt = await runtime;
  switch (msg.type) {
    case 'load': {
      const stats = { requests: 0, cached: 0, dropped: [], sources: {} };
      const network = networkFetcher(msg.gateway, msg.transport, stats);
      const { fetchBlock, onVerified, usage } = await cachingFetcher(network, msg.cacheQuotaMB ?? DEFAULT_CACHE_QUOTA_MB, stats);
      const start = performance.now();
      let gpu;
      let gpuError = null;
      if (msg.backend === 'webgpu') {
        gpu = await self.AccelWebGPU.open({ features: msg.webgpuFeatures }).catch((err) => { gpuError = err.message; });
      }
      const info = await rt.loadModel(msg.cid, {
        fetchBlock,
        onVerified,
        digest: self.crypto?.subtle ? sha256 : undefined,
        onProgress: (fraction, component, { bytes }) => {
          const elapsed = performance.now() - start;
          const etaMs = fraction > 0 ? Math.round(elapsed * (1 - fraction) / fraction) : null;
          self.postMessage({ type: 'progress', id, fraction, component, bytes, etaMs, memoryMb: memoryMb() });
        },
        onComponentLoaded: (component, { loadingTimeMs }) => self.postMessage({ type: 'componentLoaded', id, component, loadingTimeMs }),
        onViable: (viable) => {
          if (gpuError) viable.backend.error = gpuError;
          self.postMessage({ type: 'viable', id, info: { ...viable, transport: msg.transport ?? 'gateway' } });
        },
        peer: msg.offload ? peerStreams : undefined,
        gpu,
        kernels: msg.kernels,
        threads: threadsHere(msg.threads),
        maxLocalBytes: (msg.maxMemoryUsageMB ?? 0) * 2 ** 20,
      });
      if (gpuError) info.backend.error = gpuError;
      const cache = await usage();
      self.postMessage({ type: 'loaded', id, info: { ...info, transport: msg.transport ?? 'gateway', requests: stats.requests, sources: stats.sources, cached: stats.cached, dropped: stats.dropped, cache } });
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
  handle(msg).catch((err) => self.postMessage({ type: 'error', id: msg.id, message: String(err && err.message || err) }));
};
