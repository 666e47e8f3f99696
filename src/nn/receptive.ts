/**
 * Receptive-field analysis of a layer stack: for each layer, the size of the input region
 * one output unit sees, the jump (distance in input pixels between adjacent outputs) and the
 * offset of the first output's centre. Along one spatial axis, for a window layer with kernel
 * k, stride s, padding p and dilation d:
 * `jump' = jump * s`, `size' = size + (k - 1) * d * jump`, `start' = start + ((k - 1) d / 2 - p) * jump`.
 * A conv (K) followed by a pool (P, stride P) sees P + K - 1 inputs, the rule in the lecture.
 * @module
 */
import { key } from '../random.js';
import type { Layer } from './layer.js';

/** One row of a receptive-field table. @category Layers */
export interface ReceptiveFieldRow {
  name: string;
  size: number;
  jump: number;
  start: number;
  outShape: number[];
}

/**
 * Receptive field after every layer of a (nested) serial stack; branches of parallel blocks
 * contribute their largest field.
 * @example receptiveField(serial(conv2d(1, 3), maxPool2d(2)), [1, 1, 28, 28]).at(-1)!.size // 4
 * @category Layers
 */
export function receptiveField(layer: Layer, inShape: number[]): ReceptiveFieldRow[] {
  const rows: ReceptiveFieldRow[] = [];
  let cur = { size: 1, jump: 1, start: 0.5 };
  const visit = (l: Layer) => {
    if (l.name === 'serial' && l.layers) return l.layers.forEach(visit);
    if (l.layers && !l.window) {
      // A branching block: follow each branch from the same point and keep the widest.
      const before = cur;
      let best = cur;
      for (const b of l.layers) {
        cur = before;
        visit(b);
        if (cur.size > best.size) best = cur;
      }
      cur = best;
      rows.push({ name: l.name, ...cur, outShape: [] });
      return;
    }
    if (l.window) {
      const { kernel: k, stride: s, padding: p, dilation: d } = l.window;
      cur = {
        size: cur.size + (k - 1) * d * cur.jump,
        jump: cur.jump * s,
        start: cur.start + (((k - 1) * d) / 2 - p) * cur.jump,
      };
    }
    rows.push({ name: l.name, ...cur, outShape: [] });
  };
  visit(layer);
  // Output shapes, from one init of the whole stack's layers in order (shapes only).
  const shapes = stackShapes(layer, inShape);
  rows.forEach((r, i) => (r.outShape = shapes[i] ?? []));
  return rows;
}

function stackShapes(layer: Layer, inShape: number[]): number[][] {
  const out: number[][] = [];
  const k = key(0);
  const visit = (l: Layer, shape: number[]): number[] => {
    if (l.name === 'serial' && l.layers) return l.layers.reduce((s, sub) => visit(sub, s), shape);
    const next = l.init(k, shape).outShape;
    out.push(next);
    return next;
  };
  visit(layer, inShape);
  return out;
}
