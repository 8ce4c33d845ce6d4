/** Jest runs the TypeScript sources directly through SWC; `make test` type-checks with tsc first. */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }] },
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/data/'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  testTimeout: 60000,
};
