// The playground: loads a model by CID with the browser SDK, showing one
// progress bar per component, then streams a generation with its speed,
// the runtime's memory, the backend (what the runtime uses, beside what
// the browser offers) and the transport.
//
// Test hook: when window.playgroundBeforeToken is a function, it is called
// with the token count after each streamed token is shown; a promise it
// returns holds the page there (the token rate leaves that time out), e.g.
// to take a screenshot mid-generation.

import { IPFSAccelerate } from '/sdk/ipfs-accelerate.js';
import { formatBytes, h } from './format.js';

const $ = (id) => document.getElementById(id);
const acc = new IPFSAccelerate();
let current = null; // {cid, model: Promise<Model>}: the last model loaded
let stopper = null; // the AbortController of the generation under way

function setState(state, status) {
  document.body.dataset.state = state;
  $('status').textContent = status;
}

/** Sets a progress bar (and the percentage beside it) to fraction. */
function setBar(bar, fraction) {
  const pct = Math.floor(Math.min(Math.max(fraction, 0), 1) * 100);
  bar.firstElementChild.style.width = `${pct}%`;
  bar.setAttribute('aria-valuenow', pct);
  bar.parentElement.querySelector('.pct').textContent = `${pct}%`;
}

/** A dd's content: a value with smaller lines under it (all of it in the title, for what is cut off). */
function showValue(id, value, ...details) {
  $(id).replaceChildren(value, ...details.map((d) => h('small', { textContent: d })));
  $(id).title = [value, ...details].join('\n');
}

/**
 * The components of the model at cid as [{name, size}] when the daemon
 * serving this page has it pinned, so that every bar is there from the
 * start; else [], and bars appear as the load reaches their components.
 */
async function pinnedComponents(cid) {
  try {
    const res = await fetch('/dashboard/stats', { cache: 'no-store' });
    const { models } = await res.json();
    return models.find((m) => m.cid === cid)?.components ?? [];
  } catch {
    return [];
  }
}

/** Loads the model at cid, drawing its progress. */
async function load(cid) {
  setState('loading', 'Loading…');
  const overall = $('overall');
  overall.className = 'bar';
  setBar(overall, 0);
  $('load-facts').replaceChildren();
  $('total-size').textContent = '';
  $('architecture').textContent = '';
  const list = $('components');
  list.replaceChildren();
  const rows = new Map(); // component name → {bar, size}
  let total = 0;
  const addRow = ({ name, size }) => {
    const bar = h('div', { className: 'bar' }, h('div'));
    bar.setAttribute('role', 'progressbar');
    bar.setAttribute('aria-label', name);
    bar.setAttribute('aria-valuenow', '0');
    list.append(h('li', { className: 'progress' },
      h('span', { className: 'name', title: name, textContent: name }),
      bar,
      h('span', { className: 'size', textContent: size > 0 ? formatBytes(size) : '' }),
      h('span', { className: 'pct', textContent: '0%' })));
    const row = { bar, size };
    total += size;
    rows.set(name, row);
    return row;
  };
  (await pinnedComponents(cid)).forEach(addRow);
  $('total-size').textContent = total > 0 ? formatBytes(total) : '';

  const start = performance.now();
  const model = await acc.loadModel(cid, {
    onProgress(fraction, component, { bytes, componentBytes, mbps }) {
      setBar(overall, fraction);
      const row = rows.get(component) ?? addRow({ name: component, size: 0 });
      if (row.size > 0) {
        setBar(row.bar, componentBytes / row.size);
      } else {
        row.bar.classList.add('busy'); // no size to measure against
        row.bar.parentElement.querySelector('.pct').textContent = '…';
      }
      // Generation starts once the model is viable: loading goes on quietly.
      if (document.body.dataset.state !== 'generating') setState('loading', `Loading ${component} · ${formatBytes(bytes)} · ${mbps.toFixed(1)} MB/s`);
    },
    onComponentLoaded(component, { loadingTimeMs }) {
      const row = rows.get(component) ?? addRow({ name: component, size: 0 });
      row.bar.classList.remove('busy');
      row.bar.classList.add('done');
      row.bar.title = `${Math.round(loadingTimeMs)} ms`;
      setBar(row.bar, 1);
    },
  });
  const viable = await model.waitForMinimumViableModel();
  showBackend(await acc.getCapabilities()); // with the kernels the load chose
  $('architecture').textContent = `${viable.architecture} · ${viable.components.length} components local`;
  const remote = viable.remoteLayers.length > 0 ? `layers ${viable.remoteLayers.join(', ')} on the peer` : '';
  showValue('transport', viable.transport, remote);
  // The rest of the load goes on while the model generates.
  model.waitForLoad().then(async (info) => {
    showBackend(await acc.getCapabilities()); // the kernels, where the daemon ran the model at first
    overall.classList.add('done');
    setBar(overall, 1);
    const secs = (performance.now() - start) / 1000;
    $('architecture').textContent = `${info.architecture} · ${info.components.length} components local`;
    const facts = [
      ['Fetched', formatBytes(info.bytes)],
      ['Block requests', info.requests],
      ['From the browser cache', info.cached],
      ['Load time', `${secs.toFixed(2)} s`],
    ];
    $('load-facts').replaceChildren(...facts.flatMap(([k, v]) => [h('dt', { textContent: k }), h('dd', { textContent: v })]));
    showValue('transport', info.transport, [`${info.requests} requests`, remote].filter(Boolean).join(' · '));
  }, (err) => setState('error', String(err?.message ?? err)));
  showMemory(model);
  return model;
}

async function showMemory(model) {
  try {
    const { heapBytes, arenaBytes, modelBytes } = await model.getMemoryUsage();
    showValue('memory', formatBytes(heapBytes + arenaBytes), `weights ${formatBytes(modelBytes)}`);
  } catch {
    // the worker is gone: keep the last reading
  }
}

/** Streams a continuation of the prompt. */
async function generate(model) {
  const prompt = $('prompt').value;
  const generated = h('span', { className: 'generated' });
  const output = $('output');
  output.replaceChildren(h('span', { className: 'prompt', textContent: prompt }), generated);
  const opts = { maxTokens: Number($('max-tokens').value), temperature: Number($('temperature').value) };
  stopper = new AbortController();
  $('stop').disabled = false;
  setState('generating', 'Generating…');
  const memory = setInterval(showMemory, 1000, model);
  const start = performance.now();
  let count = 0;
  let held = 0; // ms the test hook held the page
  const elapsed = () => (performance.now() - start - held) / 1000;
  try {
    for await (const piece of model.generateStream(prompt, { ...opts, signal: stopper.signal })) {
      generated.append(piece);
      count++;
      $('tokens').textContent = count;
      $('tps').textContent = (count / elapsed()).toFixed(1);
      output.scrollTop = output.scrollHeight;
      const hold = window.playgroundBeforeToken?.(count);
      if (hold) {
        const t = performance.now();
        await hold;
        held += performance.now() - t;
      }
    }
    setState('done', `Done: ${count} tokens in ${elapsed().toFixed(2)} s`);
  } catch (err) {
    if (!stopper.signal.aborted) throw err;
    setState('done', `Stopped after ${count} tokens`);
  } finally {
    clearInterval(memory);
    stopper = null;
    $('stop').disabled = true;
    showMemory(model);
  }
}

$('form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const cid = $('cid').value.trim();
  $('generate').disabled = true;
  try {
    if (current?.cid !== cid) {
      const model = load(cid);
      current = { cid, model };
      model.catch(() => {
        if (current?.model === model) current = null; // the next try loads again
      });
      history.replaceState(null, '', `?cid=${encodeURIComponent(cid)}`);
    }
    await generate(await current.model);
  } catch (err) {
    setState('error', String(err?.message ?? err));
  } finally {
    $('generate').disabled = false;
  }
});

$('stop').addEventListener('click', () => stopper?.abort());

// How the backend box names the runtime's matrix kernels.
const KERNELS = { relaxed: 'relaxed SIMD', simd128: 'SIMD128', go: 'scalar' };

/** Shows what the runtime uses (e.g. wasm, relaxed SIMD, 4 threads) over what the browser offers. */
function showBackend({ uses, wasmSimd, wasmThreads, webgpu }) {
  const kernels = KERNELS[uses.kernels] ?? 'kernels chosen at load';
  const threads = uses.threads === null ? 'threads chosen at load' : `${uses.threads} thread${uses.threads === 1 ? '' : 's'}`;
  const code = `${kernels}, ${threads}`;
  const offers = [wasmSimd && 'SIMD', wasmThreads && 'threads', webgpu.available && 'WebGPU'].filter(Boolean);
  showValue('backend', uses.backend ?? 'none', code, `browser offers ${offers.join(', ') || 'no SIMD, threads or WebGPU'}`);
}

showBackend(await acc.getCapabilities());
const linked = new URLSearchParams(location.search).get('cid');
if (linked) $('cid').value = linked;
