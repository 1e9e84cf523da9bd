// Types of ipfs-accelerate.js.

export type Transport = 'webtransport' | 'webrtc-direct' | 'websocket' | 'gateway';

export interface IPFSAccelerateOptions {
  /**
   * Daemon multiaddrs to dial with js-libp2p, ending in /p2p/<peer id> (default: the addresses
   * the daemon serving this module publishes at bootstrap.json beside it).
   */
  bootstrap?: string[];
  /**
   * The transports blocks may come over, libp2p ones tried in this order (default:
   * ['webtransport', 'webrtc-direct', 'websocket', 'gateway']). With 'gateway' listed, a load
   * falls back to the gateway when no libp2p address connects, and for any block libp2p fails
   * to deliver.
   */
  transports?: Transport[];
  /**
   * Trustless gateway base URL(s) for blocks (default: the worker's origin, i.e. the serving
   * daemon). With several, a block that fails its CID check or its request is asked of the
   * next one, and a gateway that served bad bytes is not asked again during the load.
   */
  gateway?: string | string[];
  /**
   * Quota of the browser's verified block cache in MiB (default 1024, capped by the storage
   * estimate). Over it, the least recently used blocks of the least critical components go first.
   */
  cacheQuotaMB?: number;
  /** Memory budget in MiB (not enforced yet). */
  maxMemoryUsageMB?: number;
  /** Allow the WebGPU backend (not implemented yet). */
  enableWebGPU?: boolean;
  /** Allow the WebNN backend (not implemented yet). */
  enableWebNN?: boolean;
  /** Allow the WASM backend, the only one in this slice (loadModel rejects when false). */
  enableWasm?: boolean;
}

export interface Capabilities {
  webgpu: boolean;
  webnn: boolean;
  wasm: boolean;
  wasmSimd: boolean;
  /** SharedArrayBuffer available, the page cross-origin isolated, and WASM atomics supported. */
  wasmThreads: boolean;
  /** navigator.deviceMemory, or null where the browser does not say. */
  deviceMemoryGB: number | null;
  hardwareConcurrency: number | null;
  /** The backend loadModel uses. */
  backend: 'wasm';
}

export interface LoadOptions {
  /** Called as blocks arrive; fraction never decreases and ends at 1. bytes: block bytes fetched so far. */
  onProgress?: (fraction: number, component: string, info: { bytes: number }) => void;
  /** Called as each component's blocks are all fetched and verified, in manifest order. */
  onComponentLoaded?: (component: string, info: { loadingTimeMs: number }) => void;
}

export interface LoadInfo {
  /** The transport the blocks came over: a libp2p one, or 'gateway'. */
  transport: Transport;
  /** Block requests per source (a transport or a gateway URL). */
  sources: Record<string, number>;
  /** The browser block cache after the load (null where the browser has no storage). */
  cache: { bytes: number; blocks: number; evicted: number } | null;
  /** Component names in manifest (critical-path) order. */
  components: string[];
  /** Bytes of all blocks fetched, the manifest included. */
  bytes: number;
  architecture: string;
  /** Block requests made to the network, retries included. */
  requests: number;
  /** Blocks read from the browser's verified block cache. */
  cached: number;
  /** Sources dropped during the load for a failed request or bytes that did not match their CID. */
  dropped: string[];
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
  /** Rejects the call when aborted (the worker still finishes the generation in this slice). */
  signal?: AbortSignal;
}

export interface MemoryUsage {
  /** Go heap in use in the runtime. */
  heapBytes: number;
  /** Stored size of the model's weights. */
  modelBytes: number;
}

export declare class IPFSAccelerate {
  constructor(options?: IPFSAccelerateOptions);
  getCapabilities(): Capabilities;
  /** Resolves once every component is loaded and verified (in this slice). */
  loadModel(cid: string, options?: LoadOptions): Promise<Model>;
}

export declare class Model {
  private constructor();
  /** The model's root CID. */
  readonly cid: string;
  waitForMinimumViableModel(): Promise<LoadInfo>;
  /** Resolves with the generated text, without the prompt. */
  generate(prompt: string, options?: GenerateOptions): Promise<string>;
  generateStream(prompt: string, options?: GenerateOptions): AsyncGenerator<string, void, undefined>;
  getMemoryUsage(): Promise<MemoryUsage>;
  getLoadedComponents(): string[];
  /** Not supported yet: always rejects. */
  unloadComponent(name: string): Promise<void>;
}
