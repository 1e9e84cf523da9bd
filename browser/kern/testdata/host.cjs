// Runs a Go test binary compiled for js/wasm (argv[2]) in node as Go's
// wasm_exec_node.js does, with the kernels set up and attached as the
// runtime's worker (browser/js/worker.js) does, kernel workers being
// worker_threads (thread.cjs); go_js_wasm_exec calls it.
'use strict';

globalThis.require = require;
globalThis.fs = require('fs');
globalThis.path = require('path');
globalThis.TextEncoder = require('util').TextEncoder;
globalThis.TextDecoder = require('util').TextDecoder;
globalThis.performance ??= require('perf_hooks').performance;
globalThis.crypto ??= require('crypto');

require(process.env.WASM_EXEC);
require('../../js/kernels.js');

/** A kernel worker: a worker_thread behind a browser Worker's interface. */
function spawn() {
  const thread = new (require('worker_threads').Worker)(require('path').join(__dirname, 'thread.cjs'));
  const w = {
    postMessage: (msg) => thread.postMessage(msg),
    terminate: () => thread.terminate(),
    onmessage: null,
    onerror: null,
  };
  thread.on('message', (data) => w.onmessage?.({ data }));
  thread.on('error', (err) => w.onerror?.({ message: err.message }));
  thread.unref(); // the test binary's end ends the process
  return w;
}

(async () => {
  const { assemble } = await import('../../../scripts/build-kernels.mjs');
  const files = await assemble();
  const go = new Go();
  go.argv = process.argv.slice(2);
  go.env = { TMPDIR: require('os').tmpdir(), ...process.env };
  go.exit = process.exit;
  await AccelKernels.setup(go.importObject, async (name) => files[name], spawn);
  const { instance } = await WebAssembly.instantiate(fs.readFileSync(process.argv[2]), go.importObject);
  await AccelKernels.attach(instance);
  process.on('exit', (code) => { // node exits when no event is pending
    if (code === 0 && !go.exited) {
      // a deadlock: have Go print its error and stacks
      go._pendingEvent = { id: 0 };
      go._resume();
    }
  });
  await go.run(instance);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
