export * from './errors.js';
export * from './paths.js';
export * from './config.js';
export * from './config-values.js';
export * from './protocol.js';
export * from './indexes.js';
export * from './upstream-config.js';
export * from './shared-config.js';
