// The fuzz suite at a CI-sized budget (a fixed seed): every np function and the common
// nn.functional ones, with jit, vmap and grad checked against eager. `npm run fuzz` runs the
// long campaign (40,000 cases) with the same harness.
import { describe, expect, it } from 'vitest';
import { campaign, makeCases, signatures, unsigned } from './fuzz/harness.js';

describe('fuzz', () => {
  it('has a signature for every np function, so a new one is fuzzed without anyone remembering to', () => {
    expect(unsigned()).toEqual([]);
    expect(Object.keys(signatures).length).toBeGreaterThan(100);
  });
  it('1,500 random calls: reference results or FluxionErrors, and transforms that agree with eager', () => {
    const { counts, examples } = campaign(makeCases(20261201, 1500));
    const problems = Object.entries(examples).filter(([k]) => !k.startsWith('documented deviation'));
    expect(problems).toEqual([]);
    expect(counts['wrong result'] + counts['generic error'] + counts['accepted invalid input']).toBe(0);
    expect(counts['transform disagrees']).toBe(0);
    // The harness really exercises both sides: values checked and errors raised.
    expect(counts.value).toBeGreaterThan(900);
    expect(counts.FluxionError).toBeGreaterThan(200);
  }, 120_000);
});
