/**
 * WGSL of the matrix decompositions: invocation `i` owns matrix `i` of the batch and runs the same
 * algorithm as the CPU kernel (src/primitives/linalg.ts) sequentially, in f32, in place in its
 * output buffers or in function-scope arrays (qr, eigh, svd); results are rounded to their dtype
 * at the end. Batches of small matrices run in parallel; one large matrix runs on one GPU thread.
 * @module
 */
import type { DType } from '../src/core/dtype.js';
import { FluxionError } from '../src/core/errors.js';
import type { Primitive } from '../src/core/primitive.js';
import * as P from '../src/primitives/index.js';
import { store } from './wgsl.js';

/** A buffer the kernel reads: its WGSL name and shape. */
export interface Operand {
  name: string;
  shape: readonly number[];
}

const u = (n: number) => `${n}u`;
const loop = (v: string, from: string, to: string, body: string[]) => [
  `for (var ${v} = ${from}; ${v} < ${to}; ${v}++) {`,
  ...body.map((l) => `  ${l}`),
  '}',
];
/** Function-scope arrays hold whole matrices: past this many elements a kernel is not worth it. */
const PRIVATE_LIMIT = 4096;

/** The kernel body (indented lines) for one decomposition equation. */
export function decompositionKernel(prim: Primitive, ins: Operand[], d: DType, params: object): string[] {
  const emit = EMITTERS.get(prim);
  if (!emit) throw new FluxionError(`webgpu: no kernel for ${prim.name} yet; run this computation on the CPU backend`);
  const roundAll = (buf: string, base: string, count: number) =>
    d === 'float32' ? [] : loop('q', '0u', u(count), [`${buf}[${base} + q] = ${store(`${buf}[${base} + q]`, d)};`]);
  return emit(ins, params as never, roundAll).map((l) => `  ${l}`);
}

type RoundAll = (buf: string, base: string, count: number) => string[];
type Emitter = (ins: Operand[], params: any, roundAll: RoundAll) => string[];
const dims = (x: Operand) => x.shape.slice(-2) as [number, number];
function privateSize(op: string, count: number) {
  if (count > PRIVATE_LIMIT)
    throw new FluxionError(
      `webgpu: ${op} of matrices over ${PRIVATE_LIMIT} elements runs on the CPU backend (one GPU thread per matrix ` +
        `would be slower there); run this computation on the CPU backend`,
    );
  return count;
}

const cholesky: Emitter = ([x], _p, roundAll) => {
  const [n] = dims(x);
  const at = (r: string, c: string) => `out0[base + (${r}) * ${u(n)} + (${c})]`;
  return [
    `let base = i * ${u(n * n)};`,
    // The symmetric part's lower triangle, zeros above.
    ...loop('r', '0u', u(n), [
      ...loop('c', '0u', u(n), [
        `${at('r', 'c')} = select(0.0, 0.5 * (${x.name}[base + r * ${u(n)} + c] + ${x.name}[base + c * ${u(n)} + r]), c <= r);`,
      ]),
    ]),
    'var ok = true;',
    ...loop('j', '0u', u(n), [
      `var s = ${at('j', 'j')};`,
      ...loop('k', '0u', 'j', [`s = s - ${at('j', 'k')} * ${at('j', 'k')};`]),
      'if (!(s > 0.0)) { ok = false; }',
      'let ljj = sqrt(max(s, 0.0));',
      `${at('j', 'j')} = ljj;`,
      ...loop('r', 'j + 1u', u(n), [
        `var t = ${at('r', 'j')};`,
        ...loop('k', '0u', 'j', [`t = t - ${at('r', 'k')} * ${at('j', 'k')};`]),
        `${at('r', 'j')} = t / ljj;`,
      ]),
    ]),
    // Not positive definite (or NaN input): NaN everywhere, as the CPU kernel.
    `if (!ok) { ${loop('q', '0u', u(n * n), ['out0[base + q] = nan_();']).join(' ')} }`,
    ...roundAll('out0', 'base', n * n),
  ];
};

const triangularSolve: Emitter = ([a, b], p, roundAll) => {
  const [m] = dims(a);
  const [rows, cols] = dims(b);
  // The system T y = v for each vector v of b: its columns (left solves) or rows (right solves, T = op(a)ᵀ).
  const transposed = p.transposeA !== !p.leftSide;
  const lowerT = p.lower !== transposed;
  const A = (r: string, c: string) =>
    transposed ? `${a.name}[abase + (${c}) * ${u(m)} + (${r})]` : `${a.name}[abase + (${r}) * ${u(m)} + (${c})]`;
  const diag = (k: string) => (p.unitDiagonal ? '1.0' : A(k, k));
  const [count, el] = p.leftSide
    ? [cols, (k: string) => `out0[xbase + (${k}) * ${u(cols)} + v]`]
    : [rows, (k: string) => `out0[xbase + v * ${u(cols)} + (${k})]`];
  const solveOne = lowerT
    ? loop('k', '0u', u(m), [
        `var s = ${el('k')};`,
        ...loop('j', '0u', 'k', [`s = s - ${A('k', 'j')} * ${el('j')};`]),
        `${el('k')} = s / ${diag('k')};`,
      ])
    : loop('kk', '0u', u(m), [
        `let k = ${u(m - 1)} - kk;`,
        `var s = ${el('k')};`,
        ...loop('j', 'k + 1u', u(m), [`s = s - ${A('k', 'j')} * ${el('j')};`]),
        `${el('k')} = s / ${diag('k')};`,
      ]);
  return [
    `let abase = i * ${u(m * m)};`,
    `let xbase = i * ${u(rows * cols)};`,
    ...loop('q', '0u', u(rows * cols), [`out0[xbase + q] = ${b.name}[xbase + q];`]),
    ...loop('v', '0u', u(count), solveOne),
    ...roundAll('out0', 'xbase', rows * cols),
  ];
};

// Partial pivoting in place; out1 the pivots, out2 the permutation.
const lu: Emitter = ([x], _p, roundAll) => {
  const [n] = dims(x);
  const at = (r: string, c: string) => `out0[base + (${r}) * ${u(n)} + (${c})]`;
  return [
    `let base = i * ${u(n * n)};`,
    `let pbase = i * ${u(n)};`,
    ...loop('q', '0u', u(n * n), [`out0[base + q] = ${x.name}[base + q];`]),
    ...loop('r', '0u', u(n), ['out2[pbase + r] = i32(r);']),
    ...loop('k', '0u', u(n), [
      'var p = k;',
      `var best = abs(${at('k', 'k')});`,
      ...loop('r', 'k + 1u', u(n), [`let v = abs(${at('r', 'k')});`, 'if (v > best) { p = r; best = v; }']),
      'out1[pbase + k] = i32(p);',
      'if (p != k) {',
      ...loop('c', '0u', u(n), [
        `let tmp = ${at('k', 'c')};`,
        `${at('k', 'c')} = ${at('p', 'c')};`,
        `${at('p', 'c')} = tmp;`,
      ]),
      '  let tp = out2[pbase + k]; out2[pbase + k] = out2[pbase + p]; out2[pbase + p] = tp;',
      '}',
      `let piv = ${at('k', 'k')};`,
      'if (piv != 0.0) {',
      ...loop('r', 'k + 1u', u(n), [
        `let f = ${at('r', 'k')} / piv;`,
        `${at('r', 'k')} = f;`,
        ...loop('c', 'k + 1u', u(n), [`${at('r', 'c')} = ${at('r', 'c')} - f * ${at('k', 'c')};`]),
      ]),
      '}',
    ]),
    ...roundAll('out0', 'base', n * n),
  ];
};

// Householder with LAPACK's signs: the working matrix and the reflectors in function-scope arrays.
const qr: Emitter = ([x], p: { fullMatrices: boolean }, roundAll) => {
  const [m, n] = dims(x);
  const k0 = Math.min(m, n);
  const k = p.fullMatrices ? m : k0;
  privateSize('qr', m * n + m * Math.max(k0, 1));
  const A = (r: string, c: string) => `a[(${r}) * ${u(n)} + (${c})]`;
  const V = (j: string, r: string) => `vs[(${j}) * ${u(m)} + (${r})]`;
  const Q = (r: string, c: string) => `out0[qbase + (${r}) * ${u(k)} + (${c})]`;
  return [
    `let base = i * ${u(m * n)};`,
    `let qbase = i * ${u(m * k)};`,
    `let rbase = i * ${u(k * n)};`,
    `var a: array<f32, ${m * n}>;`,
    `var vs: array<f32, ${m * Math.max(k0, 1)}>;`,
    `var taus: array<f32, ${Math.max(k0, 1)}>;`,
    ...loop('q', '0u', u(m * n), [`a[q] = ${x.name}[base + q];`]),
    ...loop('j', '0u', u(k0), [
      `let alpha = ${A('j', 'j')};`,
      'var xn = 0.0;',
      ...loop('r', 'j + 1u', u(m), [`xn = xn + ${A('r', 'j')} * ${A('r', 'j')};`]),
      ...loop('r', '0u', u(m), [`${V('j', 'r')} = 0.0;`]),
      'taus[j] = 0.0;',
      'if (xn > 0.0) {',
      '  let beta = select(sqrt(alpha * alpha + xn), -sqrt(alpha * alpha + xn), alpha >= 0.0);',
      '  let tau = (beta - alpha) / beta;',
      '  taus[j] = tau;',
      `  ${V('j', 'j')} = 1.0;`,
      ...loop('r', 'j + 1u', u(m), [`${V('j', 'r')} = ${A('r', 'j')} / (alpha - beta);`, `${A('r', 'j')} = 0.0;`]).map(
        (l) => `  ${l}`,
      ),
      `  ${A('j', 'j')} = beta;`,
      ...loop('c', 'j + 1u', u(n), [
        'var w = 0.0;',
        ...loop('r', 'j', u(m), [`w = w + ${V('j', 'r')} * ${A('r', 'c')};`]),
        ...loop('r', 'j', u(m), [`${A('r', 'c')} = ${A('r', 'c')} - tau * ${V('j', 'r')} * w;`]),
      ]).map((l) => `  ${l}`),
      '}',
    ]),
    // Q = H_0 ... H_{k-1} applied to the first columns of the identity, last reflector first.
    ...loop('r', '0u', u(m), [...loop('c', '0u', u(k), [`${Q('r', 'c')} = select(0.0, 1.0, r == c);`])]),
    ...loop('jj', '0u', u(k0), [
      `let j = ${u(k0 - 1)} - jj;`,
      'if (taus[j] != 0.0) {',
      ...loop('c', '0u', u(k), [
        'var w = 0.0;',
        ...loop('r', 'j', u(m), [`w = w + ${V('j', 'r')} * ${Q('r', 'c')};`]),
        ...loop('r', 'j', u(m), [`${Q('r', 'c')} = ${Q('r', 'c')} - taus[j] * ${V('j', 'r')} * w;`]),
      ]).map((l) => `  ${l}`),
      '}',
    ]),
    ...loop('q', '0u', u(k * n), ['out1[rbase + q] = a[q];']),
    ...roundAll('out0', 'qbase', m * k),
    ...roundAll('out1', 'rbase', k * n),
  ];
};

/** Jacobi rotation of columns (p, q) of the n×n matrix `arr` stored row-major, by (c, s). */
const rotateColumns = (arr: (r: string, c: string) => string, rows: number) =>
  loop('r', '0u', u(rows), [
    `let xp = ${arr('r', 'p')};`,
    `let xq = ${arr('r', 'q')};`,
    `${arr('r', 'p')} = c * xp - s * xq;`,
    `${arr('r', 'q')} = s * xp + c * xq;`,
  ]);

/**
 * Sorts the values `val(j)` (`desc` or ascending) with their columns of `cols` (selection sort),
 * then signs each column so its largest-magnitude entry is positive, flipping `also`'s columns too.
 */
function sortAndSign(
  n: number,
  val: (j: string) => string,
  desc: boolean,
  cols: { at: (r: string, c: string) => string; rows: number }[],
): string[] {
  const swapCols = cols.flatMap(({ at, rows }) =>
    loop('r', '0u', u(rows), [
      `let t2 = ${at('r', 'j')};`,
      `${at('r', 'j')} = ${at('r', 'best')};`,
      `${at('r', 'best')} = t2;`,
    ]),
  );
  const [first] = cols;
  return [
    ...loop('j', '0u', u(n), [
      'var best = j;',
      ...loop('q', 'j + 1u', u(n), [`if (${val('q')} ${desc ? '>' : '<'} ${val('best')}) { best = q; }`]),
      'if (best != j) {',
      `  let t1 = ${val('j')}; ${val('j')} = ${val('best')}; ${val('best')} = t1;`,
      ...swapCols.map((l) => `  ${l}`),
      '}',
    ]),
    ...loop('j', '0u', u(n), [
      'var big = 0u;',
      ...loop('r', '1u', u(first.rows), [
        `if (abs(${first.at('r', 'j')}) > abs(${first.at('big', 'j')})) { big = r; }`,
      ]),
      `if (${first.at('big', 'j')} < 0.0) {`,
      ...cols
        .flatMap(({ at, rows }) => loop('r', '0u', u(rows), [`${at('r', 'j')} = -${at('r', 'j')};`]))
        .map((l) => `  ${l}`),
      '}',
    ]),
  ];
}

// Cyclic Jacobi on the symmetric part in a function-scope array; eigenvectors accumulate in out0.
const eigh: Emitter = ([x], _p, roundAll) => {
  const [n] = dims(x);
  privateSize('eigh', n * n);
  const A = (r: string, c: string) => `a[(${r}) * ${u(n)} + (${c})]`;
  const Vm = (r: string, c: string) => `out0[vbase + (${r}) * ${u(n)} + (${c})]`;
  return [
    `let vbase = i * ${u(n * n)};`,
    `let wbase = i * ${u(n)};`,
    `var a: array<f32, ${n * n}>;`,
    ...loop('r', '0u', u(n), [
      ...loop('c', '0u', u(n), [
        `${A('r', 'c')} = 0.5 * (${x.name}[vbase + r * ${u(n)} + c] + ${x.name}[vbase + c * ${u(n)} + r]);`,
        `${Vm('r', 'c')} = select(0.0, 1.0, r == c);`,
      ]),
    ]),
    'var total = 0.0;',
    ...loop('q', '0u', u(n * n), ['total = total + a[q] * a[q];']),
    ...loop('sweep', '0u', '60u', [
      'var off = 0.0;',
      ...loop('p', '0u', u(n), loop('q', 'p + 1u', u(n), [`off = off + ${A('p', 'q')} * ${A('p', 'q')};`])),
      'if (!(off > 1e-14 * total)) { break; }',
      ...loop('p', '0u', u(n), [
        ...loop('q', 'p + 1u', u(n), [
          `let apq = ${A('p', 'q')};`,
          'if (abs(apq) < 1e-30) { continue; }',
          `let theta = (${A('q', 'q')} - ${A('p', 'p')}) / (2.0 * apq);`,
          'let t = select(-1.0, 1.0, theta >= 0.0) / (abs(theta) + sqrt(theta * theta + 1.0));',
          'let c = 1.0 / sqrt(t * t + 1.0);',
          'let s = t * c;',
          ...rotateColumns(A, n),
          ...loop('r', '0u', u(n), [
            `let yp = ${A('p', 'r')};`,
            `let yq = ${A('q', 'r')};`,
            `${A('p', 'r')} = c * yp - s * yq;`,
            `${A('q', 'r')} = s * yp + c * yq;`,
          ]),
          ...rotateColumns(Vm, n),
        ]),
      ]),
    ]),
    ...loop('j', '0u', u(n), [`out1[wbase + j] = ${A('j', 'j')};`]),
    ...sortAndSign(n, (j) => `out1[wbase + (${j})]`, false, [{ at: Vm, rows: n }]),
    ...roundAll('out0', 'vbase', n * n),
    ...roundAll('out1', 'wbase', n),
  ];
};

// One-sided Jacobi on the columns of the tall matrix (a, or aᵀ when wide) in function-scope arrays.
const svd: Emitter = ([x], p: { fullMatrices: boolean; computeUv: boolean }, roundAll) => {
  const [m0, n0] = dims(x);
  const wide = m0 < n0;
  const [m, n] = wide ? [n0, m0] : [m0, n0]; // the tall working matrix: m × n, m ≥ n
  const k = n;
  const uc = p.fullMatrices ? m : n; // columns of the tall side's vectors
  privateSize('svd', m * n + n * n + m * uc);
  const W = (r: string, c: string) => `w[(${r}) * ${u(n)} + (${c})]`;
  const Vw = (r: string, c: string) => `v[(${r}) * ${u(n)} + (${c})]`;
  const Uw = (r: string, c: string) => `ut[(${r}) * ${u(uc)} + (${c})]`;
  const read = (r: string, c: string) =>
    wide ? `${x.name}[base + (${c}) * ${u(n0)} + (${r})]` : `${x.name}[base + (${r}) * ${u(n0)} + (${c})]`;
  const lines = [
    `let base = i * ${u(m0 * n0)};`,
    `let sbase = i * ${u(k)};`,
    `var w: array<f32, ${m * n}>;`,
    `var v: array<f32, ${n * n}>;`,
    `var sv: array<f32, ${n}>;`,
    ...loop('r', '0u', u(m), loop('c', '0u', u(n), [`${W('r', 'c')} = ${read('r', 'c')};`])),
    ...loop('r', '0u', u(n), loop('c', '0u', u(n), [`${Vw('r', 'c')} = select(0.0, 1.0, r == c);`])),
    ...loop('sweep', '0u', '60u', [
      'var rotated = false;',
      ...loop('p', '0u', u(n), [
        ...loop('q', 'p + 1u', u(n), [
          'var alpha = 0.0; var beta = 0.0; var gamma = 0.0;',
          ...loop('r', '0u', u(m), [
            `alpha = alpha + ${W('r', 'p')} * ${W('r', 'p')};`,
            `beta = beta + ${W('r', 'q')} * ${W('r', 'q')};`,
            `gamma = gamma + ${W('r', 'p')} * ${W('r', 'q')};`,
          ]),
          'if (!(abs(gamma) > 1e-7 * sqrt(alpha * beta))) { continue; }',
          'rotated = true;',
          'let zeta = (beta - alpha) / (2.0 * gamma);',
          'let t = select(-1.0, 1.0, zeta >= 0.0) / (abs(zeta) + sqrt(1.0 + zeta * zeta));',
          'let c = 1.0 / sqrt(1.0 + t * t);',
          'let s = c * t;',
          ...rotateColumns(W, m),
          ...rotateColumns(Vw, n),
        ]),
      ]),
      'if (!rotated) { break; }',
    ]),
    ...loop('j', '0u', u(n), [
      'var ss = 0.0;',
      ...loop('r', '0u', u(m), [`ss = ss + ${W('r', 'j')} * ${W('r', 'j')};`]),
      'sv[j] = sqrt(ss);',
    ]),
  ];
  if (!p.computeUv)
    return [
      ...lines,
      ...sortAndSign(n, (j) => `sv[${j}]`, true, [{ at: Vw, rows: n }]),
      ...loop('j', '0u', u(k), ['out0[sbase + j] = sv[j];']),
      ...roundAll('out0', 'sbase', k),
    ];
  // Left vectors: normalised columns; missing ones (zero singular values, full matrices) completed
  // by the unit vector with the largest component outside the span so far, as the CPU kernel.
  const uCols = wide ? m0 : uc,
    vCols = wide ? (p.fullMatrices ? n0 : k) : n0;
  return [
    ...lines,
    `var ut: array<f32, ${m * uc}>;`,
    ...sortAndSign(n, (j) => `sv[${j}]`, true, [
      { at: Vw, rows: n },
      { at: W, rows: m },
    ]),
    'var rank = 0u;',
    ...loop('j', '0u', u(n), [
      'if (sv[j] > 0.0) { rank = j + 1u; }',
      ...loop('r', '0u', u(m), [`${Uw('r', 'j')} = select(0.0, ${W('r', 'j')} / sv[j], sv[j] > 0.0);`]),
    ]),
    ...loop('j', 'rank', u(uc), [
      'var bestNorm = -1.0; var bestE = 0u;',
      ...loop('e', '0u', u(m), [
        // The squared norm of e's component outside columns 0..j-1.
        'var inside = 0.0;',
        ...loop('kk', '0u', 'j', [`inside = inside + ${Uw('e', 'kk')} * ${Uw('e', 'kk')};`]),
        'if (1.0 - inside > bestNorm) { bestNorm = 1.0 - inside; bestE = e; }',
      ]),
      ...loop('r', '0u', u(m), [`${Uw('r', 'j')} = select(0.0, 1.0, r == bestE);`]),
      ...loop('sweep2', '0u', '2u', [
        ...loop('kk', '0u', 'j', [
          'var dd = 0.0;',
          ...loop('r', '0u', u(m), [`dd = dd + ${Uw('r', 'kk')} * ${Uw('r', 'j')};`]),
          ...loop('r', '0u', u(m), [`${Uw('r', 'j')} = ${Uw('r', 'j')} - dd * ${Uw('r', 'kk')};`]),
        ]),
      ]),
      'var nn = 0.0;',
      ...loop('r', '0u', u(m), [`nn = nn + ${Uw('r', 'j')} * ${Uw('r', 'j')};`]),
      ...loop('r', '0u', u(m), [`${Uw('r', 'j')} = ${Uw('r', 'j')} / sqrt(nn);`]),
    ]),
    // Tall: u = ut (m0 × uc), vt = vᵀ (n0 × n0). Wide (a = (aᵀ)ᵀ): u = v (m0 × m0), vt = utᵀ.
    ...loop('j', '0u', u(k), ['out0[sbase + j] = sv[j];']),
    `let ubase = i * ${u(m0 * uCols)};`,
    `let vbase = i * ${u(vCols * n0)};`,
    ...(wide
      ? [
          ...loop('r', '0u', u(m0), loop('c', '0u', u(m0), [`out1[ubase + r * ${u(m0)} + c] = ${Vw('r', 'c')};`])),
          ...loop('r', '0u', u(vCols), loop('c', '0u', u(n0), [`out2[vbase + r * ${u(n0)} + c] = ${Uw('c', 'r')};`])),
        ]
      : [
          ...loop('r', '0u', u(m0), loop('c', '0u', u(uc), [`out1[ubase + r * ${u(uc)} + c] = ${Uw('r', 'c')};`])),
          ...loop('r', '0u', u(n0), loop('c', '0u', u(n0), [`out2[vbase + r * ${u(n0)} + c] = ${Vw('c', 'r')};`])),
        ]),
    ...roundAll('out0', 'sbase', k),
    ...roundAll('out1', 'ubase', m0 * uCols),
    ...roundAll('out2', 'vbase', vCols * n0),
  ];
};

const EMITTERS = new Map<Primitive, Emitter>([
  [P.choleskyP, cholesky],
  [P.triangularSolveP, triangularSolve],
  [P.luP, lu],
  [P.qrP, qr],
  [P.eighP, eigh],
  [P.svdP, svd],
]);
