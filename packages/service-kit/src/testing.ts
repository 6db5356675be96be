// @fle/service-kit/testing: helpers for tests that start real service processes.
export * from './testing/service-process.js';
