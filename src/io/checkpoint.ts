/**
 * Checkpoint files: safetensors on disk, written atomically, and read back into the structure
 * of a template tree (a model's params, an optimizer's state, a whole training state).
 * @module
 */
import type { Array, ShapedArray } from '../core/array.js';
import { ValueError, fmtShape } from '../core/errors.js';
import { flatten, leafPaths, unflatten } from '../tree.js';
import { type LoadOptions, type Loaded, loadSafetensors, saveSafetensors } from './safetensors.js';
import { fs, path as nodePath } from './node.js';
import { checkOptions, t } from '../core/options.js';
import { barrier, processCount, processIndex } from '../distributed/pmap.js';

/**
 * Writes a tree of arrays to a safetensors file atomically: to a temporary file beside it, then
 * fsync and rename, so a crash leaves the old file or the new one, never half of one. In a job of
 * several processes (data parallelism: every process holds the same parameters) process 0 writes
 * and every process returns once the file is there; `processes: 'all'` has each write its own.
 * @example await io.saveFile('ckpt.safetensors', { params, optState, step: np.array(step) });
 * @category IO
 */
export async function saveFile(
  file: string,
  tree: unknown,
  opts: { metadata?: Record<string, string>; processes?: 'first' | 'all' } = {},
): Promise<void> {
  const o = checkOptions(
    'saveFile',
    { metadata: t.record(t.string, t.string), processes: t.keyof({ first: null, all: null }, "'first' | 'all'") },
    opts,
  );
  if (o.processes !== 'all' && processCount() > 1) {
    if (processIndex() === 0) await saveFile(file, tree, { metadata: o.metadata, processes: 'all' });
    barrier();
    return;
  }
  const bytes = saveSafetensors(tree, opts.metadata);
  const { promises: fsp } = fs('saveFile');
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const handle = await fsp.open(tmp, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw new ValueError(`saveFile: cannot write ${file} (${(e as Error).message})`);
  }
  // The rename itself is durable once the folder is synced (not possible on every platform).
  const dir = await fsp.open(nodePath('saveFile').dirname(file), 'r').catch(() => null);
  await dir?.sync().catch(() => undefined);
  await dir?.close();
}

/**
 * Reads a safetensors file: `{ params, metadata, converted }` as {@link loadSafetensors} gives
 * (every tensor in its stored dtype, or float tensors in `opts.dtype`).
 * @example const { params } = await io.loadFile('resnet18.safetensors');
 * @example const { params } = await io.loadFile('gpt2.safetensors', { dtype: 'float32' });
 * @category IO
 */
export async function loadFile(file: string, opts: LoadOptions = {}): Promise<Loaded> {
  let bytes: Uint8Array;
  try {
    bytes = await fs('loadFile').promises.readFile(file);
  } catch (e) {
    throw new ValueError(
      `loadFile: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  return loadSafetensors(bytes, opts);
}

const list = (names: string[]) =>
  names.slice(0, 6).join(', ') + (names.length > 6 ? `, ... (${names.length - 6} more)` : '');

/**
 * Puts loaded arrays into the structure of `template`, matching leaves by dotted name: the
 * result has the template's tree (lists stay lists) and dtypes (a float16 weight restored into a
 * float32 template becomes float32). Missing, unexpected and
 * mis-shaped names are one error that lists them. Template leaves may be arrays or shapes
 * (`{shape, dtype}` as `models.paramShapes` gives).
 * @example const restored = io.restore({ params, optState }, (await io.loadFile(file)).params);
 * @category IO
 */
export function restore<T>(template: T, loaded: unknown, what = 'restore'): T {
  const [want, def] = flatten<ShapedArray>(template);
  const wantNames = leafPaths(def).map((p) => p.join('.'));
  const [have, haveDef] = flatten<Array>(loaded);
  const byName = new Map(leafPaths(haveDef).map((p, i) => [p.join('.'), have[i]]));
  const missing: string[] = [],
    misshaped: string[] = [];
  const leaves = wantNames.map((name, i) => {
    const x = byName.get(name);
    if (!x) return (missing.push(name), null);
    if (fmtShape(x.shape) !== fmtShape(want[i].shape))
      return (misshaped.push(`${name} ${fmtShape(x.shape)} (expected ${fmtShape(want[i].shape)})`), null);
    return x.dtype === want[i].dtype ? x : x.astype(want[i].dtype);
  });
  const wanted = new Set(wantNames);
  const extra = [...byName.keys()].filter((n) => !wanted.has(n));
  if (missing.length || extra.length || misshaped.length)
    throw new ValueError(
      `${what}: the checkpoint does not match: ` +
        [
          missing.length ? `missing ${list(missing)}` : '',
          extra.length ? `unexpected ${list(extra)}` : '',
          misshaped.length ? `mis-shaped ${list(misshaped)}` : '',
        ]
          .filter(Boolean)
          .join('; '),
    );
  return unflatten(def, leaves);
}
