// Loads the PyTorch float64 reference data in ../shared/golden (format in its README).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Array, np } from '../src/index.js';

export const goldenDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared', 'golden');

export interface Tensor {
  shape: number[];
  dtype: 'float64' | 'int64';
  data: number[];
}
export interface GoldenCase {
  op: string;
  name: string;
  params: Record<string, any>;
  inputs: Record<string, Tensor>;
  outputs: Record<string, Tensor>;
  cotangents: Record<string, Tensor>;
  grads: Record<string, Tensor>;
  [k: string]: any;
}

export function loadGolden(family: string): GoldenCase[] {
  const file = join(goldenDir, `${family}.json`);
  if (!existsSync(file))
    throw new Error(`golden data missing: ${file} (CI and developers have ../shared beside the clone)`);
  return JSON.parse(readFileSync(file, 'utf8')).cases;
}

/** A float array (float32 by default; the inputs are exact in it), or int32 for int64, from a golden tensor. */
export const toArray = (t: Tensor, float: 'float32' | 'float64' = 'float32'): Array =>
  np.array(t.data, { dtype: t.dtype === 'int64' ? 'int32' : float, shape: t.shape });
