/**
 * Shape arithmetic shared by primitives and the np layer.
 * @module
 */
import { ShapeError, ValueError, fmtShape } from './errors.js';

export type Shape = readonly number[];

export const sizeOf = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

/** The most elements one array may hold (JavaScript typed arrays stop near 2^32 bytes). */
export const MAX_ELEMENTS = 2 ** 31 - 1;

/** Throws unless `shape` is a list of non-negative integers of at most {@link MAX_ELEMENTS} elements. */
export function checkShape(op: string, shape: readonly unknown[]): void {
  const dims = shape.slice(0, 8).map(String).join(', ') + (shape.length > 8 ? ', ...' : '');
  if (!shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0))
    throw new ValueError(`${op}: shape (${dims}) must be non-negative integers`);
  const n = (shape as number[]).reduce((a, b) => a * b, 1);
  if (n > MAX_ELEMENTS) throw new ValueError(`${op}: shape (${dims}) has ${n} elements, more than ${MAX_ELEMENTS}`);
}

/** Throws unless `v` (a count such as a size, a number of repeats or sections) is a non-negative integer. */
export function checkCount(op: string, what: string, v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0)
    throw new ValueError(`${op}: ${what} must be a non-negative integer, got ${String(v).slice(0, 20)}`);
  return v as number;
}

export const shapesEqual = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Row-major strides of `shape`. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** Normalises a possibly negative axis against `ndim`, naming `op` when it is out of range. */
export function normAxis(op: string, axis: number, ndim: number): number {
  if (!Number.isInteger(axis) || axis < -ndim || axis >= ndim) {
    throw new ValueError(`${op}: axis ${axis} is out of bounds for an array of rank ${ndim}`);
  }
  return axis < 0 ? axis + ndim : axis;
}

/** Normalises a list of axes (`undefined` meaning all), rejecting duplicates. */
export function normAxes(op: string, axes: number | readonly number[] | undefined | null, ndim: number): number[] {
  if (axes === undefined || axes === null) return [...Array(ndim).keys()];
  if (typeof axes !== 'number' && !Array.isArray(axes))
    throw new ValueError(`${op}: axis must be an integer or a list of integers, got ${String(axes).slice(0, 20)}`);
  const list = (typeof axes === 'number' ? [axes] : axes).map((a) => normAxis(op, a, ndim));
  if (new Set(list).size !== list.length) throw new ValueError(`${op}: repeated axis in [${axes}]`);
  return list;
}

/** numpy broadcasting of several shapes. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const ndim = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(ndim).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = ndim - s.length + i;
      const d = s[i];
      if (out[j] === 1) out[j] = d;
      else if (d !== 1 && d !== out[j]) {
        throw new ShapeError(`${op}: cannot broadcast shapes ${shapes.map(fmtShape).join(' and ')}`);
      }
    }
  }
  return out;
}

/** Throws a ShapeError naming `op` unless the shapes are equal. */
export function checkSameShapes(op: string, shapes: readonly Shape[]): void {
  for (const s of shapes) {
    if (!shapesEqual(s, shapes[0])) {
      throw new ShapeError(`${op}: operands must have equal shapes, got ${shapes.map(fmtShape).join(' and ')}`);
    }
  }
}
