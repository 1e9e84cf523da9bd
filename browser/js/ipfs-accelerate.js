// ipfs-accelerate-web: load a model by CID and run it in the browser.
//
// The runtime (accel.wasm, the project's Go inference code) runs in a Web
// Worker (worker.js, served next to this module with accel.wasm and Go's
// wasm_exec.js), so the page never blocks. Blocks come from a daemon over
// libp2p (WebTransport, WebRTC-direct or WebSockets; p2p.js runs the peer in
// the page, where browsers offer WebRTC) and, as a fallback, from trustless
// HTTP gateways; the runtime checks every one against its CID, and runs the
// model on its WASM or WebGPU backend, with the layers it does not hold yet
// run by the daemon (offload).

import { detectCapabilities } from './capabilities.js';
import { connect, OFFLOAD_PROTOCOL, TRANSPORTS } from './p2p.js';

// The generation options the runtime reads (functions and signals cannot
// cross to the worker).
const GENERATE_OPTIONS = ['maxTokens', 'temperature', 'topP', 'topK', 'repetitionPenalty', 'stopSequences', 'seed'];

/** Entry point: detects what the browser offers and loads models. */
export class IPFSAccelerate {
  #options;
  #peer = null; // Promise<Peer|null>: the libp2p connection, made once
  #capabilities = null; // Promise<Capabilities>, detected once

  /**
   * @param {import('./ipfs-accelerate').IPFSAccelerateOptions} [options]
   */
  constructor(options = {}) {
    this.#options = {
      bootstrap: undefined,
      transports: [...TRANSPORTS, 'gateway'],
      gateway: undefined,
      maxMemoryUsageMB: 2048,
      enableWebGPU: true,
      enableWebNN: true,
      enableWasm: true,
      backend: 'auto',
      kernels: 'auto',
      webgpuFeatures: true,
      offload: true,
      ...options,
    };
  }

  /**
   * Resolves with what the browser offers — WebGPU adapter, limits and
   * features; WebNN; WASM SIMD and threads; memory — and the backend
   * loadModel uses. Asynchronous: WebGPU describes its adapter only
   * through a Promise.
   * @returns {Promise<import('./ipfs-accelerate').Capabilities>}
   */
  getCapabilities() {
    this.#capabilities ??= detectCapabilities(this.#options);
    return this.#capabilities;
  }

  /**
   * Starts a runtime worker and loads the model DAG at cid into it,
   * component by component (see Model.waitForMinimumViableModel for the
   * order). Resolves once the model can generate — the rest of the load
   * goes on (Model.waitForLoad) — and rejects if a block cannot be fetched
   * with bytes that match its CID. options: the progress callbacks, and
   * the threads the kernels run on (see LoadOptions.threads).
   * @param {string} cid
   * @param {import('./ipfs-accelerate').LoadOptions} [options]
   * @returns {Promise<Model>}
   */
  async loadModel(cid, { onProgress, onComponentLoaded, threads = defaultThreads() } = {}) {
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`loadModel: options.threads is ${threads}, not a whole number of at least 1`);
    // The runtime starts (accel.wasm compiles, Go starts) while the
    // capabilities are probed and libp2p connects.
    const worker = new Worker(new URL('./worker.js', import.meta.url));
    let sources;
    try {
      sources = await this.#sources();
    } catch (err) {
      worker.terminate();
      throw err;
    }
    const { backend, peer, gateway, offload } = sources;
    const { kernels, cacheQuotaMB, maxMemoryUsageMB, webgpuFeatures } = this.#options;
    const model = new Model(worker, cid, { gateway, peer, offload, backend, kernels, threads, webgpuFeatures, cacheQuotaMB, maxMemoryUsageMB }, { onProgress, onComponentLoaded });
    let viable;
    try {
      viable = await model.waitForMinimumViableModel();
    } catch (err) {
      worker.terminate();
      throw err;
    }
    // The matrix kernels and their threads are chosen at load (a
    // self-test): what the capabilities could not tell before. A model
    // that a daemon runs whole at first chooses them during the rest of
    // its load.
    const { uses } = await this.getCapabilities();
    const record = ({ kernels, threads }) => {
      if (kernels === undefined) return false;
      Object.assign(uses, { kernels, simd: kernels !== 'go', threads });
      return true;
    };
    if (!record(viable.backend)) model.waitForLoad().then((info) => record(info.backend), () => {});
    return model;
  }

  /**
   * The backend a load runs on and where its blocks come from: the libp2p
   * connection (null: none), the gateway URLs (null: none) and whether the
   * peer runs the layers the page does not hold.
   */
  async #sources() {
    const { backend, backendReason } = await this.getCapabilities();
    if (!backend) throw new Error(`loadModel: no backend: ${backendReason}`);
    const { transports } = this.#options;
    const peer = await this.#connect();
    const useGateway = transports.includes('gateway');
    if (!peer && !useGateway) {
      throw new Error(`loadModel: no transport left: libp2p did not connect and 'gateway' is not among transports ${JSON.stringify(transports)}`);
    }
    const gateway = useGateway ? [this.#options.gateway ?? []].flat().map((g) => new URL(g, globalThis.location?.href).href) : null;
    const offload = this.#options.offload && peer !== null;
    if (offload) peer.supports(OFFLOAD_PROTOCOL); // asked now; the worker hears the answer with op offload
    return { backend, peer, gateway, offload };
  }

  /**
   * Closes the libp2p connection to the daemon (the models loaded keep
   * their workers: close them with Model.close). A later loadModel
   * connects again.
   */
  async close() {
    const peer = await this.#peer?.catch(() => null);
    this.#peer = null;
    await peer?.stop();
  }

  /**
   * Connects to a daemon over libp2p once, with the transports allowed by
   * options.transports, in their order; the addresses are options.bootstrap
   * or, without it, those the daemon serving this module publishes at
   * bootstrap.json. Resolves with null when no libp2p transport is allowed,
   * or when none connects and the gateway is allowed as a fallback.
   */
  #connect() {
    this.#peer ??= (async () => {
      const { transports, bootstrap } = this.#options;
      const allowed = transports.filter((t) => TRANSPORTS.includes(t));
      if (allowed.length === 0) return null;
      try {
        return await connect(bootstrap ?? await published(), allowed);
      } catch (err) {
        if (!transports.includes('gateway')) throw err;
        console.warn(`ipfs-accelerate: ${err.message}; using the gateway`);
        return null;
      }
    })();
    return this.#peer;
  }
}

/**
 * The threads loadModel runs the kernels on by default: half the logical
 * cores (the others are the page's, the browser's and the system's), 1 to 8.
 */
function defaultThreads() {
  return Math.min(8, Math.max(1, Math.floor((globalThis.navigator?.hardwareConcurrency ?? 2) / 2)));
}

/** The browser-dialable addresses of the daemon that serves this module. */
async function published() {
  const url = new URL('./bootstrap.json', import.meta.url);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return (await response.json()).addrs;
}

/** A model loaded (or loading) in its own runtime worker. */
export class Model {
  #worker;
  #pending = new Map(); // request id → {final, onEvent, resolve, reject}
  #nextId = 1;
  #loaded;
  #viable;
  #components = [];
  #peer;
  #streams = new Set(); // handles of the offload streams the worker holds open
  #closed = null; // the error every request rejects with once the model ended

  /**
   * Use IPFSAccelerate.loadModel. sources: gateway, the gateway URLs the
   * worker may use (null: none); peer, the libp2p connection the worker's
   * block and stream requests go through (null: none); offload, whether
   * peer may run the layers not loaded yet (the worker asks whether it
   * does: op offload); backend, 'webgpu' or 'wasm';
   * kernels, the matrix kernels ('auto', 'relaxed', 'simd128' or 'go');
   * webgpuFeatures, whether the WebGPU kernels use optional features;
   * threads, how many threads run them;
   * maxMemoryUsageMB, the weights to
   * hold in the page (the rest offloaded); cacheQuotaMB, the browser block
   * cache's quota (undefined: the worker's default).
   */
  constructor(worker, cid, { gateway, peer, offload, backend, kernels, threads, webgpuFeatures, maxMemoryUsageMB, cacheQuotaMB }, { onProgress, onComponentLoaded } = {}) {
    /** The model's root CID. */
    this.cid = cid;
    this.#worker = worker;
    this.#peer = peer;
    worker.onmessage = (event) => {
      if (event.data.type === 'peer') this.#servePeer(event.data);
      else if (event.data.type === 'exit') this.#close(new Error(event.data.message));
      else this.#dispatch(event.data);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.#close(new Error(`accel worker: ${event.message || 'failed to start'}`));
    };
    const load = { type: 'load', cid, gateway, transport: peer?.transport ?? null, offload, backend, kernels, threads, webgpuFeatures, maxMemoryUsageMB, cacheQuotaMB };
    let viable;
    this.#viable = new Promise((resolve) => { viable = resolve; });
    this.#loaded = this.#request(load, 'loaded', (m) => {
      if (m.type === 'progress') {
        const { bytes, componentBytes, componentMBps, mbps, etaMs, memoryMb } = m;
        onProgress?.(m.fraction, m.component, { bytes, componentBytes, componentMBps, mbps, etaMs, memoryMb });
      } else if (m.type === 'componentLoaded') {
        this.#components.push(m.component);
        onComponentLoaded?.(m.component, { loadingTimeMs: m.loadingTimeMs });
      } else if (m.type === 'viable') {
        viable(m.info);
      }
    }).then((m) => m.info);
    // A load that fails before the model is viable fails both.
    this.#viable = Promise.race([this.#viable, this.#loaded]);
    this.#loaded.catch(() => {}); // reported to whoever awaits it
    this.#viable.catch(() => {});
  }

  /**
   * Resolves with {components, remoteLayers, bytes, architecture, transport}
   * as soon as the model can generate: with a libp2p peer that runs layers,
   * once the tokenizer is loaded (the peer runs the whole model until the
   * embed and head are, then the layers not loaded yet); otherwise once
   * every component is.
   * @returns {Promise<import('./ipfs-accelerate').ViableInfo>}
   */
  waitForMinimumViableModel() {
    return this.#viable;
  }

  /**
   * Resolves with the whole load's LoadInfo once every component the page
   * holds is loaded and cached.
   * @returns {Promise<import('./ipfs-accelerate').LoadInfo>}
   */
  waitForLoad() {
    return this.#loaded;
  }

  /** Stops the model's worker: every pending and later call rejects. */
  close() {
    this.#close(new Error('the model was closed'));
  }

  /**
   * Continues prompt and resolves with the generated text (without the
   * prompt). Aborting opts.signal rejects the promise and stops the
   * generation at its next token.
   * @param {string} prompt
   * @param {import('./ipfs-accelerate').GenerateOptions} [opts]
   * @returns {Promise<string>}
   */
  async generate(prompt, opts = {}) {
    await this.#viable;
    const m = await this.#request({ type: 'generate', prompt, opts: pick(opts) }, 'done', null, opts.signal);
    return m.text;
  }

  /**
   * Continues prompt, yielding pieces of text as they are generated.
   * @param {string} prompt
   * @param {import('./ipfs-accelerate').GenerateOptions} [opts]
   * @returns {AsyncGenerator<string>}
   */
  async *generateStream(prompt, opts = {}) {
    await this.#viable;
    const pieces = [];
    let finished = false;
    let failure = null;
    let wake = () => {};
    // Leaving the loop early stops the generation too.
    const left = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, left.signal]) : left.signal;
    this.#request({ type: 'generate', prompt, opts: pick(opts) }, 'done', (m) => {
      pieces.push(m.text);
      wake();
    }, signal).then(
      () => { finished = true; wake(); },
      (err) => { failure = err; finished = true; wake(); },
    );
    try {
      for (;;) {
        if (pieces.length > 0) {
          yield pieces.shift();
        } else if (failure) {
          throw failure;
        } else if (finished) {
          return;
        } else {
          await new Promise((resolve) => { wake = resolve; });
        }
      }
    } finally {
      left.abort();
    }
  }

  /**
   * The runtime's memory: {heapBytes, arenaBytes, modelBytes, wasmBytes}. Asynchronous, since
   * the runtime lives in a worker.
   * @returns {Promise<import('./ipfs-accelerate').MemoryUsage>}
   */
  async getMemoryUsage() {
    const m = await this.#request({ type: 'memory' }, 'memory');
    return m.usage;
  }

  /**
   * The backend's use: {kernels, threads, kernelCalls, kernelMs}, the
   * matrix kernels ('relaxed', 'simd128' or 'go'), the threads they run
   * on, the calls the SIMD kernels ran and their milliseconds, and on WebGPU also
   * {bytes, weightBytes, kvBytes, scratchBytes, residentLayers, steps,
   * stepTokens, readbacks, calls, failures, lastError}: the GPU memory
   * holding weights, their stored size, the GPU memory of the KV cache and
   * activations, the layers whose whole decode step runs on the GPU, the
   * resident steps it ran (one readback each) and their positions, all
   * readbacks, the product calls outside them, and the failures.
   * @returns {Promise<import('./ipfs-accelerate').BackendStats>}
   */
  async getBackendStats() {
    const m = await this.#request({ type: 'backend' }, 'backend');
    return m.stats;
  }

  /**
   * The components loaded so far, in the order they were loaded.
   * @returns {string[]}
   */
  getLoadedComponents() {
    return [...this.#components];
  }

  /**
   * Unloads layer component name ("layer.N"), releasing its weights in the
   * page: from the next generation on, the daemon runs that layer. Rejects
   * for the tokenizer, embed and head (the minimum viable model), without a
   * daemon that runs layers, and while a generation runs.
   * @param {string} name
   * @returns {Promise<void>}
   */
  async unloadComponent(name) {
    await this.#request({ type: 'unload', component: name }, 'unloaded');
    this.#components = this.#components.filter((c) => c !== name);
  }

  /**
   * Sends a request to the worker; the promise resolves with its reply of
   * type final, rejects with its error reply, and passes the replies in
   * between to onEvent.
   */
  #request(msg, final, onEvent, signal) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(this.#closed);
        return;
      }
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        this.#pending.delete(id);
        this.#worker.postMessage({ type: 'cancel', id: this.#nextId++, target: id });
        reject(signal.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settled = (fn) => (v) => {
        signal?.removeEventListener('abort', onAbort);
        fn(v);
      };
      this.#pending.set(id, { final, onEvent, resolve: settled(resolve), reject: settled(reject) });
      this.#worker.postMessage({ ...msg, id });
    });
  }

  /**
   * Answers the worker's request to the libp2p peer with {type:'peerReply',
   * req, value} or {type:'peerReply', req, error}. Ops: block {cid} → bytes;
   * blocks {cids} → the number received, each block sent before the reply
   * as {type:'peerBlock', req, cid, bytes} (its buffer transferred);
   * open {protocol} → handle; exchange {handle, body} → reply body;
   * close {handle}; offload → whether peer runs layers (speaks the offload
   * protocol).
   */
  async #servePeer({ req, op, cid, cids, protocol, handle, body }) {
    try {
      const peer = this.#peer;
      if (!peer) throw new Error('no libp2p connection');
      let value;
      switch (op) {
        case 'block': value = await peer.block(cid); break;
        case 'blocks':
          value = await peer.blocks(cids, (c, bytes) => this.#worker.postMessage({ type: 'peerBlock', req, cid: c, bytes }, [bytes.buffer]));
          break;
        case 'open':
          value = await peer.openFrames(protocol);
          if (this.#closed) { // the model ended while the stream opened
            peer.closeFrames(value).catch(() => {});
            return;
          }
          this.#streams.add(value);
          break;
        case 'exchange': value = await peer.exchange(handle, body); break;
        case 'offload': value = await peer.supports(OFFLOAD_PROTOCOL); break;
        case 'close':
          this.#streams.delete(handle);
          value = await peer.closeFrames(handle);
          break;
        default: throw new Error(`unknown peer op ${JSON.stringify(op)}`);
      }
      this.#worker.postMessage({ type: 'peerReply', req, value }, value instanceof Uint8Array ? [value.buffer] : []);
    } catch (err) {
      this.#worker.postMessage({ type: 'peerReply', req, error: String(err?.message ?? err) });
    }
  }

  #dispatch(m) {
    const req = this.#pending.get(m.id);
    if (!req) return;
    if (m.type === 'error') {
      this.#pending.delete(m.id);
      req.reject(new Error(m.message));
    } else if (m.type === req.final) {
      this.#pending.delete(m.id);
      req.resolve(m);
    } else {
      req.onEvent?.(m);
    }
  }

  /**
   * Ends the model: the worker stops, the offload streams it left open
   * close (ending their sessions on the peer), and every pending and later
   * request rejects with err.
   */
  #close(err) {
    this.#closed ??= err;
    this.#worker.terminate();
    for (const handle of this.#streams) this.#peer?.closeFrames(handle).catch(() => {});
    this.#streams.clear();
    for (const req of this.#pending.values()) req.reject(err);
    this.#pending.clear();
  }
}

function pick(opts) {
  const out = {};
  for (const key of GENERATE_OPTIONS) {
    if (opts[key] !== undefined) out[key] = opts[key];
  }
  return out;
}
