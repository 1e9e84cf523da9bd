// The runtime's matrix kernels (browser/kernels, assembled into kernels/
// by scripts/build-kernels.mjs): WebAssembly SIMD code that works on the Go
// runtime's own memory, called by Go (browser/kern) through a shim's table,
// with no JavaScript on the way. A classic script: worker.js imports it,
// and so does the kernel tests' node host.
//
//   await AccelKernels.setup(go.importObject, load)  before Go's module is instantiated
//   await AccelKernels.attach(instance)               after, before go.run(instance)
//   AccelKernels.levels()                             the levels attached, best first
//
// load(name) resolves with the bytes of kernels/<name>. Levels the engine
// does not validate (relaxed SIMD is new) are left out; without any — or
// without the files — the runtime keeps its Go kernels.
'use strict';

(() => {
  // The kernel levels, best first; a level's index is its slot in the
  // shim's table, the number browser/kern passes.
  const LEVELS = ['relaxed', 'simd128'];
  let shim = null;
  let modules = []; // [level, WebAssembly.Module] validated by this engine
  const attached = [];

  globalThis.AccelKernels = {
    async setup(importObject, load) {
      // Never called without a level attached; set so that Go's module
      // links whatever happens below.
      importObject.accelkern = { matmul: () => -1 };
      try {
        shim = (await WebAssembly.instantiate(await load('shim.wasm'))).instance;
        for (const level of LEVELS) {
          const bytes = await load(`${level}.wasm`);
          if (WebAssembly.validate(bytes)) modules.push([level, await WebAssembly.compile(bytes)]);
        }
        importObject.accelkern = { matmul: shim.exports.matmul };
      } catch (err) {
        console.warn(`accel kernels: ${err.message}; the runtime uses its Go kernels`);
        modules = [];
      }
    },

    async attach(instance) {
      for (const [level, module] of modules) {
        const kernels = await WebAssembly.instantiate(module, { env: { mem: instance.exports.mem } });
        shim.exports.table.set(LEVELS.indexOf(level), kernels.exports.matmul);
        attached.push(level);
      }
    },

    levels() {
      return [...attached];
    },
  };
})();
