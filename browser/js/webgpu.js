// The runtime's WebGPU backend, loaded in the worker with importScripts:
// self.AccelWebGPU.open() resolves with a backend that holds weight
// matrices on the GPU as they are stored (inference/quant's row layouts,
// byte for byte) and computes their products with the inputs the runtime
// passes: the products of one call in one compute pass, read back at once.
// It also runs whole decode steps resident (Sequence): the layers' norms,
// products, rotary embeddings, attention over a KV cache held on the GPU,
// SwiGLU and residuals, and the final norm and classifier, in one command
// buffer with one readback. The Go runtime (browser/wasm/webgpu.go) places
// a model's matrices on it and checks each format, and each layer's step,
// against its own kernels before use.
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


  // The kernels of the resident step, inference/llama's rows.layer on the
  // GPU: a pass runs rows t < n, row t being position pos + t. Each reads
  // its parameters from p (at most 32 bytes); the activations of the
  // products are the matrix kernels' a (f32 values, then 8-bit blocks).
  // wgsum and wgmax combine a value of every invocation of the workgroup
  // and give the result to all, with subgroup operations where the adapter
  // has them (a kernel that calls them has /*ARGS*/ in its entry point's
  // parameters and /*INIT*/ first in its body).
  const REDUCE = {
    subgroups: {
      enable: 'enable subgroups;',
      args: ', @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32, @builtin(num_subgroups) count: u32',
      init: 'subgroup = vec3(sg, lane, count);',
      code: `
// The invocation's subgroup, its place in it, and the workgroup's subgroups.
var<private> subgroup: vec3<u32>;

fn wgsum(v: f32, i: u32) -> f32 {
  let s = subgroupAdd(v);
  if (subgroup.y == 0u) { red[subgroup.x] = s; }
  workgroupBarrier();
  var total = 0.0;
  for (var k = 0u; k < subgroup.z; k++) { total += red[k]; }
  workgroupBarrier();
  return total;
}

fn wgmax(v: f32, i: u32) -> f32 {
  let s = subgroupMax(v);
  if (subgroup.y == 0u) { red[subgroup.x] = s; }
  workgroupBarrier();
  var top = red[0];
  for (var k = 1u; k < subgroup.z; k++) { top = max(top, red[k]); }
  workgroupBarrier();
  return top;
}`,
    },
    shared: {
      enable: '',
      args: '',
      init: '',
      code: `
fn wgsum(v: f32, i: u32) -> f32 {
  red[i] = v;
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    workgroupBarrier();
    if (i < s) { red[i] += red[i + s]; }
  }
  workgroupBarrier();
  let total = red[0];
  workgroupBarrier();
  return total;
}

fn wgmax(v: f32, i: u32) -> f32 {
  red[i] = v;
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    workgroupBarrier();
    if (i < s) { red[i] = max(red[i], red[i + s]); }
  }
  workgroupBarrier();
  let top = red[0];
  workgroupBarrier();
  return top;
}`,
    },
  };

  // stepSource is the WGSL of step kernel name with the reductions chosen.
  function stepSource(name, features) {
    const reduce = REDUCE[features.includes('subgroups') ? 'subgroups' : 'shared'];
    return `${reduce.enable}
const WG = ${WORKGROUP}u;

var<workgroup> red: array<f32, WG>;
${reduce.code}
${STEP_KERNELS[name].replace('/*ARGS*/', reduce.args).replace('/*INIT*/', reduce.init)}`;
  }

  const STEP_KERNELS = {
    // rmsnorm: out row t = weight ⊙ x row first+t / rms (one workgroup a row).
    rmsnorm: `
struct P { n: u32, dim: u32, first: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) i: u32/*ARGS*/) {
  /*INIT*/
  let src = (p.first + wg.x) * p.dim;
  var ss = 0.0;
  for (var c = i; c < p.dim; c += WG) {
    let v = x[src + c];
    ss += v * v;
  }
  let scale = 1.0 / sqrt(wgsum(ss, i) / f32(p.dim) + p.eps);
  for (var c = i; c < p.dim; c += WG) {
    out[wg.x * p.dim + c] = weight[c] * (scale * x[src + c]);
  }
}`,
    // quantize: the 8-bit blocks of n vectors of cols values (quant.Batch.Q8),
    // one invocation a block.
    quantize: `
struct P { n: u32, cols: u32 }
@group(0) @binding(0) var<storage, read_write> a: array<u32>;
@group(0) @binding(1) var<uniform> p: P;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let nb = (p.cols + 31u) / 32u;
  let e = id.x; // block e % nb of vector e / nb
  if (e >= p.n * nb) { return; }
  let first = e / nb * p.cols + e % nb * 32u;
  let last = (e / nb + 1u) * p.cols;
  var amax = 0.0;
  for (var c = first; c < min(first + 32u, last); c++) {
    amax = max(amax, abs(bitcast<f32>(a[c])));
  }
  var scale = 0.0;
  var inv = 0.0;
  if (amax != 0.0) {
    scale = amax / 127.0;
    inv = 1.0 / scale;
  }
  var sum = 0i;
  for (var j = 0u; j < 8u; j++) {
    var word = 0u;
    for (var k = 0u; k < 4u; k++) {
      let c = first + 4u * j + k;
      if (c < last) {
        let r = i32(round(bitcast<f32>(a[c]) * inv));
        sum += r;
        word |= (bitcast<u32>(r) & 0xffu) << (8u * k);
      }
    }
    a[p.n * p.cols + e * 8u + j] = word;
  }
  a[p.n * (p.cols + 8u * nb) + e] = bitcast<u32>(scale);
  a[p.n * (p.cols + 9u * nb) + e] = bitcast<u32>(sum);
}`,
    // rope: rotates row t's queries and keys (y: n×qdim queries, n×kvdim
    // keys, n×kvdim values) by position pos+t's table (cos n×half, then
    // sin), then stores its key and value in the cache's slot pos+t.
    rope: `
struct P { n: u32, pos: u32, qdim: u32, kvdim: u32, head_dim: u32, half: u32 }
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read_write> kc: array<f32>;
@group(0) @binding(3) var<storage, read_write> vc: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

// rotate turns pair k of the head at o by row t's angle.
fn rotate(o: u32, t: u32, k: u32) {
  let c = table[t * p.half + k];
  let s = table[(p.n + t) * p.half + k];
  let a = y[o + 2u * k];
  let b = y[o + 2u * k + 1u];
  y[o + 2u * k] = a * c - b * s;
  y[o + 2u * k + 1u] = a * s + b * c;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) i: u32) {
  let t = wg.x;
  let q = t * p.qdim;
  let k = p.n * p.qdim + t * p.kvdim;
  let v = p.n * (p.qdim + p.kvdim) + t * p.kvdim;
  let qpairs = p.qdim / p.head_dim * p.half;
  for (var e = i; e < qpairs + p.kvdim / p.head_dim * p.half; e += WG) {
    if (e < qpairs) {
      rotate(q + e / p.half * p.head_dim, t, e % p.half);
    } else {
      rotate(k + (e - qpairs) / p.half * p.head_dim, t, (e - qpairs) % p.half);
    }
  }
  storageBarrier();
  let slot = (p.pos + t) * p.kvdim;
  for (var c = i; c < p.kvdim; c += WG) {
    kc[slot + c] = y[k + c];
    vc[slot + c] = y[v + c];
  }
}`,
    // attention: query head h of row t (workgroup (h, t)) over the cached
    // positions 0…pos+t, as Session.attend: scores, softmax, then the sum
    // of the values weighted by them, into out (n×qdim).
    attention: `
struct P { n: u32, pos: u32, qdim: u32, kvdim: u32, head_dim: u32, group: u32, stride: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> kc: array<f32>;
@group(0) @binding(2) var<storage, read> vc: array<f32>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> p: P;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) i: u32/*ARGS*/) {
  /*INIT*/
  let h = wg.x;
  let t = wg.y;
  let ctx = p.pos + t + 1u;
  let kv = h / p.group * p.head_dim;
  let q = t * p.qdim + h * p.head_dim;
  let base = (t * p.qdim / p.head_dim + h) * p.stride;
  var m = bitcast<f32>(0xff7fffffu); // the lowest f32
  for (var j = i; j < ctx; j += WG) {
    var s = 0.0;
    for (var d = 0u; d < p.head_dim; d++) { s += y[q + d] * kc[j * p.kvdim + kv + d]; }
    s *= p.scale;
    scores[base + j] = s;
    m = max(m, s);
  }
  m = wgmax(m, i);
  var sum = 0.0;
  for (var j = i; j < ctx; j += WG) {
    let e = exp(scores[base + j] - m);
    scores[base + j] = e;
    sum += e;
  }
  sum = wgsum(sum, i);
  for (var j = i; j < ctx; j += WG) { scores[base + j] /= sum; }
  storageBarrier();
  for (var d = i; d < p.head_dim; d += WG) {
    var acc = 0.0;
    for (var j = 0u; j < ctx; j++) { acc += scores[base + j] * vc[j * p.kvdim + kv + d]; }
    out[q + d] = acc;
  }
}`,
    // add: h += y, count values.
    add: `
struct P { count: u32 }
@group(0) @binding(0) var<storage, read_write> h: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var e = id.x; e < p.count; e += groups.x * WG) { h[e] += y[e]; }
}`,
    // swiglu: out = silu(gate) ⊙ up, y holding count gate values, then
    // count up values.
    swiglu: `
struct P { count: u32 }
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: P;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var e = id.x; e < p.count; e += groups.x * WG) {
    let g = y[e];
    out[e] = g / (1.0 + exp(-g)) * y[p.count + e];
  }
}`,
  };

  // The kernels whose products read the 8-bit blocks of the activations.
  const READS_Q8 = new Set(['q8_0', 'q4_0', 'int8', 'int4', 'int3', 'int2']);
  // The most dispatches a pass records for a layer (norms, quantizing,
  // seven products, rope, attention, residuals, SwiGLU) and for the head.
  const LAYER_DISPATCHES = 18;
  const HEAD_DISPATCHES = 3;
  // The most bytes a pass's buffers of one row per position take
  // (activations, products, attention scores): a longer prompt runs in
  // several passes.
  const PASS_BYTES = 64 * 2 ** 20;

  /**
   * A sequence's resident decode step: the layers it takes and the head
   * (final norm and classifier, when given) run on the GPU over a KV cache
   * of their own, which grows as positions arrive, up to context. A pass
   * uploads the hidden states and rotary tables, records every kernel in
   * one command buffer, and reads back one thing: the last position's
   * logits, or the hidden states. Runs must not overlap.
   */
  class Sequence {
    #device;
    #layout; // the matrix kernels' bind group layout
    #pipelines; // step kernel name → {pipeline, layout}
    #checked;
    #onDestroy;
    #c; // {dim, hidden, heads, kvHeads, headDim, ropeDim, vocab, eps, context}
    #layers; // layer → {attnNorm, q, k, v, o, ffnNorm, gate, up, down} (matrix records), or null
    #head; // {norm, output} or null
    #scratch = {}; // h, table, xa, y, read, scores, uniforms
    #capacity = 0; // positions the KV cache holds
    #kv = new Map(); // layer → {k, v}
    // The bind groups of each kind of pass ('from:to:logits'), in dispatch
    // order: a pass of a kind binds the same buffers and uniform slots
    // until a buffer is replaced.
    #groups = new Map();
    #passes = 0;

    constructor(device, layout, pipelines, checked, onDestroy, config, layers, head) {
      this.#device = device;
      this.#layout = layout;
      this.#pipelines = pipelines;
      this.#checked = checked;
      this.#onDestroy = onDestroy;
      this.#c = config;
      this.#layers = layers;
      this.#head = head;
    }

    /** The passes run so far, each one command buffer and one readback. */
    get passes() {
      return this.#passes;
    }

    /** GPU memory of the KV cache, in bytes. */
    get kvBytes() {
      let n = 0;
      for (const { k, v } of this.#kv.values()) n += k.size + v.size;
      return n;
    }

    /** GPU memory of the activations and scratch space, in bytes. */
    get scratchBytes() {
      return Object.values(this.#scratch).reduce((n, b) => n + b.size, 0);
    }

    /**
     * Runs layers [from, to) — and the head after them when logits — on
     * n positions pos… whose input is a Uint8Array: the hidden states
     * (n×dim f32), then the rotary tables (n×ropeDim/2 cos, then as many
     * sin). Resolves with the logits of the last position (vocab values)
     * when logits, else with the hidden states after layer to−1. Rejects
     * on any GPU error. A pass holds at most PASS_BYTES of activations and
     * attention scores: a longer prompt runs in passes of consecutive
     * positions, each through every layer (the same, attention being
     * causal).
     */
    async run(from, to, pos, n, input, logits) {
      const c = this.#c;
      const half = c.ropeDim / 2;
      if (pos + n > c.context || input.byteLength !== 4 * n * (c.dim + 2 * half)) {
        throw new Error(`webgpu: a pass of ${n} positions at ${pos} (${input.byteLength} bytes of input) in a context of ${c.context}`);
      }
      for (let l = from; l < to; l++) {
        if (!this.#layers[l]) throw new Error(`webgpu: the sequence does not hold layer ${l}`);
      }
      if (logits && !this.#head) throw new Error('webgpu: the sequence does not hold the head');
      const qdim = c.heads * c.headDim;
      const width = Math.max(c.dim, qdim, c.hidden);
      const rowBytes = 4 * Math.max(width + 10 * Math.ceil(width / 32), qdim + 2 * c.kvHeads * c.headDim, 2 * c.hidden, c.heads * (pos + n));
      const rows = Math.max(1, Math.floor(PASS_BYTES / rowBytes));
      if (rows >= n) return this.#pass(from, to, pos, n, input, logits);
      const values = new Float32Array(input.buffer, input.byteOffset, input.byteLength / 4);
      const hidden = new Float32Array(n * c.dim);
      for (let t = 0; t < n; t += rows) {
        const m = Math.min(rows, n - t);
        const part = new Float32Array(m * (c.dim + 2 * half));
        part.set(values.subarray(t * c.dim, (t + m) * c.dim));
        part.set(values.subarray(n * c.dim + t * half, n * c.dim + (t + m) * half), m * c.dim);
        part.set(values.subarray(n * (c.dim + half) + t * half, n * (c.dim + half) + (t + m) * half), m * (c.dim + half));
        const last = t + m === n;
        const out = await this.#pass(from, to, pos + t, m, new Uint8Array(part.buffer), logits && last);
        if (logits && last) return out;
        hidden.set(out, t * c.dim);
      }
      return hidden;
    }

    /** Runs one pass of run: n positions whose activations fit PASS_BYTES. */
    async #pass(from, to, pos, n, input, logits) {
      const c = this.#c;
      const half = c.ropeDim / 2;
      const device = this.#device;
      const stale = [];
      const readBytes = 4 * (logits ? c.vocab : n * c.dim);
      const s = this.#scratch;
      try {
        await this.#checked(() => {
          const encoder = device.createCommandEncoder();
          this.#reserve(n, pos + n, encoder, stale);
          device.queue.writeBuffer(s.h, 0, input, 0, 4 * n * c.dim);
          device.queue.writeBuffer(s.table, 0, input, 4 * n * c.dim, 8 * n * half);
          const words = [];
          const kind = `${from}:${to}:${logits}`;
          if (!this.#groups.has(kind)) this.#groups.set(kind, []);
          const groups = this.#groups.get(kind);
          const pass = encoder.beginComputePass();
          const dispatch = (pipeline, layout, buffers, params, x, y = 1, z = 1) => {
            const slot = words.length;
            words.push(params);
            pass.setPipeline(pipeline);
            groups[slot] ??= device.createBindGroup({
              layout,
              entries: [...buffers.map((buffer) => ({ buffer })), { buffer: s.uniforms, offset: slot * SHAPE_STRIDE, size: 32 }]
                .map((resource, binding) => ({ binding, resource })),
            });
            pass.setBindGroup(0, groups[slot]);
            pass.dispatchWorkgroups(x, y, z);
          };
          const step = (name, buffers, params, x, y = 1) => {
            const { pipeline, layout } = this.#pipelines.get(name);
            dispatch(pipeline, layout, buffers, params, x, y);
          };
          const f32 = (v) => new Uint32Array(new Float32Array([v]).buffer)[0];
          const spread = (count) => Math.min(Math.ceil(count / WORKGROUP), MAX_GROUPS);
          // products: y = W·xa of each matrix, one after the other.
          const products = (ms, rows, cols) => {
            if (ms.some((m) => READS_Q8.has(m.kernel))) {
              step('quantize', [s.xa], [rows, cols], spread(rows * Math.ceil(cols / 32)));
            }
            let out = 0;
            for (const m of ms) {
              const wide = Math.min(m.rows, MAX_GROUPS);
              dispatch(m.pipeline, this.#layout, [m.buffer, s.xa, s.y], [m.rows, cols, rows, m.rowBytes, out, m.group, m.asym, wide],
                wide, Math.ceil(m.rows / wide), rows);
              out += rows * m.rows;
            }
          };
          const qdim = c.heads * c.headDim;
          const kvdim = c.kvHeads * c.headDim;
          for (let l = from; l < to; l++) {
            const L = this.#layers[l];
            const { k, v } = this.#kv.get(l);
            step('rmsnorm', [s.h, L.attnNorm.buffer, s.xa], [n, c.dim, 0, f32(c.eps)], n);
            products([L.q, L.k, L.v], n, c.dim);
            step('rope', [s.y, s.table, k, v], [n, pos, qdim, kvdim, c.headDim, half], n);
            step('attention', [s.y, k, v, s.scores, s.xa],
              [n, pos, qdim, kvdim, c.headDim, c.heads / c.kvHeads, pos + n, f32(1 / Math.sqrt(c.headDim))], c.heads, n);
            products([L.o], n, qdim);
            step('add', [s.h, s.y], [n * c.dim], spread(n * c.dim));
            step('rmsnorm', [s.h, L.ffnNorm.buffer, s.xa], [n, c.dim, 0, f32(c.eps)], n);
            products([L.gate, L.up], n, c.dim);
            step('swiglu', [s.y, s.xa], [n * c.hidden], spread(n * c.hidden));
            products([L.down], n, c.hidden);
            step('add', [s.h, s.y], [n * c.dim], spread(n * c.dim));
          }
          if (logits) {
            step('rmsnorm', [s.h, this.#head.norm.buffer, s.xa], [1, c.dim, n - 1, f32(c.eps)], 1);
            products([this.#head.output], 1, c.dim);
          }
          pass.end();
          encoder.copyBufferToBuffer(logits ? s.y : s.h, 0, s.read, 0, readBytes);
          const data = new Uint32Array(words.length * SHAPE_STRIDE / 4);
          words.forEach((w, i) => data.set(w, i * SHAPE_STRIDE / 4));
          device.queue.writeBuffer(s.uniforms, 0, data);
          device.queue.submit([encoder.finish()]);
        });
        this.#passes++;
        await s.read.mapAsync(GPUMapMode.READ, 0, readBytes);
        const out = new Float32Array(s.read.getMappedRange(0, readBytes).slice(0));
        s.read.unmap();
        return out;
      } finally {
        for (const b of stale) b.destroy();
      }
    }

    /**
     * Makes room for a pass of n positions ending at end: scratch space
     * for n rows at least (a buffer that grows drops what it held), and a
     * KV cache of end positions at least, its content copied by encoder
     * into larger buffers. Buffers replaced go to stale, to destroy once
     * the pass is done.
     */
    #reserve(n, end, encoder, stale) {
      const c = this.#c;
      const s = this.#scratch;
      const make = (name, size, usage) => {
        if (s[name] && s[name].size >= size) return;
        if (s[name]) stale.push(s[name]);
        s[name] = this.#buffer(size, usage);
        this.#groups.clear();
      };
      const storage = GPUBufferUsage.STORAGE;
      const qdim = c.heads * c.headDim;
      const kvdim = c.kvHeads * c.headDim;
      const width = Math.max(c.dim, qdim, c.hidden);
      make('h', 4 * n * c.dim, storage | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
      make('table', 4 * n * c.ropeDim, storage | GPUBufferUsage.COPY_DST);
      make('xa', 4 * n * (width + 10 * Math.ceil(width / 32)), storage);
      make('y', 4 * Math.max(n * Math.max(qdim + 2 * kvdim, 2 * c.hidden, c.dim), c.vocab), storage | GPUBufferUsage.COPY_SRC);
      make('read', 4 * Math.max(n * c.dim, c.vocab), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
      make('scores', 4 * n * c.heads * end, storage);
      make('uniforms', SHAPE_STRIDE * (LAYER_DISPATCHES * this.#layers.length + HEAD_DISPATCHES), GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      if (end <= this.#capacity) return;
      const capacity = Math.min(c.context, Math.max(end, 2 * this.#capacity, 16));
      const size = 4 * capacity * kvdim;
      const usage = storage | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
      this.#layers.forEach((layer, l) => {
        if (!layer) return;
        const old = this.#kv.get(l);
        const grown = { k: this.#buffer(size, usage), v: this.#buffer(size, usage) };
        if (old) {
          encoder.copyBufferToBuffer(old.k, 0, grown.k, 0, old.k.size);
          encoder.copyBufferToBuffer(old.v, 0, grown.v, 0, old.v.size);
          stale.push(old.k, old.v);
        }
        this.#kv.set(l, grown);
      });
      this.#capacity = capacity;
      this.#groups.clear();
    }

    /** A new buffer of size bytes, within the device's limits. */
    #buffer(size, usage) {
      const { maxBufferSize, maxStorageBufferBindingSize } = this.#device.limits;
      if (size > Math.min(maxBufferSize, maxStorageBufferBindingSize)) {
        throw new Error(`webgpu: a buffer of ${size} bytes is over the device's buffer limit`);
      }
      return this.#device.createBuffer({ size, usage });
    }

    /** Frees the sequence's KV cache and scratch space. */
    destroy() {
      for (const b of Object.values(this.#scratch)) b.destroy();
      for (const { k, v } of this.#kv.values()) {
        k.destroy();
        v.destroy();
      }
      this.#scratch = {};
      this.#kv.clear();
      this.#groups.clear();
      this.#capacity = 0;
      this.#onDestroy(this);
    }
  }

  class Backend {
    #device;
    #layout; // every kernel's bind group layout
    #pipelines = new Map(); // kernel name → Promise<GPUComputePipeline>
    #matrices = new Map(); // id → {buffer, pipeline, kernel, rows, cols, rowBytes, group, asym}, or {buffer} for a vector
    #sequences = new Set();
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
      this.#matrices.set(id, { buffer, pipeline, kernel, rows, cols, rowBytes, group, asym: asym ? 1 : 0 });
      this.#bytes += size;
      return id;
    }

    /**
     * Uploads a vector of weights (a Float32Array: a norm's) for the
     * resident step. Resolves with its id (release frees it).
     */
    async uploadVector(values) {
      this.#fits(values.byteLength, `a vector of ${values.length} values`);
      const buffer = await this.#checked(() => {
        const b = this.#device.createBuffer({ size: values.byteLength, usage: GPUBufferUsage.STORAGE, mappedAtCreation: true });
        new Float32Array(b.getMappedRange()).set(values);
        b.unmap();
        return b;
      });
      const id = this.#nextId++;
      this.#matrices.set(id, { buffer });
      this.#bytes += buffer.size;
      return id;
    }

    /**
     * Resolves with a Sequence for config = {dim, hidden, heads, kvHeads,
     * headDim, ropeDim, vocab, eps, context}: the hyperparameters and the
     * positions it may hold. layers[l] is null or, for a layer it runs,
     * {attnNorm, q, k, v, o, ffnNorm, gate, up, down}: the ids of its
     * vectors and matrices; head is null or {norm, output}.
     */
    async sequence(config, layers, head) {
      const device = this.#device;
      const record = (id) => {
        const m = this.#matrices.get(id);
        if (!m) throw new Error(`webgpu: no matrix or vector ${id}`);
        return m;
      };
      const resolve = (ids) => ids && Object.fromEntries(Object.entries(ids).map(([name, id]) => [name, record(id)]));
      const pipelines = new Map();
      for (const name of Object.keys(STEP_KERNELS)) {
        const pipeline = await this.#pipeline(name);
        pipelines.set(name, { pipeline, layout: pipeline.getBindGroupLayout(0) });
      }
      const seq = new Sequence(device, this.#layout, pipelines, (work) => this.#checked(work), (done) => this.#sequences.delete(done),
        config, Array.from(layers, resolve), resolve(head));
      this.#sequences.add(seq);
      return seq;
    }

    /** The GPU memory the open sequences' KV caches take, in bytes. */
    get kvBytes() {
      let n = 0;
      for (const seq of this.#sequences) n += seq.kvBytes;
      return n;
    }

    /** The GPU memory the open sequences' activations and scratch space take, in bytes. */
    get scratchBytes() {
      let n = 0;
      for (const seq of this.#sequences) n += seq.scratchBytes;
      return n;
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
      for (const seq of this.#sequences) seq.destroy();
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

    /**
     * Resolves with kernel name's pipeline, compiled once: a matrix
     * kernel's, on the matrix kernels' layout, or a step kernel's.
     */
    #pipeline(name) {
      if (!this.#pipelines.has(name)) {
        const step = STEP_KERNELS[name];
        const module = this.#device.createShaderModule({ code: step ? stepSource(name, this.features) : source(name, this.features) });
        this.#pipelines.set(name, this.#device.createComputePipelineAsync({
          layout: step ? 'auto' : this.#device.createPipelineLayout({ bindGroupLayouts: [this.#layout] }),
          compute: { module, entryPoint: 'main' },
        }).catch(async (err) => {
          // The compiler's messages say more than the pipeline's error.
          const { messages } = await module.getCompilationInfo();
          const errors = messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos}: ${m.message}`);
          throw new Error(`webgpu: kernel ${name}: ${errors.length ? errors.join('; ') : err.message}`);
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
