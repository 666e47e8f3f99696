import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
    // The memory tests call gc() to check that dropped arrays really become collectable.
    execArgv: ['--expose-gc'],
    // Every graph jit stages is typechecked again, so that a rewrite that breaks one fails here.
    env: { FLUXION_CHECKS: '1' },
  },
});
