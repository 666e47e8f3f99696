/**
 * The persistent compilation cache (Node only): what the CPU path compiles, kept on disk as JAX's
 * persistent cache keeps XLA's executables. An entry is keyed by the graph itself (its canonical
 * text and the values of its constant inputs), the library's own code, the runtime's version, the
 * session options and the CPU, so a later process that compiles the same graph skips the lowering
 * too, not only ONNX Runtime's optimiser. An entry is two files: the model (`.ort`, optimised by
 * ONNX Runtime, or `.onnx`, as lowered) and `.json`, what the executor needs to know of it,
 * written last so that a reader never sees half an entry.
 * @module
 */
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { Graph, Lit, type Atom, type Var } from '../core/ir.js';
import type { ShapedArray } from '../core/array.js';

let cacheDir: string | null = null;
/**
 * Keeps compiled graphs on disk, as JAX's persistent compilation cache does: a later process that
 * compiles the same graph loads the lowered model (and, for graphs with constant weights, ONNX
 * Runtime's optimised form of it) without lowering or optimising again. `null` turns it off (the
 * default, unless `FLUXION_CACHE_DIR` is set). Returns the previous directory.
 * @example setCompilationCache('.cache/fluxion'); // a second run of the same program compiles nothing
 * @category Backends
 */
export function setCompilationCache(dir: string | null): string | null {
  const previous = compilationCache();
  cacheDir = dir;
  return previous;
}
/** The cache's directory, or null when there is none. */
export const compilationCache = (): string | null =>
  cacheDir ?? (typeof process !== 'undefined' ? process.env?.FLUXION_CACHE_DIR || null : null);

const node = () => ({
  fs: process.getBuiltinModule('node:fs') as typeof import('node:fs'),
  path: process.getBuiltinModule('node:path') as typeof import('node:path'),
  crypto: process.getBuiltinModule('node:crypto') as typeof import('node:crypto'),
  url: process.getBuiltinModule('node:url') as typeof import('node:url'),
  os: process.getBuiltinModule('node:os') as typeof import('node:os'),
});

let codeDigest: string | undefined;
/**
 * A hash of the library's code: the lowering rules are spread over every primitive, and an entry
 * lowered by other code must not be found (a source edit changes no version number). It is the
 * bundle (dist/bundle, one chunk) when the library runs built, else the `src` tree this file is in.
 */
function codeHash(): string {
  if (codeDigest === undefined) {
    const { fs, path, crypto, url } = node();
    const here = url.fileURLToPath(import.meta.url);
    const root =
      path.basename(path.dirname(here)) === 'backend' ? path.dirname(path.dirname(here)) : path.dirname(here);
    const hash = crypto.createHash('sha256');
    const files = (fs.readdirSync(root, { recursive: true }) as string[])
      .filter((f) => /\.(js|ts|mjs)$/.test(f) && !f.endsWith('.d.ts'))
      .sort();
    for (const f of files) hash.update(f).update(fs.readFileSync(path.join(root, f)));
    codeDigest = hash.digest('hex');
  }
  return codeDigest;
}

/** A number as text that tells every value apart (-0 and NaN too). */
const num = (x: number) => (Object.is(x, -0) ? '-0' : String(x));

/**
 * A param as text, or null for one that text cannot stand for (a function, as a custom rule holds,
 * or an object of a class the cache does not know): such a graph is not cached.
 */
function paramText(v: unknown): string | null {
  if (typeof v === 'number') return num(v);
  if (typeof v === 'string' || typeof v === 'boolean' || v === null || v === undefined) return JSON.stringify(v) ?? 'u';
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Graph) return graphText(v);
  if (ArrayBuffer.isView(v)) {
    const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    return `${v.constructor.name}(${node().crypto.createHash('sha256').update(bytes).digest('hex')})`;
  }
  if (globalThis.Array.isArray(v)) {
    const items = v.map(paramText);
    return items.includes(null) ? null : `[${items.join(',')}]`;
  }
  const proto = typeof v === 'object' ? Object.getPrototypeOf(v) : undefined;
  if (proto !== Object.prototype && proto !== null) return null;
  let text = '{';
  for (const [k, x] of Object.entries(v as object)) {
    const t = paramText(x);
    if (t === null) return null;
    text += `${k}:${t},`;
  }
  return `${text}}`;
}

/** A graph as canonical text: variables numbered in order of definition, every param and type written out; null where a param cannot be. */
function graphText(g: Graph): string | null {
  const ids = new Map<number, number>();
  const aval = (a: ShapedArray) => `${a.dtype}[${a.shape.join(',')}]`;
  const define = (v: Var) => {
    ids.set(v.id, ids.size);
    return `v${ids.size - 1}:${aval(v.aval)}`;
  };
  // An atom not defined in this graph (never in a closed graph) makes it uncacheable.
  const atom = (a: Atom) =>
    a instanceof Lit ? `${num(a.value)}:${a.aval.dtype}` : ids.has(a.id) ? `v${ids.get(a.id)}` : null;
  let text = `(${g.inVars.map(define).join(',')})`;
  for (const e of g.eqns) {
    const params = paramText(e.prim.cacheParams?.(e.params) ?? e.params);
    const inputs = e.inputs.map(atom);
    if (params === null || inputs.includes(null)) return null;
    text += `;${e.outs.map(define).join(',')}=${e.prim.name}${params}(${inputs.join(',')})`;
  }
  const outs = g.outs.map(atom);
  return outs.includes(null) ? null : `${text};->(${outs.join(',')})`;
}

/**
 * The cache key of compiling `graph` with the given constant inputs (by position) and settings,
 * or null where there is no cache or the graph cannot be keyed (nor the library's code read: its
 * module is not a file, say).
 */
export function cacheKey(
  graph: Graph,
  constants: ReadonlyMap<number, { data: ArrayBufferView; aval: ShapedArray }>,
  settings: unknown,
): string | null {
  if (!compilationCache()) return null;
  const text = graphText(graph);
  if (text === null) return null;
  let code: string;
  try {
    code = codeHash();
  } catch {
    return null;
  }
  const { crypto, os } = node();
  const hash = crypto.createHash('sha256').update(JSON.stringify([code, settings, os.cpus()[0]?.model]));
  hash.update(text);
  for (const [i, c] of [...constants].sort(([a], [b]) => a - b)) {
    hash.update(`#${i}:${c.aval.dtype}[${c.aval.shape.join(',')}]`);
    hash.update(new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength));
  }
  return hash.digest('hex');
}

/** A cache entry: the model's bytes, whether ONNX Runtime optimised them, and what the executor knows of it. */
export interface Entry<Info> {
  model: Uint8Array;
  optimised: boolean;
  info: Info;
}

const files = (key: string) => {
  const { path } = node();
  const dir = compilationCache()!;
  const base = path.join(dir, key);
  return { dir, ort: `${base}.ort`, onnx: `${base}.onnx`, info: `${base}.json` };
};

/** The entry under `key`, or null (none, or unreadable or not of `codec`: then it is removed, to be written again). */
export function readEntry<Info>(key: string, codec: t.Type<Info>): Entry<Info> | null {
  const { fs } = node();
  const f = files(key);
  if (!fs.existsSync(f.info)) return null;
  try {
    const info = codec.decode(JSON.parse(fs.readFileSync(f.info, 'utf8')));
    if (isLeft(info)) throw new Error('not an entry');
    const optimised = fs.existsSync(f.ort);
    return { model: fs.readFileSync(optimised ? f.ort : f.onnx), optimised, info: info.right };
  } catch {
    removeEntry(key);
    return null;
  }
}

/** Removes the entry under `key` (one that failed to load). */
export function removeEntry(key: string): void {
  const { fs } = node();
  const { ort, onnx, info } = files(key);
  for (const file of [ort, onnx, info]) fs.rmSync(file, { force: true });
}

/**
 * Writes an entry: `save(file)` writes the model (ONNX Runtime saving its optimised form while it
 * loads, or the lowered bytes) and returns its result; the info follows once the model is in
 * place. A cache that cannot be written is no cache: `save` then runs with null.
 */
export function writeEntry<T>(key: string, optimised: boolean, info: unknown, save: (file: string | null) => T): T {
  const { fs } = node();
  const f = files(key);
  try {
    fs.mkdirSync(f.dir, { recursive: true });
  } catch {
    return save(null);
  }
  // Unique names, then renames, keep readers (other processes) from half-written files.
  const partial = (file: string) => `${file}.${process.pid}.partial`;
  const model = optimised ? f.ort : f.onnx;
  let result: T;
  try {
    result = save(partial(model));
  } catch (err) {
    fs.rmSync(partial(model), { force: true });
    throw err;
  }
  try {
    fs.renameSync(partial(model), model);
    fs.writeFileSync(partial(f.info), JSON.stringify(info));
    fs.renameSync(partial(f.info), f.info);
  } catch {
    fs.rmSync(partial(model), { force: true }); // not saved this time
    fs.rmSync(partial(f.info), { force: true });
  }
  return result;
}
