/**
 * Kiln: `import * as kiln from 'kiln'`. Tensors and ops at the top level (kiln.randn, kiln.matmul, ...),
 * building blocks under kiln.nn and kiln.optim, formats under kiln.io.
 */
export * from './tensor/index.js';
export { KilnError, type KilnErrorCode } from './errors.js';
export { setBackend, getBackendName, nativeAvailable, type BackendName } from './backend/index.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as io from './io/index.js';
