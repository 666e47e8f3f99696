/**
 * ONNX's sequence and optional values as JavaScript values: a sequence is a list of arrays (or of
 * sequences), an empty optional is `null` and a full one is its value. The operators here take
 * and return such values; every other operator takes arrays and refuses the rest clearly.
 * @module
 */
import type { Array } from '../core/array.js';
import { FluxionError } from '../core/errors.js';
import * as np from '../np/index.js';
import type { OpContext } from './ops.js';

/** A value of an imported graph: an array, a sequence (a list), or an empty optional (`null`). @category ONNX */
export type OnnxValue = Array | OnnxValue[] | null;

type ValueOp = (ins: (OnnxValue | undefined)[], ctx: OpContext) => (OnnxValue | undefined)[];

const isList = (v: OnnxValue | undefined): v is OnnxValue[] => globalThis.Array.isArray(v);

function sequence(v: OnnxValue | undefined, ctx: OpContext): OnnxValue[] {
  if (!isList(v)) throw new FluxionError(`${ctx.where}: input 0 must be a sequence`);
  return v;
}

function tensor(v: OnnxValue | undefined, ctx: OpContext, what: string): Array {
  if (v === undefined || v === null || isList(v)) throw new FluxionError(`${ctx.where}: ${what} must be a tensor`);
  return v;
}

/** A known position in a sequence of `n` (negative counts from the end; `n` allowed where inserting). */
function position(v: OnnxValue | undefined, n: number, ctx: OpContext, inserting: boolean): number {
  if (v === undefined) return inserting ? n : n - 1;
  const c = tensor(v, ctx, 'position').toConcrete();
  if (!c) throw new FluxionError(`${ctx.where}: position must be a known value`);
  const p = Number(c.buffer[0]);
  const at = p < 0 ? p + n : p;
  if (!Number.isInteger(p) || at < 0 || at > (inserting ? n : n - 1))
    throw new FluxionError(`${ctx.where}: position ${p} is outside a sequence of ${n}`);
  return at;
}

export const sequenceOps: Record<string, ValueOp> = {
  Identity: (ins) => [ins[0]],
  SequenceEmpty: () => [[]],
  SequenceConstruct: (ins, ctx) => [ins.map((v, i) => tensor(v, ctx, `input ${i}`))],
  SequenceLength: (ins, ctx) => [np.array(sequence(ins[0], ctx).length, { dtype: 'int32' })],
  SequenceAt: (ins, ctx) => {
    const s = sequence(ins[0], ctx);
    return [s[position(ins[1], s.length, ctx, false)]];
  },
  SequenceInsert: (ins, ctx) => {
    const s = [...sequence(ins[0], ctx)];
    s.splice(position(ins[2], s.length, ctx, true), 0, tensor(ins[1], ctx, 'tensor'));
    return [s];
  },
  SequenceErase: (ins, ctx) => {
    const s = [...sequence(ins[0], ctx)];
    s.splice(position(ins[1], s.length, ctx, false), 1);
    return [s];
  },
  SplitToSequence: (ins, ctx) => {
    const x = tensor(ins[0], ctx, 'input');
    const ax = ctx.attrs.int('axis', 0);
    const a = ax < 0 ? ax + x.ndim : ax;
    const n = x.shape[a];
    if (ins[1] === undefined) {
      // No split: single elements, the axis kept or dropped.
      const keep = ctx.attrs.int('keepdims', 1) === 1;
      return [np.split(x, n, { axis: a }).map((p) => (keep ? p : np.squeeze(p, { axis: a })))];
    }
    const c = tensor(ins[1], ctx, 'split').toConcrete();
    if (!c) throw new FluxionError(`${ctx.where}: split must be a known value`);
    const sizes = globalThis.Array.from(c.buffer, Number);
    // A scalar split is a chunk size (the last chunk may be shorter); a list gives each size.
    const lengths =
      c.ndim === 0
        ? globalThis.Array.from({ length: Math.ceil(n / sizes[0]) }, (_, i) => Math.min(sizes[0], n - i * sizes[0]))
        : sizes;
    if (lengths.reduce((p, q) => p + q, 0) !== n)
      throw new FluxionError(`${ctx.where}: split sizes [${lengths}] do not add up to ${n}`);
    const cuts = lengths.slice(0, -1).map((_, i) => lengths.slice(0, i + 1).reduce((p, q) => p + q, 0));
    return [np.split(x, cuts, { axis: a })];
  },
  ConcatFromSequence: (ins, ctx) => {
    const s = sequence(ins[0], ctx).map((v, i) => tensor(v, ctx, `element ${i}`));
    const ax = ctx.attrs.int('axis');
    return [ctx.attrs.int('new_axis', 0) ? np.stack(s, { axis: ax }) : np.concatenate(s, { axis: ax })];
  },
  SequenceMap: (ins, ctx) => {
    const body = ctx.attrs.graph('body');
    if (!body) throw new FluxionError(`${ctx.where}: needs a body`);
    const n = sequence(ins[0], ctx).length;
    const outs: OnnxValue[][] = body.output.map(() => []);
    for (let i = 0; i < n; i++) {
      const env = new Map(ctx.env);
      // Sequences give their i-th element; tensors are passed whole to every step.
      ins.forEach((v, k) => env.set(body.input[k].name, isList(v) ? v[i] : (v ?? null)));
      ctx.run(body, env, ctx.opset).forEach((y, k) => outs[k].push(y ?? null));
    }
    return outs;
  },
  Optional: (ins) => [ins[0] ?? null],
  OptionalHasElement: (ins) => [np.array(ins[0] !== undefined && ins[0] !== null)],
  OptionalGetElement: (ins, ctx) => {
    if (ins[0] === undefined || ins[0] === null) throw new FluxionError(`${ctx.where}: the optional is empty`);
    return [ins[0]];
  },
};
