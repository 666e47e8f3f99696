/**
 * Node built-ins, fetched on use so the package also loads in browsers (where file IO is
 * unavailable and says so).
 * @module
 */
import { ValueError } from '../core/errors.js';

/** A Node built-in module, or a ValueError naming `what` needed it. */
export function nodeModule<T>(name: string, what: string): T {
  const get = (globalThis as { process?: { getBuiltinModule?: (n: string) => unknown } }).process?.getBuiltinModule;
  if (!get) throw new ValueError(`${what}: ${name} is needed to read and write files; this runs in Node only`);
  return get(name) as T;
}
export const fs = (what: string) => nodeModule<typeof import('node:fs')>('node:fs', what);
export const path = (what: string) => nodeModule<typeof import('node:path')>('node:path', what);
