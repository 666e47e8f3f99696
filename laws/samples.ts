/**
 * One sample row per primitive: inputs and params on which the laws run. Test files iterate
 * the primitive registry and fail for any primitive without a row here, so a new primitive
 * cannot slip through untested.
 * @module
 */
import { type Array, ConcreteArray, type DType, type Primitive, registry } from '../src/index.js';
import { allocate } from '../src/core/dtype.js';
import { Graph } from '../src/core/ir.js';
import type { OnnxEmitter } from '../src/core/primitive.js';
import { stage } from '../src/transforms/jit.js';
import * as P from '../src/primitives/index.js';

/** Deterministic generator (mulberry32), so sample rows are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A concrete array with elements drawn by `gen` (float32 unless `dtype` says otherwise). */
export function randomArray(shape: number[], gen: () => number, dtype: DType = 'float32'): Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = allocate(dtype, n);
  for (let i = 0; i < n; i++) data[i] = gen();
  return new ConcreteArray(data, shape, dtype);
}

/** A row of the primitive table. */
export interface Sample {
  prim: Primitive;
  inputs: Array[];
  params: object;
  /** Inputs to differentiate (float inputs where the primitive is smooth at the sample). */
  diff: number[];
  /** Inputs in which the primitive is linear (checked by transposeIsAdjoint). */
  linearIn: number[];
  /** A short description shown in test names. */
  label: string;
  /** Why reverse mode is refused for this primitive (the test checks that it is, clearly). */
  noReverse?: string;
  /** The map `L x` for rows whose primitive cannot be evaluated on its own (used by transposeIsAdjoint). */
  forward?: (...xs: Array[]) => Array[];
  /** Why forward evaluation laws do not apply (the primitive cannot be evaluated on its own). */
  noEval?: string;
  /** A collective: bound only under a named mapped axis, which rewrites it (laws in test/distributed.test.ts). */
  mappedOnly?: string;
}

const sub = (body: (...xs: Array[]) => Array[], avals: Array['aval'][]): Graph => stage(body, avals).graph;

/** Every sample row, several per primitive (scalars, zero-size dims, each accepted dtype). */
export function samples(): Sample[] {
  const r = rng(1234);
  const u = (lo: number, hi: number) => () => lo + (hi - lo) * r();
  const f = (shape: number[], lo = -2, hi = 2) => randomArray(shape, u(lo, hi));
  const ints = (shape: number[], lo: number, hi: number, dtype: DType = 'int32') =>
    randomArray(shape, () => Math.floor(lo + (hi - lo) * r()), dtype);
  const rows: Sample[] = [];
  const add = (
    name: string,
    inputs: Array[],
    params: object = {},
    diff: number[] = [],
    linearIn: number[] = [],
    note = '',
  ) =>
    rows.push({
      prim: registry.get(name)!,
      inputs,
      params,
      diff,
      linearIn,
      label: `${name}${note ? ' ' + note : ''} ${inputs.map((x) => `${x.dtype}[${x.shape}]`).join(' ')}`,
    });

  // Unary math: a vector, a scalar and a zero-size array; domains chosen where each is smooth.
  const unary: [string, number, number, boolean?][] = [
    ['neg', -2, 2, true],
    ['exp', -2, 2],
    ['log', 0.5, 3],
    ['log1p', -0.5, 2],
    ['expm1', -2, 2],
    ['sin', -3, 3],
    ['cos', -3, 3],
    ['tanh', -2, 2],
    ['logistic', -3, 3],
    ['sqrt', 0.5, 3],
    ['rsqrt', 0.5, 3],
    ['erf', -2, 2],
    ['erf_inv', -0.8, 0.8],
    ['abs', 0.2, 2],
    ['sign', 0.2, 2],
    ['floor', 0.1, 0.9],
    ['ceil', 0.1, 0.9],
    ['round', 0.1, 0.4],
  ];
  for (const [name, lo, hi, lin] of unary) {
    add(name, [f([5], lo, hi)], {}, [0], lin ? [0] : []);
    add(name, [f([], lo, hi)], {}, [0], lin ? [0] : []);
    add(name, [f([2, 0])], {}, [], []);
  }
  add('neg', [ints([4], -5, 5)]);
  add('abs', [ints([4], -5, 5)]);
  add('sign', [ints([4], -5, 5)]);
  add('is_finite', [f([4])]);
  const binary: [string, number, number, number[]][] = [
    ['add', -2, 2, [0, 1]],
    ['sub', -2, 2, [0, 1]],
    ['mul', -2, 2, [0]],
    ['div', 0.5, 2, [0]],
    ['pow', 0.5, 2, []],
    ['max', -2, 2, []],
    ['min', -2, 2, []],
    ['atan2', 0.5, 2, []],
  ];
  for (const [name, lo, hi, lin] of binary) {
    for (const shape of [[2, 3], []]) {
      const a = f(shape, lo, hi);
      // max/min are smooth only away from ties: keep the operands at least 0.1 apart.
      const b =
        name === 'max' || name === 'min'
          ? P.add(
              a,
              randomArray(shape, () => (r() < 0.5 ? -1 : 1) * (0.1 + r())),
            )
          : f(shape, lo, hi);
      add(name, [a, b], {}, [0, 1], lin);
    }
  }
  // rem is smooth in both operands away from multiples of the divisor: keep |x| < y.
  add('rem', [f([2, 3], -1.5, 1.5), f([2, 3], 2, 3)], {}, [0, 1]);
  for (const name of ['add', 'sub', 'mul', 'div', 'rem', 'max', 'min']) add(name, [ints([4], 1, 9), ints([4], 1, 9)]);
  add('add', [ints([3], 0, 9, 'uint32'), ints([3], 0, 9, 'uint32')]);
  add('add', [f([0, 3]), f([0, 3])]);
  for (const name of ['eq', 'ne', 'lt', 'le', 'gt', 'ge']) {
    add(name, [ints([6], 0, 3), ints([6], 0, 3)]);
    add(name, [f([2, 2]), f([2, 2])]);
  }
  for (const name of ['and', 'or', 'xor']) {
    add(name, [ints([5], 0, 2, 'bool'), ints([5], 0, 2, 'bool')]);
    add(name, [ints([5], 0, 1000, 'uint32'), ints([5], 0, 1000, 'uint32')]);
  }
  add('not', [ints([5], 0, 2, 'bool')]);
  add('not', [ints([5], -9, 9)]);
  add('shift_left', [ints([4], 0, 1000, 'uint32'), ints([4], 0, 31, 'uint32')]);
  add('shift_right_logical', [ints([4], 0, 1e9, 'uint32'), ints([4], 0, 31, 'uint32')]);
  add('select', [ints([2, 3], 0, 2, 'bool'), f([2, 3]), f([2, 3])], {}, [1, 2], [1, 2]);
  add('select', [ints([], 0, 2, 'bool'), ints([], 0, 9), ints([], 0, 9)]);
  add('cast', [f([4])], { dtype: 'int32' });
  add('cast', [ints([4], -3, 3)], { dtype: 'float32' });
  add('cast', [f([4])], { dtype: 'float32' }, [0], [0]);
  add('cast', [f([3])], { dtype: 'bool' });
  add('bitcast', [f([3])], { dtype: 'uint32' });
  add('stop_gradient', [f([3])]);

  // Reductions
  for (const name of ['reduce_sum', 'reduce_max', 'reduce_min', 'reduce_prod']) {
    const lin = name === 'reduce_sum' ? [0] : [];
    add(name, [f([3, 4])], { axes: [1] }, [0], lin);
    add(name, [f([2, 3, 4])], { axes: [0, 2] }, [0], lin);
    add(name, [f([0, 3])], { axes: [0] }, [], []);
    add(name, [ints([3, 2], -5, 5)], { axes: [0] });
  }
  add(
    'reduce_prod',
    [randomArray([2, 3], () => [0, 1.5, -2, 0, 3, 0.5][Math.floor(6 * r())])],
    { axes: [1] },
    [0],
    [],
    'with zeros',
  );
  for (const name of ['argmax', 'argmin']) {
    add(name, [f([3, 5])], { axis: 1, indexDtype: 'int32' });
    add(name, [ints([4, 2], 0, 3)], { axis: 0, indexDtype: 'int32' });
  }
  add('argsort', [f([2, 6])], { descending: false });
  add('argsort', [ints([7], 0, 3)], { descending: true });

  // Views
  add('reshape', [f([2, 3])], { shape: [3, 2] }, [0], [0]);
  add('reshape', [f([])], { shape: [1, 1] }, [0], [0]);
  add('reshape', [f([0, 2])], { shape: [2, 0] });
  add('broadcast_in_dim', [f([3, 1])], { shape: [2, 3, 4], dims: [1, 2] }, [0], [0]);
  add('broadcast_in_dim', [f([])], { shape: [2, 2], dims: [] }, [0], [0]);
  add('transpose', [f([2, 3, 4])], { perm: [2, 0, 1] }, [0], [0]);
  add('transpose', [ints([2, 3], 0, 9)], { perm: [1, 0] });
  add('slice', [f([5, 6])], { start: [1, 0], limit: [4, 6], strides: [2, 3] }, [0], [0]);
  add('slice', [f([4])], { start: [2], limit: [2], strides: [1] }, [0], [0]);
  add('pad', [f([2, 3])], { lo: [1, 0], hi: [0, 2], interior: [1, 0], value: 0 }, [0], [0]);
  add('pad', [f([4, 3])], { lo: [-1, 1], hi: [0, -1], interior: [0, 0], value: 0 }, [0], [0], 'negative');
  add('pad', [ints([2], 0, 9)], { lo: [1], hi: [1], interior: [0], value: 7 });
  add('rev', [f([3, 4])], { axes: [0, 1] }, [0], [0]);
  add('concatenate', [f([2, 3]), f([2, 1]), f([2, 0])], { axis: 1 }, [0, 1], [0, 1, 2]);
  add('concatenate', [ints([1], 0, 9), ints([2], 0, 9)], { axis: 0 });
  add('iota', [], { shape: [3, 4], dtype: 'int32', dimension: 1 });
  add('iota', [], { shape: [5], dtype: 'float32', dimension: 0 });

  // Contractions and indexing
  add('dot_general', [f([3, 4]), f([4, 2])], { contract: [[1], [0]], batch: [[], []] }, [0, 1], [0], 'matmul');
  add('dot_general', [f([2, 3, 4]), f([2, 5, 4])], { contract: [[2], [2]], batch: [[0], [0]] }, [0, 1], [1], 'batched');
  add('dot_general', [f([4, 3, 2]), f([3, 5])], { contract: [[1], [0]], batch: [[], []] }, [0, 1], [0], 'middle');
  add('dot_general', [f([3]), f([3])], { contract: [[0], [0]], batch: [[], []] }, [0, 1], [1], 'inner');
  add('dot_general', [f([2, 0]), f([0, 3])], { contract: [[1], [0]], batch: [[], []] }, [], [], 'empty');
  add('dot_general', [ints([2, 3], -3, 3), ints([3, 2], -3, 3)], { contract: [[1], [0]], batch: [[], []] });
  add('gather', [f([5, 3]), ints([4], 0, 5)], { axis: 0 }, [0], [0]);
  add('gather', [f([2, 4, 3]), ints([2, 2], 0, 4)], { axis: 1 }, [0], [0]);
  add('scatter_add', [f([5, 2]), ints([3], 0, 5), f([3, 2])], { axis: 0 }, [0, 2], [0, 2]);
  const win = {
    window: [2, 2],
    strides: [1, 2],
    padding: [
      [1, 0],
      [0, 1],
    ],
    dilation: [1, 1],
  };
  add('unfold', [f([2, 3, 4])], { ...win, padValue: 0 }, [0], [0]);
  add(
    'unfold',
    [f([1, 5])],
    { window: [3], strides: [2], padding: [[1, 1]], dilation: [2], padValue: -Infinity },
    [],
    [],
    'maxpool',
  );
  add('fold', [f([2, 2, 2, 3, 2])], { ...win, spatial: [3, 4] }, [0], [0]);
  add('threefry2x32', [
    ints([3], 0, 2 ** 32, 'uint32'),
    ints([3], 0, 2 ** 32, 'uint32'),
    ints([3], 0, 2 ** 32, 'uint32'),
    ints([3], 0, 2 ** 32, 'uint32'),
  ]);

  // Decompositions, on well-conditioned matrices (distinct eigen- and singular values, pivots far apart).
  const plusDiagonal = (a: Array, d: number) => P.add(a, P.mul(P.eyeOf(a.shape, a.dtype), P.fullLike(a, d)));
  const spd = (shape: number[]) => {
    const a = f(shape);
    return plusDiagonal(P.mm(a, P.mT(a)), 1);
  };
  add('cholesky', [spd([3, 3])], {}, [0]);
  add('cholesky', [spd([2, 4, 4])], {}, [0]);
  const tri = { leftSide: true, lower: true, transposeA: false, unitDiagonal: false };
  add('triangular_solve', [plusDiagonal(f([3, 3]), 4), f([3, 2])], tri, [0, 1], [1]);
  add(
    'triangular_solve',
    [plusDiagonal(f([2, 3, 3]), 4), f([2, 4, 3])],
    { ...tri, leftSide: false, lower: false, transposeA: true },
    [0, 1],
    [1],
    'right',
  );
  add('triangular_solve', [f([3, 3]), f([3, 1])], { ...tri, unitDiagonal: true }, [0, 1], [1], 'unit');
  add('lu', [f([4, 4])], {}, [0]);
  add('lu', [f([2, 3, 3])], {}, [0]);
  add('qr', [f([4, 3])], { fullMatrices: false }, [0]);
  add('qr', [f([3, 3])], { fullMatrices: true }, [0]);
  add('qr', [f([2, 5])], { fullMatrices: true }, [], [], 'wide');
  const sym = (shape: number[]) => {
    const a = f(shape);
    return P.add(a, P.mT(a));
  };
  add('eigh', [sym([4, 4])], {}, [0]);
  add('eigh', [sym([2, 3, 3])], {}, [0]);
  add('svd', [f([4, 3])], { fullMatrices: false, computeUv: true }, [0]);
  add('svd', [f([2, 4])], { fullMatrices: false, computeUv: true }, [0], [], 'wide');
  add('svd', [f([2, 3, 3])], { fullMatrices: true, computeUv: true }, [0]);
  add('svd', [f([5, 2])], { fullMatrices: false, computeUv: false }, [0], [], 'values');
  add('svd', [f([3, 5])], { fullMatrices: true, computeUv: true }, [], [], 'full wide');

  // Control flow and custom rules, through small graphs
  const v = f([3]);
  const sinGraph = sub((x) => [P.sin(x)], [v.aval]);
  add('call', [v], { graph: sinGraph, name: 'sin' }, [0]);
  add('cond', [ints([], 0, 2), v], { branches: [sinGraph, sub((x) => [P.mul(x, x)], [v.aval])] }, [1]);
  const scanBody = sub((c, x) => [P.add(P.mul(c, x), P.sin(c)), P.mul(c, c)], [f([2]).aval, f([2]).aval]);
  add('scan', [f([2]), f([4, 2])], { body: scanBody, numConsts: 0, numCarry: 1, length: 4, reverse: false }, [0, 1]);
  add(
    'scan',
    [f([2]), f([3, 2])],
    { body: scanBody, numConsts: 1, numCarry: 0, length: 3, reverse: true },
    [0, 1],
    [],
    'consts',
  );
  const iv = ints([], 0, 1);
  const whileCond = sub((_w, i) => [P.lt(i, P.fullLike(i, 3))], [v.aval, iv.aval, v.aval]);
  const whileBody = sub((w, i, x) => [P.add(i, P.fullLike(i, 1)), P.mul(P.sin(x), w)], [v.aval, iv.aval, v.aval]);
  add(
    'while',
    [f([3]), f([3]), iv, v],
    { cond: whileCond, body: whileBody, numCondConsts: 1, numBodyConsts: 1 },
    [1, 3],
  );
  rows[rows.length - 1].noReverse = 'not reverse-differentiable';
  add(
    'custom_jvp_call',
    [v],
    { fun: (x: Array) => [P.sin(x)], rule: ([x]: Array[], [t]: Array[]) => [[P.sin(x)], [P.mul(t, P.cos(x))]] },
    [0],
  );
  add('custom_vjp_call', [v], {
    fun: (x: Array) => [P.sin(x)],
    fwd: (x: Array) => [P.sin(x), P.cos(x)],
    bwd: (c: Array, g: Array) => [P.mul(c, g)],
    numOuts: 1,
  });
  add(
    'custom_lin',
    [f([3]), f([3])],
    { bwd: (c: Array, g: Array) => [P.mul(c, g)], numRes: 1, outAvals: [v.aval] },
    [],
    [1],
  );
  rows[rows.length - 1].noEval =
    'custom_lin is only ever transposed (forward mode of customVjp is unsupported, as in JAX)';
  rows[rows.length - 1].forward = (c, t) => [P.mul(c, t)]; // the tangent map whose transpose is bwd(c, g) = c * g
  add('checkpoint', [v], { graph: sinGraph }, [0]);
  add('composite', [v], { name: 'sin', graph: sinGraph, numConsts: 0 }, [0]);
  add(
    'composite',
    [v],
    { name: 'fused_sin', graph: sinGraph, numConsts: 0, onnx: (e: OnnxEmitter, [x]: string[]) => [e.op('Sin', [x])] },
    [0],
    [],
    'fused',
  );
  // Across processes: the identity in one process (MPI's allreduce under mpiexec, test/mpi.test.ts).
  add('all_reduce', [f([3])], { op: 'sum' }, [0], [0]);
  add('all_reduce', [f([2, 2])], { op: 'max' }, [], [], 'max');
  add('all_gather_processes', [f([2, 3])], {}, [0], [0]);
  // Collectives exist only under a named mapped axis (pmap, vmap({ axisName })), which rewrites them.
  const axis = { axisName: 'i', size: 3 };
  const mapped = 'a collective: its laws run under a named vmap in test/distributed.test.ts';
  for (const [name, params] of [
    ['psum', axis],
    ['pmax', axis],
    ['pmin', axis],
    ['all_gather', { ...axis, axis: 0, tiled: false }],
    ['psum_scatter', { ...axis, axis: 0, tiled: false }],
    ['ppermute', { ...axis, perm: [[0, 1]] }],
  ] as const) {
    add(name, [f([3, 2])], params);
    rows[rows.length - 1].mappedOnly = mapped;
  }
  return rows;
}
