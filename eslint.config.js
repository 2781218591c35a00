import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'bin/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'child_process', message: 'Use src/lib/exec.ts, the one subprocess gateway.' },
            {
              name: 'node:child_process',
              message: 'Use src/lib/exec.ts, the one subprocess gateway.',
            },
            { name: 'execa', message: 'Use src/lib/exec.ts, the one subprocess gateway.' },
          ],
        },
      ],
    },
  },
  {
    files: ['src/lib/exec.ts', 'src/lib/spawn.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['src/compose/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'error' },
  },
  {
    files: ['src/commands/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['child_process', 'node:child_process', 'execa', 'dockerode', 'yaml'].map(
            (name) => ({
              name,
              message: 'Commands are adapters: call a service in src/ instead.',
            }),
          ),
        },
      ],
    },
  },
  {
    files: ['bin/*.js', 'eslint.config.js'],
    ...tseslint.configs.disableTypeChecked,
  },
)
