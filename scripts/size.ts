// Prints lines of code per folder and the number of primitives (tinygrad-style bookkeeping).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { np, registry } from '../src/index.js';

const count = (dir: string): number =>
  readdirSync(dir).reduce((n, f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return n + count(p);
    return f.endsWith('.ts')
      ? n +
          readFileSync(p, 'utf8')
            .split('\n')
            .filter(
              (l) => l.trim() && !l.trim().startsWith('//') && !l.trim().startsWith('*') && !l.trim().startsWith('/**'),
            ).length
      : n;
  }, 0);

// Every source folder (the size check of issue 12 left out compile, backend and kernels).
const folders = [
  'src/core',
  'src/primitives',
  'src/transforms',
  'src/control',
  'src/compile',
  'src/backend',
  'src/onnx',
  'src/np',
  'src/nn',
  'src/optim',
  'src/models',
  'src/io',
  'kernels',
  'laws',
  'test',
  'examples',
  'bench',
  'scripts',
];
const rows = folders.map((f) => [f, count(f)] as const);
for (const [f, n] of rows) console.log(`${f.padEnd(18)} ${String(n).padStart(6)}`);
console.log(`${'total'.padEnd(18)} ${String(rows.reduce((a, [, n]) => a + n, 0)).padStart(6)}`);
console.log(`primitives: ${registry.size} (${[...registry.keys()].join(' ')})`);
// The public np count (issue 20 asks for at least 220; jax-js has about 200), np.linalg beside it.
const functions = (ns: object) => Object.values(ns).filter((v) => typeof v === 'function').length;
console.log(`np: ${functions(np)} public functions, np.linalg: ${functions(np.linalg)}`);
