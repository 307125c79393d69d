// The FastCGI codec: pure, no I/O.
export * from './constants.js';
export * from './errors.js';
export * from './encoder.js';
export * from './params.js';
export * from './records.js';
export * from './parser.js';
export * from './get-values.js';
