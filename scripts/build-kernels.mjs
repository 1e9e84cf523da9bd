// Usage: node scripts/build-kernels.mjs OUT
//
// Assembles the runtime's matrix kernels (browser/kernels/*.wat) with wabt
// (an npm devDependency of browser/js) into OUT: the four variants of
// kernels.wat, <memory>-<level>.wasm (memory go or arena, level relaxed or
// simd128), and shim.wasm; prints their sizes. scripts/build-sdk.sh runs
// it; the kernel tests import assemble.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const wabt = createRequire(join(root, 'browser/js/package.json'))('wabt');

// The variants of kernels.wat, one per memory and level: a line starting
// with ";;@<tag> " is code in the variants of that tag and a comment in the
// others.
const MEMORIES = ['go', 'arena'];
const LEVELS = ['relaxed', 'simd128'];

/** Returns the kernel modules' bytes by file name. */
export async function assemble() {
  const w = await wabt();
  const build = (name, text, features = {}) => {
    const m = w.parseWat(name, text, features);
    try {
      m.validate(features);
      return m.toBinary({}).buffer;
    } finally {
      m.destroy();
    }
  };
  const source = readFileSync(join(root, 'browser/kernels/kernels.wat'), 'utf8');
  const out = { 'shim.wasm': build('shim.wat', readFileSync(join(root, 'browser/kernels/shim.wat'), 'utf8')) };
  for (const memory of MEMORIES) {
    for (const level of LEVELS) {
      const text = source.replace(new RegExp(`^;;@(${memory}|${level}) `, 'gm'), '');
      out[`${memory}-${level}.wasm`] = build(`kernels.wat (${memory}, ${level})`, text, { threads: true, relaxed_simd: level === 'relaxed' });
    }
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: node scripts/build-kernels.mjs OUT');
  mkdirSync(dir, { recursive: true });
  const sizes = [];
  for (const [name, bytes] of Object.entries(await assemble())) {
    writeFileSync(join(dir, name), bytes);
    sizes.push(`${name} ${bytes.length} B`);
  }
  console.log(`kernels: ${sizes.join(', ')}`);
}
