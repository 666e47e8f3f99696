/**
 * `np`: the numpy-like namespace (camelCase jax.numpy). Broadcasting and dtype promotion
 * happen here, once; everything below is strict.
 * @module
 */
import { installArrayOps } from '../core/array.js';
import * as math from './math.js';
import * as red from './reductions.js';
import * as shapes from './shapes.js';
import * as indexing from './indexing.js';
import * as contractions from './contractions.js';

export * from './creation.js';
export * from './math.js';
export * from './reductions.js';
export * from './statistics.js';
export * from './arrange.js';
export * from './shapes.js';
export { slice, take, takeAlongAxis } from './indexing.js';
export * from './contractions.js';
export * as linalg from './linalg.js';
export * from './dtypes.js';
export type { DType } from '../core/dtype.js';

installArrayOps({
  binary: (op, x, y) => (op === 'matmul' ? contractions.matmul(x, y) : math[op](x, y)),
  unary: (op, x) => math[op](x),
  reduce: (op, x, opts) => red[op](x, opts as never),
  reshape: shapes.reshape,
  transpose: shapes.transpose,
  astype: math.astype,
  slice: (x, index) => indexing.slice(x, ...index),
  at: indexing.atIndex,
  take: indexing.take,
});
