/** The TypeScript reference backend: every kernel, always available, written for clarity over speed. */
import type { Backend } from '../backend.js';
import { elementwiseKernels } from './elementwise.js';
import { reduceKernels } from './reduce.js';
import { gemmKernels } from './gemm.js';
import { nnKernels } from './nn.js';
import { indexKernels } from './indexing.js';
import { attentionKernels } from './attention.js';
import { ropeKernels } from './rope.js';
import { convKernels } from './conv.js';
import { deepseekKernels } from './deepseek.js';
import { deepseekTrainKernels } from './deepseek-train.js';
import { optimKernels } from './optim.js';
import { relAttentionKernels } from './relattn.js';

export const tsBackend: Backend = {
  name: 'ts',
  ...elementwiseKernels,
  ...reduceKernels,
  ...gemmKernels,
  ...nnKernels,
  ...indexKernels,
  ...attentionKernels,
  ...ropeKernels,
  ...convKernels,
  ...deepseekKernels,
  ...deepseekTrainKernels,
  ...optimKernels,
  ...relAttentionKernels,
};
