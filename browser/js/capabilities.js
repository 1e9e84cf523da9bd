// Detection of the browser's compute features: WebGPU (adapter, limits,
// features), WebNN (whether a context can be made), WebAssembly SIMD and
// threads, memory; and what the runtime uses of them: the backend (see
// chooseBackend), whether its kernels use SIMD and how many threads.

/* global ACCEL_RUNTIME_USES */
// What the runtime's code (accel.wasm and its matrix kernels) holds,
// {simd, threads}: read from the modules by scripts/wasm-uses.mjs when
// scripts/build-sdk.sh bundles the SDK, which defines ACCEL_RUNTIME_USES;
// unknown (null) in the sources unbundled.
const RUNTIME_USES = typeof ACCEL_RUNTIME_USES === 'undefined' ? { simd: null, threads: null } : ACCEL_RUNTIME_USES;

// Smallest modules that use a WebAssembly SIMD instruction and a shared
// memory with an atomic instruction: they validate only where the feature
// is supported.
const WASM_SIMD = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
const WASM_THREADS = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 5, 4, 1, 3, 1, 1, 10, 11, 1, 9, 0, 65, 0, 254, 16, 2, 0, 26, 11]);

// The WebGPU limits that bound a model's matrices and kernels.
const GPU_LIMITS = [
  'maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupsPerDimension',
];

function wasmValidates(bytes) {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}

/** WebGPU: {available, adapter: {vendor, architecture, device, description} | null, limits, features, error}. */
async function detectWebGPU(nav) {
  if (!nav.gpu) return { available: false, adapter: null, limits: {}, features: [], error: 'navigator.gpu is missing' };
  try {
    const adapter = await nav.gpu.requestAdapter();
    if (!adapter) return { available: false, adapter: null, limits: {}, features: [], error: 'requestAdapter() found no adapter' };
    const { vendor, architecture, device, description } = adapter.info ?? {};
    const limits = Object.fromEntries(GPU_LIMITS.map((k) => [k, adapter.limits[k]]));
    return { available: true, adapter: { vendor, architecture, device, description }, limits, features: [...adapter.features].sort(), error: null };
  } catch (err) {
    return { available: false, adapter: null, limits: {}, features: [], error: String(err?.message ?? err) };
  }
}

/** WebNN: {api: navigator.ml exists, available: a context could be made, error}. */
async function detectWebNN(nav) {
  if (!nav.ml) return { api: false, available: false, error: 'navigator.ml is missing' };
  try {
    await nav.ml.createContext();
    return { api: true, available: true, error: null };
  } catch (err) {
    return { api: true, available: false, error: String(err?.message ?? err) };
  }
}

/** Whether adapter is a software rasterizer (SwiftShader), slower than the WASM kernels. */
function isSoftware(adapter) {
  const { architecture = '', description = '' } = adapter ?? {};
  return /swiftshader/i.test(`${architecture} ${description}`);
}

/**
 * The backend loadModel uses, and why. options.backend: 'webgpu' or
 * 'wasm' to ask for one, 'auto' (default) for WebGPU on a hardware
 * adapter, else the WASM kernels. The WebGPU backend runs the matrix
 * products on the GPU (the weights held there in their stored format),
 * the rest on the WASM kernels; WebNN has no kernels yet.
 */
function chooseBackend(options, webgpu) {
  const wanted = options.backend ?? 'auto';
  const gpuOK = options.enableWebGPU && webgpu.available;
  if (wanted === 'webgpu' && gpuOK) return { backend: 'webgpu', reason: 'asked for, and a WebGPU adapter is available' };
  if (wanted === 'auto' && gpuOK && !isSoftware(webgpu.adapter)) return { backend: 'webgpu', reason: 'a hardware WebGPU adapter is available' };
  const why = wanted === 'wasm' ? 'asked for'
    : !options.enableWebGPU ? 'enableWebGPU is false'
      : !webgpu.available ? `no WebGPU: ${webgpu.error}`
        : 'the WebGPU adapter is a software one (SwiftShader), slower than the WASM kernels';
  if (!options.enableWasm) return { backend: null, reason: `${why}, and enableWasm is false` };
  return { backend: 'wasm', reason: why };
}

/**
 * Resolves with the browser's capabilities, the backend chosen under
 * options ({enableWebGPU, enableWebNN, enableWasm, kernels}), and what the
 * runtime uses: that backend, and its matrix kernels and their threads:
 * 'go' (no SIMD) where the SDK's kernels or the browser have no SIMD or
 * options.kernels is 'go', one thread where they are Go's or threads
 * cannot run (no threads in the SDK's code or the browser, a page not
 * cross-origin isolated), else unknown (null) until a model loads: a
 * self-test at load picks them, and IPFSAccelerate.loadModel records them.
 * @returns {Promise<import('./ipfs-accelerate').Capabilities>}
 */
export async function detectCapabilities(options) {
  const nav = globalThis.navigator ?? {};
  const [webgpu, webnn] = await Promise.all([detectWebGPU(nav), detectWebNN(nav)]);
  const { backend, reason } = chooseBackend(options, webgpu);
  const wasmSimd = wasmValidates(WASM_SIMD);
  const noSimd = RUNTIME_USES.simd === false || !wasmSimd || options.kernels === 'go';
  const wasmThreads = typeof SharedArrayBuffer === 'function' && globalThis.crossOriginIsolated === true && wasmValidates(WASM_THREADS);
  const oneThread = noSimd || RUNTIME_USES.threads === false || !wasmThreads;
  return {
    webgpu,
    webnn,
    wasm: typeof WebAssembly === 'object',
    wasmSimd,
    wasmThreads,
    deviceMemoryGB: nav.deviceMemory ?? null,
    hardwareConcurrency: nav.hardwareConcurrency ?? null,
    backend,
    backendReason: reason,
    uses: { backend, simd: noSimd ? false : null, threads: oneThread ? 1 : null, kernels: noSimd ? 'go' : null },
  };
}
