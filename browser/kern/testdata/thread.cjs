// A node worker_thread as a browser's worker scope (self, postMessage,
// onmessage, close) for browser/js/kernel-worker.js, which it runs:
// host.cjs's kernel workers.
'use strict';

const { parentPort } = require('worker_threads');

globalThis.self = globalThis;
self.postMessage = (msg) => parentPort.postMessage(msg);
self.close = () => process.exit(0);
parentPort.on('message', (data) => self.onmessage?.({ data }));
require('../../js/kernel-worker.js');
