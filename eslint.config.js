// ESLint: typescript-eslint's recommended rules, no import cycles, no duplicate imports.
// `npm run lint`; part of `npm test`.
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'docs/api/**',
      'node_modules/**',
      'scratch/**',
      'src/onnx/generated/*_pb.ts',
      'kernels/cpu/gemm.wasm.ts',
    ],
  },
  ...tseslint.configs.recommended,
  importX.flatConfigs.typescript,
  {
    files: ['**/*.ts'],
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })] },
    rules: {
      'import-x/no-cycle': 'error',
      'no-duplicate-imports': ['error', { allowSeparateTypeImports: true }],
      // The library's public surface uses `any` where a user's tree can be anything (params, state).
      '@typescript-eslint/no-explicit-any': 'off',
      // `{}` is the deliberate type of "no params" and "no state" in layers and optimizers.
      '@typescript-eslint/no-empty-object-type': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
