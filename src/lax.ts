/**
 * `lax`: the strict layer under `np`. Functions apply one primitive each and require equal
 * shapes and dtypes (no broadcasting, no promotion), as in `jax.lax`.
 * @module
 */
export {
  add,
  sub,
  mul,
  div,
  pow,
  max,
  min,
  neg,
  exp,
  log,
  sin,
  cos,
  sign,
  eq,
  ne,
  lt,
  le,
  gt,
  select,
  cast,
  bitcast,
  reshape,
  broadcastInDim,
  transpose,
  pad,
  iota,
  reduceSum,
  reduceMax,
  dotGeneral,
  gather,
  scatterAdd,
  unfold,
  fold,
  threefry2x32,
  windowOutShape,
  dynamicSlice,
  dynamicUpdateSlice,
  topK,
} from './primitives/index.js';
export type { DotParams, WindowParams, UnfoldParams, FoldParams, TriangularSolveOptions } from './primitives/index.js';
import { cholesky, triangularSolve, lu, qr, eigh, svd } from './primitives/index.js';
/**
 * `lax.linalg`: the decompositions everything in `np.linalg` is built from (`jax.lax.linalg`):
 * `cholesky`, `triangularSolve`, `lu`, `qr`, `eigh` (`[v, w]`), `svd` (`[s, u, vt]`).
 * @category lax
 */
export const linalg = { cholesky, triangularSolve, lu, qr, eigh, svd };
export { cond, switchCase as switch } from './control/cond.js';
export {
  psum,
  pmean,
  pmeanBuckets,
  pmax,
  pmin,
  allGather,
  psumScatter,
  ppermute,
  axisIndex,
} from './distributed/collectives.js';
export { scan, type ScanOptions } from './control/scan.js';
export { whileLoop, fori } from './control/while.js';
