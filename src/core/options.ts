/**
 * Validation of option objects at the public boundary with io-ts: an unknown key or a
 * value of the wrong type is an OptionError naming the function, the key and what was expected.
 * @module
 */
import { type DType, dtypes } from './dtype.js';
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { OptionError } from './errors.js';

/** Checks `opts` against the props of `codec` (all optional) and returns it typed. */
export function checkOptions<P extends t.Props>(fn: string, props: P, opts: unknown): Partial<t.TypeOf<t.TypeC<P>>> {
  if (opts === undefined || opts === null) return {};
  if (typeof opts !== 'object' || globalThis.Array.isArray(opts)) {
    throw new OptionError(`${fn}: options must be an object, got ${brief(opts)}`);
  }
  for (const key of Object.keys(opts)) {
    if (!(key in props)) {
      throw new OptionError(`${fn}: unknown option '${key}' (valid options: ${Object.keys(props).join(', ')})`);
    }
  }
  const result = t.partial(props).decode(opts);
  if (isLeft(result)) {
    const e = result.left[0];
    const path = e.context
      .map((c) => c.key)
      .filter(Boolean)
      .join('.');
    throw new OptionError(
      `${fn}: option '${path}' must be ${e.context[e.context.length - 1].type.name}, got ${brief(e.value)}`,
    );
  }
  return result.right as Partial<t.TypeOf<t.TypeC<P>>>;
}

/** A value as short text for a message (never a whole array). */
const brief = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/** io-ts codecs for the option types used across the API. */
export const codecs = {
  axis: t.union([t.number, t.array(t.number), t.null], 'number | number[] | null'),
  number: t.number,
  shape: t.array(t.number, 'number[]'),
  any: t.unknown,
  boolean: t.boolean,
  dtype: t.keyof(Object.fromEntries(dtypes.map((d) => [d, null])) as Record<DType, null>, 'a dtype name'),
};
export { t };
