/**
 * numpy-like printing of concrete arrays: aligned columns, `...` elision past 1000 elements,
 * shape and dtype visible.
 * @module
 */
import { type DType, coerce, isFloat } from './dtype.js';
import { fmtShape } from './errors.js';
import { sizeOf } from './shape.js';

const THRESHOLD = 1000;
const EDGE = 3;

/** Shortest decimal that reads back as the same element of `dtype`, numpy style (`1.` for integers). */
const fmtFloat = (dtype: DType) => (v: number) => {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return `${v}.`;
  for (let p = 1; p <= 17; p++) {
    const s = v.toPrecision(p);
    if (coerce(dtype, Number(s)) === v) return String(Number(s));
  }
  return String(v);
};

/** What printing needs of an array: its elements as numbers, its shape and its dtype. */
export interface Printable {
  readonly buffer: ArrayLike<number>;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export function formatArray(x: Printable): string {
  const data = x.buffer;
  const fmt =
    x.dtype === 'bool' ? (v: number) => (v ? 'true' : 'false') : isFloat(x.dtype) ? fmtFloat(x.dtype) : String;
  const summarize = sizeOf(x.shape) > THRESHOLD;
  const cells = new Map<number, string>();
  let width = 0;
  const cell = (i: number) => {
    let s = cells.get(i);
    if (s === undefined) cells.set(i, (s = fmt(data[i])));
    return s;
  };
  // First pass: visit printed elements to learn the column width.
  const visit = (dim: number, off: number, f: (i: number) => void) => {
    if (dim === x.shape.length) return f(off);
    const n = x.shape[dim];
    const stride = sizeOf(x.shape.slice(dim + 1));
    for (let i = 0; i < n; i++) {
      if (summarize && n > 2 * EDGE && i === EDGE) i = n - EDGE;
      visit(dim + 1, off + i * stride, f);
    }
  };
  visit(0, 0, (i) => (width = Math.max(width, cell(i).length)));
  const prefix = 'Array(';
  const render = (dim: number, off: number, indent: string): string => {
    if (dim === x.shape.length) return cell(off).padStart(width);
    const n = x.shape[dim];
    const stride = sizeOf(x.shape.slice(dim + 1));
    const parts: string[] = [];
    for (let i = 0; i < n; i++) {
      if (summarize && n > 2 * EDGE && i === EDGE) {
        parts.push('...');
        i = n - EDGE;
      }
      parts.push(render(dim + 1, off + i * stride, indent + ' '));
    }
    const sep = dim === x.shape.length - 1 ? ', ' : ',' + '\n'.repeat(x.shape.length - dim - 1) + indent + ' ';
    return '[' + parts.join(sep) + ']';
  };
  const body = render(0, 0, ' '.repeat(prefix.length));
  return `${prefix}${body}, shape=${fmtShape(x.shape)}, dtype=${x.dtype})`;
}
