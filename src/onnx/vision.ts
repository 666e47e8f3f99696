/**
 * ONNX operators of detection and sampling models: `GridSample` (bilinear, nearest, bicubic;
 * zeros, border and reflection padding; align_corners) as gathers with computed weights, so it
 * differentiates in the input and the grid; and the data-dependent `NonMaxSuppression` and
 * `Unique`, whose output sizes depend on the values, and `RoiAlign`, whose sampling grid does: they
 * run on known values (eagerly, or on constants under a transform) and are refused clearly on traced ones.
 * @module
 */
import { type Array, ConcreteArray } from '../core/array.js';
import { FluxionError } from '../core/errors.js';
import * as np from '../np/index.js';
import type { OpContext } from './ops.js';

type Op = (ins: (Array | undefined)[], ctx: OpContext) => (Array | undefined)[];

function concrete(x: Array | undefined, ctx: OpContext, what: string): ConcreteArray {
  const c = x?.toConcrete();
  if (!c)
    throw new FluxionError(
      `${ctx.where}: its output size depends on the values of ${what}, which must be known (call the model eagerly)`,
    );
  return c;
}

// ---------------------------------------------------------------- GridSample

/** Source coordinates of normalised grid values along an axis of `size` pixels. */
const unnormalize = (g: Array, size: number, alignCorners: boolean) =>
  alignCorners
    ? np.multiply(np.add(g, 1), (size - 1) / 2)
    : np.divide(np.subtract(np.multiply(np.add(g, 1), size), 1), 2);

/** Reflects coordinates into [lo, hi] (the spec's reflection padding), repeatedly. */
function reflect(x: Array, lo: number, hi: number): Array {
  const span = hi - lo;
  if (span <= 0) return np.zerosLike(x);
  const d = np.abs(np.subtract(x, lo));
  const flips = np.floor(np.divide(d, span));
  const extra = np.subtract(d, np.multiply(flips, span));
  return np.where(np.equal(np.remainder(flips, 2), 0), np.add(lo, extra), np.subtract(hi, extra));
}

const gridSample: Op = (ins, ctx) => {
  const [x, grid] = [ins[0], ins[1]];
  if (!x || !grid || x.ndim !== 4 || grid.ndim !== 4)
    throw new FluxionError(`${ctx.where}: expects X [N, C, H, W] and a grid [N, H_out, W_out, 2]`);
  const mode = ctx.attrs.string('mode', 'bilinear');
  const padding = ctx.attrs.string('padding_mode', 'zeros');
  const align = ctx.attrs.int('align_corners', 0) !== 0;
  const [N, C, H, W] = x.shape;
  const [, Ho, Wo] = grid.shape;
  let px = unnormalize(np.take(grid, 0, { axis: -1 }), W, align);
  let py = unnormalize(np.take(grid, 1, { axis: -1 }), H, align);
  // Border and reflection padding move the coordinates inside; zeros padding masks the taps outside.
  if (padding === 'border') [px, py] = [np.clip(px, 0, W - 1), np.clip(py, 0, H - 1)];
  else if (padding === 'reflection')
    [px, py] = align
      ? [reflect(px, 0, W - 1), reflect(py, 0, H - 1)]
      : [np.clip(reflect(px, -0.5, W - 0.5), 0, W - 1), np.clip(reflect(py, -0.5, H - 0.5), 0, H - 1)];
  else if (padding !== 'zeros') throw new FluxionError(`${ctx.where}: padding_mode '${padding}' is not in the spec`);
  const flat = np.reshape(x, [N, C, H * W]);
  /** x at integer pixel (iy, ix) [N, Ho, Wo], zero outside. */
  const tap = (iy: Array, ix: Array) => {
    const inside = np.logicalAnd(
      np.logicalAnd(np.greaterEqual(ix, 0), np.lessEqual(ix, W - 1)),
      np.logicalAnd(np.greaterEqual(iy, 0), np.lessEqual(iy, H - 1)),
    );
    const index = np.add(np.multiply(np.clip(iy, 0, H - 1), W), np.clip(ix, 0, W - 1));
    const idx = np.broadcastTo(np.reshape(np.astype(index, 'int32'), [N, 1, Ho * Wo]), [N, C, Ho * Wo]);
    const v = np.reshape(np.takeAlongAxis(flat, idx, 2), [N, C, Ho, Wo]);
    return np.where(np.expandDims(inside, 1), v, 0);
  };
  const w = (v: Array) => np.expandDims(v, 1);
  if (mode === 'nearest') return [tap(np.round(py), np.round(px))];
  const [x0, y0] = [np.floor(px), np.floor(py)];
  const [fx, fy] = [np.subtract(px, x0), np.subtract(py, y0)];
  if (mode === 'bilinear' || mode === 'linear') {
    const [x1, y1] = [np.add(x0, 1), np.add(y0, 1)];
    const top = np.add(np.multiply(tap(y0, x0), w(np.subtract(1, fx))), np.multiply(tap(y0, x1), w(fx)));
    const bottom = np.add(np.multiply(tap(y1, x0), w(np.subtract(1, fx))), np.multiply(tap(y1, x1), w(fx)));
    return [np.add(np.multiply(top, w(np.subtract(1, fy))), np.multiply(bottom, w(fy)))];
  }
  if (mode === 'bicubic' || mode === 'cubic') {
    // Keys' cubic with a = -0.75 over the 4 × 4 neighbourhood; taps outside follow the padding mode.
    const A = -0.75;
    const coeffs = (t: Array) => {
      const c = (d: Array, near: boolean) =>
        near
          ? np.add(np.multiply(np.multiply(np.subtract(np.multiply(A + 2, d), A + 3), d), d), 1)
          : np.subtract(np.multiply(np.add(np.multiply(np.subtract(np.multiply(A, d), 5 * A), d), 8 * A), d), 4 * A);
      return [c(np.add(t, 1), false), c(t, true), c(np.subtract(1, t), true), c(np.subtract(2, t), false)];
    };
    const [cx, cy] = [coeffs(fx), coeffs(fy)];
    const at = (iy: Array, ix: Array) => {
      if (padding === 'zeros') return tap(iy, ix);
      const fixIx =
        padding === 'border'
          ? np.clip(ix, 0, W - 1)
          : align
            ? reflect(ix, 0, W - 1)
            : np.clip(reflect(ix, -0.5, W - 0.5), 0, W - 1);
      const fixIy =
        padding === 'border'
          ? np.clip(iy, 0, H - 1)
          : align
            ? reflect(iy, 0, H - 1)
            : np.clip(reflect(iy, -0.5, H - 0.5), 0, H - 1);
      return tap(np.round(fixIy), np.round(fixIx));
    };
    let out: Array | null = null;
    for (let i = 0; i < 4; i++)
      for (let j = 0; j < 4; j++) {
        const v = np.multiply(at(np.add(y0, i - 1), np.add(x0, j - 1)), w(np.multiply(cy[i], cx[j])));
        out = out ? np.add(out, v) : v;
      }
    return [out!];
  }
  throw new FluxionError(`${ctx.where}: mode '${mode}' is not bilinear, nearest or bicubic`);
};

// ---------------------------------------------------------------- NonMaxSuppression

const nonMaxSuppression: Op = (ins, ctx) => {
  const boxes = concrete(ins[0], ctx, 'boxes'),
    scores = concrete(ins[1], ctx, 'scores');
  const maxOut = ins[2] && ins[2].size ? Number(concrete(ins[2], ctx, 'max_output_boxes_per_class').buffer[0]) : 0;
  const iouThreshold = ins[3] && ins[3].size ? Number(concrete(ins[3], ctx, 'iou_threshold').buffer[0]) : 0;
  const scoreThreshold = ins[4] && ins[4].size ? Number(concrete(ins[4], ctx, 'score_threshold').buffer[0]) : -Infinity;
  const center = ctx.attrs.int('center_point_box', 0) === 1;
  const [batches, n] = boxes.shape;
  const classes = scores.shape[1];
  const b = boxes.buffer,
    s = scores.buffer;
  /** [y1, x1, y2, x2] with y1 ≤ y2 and x1 ≤ x2. */
  const corners = (bi: number, i: number): number[] => {
    const [p, q, r, t] = [0, 1, 2, 3].map((k) => Number(b[(bi * n + i) * 4 + k]));
    if (center) return [q - t / 2, p - r / 2, q + t / 2, p + r / 2];
    return [Math.min(p, r), Math.min(q, t), Math.max(p, r), Math.max(q, t)];
  };
  const iou = (u: number[], v: number[]) => {
    const h = Math.max(0, Math.min(u[2], v[2]) - Math.max(u[0], v[0]));
    const w = Math.max(0, Math.min(u[3], v[3]) - Math.max(u[1], v[1]));
    const inter = h * w;
    const union = (u[2] - u[0]) * (u[3] - u[1]) + (v[2] - v[0]) * (v[3] - v[1]) - inter;
    return union > 0 ? inter / union : 0;
  };
  const selected: number[] = [];
  for (let bi = 0; bi < batches; bi++)
    for (let c = 0; c < classes; c++) {
      const score = (i: number) => Number(s[(bi * classes + c) * n + i]);
      const order = [...globalThis.Array(n).keys()]
        .filter((i) => score(i) > scoreThreshold)
        .sort((i, j) => score(j) - score(i) || i - j);
      const kept: number[] = [];
      for (const i of order) {
        if (kept.length >= maxOut) break;
        const box = corners(bi, i);
        if (kept.every((k) => iou(box, corners(bi, k)) <= iouThreshold)) kept.push(i);
      }
      for (const i of kept) selected.push(bi, c, i);
    }
  return [np.array(selected, { dtype: 'int32', shape: [selected.length / 3, 3] })];
};

// ---------------------------------------------------------------- Unique

const unique: Op = (ins, ctx) => {
  const x = concrete(ins[0], ctx, 'X');
  const sorted = ctx.attrs.int('sorted', 1) !== 0;
  const axisAttr = ctx.attrs.has('axis') ? ctx.attrs.int('axis') : null;
  // Slices along the axis (single elements without one), compared as tuples.
  const a =
    axisAttr === null ? np.reshape(x, [x.size, 1]) : np.moveaxis(x, axisAttr < 0 ? axisAttr + x.ndim : axisAttr, 0);
  const count = a.shape[0];
  const width = count ? a.size / count : 0;
  const vals = a.toConcrete()!.buffer;
  const slice = (i: number) => globalThis.Array.from(vals.subarray(i * width, (i + 1) * width), Number);
  const compare = (p: number[], q: number[]) => {
    for (let k = 0; k < p.length; k++) if (p[k] !== q[k]) return p[k] - q[k];
    return 0;
  };
  const firsts: number[] = [];
  const inverse: number[] = new globalThis.Array(count);
  const counts: number[] = [];
  for (let i = 0; i < count; i++) {
    const j = firsts.findIndex((f) => compare(slice(f), slice(i)) === 0);
    if (j >= 0) {
      inverse[i] = j;
      counts[j]++;
    } else {
      inverse[i] = firsts.length;
      firsts.push(i);
      counts.push(1);
    }
  }
  const order = [...firsts.keys()];
  if (sorted) order.sort((p, q) => compare(slice(firsts[p]), slice(firsts[q])));
  const rank = new globalThis.Array<number>(order.length);
  order.forEach((o, r) => (rank[o] = r));
  const picked = order.map((o) => firsts[o]);
  const ys = np.take(a, np.array(picked, { dtype: 'int32' }), { axis: 0 });
  const y =
    axisAttr === null
      ? np.reshape(ys, [picked.length])
      : np.moveaxis(ys, 0, axisAttr < 0 ? axisAttr + x.ndim : axisAttr);
  return [
    y,
    np.array(picked, { dtype: 'int32' }),
    np.array(
      inverse.map((v) => rank[v]),
      { dtype: 'int32' },
    ),
    np.array(
      order.map((o) => counts[o]),
      { dtype: 'int32' },
    ),
  ];
};

// ---------------------------------------------------------------- MaxUnpool

/** MaxPool's inverse: X's values at MaxPool's flat indices (into the whole output), zeros elsewhere. */
const maxUnpool: Op = (ins, ctx) => {
  const [x, indices] = [ins[0], ins[1]];
  if (!x || !indices) throw new FluxionError(`${ctx.where}: X and I are required`);
  const kernel = ctx.attrs.ints('kernel_shape');
  const r = kernel.length;
  const strides = ctx.attrs.ints(
    'strides',
    kernel.map(() => 1),
  );
  const pads = ctx.attrs.ints('pads', new globalThis.Array(2 * r).fill(0));
  const inferred = [
    ...x.shape.slice(0, 2),
    ...kernel.map((k, i) => (x.shape[2 + i] - 1) * strides[i] - pads[i] - pads[i + r] + k),
  ];
  const given = ins[2] ? concrete(ins[2], ctx, 'output_shape') : null;
  const shape = given ? globalThis.Array.from(given.buffer, Number) : inferred;
  // Indices count positions in the inferred shape; a given output shape re-lays them out.
  let idx = np.ravel(np.astype(indices, 'int32'));
  if (given) {
    let rest = idx;
    let flat = np.zerosLike(idx);
    let stride = 1;
    for (let k = shape.length - 1; k >= 0; k--) {
      flat = np.add(flat, np.multiply(np.remainder(rest, inferred[k]), stride));
      rest = np.floorDivide(rest, inferred[k]);
      stride *= shape[k];
    }
    idx = flat;
  }
  const total = shape.reduce((m, d) => m * d, 1);
  const out = np.zeros([total], { dtype: x.dtype }).at(idx).add(np.ravel(x));
  return [np.reshape(out, shape)];
};

// ---------------------------------------------------------------- RoiAlign

/**
 * RoiAlign (Mask R-CNN): each region's bins average (or take the largest of) bilinear samples on a
 * regular grid. The grid depends on the regions' sizes, so the regions must be known; the samples
 * are gathers of `x` with computed weights, so the result differentiates in `x`.
 */
const roiAlign: Op = (ins, ctx) => {
  const x = ins[0];
  if (!x || x.ndim !== 4) throw new FluxionError(`${ctx.where}: X must be [N, C, H, W]`);
  const rois = concrete(ins[1], ctx, 'rois'),
    batch = concrete(ins[2], ctx, 'batch_indices');
  const [n, c, h, w] = x.shape;
  const oh = ctx.attrs.int('output_height', 1),
    ow = ctx.attrs.int('output_width', 1);
  const ratio = ctx.attrs.int('sampling_ratio', 0),
    scale = ctx.attrs.float('spatial_scale', 1);
  const mode = ctx.attrs.string('mode', 'avg');
  if (mode !== 'avg' && mode !== 'max') throw new FluxionError(`${ctx.where}: mode must be avg or max, got '${mode}'`);
  const halfPixel = ctx.attrs.string(
    'coordinate_transformation_mode',
    ctx.opset >= 16 ? 'half_pixel' : 'output_half_pixel',
  );
  const offset = halfPixel === 'half_pixel' ? 0.5 : 0;
  const r = rois.shape[0];
  // Per region and bin: up to `most` samples of four weighted corners (flat indices into [N*H*W]).
  type Sample = { at: number[]; weight: number[] };
  const bins: Sample[][] = [];
  const counts: number[] = [];
  for (let k = 0; k < r; k++) {
    const b = Number(batch.buffer[k]);
    if (!(b >= 0 && b < n)) throw new FluxionError(`${ctx.where}: batch index ${b} is outside [0, ${n})`);
    const [x1, y1, x2, y2] = [0, 1, 2, 3].map((i) => Number(rois.buffer[k * 4 + i]) * scale - offset);
    const rw = offset ? x2 - x1 : Math.max(x2 - x1, 1),
      rh = offset ? y2 - y1 : Math.max(y2 - y1, 1);
    const gh = ratio > 0 ? ratio : Math.ceil(rh / oh),
      gw = ratio > 0 ? ratio : Math.ceil(rw / ow);
    counts.push(Math.max(gh * gw, 1));
    for (let ph = 0; ph < oh; ph++)
      for (let pw = 0; pw < ow; pw++) {
        const samples: Sample[] = [];
        for (let iy = 0; iy < gh; iy++)
          for (let ix = 0; ix < gw; ix++) {
            let y = y1 + ph * (rh / oh) + ((iy + 0.5) * rh) / oh / gh,
              xx = x1 + pw * (rw / ow) + ((ix + 0.5) * rw) / ow / gw;
            if (y < -1 || y > h || xx < -1 || xx > w) {
              samples.push({ at: [0, 0, 0, 0], weight: [0, 0, 0, 0] });
              continue;
            }
            y = Math.max(y, 0);
            xx = Math.max(xx, 0);
            let [yl, xl] = [Math.floor(y), Math.floor(xx)];
            let [yh, xh] = [yl + 1, xl + 1];
            if (yl >= h - 1) [yl, yh, y] = [h - 1, h - 1, h - 1];
            if (xl >= w - 1) [xl, xh, xx] = [w - 1, w - 1, w - 1];
            const [ly, lx] = [y - yl, xx - xl];
            const base = b * h * w;
            samples.push({
              at: [base + yl * w + xl, base + yl * w + xh, base + yh * w + xl, base + yh * w + xh],
              weight: [(1 - ly) * (1 - lx), (1 - ly) * lx, ly * (1 - lx), ly * lx],
            });
          }
        bins.push(samples);
      }
  }
  const most = Math.max(1, ...bins.map((s) => s.length));
  // Bins with fewer samples are padded with weight 0 (ignored by avg) and marked for max.
  const at = new Int32Array(bins.length * most * 4),
    weight = new Float32Array(bins.length * most * 4),
    real = new Uint8Array(bins.length * most);
  bins.forEach((samples, i) =>
    samples.forEach((smp, j) => {
      real[i * most + j] = 1;
      for (let q = 0; q < 4; q++) {
        at[(i * most + j) * 4 + q] = smp.at[q];
        weight[(i * most + j) * 4 + q] = smp.weight[q];
      }
    }),
  );
  const pixels = np.reshape(np.transpose(x, [0, 2, 3, 1]), [n * h * w, c]);
  const corners = np.take(pixels, np.array(at, { dtype: 'int32' }), { axis: 0 }); // [bins*most*4, C]
  const weighted = np.multiply(
    np.reshape(corners, [bins.length, most, 4, c]),
    np.astype(np.reshape(np.array(weight), [bins.length, most, 4, 1]), x.dtype),
  );
  let pooled: Array;
  if (mode === 'avg') {
    const perRegion = np.repeat(np.array(counts), oh * ow);
    pooled = np.divide(np.sum(weighted, { axis: [1, 2] }), np.astype(np.reshape(perRegion, [-1, 1]), x.dtype));
  } else {
    // The spec's reference takes the largest weighted corner of each sample.
    const best = np.max(weighted, { axis: 2 });
    const mask = np.reshape(np.array(real, { dtype: 'bool' }), [bins.length, most, 1]);
    pooled = np.max(np.where(mask, best, -Infinity), { axis: 1 });
  }
  return [np.transpose(np.reshape(pooled, [r, oh, ow, c]), [0, 3, 1, 2])];
};

export const visionOps: Record<string, Op> = {
  RoiAlign: roiAlign,
  MaxUnpool: maxUnpool,
  GridSample: gridSample,
  NonMaxSuppression: nonMaxSuppression,
  Unique: unique,
};
