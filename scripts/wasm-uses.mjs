// Usage: node scripts/wasm-uses.mjs FILE...
//
// Prints what the WebAssembly modules FILE... (the runtime and its matrix
// kernels) use beyond scalar code on one thread, as JSON: {"simd": …,
// "threads": …}. simd: a function's signature or locals in one of them
// hold 128-bit vectors (v128), as SIMD code does; threads: a memory,
// defined or imported, is shared, which a second thread needs to run its
// code. scripts/build-sdk.sh builds this into the SDK for getCapabilities
// to report what the runtime uses.
import { readFileSync } from 'node:fs';

const V128 = 0x7b;

function moduleUses(bytes) {
  const uses = { simd: false, threads: false };
  let pos = 8; // past the magic number and the version
  const u32 = () => { // unsigned LEB128
    let n = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[pos++];
      n += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return n;
    }
  };
  const name = () => { const n = u32(); pos += n; };
  const valtype = () => { if (bytes[pos++] === V128) uses.simd = true; };
  const limits = () => { // whether they are a shared memory's
    const flags = bytes[pos++];
    u32();
    if (flags & 1) u32();
    return (flags & 2) !== 0;
  };
  while (pos < bytes.length) {
    const id = bytes[pos++];
    const size = u32();
    const end = pos + size;
    switch (id) {
      case 1: // types
        for (let n = u32(); n > 0; n--) {
          if (bytes[pos++] !== 0x60) throw new Error(`type at byte ${pos - 1} is not a function type`);
          for (let m = u32(); m > 0; m--) valtype(); // parameters
          for (let m = u32(); m > 0; m--) valtype(); // results
        }
        break;
      case 2: // imports
        for (let n = u32(); n > 0; n--) {
          name(); // module
          name(); // field
          const kind = bytes[pos++];
          if (kind === 0) u32(); // function: its type
          else if (kind === 1) { pos++; limits(); } // table
          else if (kind === 2) uses.threads = limits() || uses.threads; // memory
          else if (kind === 3) { valtype(); pos++; } // global
          else throw new Error(`import of kind ${kind} at byte ${pos - 1}`);
        }
        break;
      case 5: // memories
        for (let n = u32(); n > 0; n--) uses.threads = limits() || uses.threads;
        break;
      case 10: // code
        for (let n = u32(); n > 0; n--) {
          const bodyEnd = u32() + pos;
          for (let m = u32(); m > 0; m--) { u32(); valtype(); } // locals
          pos = bodyEnd;
        }
        break;
      default:
        pos = end;
    }
    if (pos !== end) throw new Error(`section ${id} ends at byte ${end}, its contents at ${pos}`);
  }
  return uses;
}

const uses = { simd: false, threads: false };
for (const file of process.argv.slice(2)) {
  const u = moduleUses(readFileSync(file));
  uses.simd ||= u.simd;
  uses.threads ||= u.threads;
}
console.log(JSON.stringify(uses));
