// The accel runtime's Web Worker (a classic worker): it starts the Go
// runtime (accel.wasm, with Go's wasm_exec.js, both in this worker's
// directory) and relays messages between the page and globalThis.accelRuntime.
//
// Requests carry an id that every reply repeats:
//   {type:'load', id, cid, gateway?}  → (gateway: a URL or a list of them)
//                                      {type:'progress', id, fraction, component, bytes}*
//                                        {type:'componentLoaded', id, component, loadingTimeMs}*
//                                        then {type:'loaded', id, info} or {type:'error', id, message}
//   {type:'generate', id, prompt, opts} → {type:'token', id, text}*
//                                        then {type:'done', id, text} or {type:'error', id, message}
//   {type:'memory', id}               → {type:'memory', id, usage} or {type:'error', id, message}
// info is {components, bytes, architecture, requests, cached}: requests
// counts the block requests made to the network, cached the blocks read
// from the browser cache. Blocks come from the cache, else from gateway
// (default: this worker's origin) as GET /ipfs/<cid>?format=raw; the
// runtime verifies each against its CID — cached ones too — and asks again
// for one that does not match or does not arrive within BLOCK_TIMEOUT_MS.
// Only blocks the runtime verified enter the cache (Cache Storage, keyed by
// CID); a cached block that fails verification is deleted and fetched
// from the network instead.
'use strict';

importScripts('wasm_exec.js');

const BLOCK_TIMEOUT_MS = 30000;

const runtime = (async () => {
  const go = new Go();
  const response = await fetch(new URL('accel.wasm', self.location.href));
  if (!response.ok) throw new Error(`accel.wasm: HTTP ${response.status}`);
  const { instance } = await WebAssembly.instantiate(await response.arrayBuffer(), go.importObject);
  go.run(instance).then(() => { self.accelRuntime = undefined; });
  if (!self.accelRuntime) throw new Error('accel.wasm did not register accelRuntime');
  return self.accelRuntime;
})();

const CACHE_NAME = 'accel-blocks-v1';

/** The Cache Storage key of a block. */
function cacheKey(cid) {
  return new URL(`/accel-block/${cid}`, self.location.origin).href;
}

/**
 * Returns a fetchBlock for the runtime that answers from the browser cache
 * when it can, else from the gateway, counting both in stats, and an
 * onVerified that caches the network blocks the runtime accepted.
 */
async function cachingFetcher(gateway, stats) {
  const cache = self.caches ? await self.caches.open(CACHE_NAME) : null;
  const fromCache = new Set(); // CIDs last answered from the cache
  const fromNetwork = new Set(); // CIDs last answered from the network
  const network = gatewayFetcher(gateway, stats);
  const fetchBlock = async (cid) => {
    if (cache && !fromCache.has(cid)) {
      const hit = await cache.match(cacheKey(cid));
      if (hit) {
        fromCache.add(cid);
        stats.cached++;
        return new Uint8Array(await hit.arrayBuffer());
      }
    } else if (cache) {
      // Asked again: the cached copy did not verify.
      await cache.delete(cacheKey(cid));
    }
    fromNetwork.add(cid);
    return network(cid);
  };
  const writes = [];
  const onVerified = (cid, bytes) => {
    if (!cache || !fromNetwork.has(cid)) return;
    fromNetwork.delete(cid);
    writes.push(cache.put(cacheKey(cid), new Response(bytes.slice())));
  };
  // stored resolves once every verified block is in the cache.
  const stored = () => Promise.allSettled(writes);
  return { fetchBlock, onVerified, stored };
}

/**
 * Returns a fetchBlock for the runtime that asks the gateways in turn,
 * counting its requests in stats. The runtime asks for a block again only
 * when the last answer failed or did not match the CID: the gateway that
 * gave it is then dropped for the rest of the load (while another is left)
 * and the next one is asked.
 */
function gatewayFetcher(gateway, stats) {
  const gateways = [gateway || []].flat();
  if (gateways.length === 0) gateways.push(self.location.origin);
  const last = new Map(); // cid → the gateway that answered it last
  return async (cid) => {
    stats.requests++;
    const failed = last.get(cid);
    if (failed !== undefined && gateways.length > 1 && gateways.includes(failed)) {
      gateways.splice(gateways.indexOf(failed), 1);
      stats.dropped.push(failed);
    }
    const base = gateways[0];
    last.set(cid, base);
    const url = new URL(`/ipfs/${cid}?format=raw`, base);
    const response = await fetch(url, {
      headers: { Accept: 'application/vnd.ipld.raw' },
      signal: AbortSignal.timeout(BLOCK_TIMEOUT_MS),
    });
    if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  };
}

async function handle(msg) {
  const { id } = msg;
  const rt = await runtime;
  switch (msg.type) {
    case 'load': {
      const stats = { requests: 0, cached: 0, dropped: [] };
      const { fetchBlock, onVerified, stored } = await cachingFetcher(msg.gateway, stats);
      const info = await rt.loadModel(
        msg.cid,
        fetchBlock,
        (fraction, component, { bytes }) => self.postMessage({ type: 'progress', id, fraction, component, bytes }),
        (component, { loadingTimeMs }) => self.postMessage({ type: 'componentLoaded', id, component, loadingTimeMs }),
        onVerified,
      );
      await stored();
      self.postMessage({ type: 'loaded', id, info: { ...info, requests: stats.requests, cached: stats.cached, dropped: stats.dropped } });
      break;
    }
    case 'generate': {
      const text = await rt.generate(msg.prompt, msg.opts || {}, (piece) => self.postMessage({ type: 'token', id, text: piece }));
      self.postMessage({ type: 'done', id, text });
      break;
    }
    case 'memory':
      self.postMessage({ type: 'memory', id, usage: rt.memoryUsage() });
      break;
    default:
      throw new Error(`unknown request type ${JSON.stringify(msg.type)}`);
  }
}

self.onmessage = (event) => {
  const msg = event.data;
  handle(msg).catch((err) => self.postMessage({ type: 'error', id: msg.id, message: String(err && err.message || err) }));
};
