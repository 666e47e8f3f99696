// The accuracy table of docs/linalg.md: relative residuals of each decomposition on random matrices
// (‖reconstruction − A‖_F / ‖A‖_F, ‖QᵀQ − I‖_F, ...) in float32 and float64, next to each dtype's eps.
// Run: npx tsx scripts/linalg-accuracy.ts
import { type Array, type DType, np, random } from '../src/index.js';

const fro = (x: Array) => np.linalg.norm(x).item();
const rel = (got: Array, want: Array) => fro(np.subtract(got, want)) / fro(want);
const orth = (q: Array) =>
  fro(np.subtract(np.matmul(np.swapaxes(q, -1, -2), q), np.eye(q.shape[1], q.shape[1], { dtype: q.dtype })));
const sci = (v: number) => v.toExponential(1);

const rows: string[][] = [];
for (const n of [16, 128])
  for (const dtype of ['float32', 'float64'] as DType[]) {
    const a = random.normal(random.key(n), [n, n]).astype(dtype);
    const sym = np.add(a, np.swapaxes(a, 0, 1));
    const spd = np.add(np.matmul(a, np.swapaxes(a, 0, 1)), np.multiply(np.eye(n, n, { dtype }), n));
    const [q, r] = np.linalg.qr(a);
    const [u, s, vh] = np.linalg.svd(a);
    const [w, v] = np.linalg.eigh(sym);
    const l = np.linalg.cholesky(spd);
    const b = random.normal(random.key(n + 1), [n]).astype(dtype);
    const x = np.linalg.solve(spd, b);
    rows.push([
      `${n}×${n}`,
      dtype,
      sci(np.finfo(dtype).eps),
      `${sci(rel(np.matmul(q, r), a))} / ${sci(orth(q))}`,
      `${sci(rel(np.matmul(np.multiply(u, s), vh), a))} / ${sci(orth(u))}`,
      `${sci(rel(np.matmul(sym, v), np.multiply(v, w)))} / ${sci(orth(v))}`,
      sci(rel(np.matmul(l, np.swapaxes(l, 0, 1)), spd)),
      sci(rel(np.matmul(spd, x), b)),
    ]);
  }
const header = [
  'size',
  'dtype',
  'eps',
  'qr: QR−A / QᵀQ−I',
  'svd: USVᵀ−A / UᵀU−I',
  'eigh: AV−VΛ / VᵀV−I',
  'cholesky: LLᵀ−A',
  'solve: Ax−b',
];
console.log(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
