// A kernel worker, one of the T−1 threads of a kernels.js Pool (a classic
// worker script; the kernel tests' node host runs it in a worker_thread).
// Told {module, memory, ctrl, id}, it instantiates the arena kernels on the
// pool's shared memory, says 'ready', and runs worker_loop — parts of every
// job the runtime's thread publishes — until the pool stops.
'use strict';

self.onmessage = ({ data: { module, memory, ctrl, id } }) => {
  self.onmessage = null;
  const kernels = new WebAssembly.Instance(module, { env: { mem: memory } }).exports;
  self.postMessage('ready');
  kernels.worker_loop(ctrl, id);
  self.close();
};
