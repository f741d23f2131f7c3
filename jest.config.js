/** Tests run through @swc/jest: TypeScript 7 has no JS API, so ts-jest cannot be used.
 *  Type-checking is the separate `tsc --noEmit` step of `npm test`.
 *  openid-client and its two dependencies are ESM-only: Node 20 requires them natively (the
 *  server does), jest's sandbox does not, so they go through the same transform to CommonJS. */
const ESM_ONLY = ['openid-client', 'oauth4webapi', 'jose'];
const swc = ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }];
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': swc, [`/node_modules/(${ESM_ONLY.join('|')})/.+\\.js$`]: swc },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY.join('|')})/)`],
  setupFiles: ['<rootDir>/test/support/quiet-logger.ts'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 30000,
  maxWorkers: 2,
};
