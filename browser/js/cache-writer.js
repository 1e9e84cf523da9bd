// The model cache's file writer: a worker of the runtime's worker that
// writes component files to the origin private file system through sync
// access handles, so that the writes run beside the load, not in its
// thread. ModelCache (model-cache.js) starts it and speaks to it with
//
//   {op: 'open', id, name, size}     → {id} once file name of size bytes is open, or {id, error}
//   {op: 'write', name, bytes, at}   → {wrote: n, bytes}: bytes (transferred, and back) written at each offset of at
//   {op: 'close', id, name}          → {id} once every write before it is done and the file closed,
//                                      or {id, error} naming the first write that failed
//   {op: 'abort', id, name}          → {id} once the file is closed and deleted
//
// in directory dir of the origin private file system (the first message's
// dir). Messages are handled in the order they arrive.
'use strict';

/** @type {Map<string, {handle: FileSystemSyncAccessHandle, error: string|null}>} the files open */
const files = new Map();
let dir = null;

async function directory(name) {
  dir ??= await (await navigator.storage.getDirectory()).getDirectoryHandle(name, { create: true });
  return dir;
}

async function handle(msg) {
  switch (msg.op) {
    case 'open': {
      const h = await (await (await directory(msg.dir)).getFileHandle(msg.name, { create: true })).createSyncAccessHandle();
      try {
        h.truncate(msg.size);
      } catch (err) {
        h.close();
        throw err;
      }
      files.set(msg.name, { handle: h, error: null });
      return;
    }
    case 'write': {
      const f = files.get(msg.name);
      if (f && !f.error) {
        try {
          for (const at of msg.at) {
            if (f.handle.write(msg.bytes, { at }) !== msg.bytes.length) throw new Error(`a short write at ${at}`);
          }
        } catch (err) {
          f.error = `${msg.name}: writing ${msg.bytes.length} bytes: ${err.message}`;
        }
      }
      self.postMessage({ wrote: msg.bytes.length, bytes: msg.bytes }, [msg.bytes.buffer]);
      return;
    }
    case 'close':
    case 'abort': {
      const f = files.get(msg.name);
      files.delete(msg.name);
      f?.handle.close();
      if (msg.op === 'abort') await (await directory(msg.dir)).removeEntry(msg.name).catch(() => {});
      if (f?.error) throw new Error(f.error);
      if (!f) throw new Error(`${msg.name} is not open`);
      return;
    }
    default:
      throw new Error(`unknown op ${JSON.stringify(msg.op)}`);
  }
}

let queue = Promise.resolve();
self.onmessage = ({ data: msg }) => {
  queue = queue.then(() => handle(msg)).then(
    () => msg.id !== undefined && self.postMessage({ id: msg.id }),
    (err) => msg.id !== undefined && self.postMessage({ id: msg.id, error: String(err?.message ?? err) }),
  );
};
