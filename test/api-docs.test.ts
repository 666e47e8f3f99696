// docs/api.md is generated from the sources (scripts/api-table.ts): it must list what the library exports now.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { apiTable } from '../scripts/api-table.js';

describe('docs/api.md', () => {
  it('is fresh (regenerate with: npx tsx scripts/api-table.ts)', () => {
    const text = apiTable();
    expect(readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8')).toBe(text);
    // It lists the functions a user looks for, each with a summary.
    for (const name of ['np.linalg.solve', 'np.quantile', 'lax.linalg.cholesky', 'nn.functional.dotProductAttention'])
      expect(text).toMatch(new RegExp(`\\| \`${name.replace(/\./g, '\\.')}\` \\| [^|]+\\|`));
  }, 60_000);
});
