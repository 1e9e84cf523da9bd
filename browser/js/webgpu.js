// The runtime's WebGPU backend, loaded in the worker with importScripts:
// self.AccelWebGPU.open() resolves with a backend that holds weight
// matrices on the GPU (as f32) and computes their products with the
// inputs the runtime passes, one compute pass for several matrices. The Go
// runtime (browser/wasm/webgpu.go) places a model's matrices on it and
// checks it against its own kernels before use.
'use strict';

self.AccelWebGPU = (() => {
  // y[t×rows + r] = W[r] · x[t]: one invocation per output value.
  const MATMUL = `
struct Shape { rows: u32, cols: u32, n: u32, stride: u32 }
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> shape: Shape;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.y * shape.stride + id.x;
  if (i >= shape.rows * shape.n) { return; }
  let t = i / shape.rows;
  let r = i % shape.rows;
  var acc = 0.0;
  for (var c = 0u; c < shape.cols; c++) {
    acc += w[r * shape.cols + c] * x[t * shape.cols + c];
  }
  y[i] = acc;
}`;
  const WORKGROUP = 64;

  class Backend {
    #device;
    #pipeline;
    #matrices = new Map(); // id → {buffer, rows, cols}
    #nextId = 1;

    constructor(device, pipeline, adapterInfo) {
      this.#device = device;
      this.#pipeline = pipeline;
      /** The adapter's {vendor, architecture, device, description}. */
      this.adapter = adapterInfo;
    }

    /** Uploads a rows×cols f32 matrix; resolves with its id, or rejects when the GPU cannot hold it. */
    async upload(values, rows, cols) {
      if (values.length !== rows * cols) throw new Error(`webgpu: ${values.length} values are not a ${rows}×${cols} matrix`);
      this.#fits(values.byteLength, `a ${rows}×${cols} matrix`);
      const buffer = await this.#checked(() => {
        const b = this.#device.createBuffer({ size: values.byteLength, usage: GPUBufferUsage.STORAGE, mappedAtCreation: true });
        new Float32Array(b.getMappedRange()).set(values);
        b.unmap();
        return b;
      });
      const id = this.#nextId++;
      this.#matrices.set(id, { buffer, rows, cols });
      return id;
    }

    /** Frees matrix id's GPU memory. */
    release(id) {
      this.#matrices.get(id)?.buffer.destroy();
      this.#matrices.delete(id);
    }

    /** Frees the device and everything on it. */
    destroy() {
      this.#matrices.clear();
      this.#device.destroy();
    }

    /**
     * Resolves with one Float32Array per matrix of ids: the products of
     * the matrix with the n vectors of x (n×cols values), n×rows values.
     * Rejects on any GPU error (the caller computes them elsewhere).
     */
    async matmul(ids, x, n) {
      const device = this.#device;
      const temporary = [];
      const buffer = (size, usage) => {
        const b = device.createBuffer({ size, usage });
        temporary.push(b);
        return b;
      };
      try {
        this.#fits(x.byteLength, `an input of ${x.length} values`);
        const reads = await this.#checked(() => {
          const input = buffer(x.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
          device.queue.writeBuffer(input, 0, x);
          const encoder = device.createCommandEncoder();
          const out = ids.map((id) => {
            const m = this.#matrices.get(id);
            if (!m) throw new Error(`webgpu: no matrix ${id}`);
            if (x.length !== n * m.cols) throw new Error(`webgpu: ${x.length} inputs are not ${n} vectors of ${m.cols}`);
            const size = n * m.rows * 4;
            this.#fits(size, `an output of ${n}×${m.rows} values`);
            const output = buffer(size, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
            const read = buffer(size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
            const groups = Math.ceil((n * m.rows) / WORKGROUP);
            const wide = Math.min(groups, 65535);
            const shape = buffer(16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
            device.queue.writeBuffer(shape, 0, new Uint32Array([m.rows, m.cols, n, wide * WORKGROUP]));
            const pass = encoder.beginComputePass();
            pass.setPipeline(this.#pipeline);
            pass.setBindGroup(0, device.createBindGroup({
              layout: this.#pipeline.getBindGroupLayout(0),
              entries: [m.buffer, input, output, shape].map((b, binding) => ({ binding, resource: { buffer: b } })),
            }));
            pass.dispatchWorkgroups(wide, Math.ceil(groups / wide));
            pass.end();
            encoder.copyBufferToBuffer(output, 0, read, 0, size);
            return read;
          });
          device.queue.submit([encoder.finish()]);
          return out;
        });
        return await Promise.all(reads.map(async (read) => {
          await read.mapAsync(GPUMapMode.READ);
          return new Float32Array(read.getMappedRange().slice(0));
        }));
      } finally {
        for (const b of temporary) b.destroy();
      }
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
    /** Resolves with a Backend on the browser's WebGPU adapter, or rejects saying why there is none. */
    async open() {
      if (!self.navigator?.gpu) throw new Error('webgpu: navigator.gpu is missing in the worker');
      const adapter = await navigator.gpu.requestAdapter();
      if (!adapter) throw new Error('webgpu: requestAdapter() found no adapter');
      const device = await adapter.requestDevice({
        requiredLimits: {
          maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
          maxBufferSize: adapter.limits.maxBufferSize,
        },
      });
      const module = device.createShaderModule({ code: MATMUL });
      const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      const { vendor, architecture, device: name, description } = adapter.info ?? {};
      return new Backend(device, pipeline, { vendor, architecture, device: name, description });
    },
  };
})();
