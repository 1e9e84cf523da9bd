// Types of ipfs-accelerate.js.

export type Transport = 'webtransport' | 'webrtc-direct' | 'websocket' | 'circuit-relay' | 'gateway';

export interface IPFSAccelerateOptions {
  /**
   * Daemon multiaddrs to dial with js-libp2p, ending in /p2p/<peer id> (default: the addresses
   * the daemon serving this module publishes at bootstrap.json beside it).
   */
  bootstrap?: string[];
  /**
   * The transports blocks may come over, libp2p ones tried in this order (default:
   * ['webtransport', 'webrtc-direct', 'websocket', 'circuit-relay', 'gateway']). With 'gateway'
   * listed, a load falls back to the gateway when no libp2p address connects, and, for the rest
   * of the load, once libp2p fails to deliver a block or delivers a bad one.
   */
  transports?: Transport[];
  /**
   * Trustless gateway base URL(s) for blocks (default: the worker's origin, i.e. the serving
   * daemon). With several, a block that fails its CID check or its request is asked of the
   * next one, and a gateway that served bad bytes is not asked again during the load.
   */
  gateway?: string | string[];
  /**
   * Quota of the browser's verified model cache in MiB (default 1024, capped by the storage
   * estimate): component files in the origin private file system. Over it, the least recently
   * used files of the least critical components go first.
   */
  cacheQuotaMB?: number;
  /**
   * The model weights to hold in the page, in MiB (default 2048). With a daemon that runs layers
   * (offload), the layers past the budget are not fetched and run there; without one, a larger
   * model fails to load.
   */
  maxMemoryUsageMB?: number;
  /** Let the daemon run the layers not loaded yet (default true), so generation starts early. */
  offload?: boolean;
  /**
   * The backend: 'webgpu' (matrix products on the GPU, the weights held there in their stored
   * format; each format checked against the WASM kernels at load), 'wasm' (the WASM kernels, see
   * kernels), or 'auto' (default: WebGPU on a hardware adapter, else WASM — a software adapter
   * such as SwiftShader is slower than the WASM kernels).
   */
  backend?: 'auto' | 'webgpu' | 'wasm';
  /**
   * Let the WebGPU kernels use the optional features the browser offers — subgroups, packed
   * 8-bit dot products (default true); false runs the kernels that need neither.
   */
  webgpuFeatures?: boolean;
  /**
   * The matrix kernels of the WASM backend (and of the matrices WebGPU does not hold): 'auto'
   * (default: the best of 'relaxed' — relaxed SIMD — and 'simd128' that the browser runs and
   * that gives the Go kernels' results bit for bit in a self-test at load), one of those two,
   * or 'go' (the scalar Go kernels, for comparisons). A level that fails leaves the Go kernels.
   * Int matrices of 2 or 3 bits always run on the Go kernels.
   */
  kernels?: 'auto' | 'relaxed' | 'simd128' | 'go';
  /** Allow the WebGPU backend (default true). */
  enableWebGPU?: boolean;
  /** Allow the WebNN backend (default true; it has no kernels yet, so it is never chosen). */
  enableWebNN?: boolean;
  /** Allow the WASM backend (default true). */
  enableWasm?: boolean;
}

/**
 * What the browser offers (webgpu, webnn, wasm, wasmSimd, wasmThreads, deviceMemoryGB,
 * hardwareConcurrency) and what the runtime uses of it (backend, uses).
 */
export interface Capabilities {
  webgpu: {
    available: boolean;
    adapter: { vendor: string; architecture: string; device: string; description: string } | null;
    /** maxBufferSize, maxStorageBufferBindingSize, maxComputeWorkgroupStorageSize, … */
    limits: Record<string, number>;
    features: string[];
    /** Why WebGPU is not available (null when it is). */
    error: string | null;
  };
  webnn: {
    /** navigator.ml exists. */
    api: boolean;
    /** navigator.ml.createContext() succeeded. */
    available: boolean;
    error: string | null;
  };
  wasm: boolean;
  wasmSimd: boolean;
  /** SharedArrayBuffer available, the page cross-origin isolated, and WASM atomics supported. */
  wasmThreads: boolean;
  /** navigator.deviceMemory, or null where the browser does not say. */
  deviceMemoryGB: number | null;
  hardwareConcurrency: number | null;
  /** The backend loadModel uses (see IPFSAccelerateOptions.backend); null when none is allowed. WebNN has no kernels yet. */
  backend: 'webgpu' | 'wasm' | null;
  backendReason: string;
  /**
   * What the runtime uses: backend as above; kernels, its matrix kernels (see
   * IPFSAccelerateOptions.kernels), and simd, whether they use WebAssembly SIMD: 'go' and false
   * where the SDK's kernels or the browser have no SIMD or the options ask for 'go', else null
   * until loadModel resolves (a self-test at load chooses them; later loads record theirs) or,
   * when a daemon runs the whole model at first, until Model.waitForLoad does;
   * threads, how many threads run the kernels: 1 where they are Go's or threads cannot run (the
   * SDK's code or the browser has no threads, the page is not cross-origin isolated), else null
   * until then (LoadOptions.threads, where the kernel workers started). The browser
   * may offer SIMD and threads (wasmSimd, wasmThreads) while the runtime uses neither.
   */
  uses: {
    backend: 'webgpu' | 'wasm' | null;
    kernels: 'relaxed' | 'simd128' | 'go' | null;
    simd: boolean | null;
    threads: number | null;
  };
}

export interface LoadOptions {
  /**
   * Called as the components' bytes are verified and placed (from the network or the cache);
   * fraction never decreases and ends at 1. bytes: the bytes of the components' files placed so
   * far; componentBytes: those of component, at componentMBps MB/s since its first; mbps: the
   * load's rate so far; etaMs: the time left at that rate; memoryMb: the runtime's WebAssembly
   * memory.
   */
  onProgress?: (fraction: number, component: string, info: Progress) => void;
  /**
   * Called as each component's blocks are all fetched and verified: in manifest order, or, with
   * a daemon that runs layers, tokenizer, embed, head, then the layers.
   */
  onComponentLoaded?: (component: string, info: { loadingTimeMs: number }) => void;
  /**
   * How many threads run the WASM kernels (default: half of navigator.hardwareConcurrency, 1 to
   * 8). More than one needs a cross-origin isolated page (COOP/COEP headers, as the daemon's
   * /sdk/ pages have): the weights then live in shared memory, and the runtime's worker and
   * threads − 1 kernel workers share out every matrix product's rows, with the same results as one
   * thread. Elsewhere the kernels run on one thread (the console says why).
   */
  threads?: number;
}

export interface Progress {
  bytes: number;
  componentBytes: number;
  componentMBps: number;
  mbps: number;
  etaMs: number;
  memoryMb: number;
}

export interface ViableInfo {
  /** Components local when the model became viable, in load order. */
  components: string[];
  /** Layers the daemon runs for good (over the memory budget); the others not loaded yet run there until they are. */
  remoteLayers: number[];
  /** Bytes of all blocks fetched so far, the manifest included. */
  bytes: number;
  architecture: string;
  /**
   * The backend the model runs on: name 'webgpu' once the GPU matched the WASM kernels on f32
   * matrices, else 'wasm'; checks, each weight format's largest difference from the WASM kernels
   * (relative), check the largest of them; features, the optional WebGPU features the kernels
   * use; stepChecks, the largest difference (relative) of each layer's resident decode step
   * ('layer.N') and of the head's ('head') from the CPU path, stepCheck the largest of them;
   * error says why WebGPU was not used, or failed to take a matrix (a format off the WASM
   * kernels' products stays on them) or a step (that layer runs on the CPU path, its products
   * on the GPU; the last layer runs resident only with the head). kernels: the matrix kernels of the matrices WebGPU does
   * not hold (all on 'wasm'); kernelsError: why a SIMD level asked for was not used; threads: the
   * threads the kernels run on; threadsError: why not as many as asked for.
   */
  backend: {
    name: 'webgpu' | 'wasm';
    kernels: 'relaxed' | 'simd128' | 'go';
    kernelsError?: string;
    threads: number;
    threadsError?: string;
    check?: number;
    checks?: Record<string, number>;
    stepCheck?: number;
    stepChecks?: Record<string, number>;
    features?: string[];
    error?: string;
    adapter?: Record<string, string>;
  };
  /** The transport the blocks came over: a libp2p one, or 'gateway'. */
  transport: Transport;
}

export interface LoadInfo extends ViableInfo {
  /** Requests per source (a transport or a gateway URL). */
  sources: Record<string, number>;
  /**
   * The browser's model cache after the load (null where the browser has no storage): the bytes
   * and entries (component files, single blocks) it holds, and the entries this load evicted or
   * did not store to keep within the quota.
   */
  cache: { bytes: number; entries: number; evicted: number } | null;
  /**
   * Requests made to the network, retries included: one per single block (the manifest, a
   * component's inner nodes) and one per component's leaves (a CAR, or a batch over libp2p).
   */
  requests: number;
  /** Blocks read from the browser's verified model cache. */
  cached: number;
  /** Sources dropped during the load for a failed request or bytes that did not match their CID. */
  dropped: string[];
  /** Blocks received with bytes that did not match their CID, and who sent them. */
  rejected: { cid: string; source: string }[];
}

export interface GenerateOptions {
  /** New tokens to generate (default 256; 0: until the context is full). */
  maxTokens?: number;
  /** Sampling temperature (default 0.8; 0: greedy). */
  temperature?: number;
  /** Nucleus sampling threshold (default 0.95; 1: off). */
  topP?: number;
  /** Sample from the K most likely tokens (default 40; 0: all). */
  topK?: number;
  /** Penalty for recently generated tokens (default 1: off). */
  repetitionPenalty?: number;
  /** Generation ends before the first of these in the output. */
  stopSequences?: string[];
  /** Random seed (default 0; same seed, same output). */
  seed?: number;
  /** Rejects the call when aborted and stops the generation at its next token. */
  signal?: AbortSignal;
}

export interface BackendStats {
  /** The matrix kernels and the threads they run on (see ViableInfo.backend). */
  kernels: 'relaxed' | 'simd128' | 'go';
  threads: number;
  /**
   * Calls the SIMD kernels ran (matrix products, attention's scores and sums) and the
   * milliseconds they took: the rest of a token's time is the runtime's own Go (norms, RoPE,
   * softmax, SwiGLU, sampling).
   */
  kernelCalls: number;
  kernelMs: number;
  /** WebGPU only: GPU memory holding weights, in their stored format (4-byte aligned), norms included. */
  bytes?: number;
  /** WebGPU only: the stored size of the weights on the GPU. */
  weightBytes?: number;
  /** WebGPU only: GPU memory of the KV cache of the running generation, or of the last one (float32, grown as positions arrive). */
  kvBytes?: number;
  /** WebGPU only: GPU memory of that generation's activations and scratch space. */
  scratchBytes?: number;
  /** WebGPU only: layers whose whole decode step runs on the GPU (the last one with the final norm and classifier). */
  residentLayers?: number[];
  /** WebGPU only: resident steps run (a prompt, or one token), each one command buffer (a long prompt several). */
  steps?: number;
  /** WebGPU only: the positions those passes ran. */
  stepTokens?: number;
  /** WebGPU only: reads from the GPU: one a command buffer of a step (the logits, or the hidden state for a peer's layers), one a product call. */
  readbacks?: number;
  /** WebGPU only: product calls the GPU ran outside resident passes (layers or a head not resident). */
  calls?: number;
  /** WebGPU only: calls and passes that failed: a call runs on the WASM kernels instead, a pass leaves the resident step for the CPU path. */
  failures?: number;
  lastError?: string;
}

export interface MemoryUsage {
  /** Go heap in use in the runtime. */
  heapBytes: number;
  /** The kernels' shared memory on threads (the weights they hold, activations); 0 on one thread. */
  arenaBytes: number;
  /** Stored size of the model's weights. */
  modelBytes: number;
  /** The runtime's WebAssembly memory (its linear memory, which holds the Go heap). */
  wasmBytes: number;
}

export declare class IPFSAccelerate {
  constructor(options?: IPFSAccelerateOptions);
  /** What the browser offers and what the runtime uses of it (asynchronous: WebGPU's adapter is). */
  getCapabilities(): Promise<Capabilities>;
  /**
   * Resolves once the model can generate (see waitForMinimumViableModel); the rest of the load
   * goes on in the background.
   */
  loadModel(cid: string, options?: LoadOptions): Promise<Model>;
  /** Closes the libp2p connection (models keep their workers; a later loadModel connects again). */
  close(): Promise<void>;
}

export declare class Model {
  private constructor();
  /** The model's root CID. */
  readonly cid: string;
  /**
   * Resolves once the model can generate: with a daemon that runs layers, when the tokenizer,
   * embed and head are loaded; otherwise when every component is.
   */
  waitForMinimumViableModel(): Promise<ViableInfo>;
  /** Resolves once the whole load is over (every component the page holds, cached). */
  waitForLoad(): Promise<LoadInfo>;
  /**
   * Resolves with the generated text, without the prompt. If the daemon running layers fails
   * mid-way, the generation fails over with the same text: the connection is dialled again and
   * the token history run on new sessions (three tries in a row), or, failing that, the page
   * runs every layer itself once the load has made them all local. A model with layers
   * unloaded or over its memory budget then rejects.
   */
  generate(prompt: string, options?: GenerateOptions): Promise<string>;
  generateStream(prompt: string, options?: GenerateOptions): AsyncGenerator<string, void, undefined>;
  getMemoryUsage(): Promise<MemoryUsage>;
  /** The backend's use: its matrix kernels, and on WebGPU the GPU's counters. */
  getBackendStats(): Promise<BackendStats>;
  /** The components loaded (and not unloaded) so far, in load order. */
  getLoadedComponents(): string[];
  /**
   * Unloads a layer ("layer.N"): the daemon runs it from the next generation on. Rejects for the
   * tokenizer, embed and head, without a daemon that runs layers, and while a generation runs.
   */
  unloadComponent(name: string): Promise<void>;
  /** Stops the model's worker; pending calls reject. */
  close(): void;
}
