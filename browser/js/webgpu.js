// The runtime's WebGPU backend, loaded in the worker with importScripts:
// self.AccelWebGPU.open() resolves with a backend that holds weight
// matrices on the GPU as they are stored (inference/quant's row layouts,
// byte for byte) and computes their products with the inputs the runtime
// passes: the products of one call in one compute pass, read back at once.
// The Go runtime (browser/wasm/webgpu.go) places a model's matrices on it
// and checks each format against its own kernels before use.
'use strict';

self.AccelWebGPU = (() => {
  const WORKGROUP = 64; // invocations per product: each sums a share of the row
  const MAX_GROUPS = 65535; // workgroups per dimension every device allows
  const SHAPE_STRIDE = 256; // bytes between the shapes of one call's products (the largest uniform offset alignment)

  // What every kernel shares: one workgroup computes one product
  // y[out + t×rows + r] = W[r]·x[t] of row r and vector t (quant.MatMulAll),
  // each invocation summing its share of the row (part, below) and the
  // workgroup adding the shares.
  const COMMON = `
const WG = ${WORKGROUP}u;

struct Shape {
  rows: u32,
  cols: u32,
  n: u32,         // vectors in the batch
  row_bytes: u32, // stored size of a row (quant.Matrix.RowBytes)
  out: u32,       // where the product starts in y
  group: u32,     // Int: weights per scale
  asym: u32,      // Int: 1 when the rows store offsets
  wide: u32,      // workgroups along x: row r is workgroup (r mod wide, r / wide)
}

// The matrix's stored rows, back to back, as little-endian words.
@group(0) @binding(0) var<storage, read> w: array<u32>;
// The batch: n×cols f32 values, then, for the integer formats, its 8-bit
// blocks of 32 (quant.Batch.Q8): n×blocks×8 words of codes, n×blocks
// scales, n×blocks sums of codes.
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> shape: Shape;

fn blocks() -> u32 { return (shape.cols + 31u) / 32u; }

// x is value c of vector t.
fn x(t: u32, c: u32) -> f32 { return bitcast<f32>(a[t * shape.cols + c]); }

// xq is codes 4j…4j+3 of block b of vector t, one byte each.
fn xq(t: u32, b: u32, j: u32) -> u32 { return a[shape.n * shape.cols + (t * blocks() + b) * 8u + j]; }

fn xscale(t: u32, b: u32) -> f32 {
  return bitcast<f32>(a[shape.n * (shape.cols + 8u * blocks()) + t * blocks() + b]);
}

fn xsum(t: u32, b: u32) -> i32 {
  return bitcast<i32>(a[shape.n * (shape.cols + 9u * blocks()) + t * blocks() + b]);
}

// word is the 4 bytes of w from byte o on (o even: every field of the
// row layouts starts at an even byte).
fn word(o: u32) -> u32 {
  let i = o / 4u;
  if (o % 4u == 0u) { return w[i]; }
  return (w[i] >> 16u) | (w[i + 1u] << 16u);
}

// bits16 is the 16 bits of w at byte o (o even).
fn bits16(o: u32) -> u32 { return (w[o / 4u] >> (8u * (o % 4u))) & 0xffffu; }

// half is the float16 at byte o of w (quant.F16ToF32).
fn half(o: u32) -> f32 { return unpack2x16float(bits16(o)).x; }

var<workgroup> shares: array<f32, WG>;
`;

  // dot4 is the dot product of the four signed bytes of p and of q.
  const DOT4 = {
    packed: `fn dot4(p: u32, q: u32) -> i32 { return dot4I8Packed(p, q); }`,
    portable: `
fn dot4(p: u32, q: u32) -> i32 {
  var s = 0i;
  for (var k = 0u; k < 32u; k += 8u) {
    s += (bitcast<i32>(p << (24u - k)) >> 24u) * (bitcast<i32>(q << (24u - k)) >> 24u);
  }
  return s;
}`,
  };

  // total adds the workgroup's shares v; the sum is invocation i = 0's.
  const TOTAL = {
    subgroups: {
      enable: 'enable subgroups;',
      args: ', @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32, @builtin(num_subgroups) count: u32',
      call: 'total(v, i, sg, lane, count)',
      code: `
fn total(v: f32, i: u32, sg: u32, lane: u32, count: u32) -> f32 {
  let s = subgroupAdd(v);
  if (lane == 0u) { shares[sg] = s; }
  workgroupBarrier();
  var sum = 0.0;
  if (i == 0u) {
    for (var k = 0u; k < count; k++) { sum += shares[k]; }
  }
  return sum;
}`,
    },
    shared: {
      enable: '',
      args: '',
      call: 'total(v, i)',
      code: `
fn total(v: f32, i: u32) -> f32 {
  shares[i] = v;
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    workgroupBarrier();
    if (i < s) { shares[i] += shares[i + s]; }
  }
  return shares[0];
}`,
    },
  };

  // Each kernel's part(r, t, i): invocation i's share of row r times
  // vector t, following the Go kernel named.
  const floats = (value) => `
fn part(r: u32, t: u32, i: u32) -> f32 {
  var acc = 0.0;
  for (var c = i; c < shape.cols; c += WG) {
    let e = r * shape.cols + c;
    acc += ${value} * x(t, c);
  }
  return acc;
}`;

  // blocks32 is the part of GGML's blocks of 32 weights, size bytes each:
  // a float16 scale d, then the codes; idot is the block's sum.
  const blocks32 = (size, idot) => `
fn part(r: u32, t: u32, i: u32) -> f32 {
  var acc = 0.0;
  for (var k = i; k < shape.cols / 32u; k += WG) {
    let o = r * shape.row_bytes + k * ${size}u;
    acc += half(o) * xscale(t, k) * f32(idot(o + 2u, t, k));
  }
  return acc;
}
${idot}`;

  // ints is the part of the Int format, a group at a time as
  // quant.intGroupSum adds it: the row's float16 scales d (and offsets m),
  // then chunks of size bytes; idot is a chunk's sum S_k.
  const ints = (size, idot) => `
fn part(r: u32, t: u32, i: u32) -> f32 {
  let groups = (shape.cols + shape.group - 1u) / shape.group;
  let row = r * shape.row_bytes;
  let codes = row + 2u * groups * (1u + shape.asym);
  var acc = 0.0;
  for (var g = i; g < groups; g += WG) {
    let k0 = g * shape.group / 32u;
    var gs = 0.0;
    var gx = 0.0;
    for (var k = k0; k < min(k0 + shape.group / 32u, blocks()); k++) {
      gs += xscale(t, k) * f32(idot(codes + k * ${size}u, t, k));
      if (shape.asym == 1u) { gx += xscale(t, k) * f32(xsum(t, k)); }
    }
    var out = half(row + 2u * g) * gs;
    if (shape.asym == 1u) {
      out += half(row + 2u * (groups + g)) * gx;
    }
    acc += out;
  }
  return acc;
}
${idot}`;

  // idot(o, t, k) is the integer dot product of the 32 codes at byte o
  // with block k of vector t's codes; body sums it into s, four codes a
  // word, and returns it.
  const idot = (body) => `
fn idot(o: u32, t: u32, k: u32) -> i32 {
  var s = 0i;${body}
}`;
  // Codes of 8 bits, and of 4 bits with byte j holding codes j and j+16.
  const sum8 = `
  for (var j = 0u; j < 8u; j++) { s += dot4(word(o + 4u * j), xq(t, k, j)); }`;
  const sum4 = `
  for (var j = 0u; j < 4u; j++) {
    let c = word(o + 4u * j);
    s += dot4(c & 0x0f0f0f0fu, xq(t, k, j)) + dot4((c >> 4u) & 0x0f0f0f0fu, xq(t, k, j + 4u));
  }`;

  const KERNELS = {
    // quant.dotF32Generic
    f32: floats('bitcast<f32>(w[e])'),
    // quant.dotF16Generic
    f16: floats('half(2u * e)'),
    // quant.dotBF16Generic
    bf16: floats('bitcast<f32>(bits16(2u * e) << 16u)'),
    // quant.dotQ8_0Generic
    q8_0: blocks32(34, idot(`${sum8}
  return s;`)),
    // quant.dotQ4_0Generic: Σ(code−8)·x = Σcode·x − 8·Σx
    q4_0: blocks32(18, idot(`${sum4}
  return s - 8 * xsum(t, k);`)),
    // quant.dotInt8Generic
    int8: ints(32, idot(`${sum8}
  return s;`)),
    // quant.dotInt4Generic: u = q + 8, in Q4_0's nibble order
    int4: ints(16, idot(`${sum4}
  return s - 8 * xsum(t, k);`)),
    // quant.dotInt3Generic: the low two bits of u = q + 4 as int2, bit 2
    // of code i in bit i of the word at byte 8
    int3: ints(12, idot(`
  let h = word(o + 8u);
  for (var j = 0u; j < 2u; j++) {
    let c = word(o + 4u * j);
    for (var sh = 0u; sh < 4u; sh++) {
      let hi = (h >> (8u * sh + 4u * j)) & 0xfu;
      let top = (hi & 1u) | ((hi & 2u) << 7u) | ((hi & 4u) << 14u) | ((hi & 8u) << 21u);
      s += dot4(((c >> (2u * sh)) & 0x03030303u) | (top << 2u), xq(t, k, 2u * sh + j));
    }
  }
  return s - 4 * xsum(t, k);`)),
    // quant.dotInt2Generic: u = q + 2; byte j holds codes j, j+8, j+16, j+24
    int2: ints(8, idot(`
  for (var j = 0u; j < 2u; j++) {
    let c = word(o + 4u * j);
    for (var sh = 0u; sh < 4u; sh++) {
      s += dot4((c >> (2u * sh)) & 0x03030303u, xq(t, k, 2u * sh + j));
    }
  }
  return s - 2 * xsum(t, k);`)),
  };

  // source is the WGSL of kernel name with the reduction and dot4 chosen.
  function source(name, features) {
    const total = TOTAL[features.includes('subgroups') ? 'subgroups' : 'shared'];
    const dot4 = DOT4[features.includes('packed_4x8_integer_dot_product') ? 'packed' : 'portable'];
    return `${total.enable}
${COMMON}
${dot4}
${total.code}
${KERNELS[name]}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) i: u32${total.args}) {
  let r = wg.y * shape.wide + wg.x;
  if (r >= shape.rows) { return; }
  let v = part(r, wg.z, i);
  let sum = ${total.call};
  if (i == 0u) { y[shape.out + wg.z * shape.rows + r] = sum; }
}`;
  }

  class Backend {
    #device;
    #layout; // every kernel's bind group layout
    #pipelines = new Map(); // kernel name → Promise<GPUComputePipeline>
    #matrices = new Map(); // id → {buffer, pipeline, rows, cols, rowBytes, group, asym}
    #nextId = 1;
    #bytes = 0;

    constructor(device, adapterInfo, features) {
      this.#device = device;
      this.#layout = device.createBindGroupLayout({
        entries: ['read-only-storage', 'read-only-storage', 'storage', 'uniform'].map((type, binding) => (
          { binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } })),
      });
      /** The adapter's {vendor, architecture, device, description}. */
      this.adapter = adapterInfo;
      /** The optional features the kernels use: 'subgroups', 'packed_4x8_integer_dot_product'. */
      this.features = features;
    }

    /** The GPU memory the matrices take, in bytes. */
    get bytes() {
      return this.#bytes;
    }

    /**
     * Uploads the stored rows of a matrix (a Uint8Array, rows×rowBytes)
     * whose shape is {rows, cols, rowBytes, kernel, group, asym}: kernel
     * names its format's (f32, f16, bf16, q8_0, q4_0, int8, int4, int3,
     * int2), group and asym are the Int format's. Resolves with its id, or
     * rejects when the GPU cannot hold it.
     */
    async upload(data, { rows, cols, rowBytes, kernel, group, asym }) {
      if (!KERNELS[kernel]) throw new Error(`webgpu: no kernel for ${kernel}`);
      if (data.length !== rows * rowBytes) throw new Error(`webgpu: ${data.length} bytes are not ${rows} rows of ${rowBytes}`);
      const size = Math.ceil(data.length / 4) * 4;
      this.#fits(size, `a ${rows}×${cols} ${kernel} matrix`);
      const pipeline = await this.#pipeline(kernel);
      const buffer = await this.#checked(() => {
        const b = this.#device.createBuffer({ size, usage: GPUBufferUsage.STORAGE, mappedAtCreation: true });
        new Uint8Array(b.getMappedRange()).set(data);
        b.unmap();
        return b;
      });
      const id = this.#nextId++;
      this.#matrices.set(id, { buffer, pipeline, rows, cols, rowBytes, group, asym: asym ? 1 : 0 });
      this.#bytes += size;
      return id;
    }

    /** Frees matrix id's GPU memory. */
    release(id) {
      const m = this.#matrices.get(id);
      if (!m) return;
      this.#bytes -= m.buffer.size;
      m.buffer.destroy();
      this.#matrices.delete(id);
    }

    /** Frees the device and everything on it. */
    destroy() {
      this.#matrices.clear();
      this.#bytes = 0;
      this.#device.destroy();
    }

    /**
     * Resolves with the products of the matrices ids with the n vectors
     * of the batch act (a Uint8Array laid out as the kernels' a), one after
     * the other in one Float32Array: n×rows values each. Rejects on any
     * GPU error (the caller computes them elsewhere).
     */
    async matmul(ids, act, n) {
      const device = this.#device;
      const ms = ids.map((id) => {
        const m = this.#matrices.get(id);
        if (!m) throw new Error(`webgpu: no matrix ${id}`);
        return m;
      });
      const { cols } = ms[0];
      if (ms.some((m) => m.cols !== cols) || act.byteLength < 4 * n * cols) {
        throw new Error(`webgpu: ${act.byteLength} bytes of input are not ${n} vectors for matrices of ${cols} columns`);
      }
      let values = 0;
      const outs = ms.map((m) => (values += n * m.rows) - n * m.rows);
      this.#fits(act.byteLength, `an input of ${act.byteLength} bytes`);
      this.#fits(4 * values, `an output of ${values} values`);
      const temporary = [];
      const buffer = (size, usage) => {
        const b = device.createBuffer({ size, usage });
        temporary.push(b);
        return b;
      };
      try {
        const read = await this.#checked(() => {
          const input = buffer(act.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
          device.queue.writeBuffer(input, 0, act);
          const output = buffer(4 * values, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
          const read = buffer(4 * values, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
          const shapes = buffer(ms.length * SHAPE_STRIDE, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
          const words = new Uint32Array(ms.length * SHAPE_STRIDE / 4);
          const encoder = device.createCommandEncoder();
          const pass = encoder.beginComputePass();
          ms.forEach((m, i) => {
            const wide = Math.min(m.rows, MAX_GROUPS);
            words.set([m.rows, cols, n, m.rowBytes, outs[i], m.group, m.asym, wide], i * SHAPE_STRIDE / 4);
            pass.setPipeline(m.pipeline);
            pass.setBindGroup(0, device.createBindGroup({
              layout: this.#layout,
              entries: [
                { binding: 0, resource: { buffer: m.buffer } },
                { binding: 1, resource: { buffer: input } },
                { binding: 2, resource: { buffer: output } },
                { binding: 3, resource: { buffer: shapes, offset: i * SHAPE_STRIDE, size: 32 } },
              ],
            }));
            pass.dispatchWorkgroups(wide, Math.ceil(m.rows / wide), n);
          });
          pass.end();
          device.queue.writeBuffer(shapes, 0, words);
          encoder.copyBufferToBuffer(output, 0, read, 0, 4 * values);
          device.queue.submit([encoder.finish()]);
          return read;
        });
        await read.mapAsync(GPUMapMode.READ);
        return new Float32Array(read.getMappedRange().slice(0));
      } finally {
        for (const b of temporary) b.destroy();
      }
    }

    /** Resolves with kernel name's pipeline, compiled once. */
    #pipeline(name) {
      if (!this.#pipelines.has(name)) {
        const module = this.#device.createShaderModule({ code: source(name, this.features) });
        this.#pipelines.set(name, this.#device.createComputePipelineAsync({
          layout: this.#device.createPipelineLayout({ bindGroupLayouts: [this.#layout] }),
          compute: { module, entryPoint: 'main' },
        }));
      }
      return this.#pipelines.get(name);
    }

    /** Throws unless a buffer of size bytes fits the device's limits. */
    #fits(size, what) {
      const { maxBufferSize, maxStorageBufferBindingSize } = this.#device.limits;
      if (size > Math.min(maxBufferSize, maxStorageBufferBindingSize)) {
        throw new Error(`webgpu: ${what} (${size} bytes) is over the device's buffer limit`);
      }
    }

    /**
     * Runs work and resolves with its result, or rejects with the
     * validation or out-of-memory error the GPU reported for it (WebGPU
     * reports them only to error scopes).
     */
    async #checked(work) {
      const device = this.#device;
      device.pushErrorScope('out-of-memory');
      device.pushErrorScope('validation');
      let result;
      let thrown = null;
      try {
        result = work();
      } catch (err) {
        thrown = err;
      }
      const [validation, memory] = [await device.popErrorScope(), await device.popErrorScope()];
      if (thrown) throw thrown;
      const error = validation ?? memory;
      if (error) throw new Error(`webgpu: ${error.message}`);
      return result;
    }
  }

  return {
    /**
     * Resolves with a Backend on the browser's WebGPU adapter, or rejects
     * saying why there is none. With features false the kernels use no
     * optional feature (subgroups, packed 8-bit dot products) even where
     * the adapter has it.
     */
    async open({ features = true } = {}) {
      if (!self.navigator?.gpu) throw new Error('webgpu: navigator.gpu is missing in the worker');
      const adapter = await navigator.gpu.requestAdapter();
      if (!adapter) throw new Error('webgpu: requestAdapter() found no adapter');
      const language = navigator.gpu.wgslLanguageFeatures;
      const used = !features ? [] : [
        // subgroup_id tells a subgroup its place in the workgroup
        adapter.features.has('subgroups') && language?.has('subgroup_id') && 'subgroups',
        language?.has('packed_4x8_integer_dot_product') && 'packed_4x8_integer_dot_product',
      ].filter(Boolean);
      const device = await adapter.requestDevice({
        requiredFeatures: used.includes('subgroups') ? ['subgroups'] : [],
        requiredLimits: {
          maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
          maxBufferSize: adapter.limits.maxBufferSize,
        },
      });
      const { vendor, architecture, device: name, description } = adapter.info ?? {};
      return new Backend(device, { vendor, architecture, device: name, description }, used);
    },
  };
})();
