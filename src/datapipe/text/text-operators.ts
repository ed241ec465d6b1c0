import type { OperatorDef } from '../types.js';
export const TEXT_OPERATORS: OperatorDef[] = [];
