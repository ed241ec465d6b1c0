/**
 * A finite-difference gradient check for every differentiable op. The table is keyed by the op names passed to
 * record(); the last test scans the op sources and fails if an op records a gradient that no case exercised.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as k from '../../src/index.js';
import { traceOps } from '../../src/tensor/autograd.js';
import { gradcheck } from '../helpers/gradcheck.js';

const g = new k.Generator(123);
const r = (...shape: number[]) => k.randn(shape, { generator: g });
const pos = (...shape: number[]) => k.rand(shape, { generator: g }).add(0.5);
const ids = (values: number[], shape = [values.length]) => k.fromArray(Int32Array.from(values), shape);

const seen = new Set<string>();
traceOps(seen);
const composite = (name: string, run: () => void) => {
  run();
  seen.add(name);
};

const cases: Record<string, () => void> = {
  add: () => gradcheck((a, b) => a.add(b), [r(3, 4), r(4)]),
  sub: () => gradcheck((a, b) => a.sub(b).sub(2), [r(2, 3, 1), r(3, 5)]),
  rsub: () => gradcheck((a) => k.rsub(1, a), [r(5)]),
  mul: () => gradcheck((a, b) => a.mul(b).mul(3), [r(2, 1, 4), r(3, 1)]),
  div: () => gradcheck((a, b) => a.div(b).div(2), [r(3, 4), pos(4)]),
  pow: () => gradcheck((a, b) => a.pow(b).add(a.pow(3)), [pos(6), r(6)]),
  maximum: () => gradcheck((a, b) => a.maximum(b).add(a.maximum(0.1)), [r(7), r(7)]),
  minimum: () => gradcheck((a, b) => a.minimum(b), [r(7), r(1)]),
  neg: () => gradcheck((a) => a.neg(), [r(4)]),
  exp: () => gradcheck((a) => a.exp(), [r(4)]),
  log: () => gradcheck((a) => a.log(), [pos(4)]),
  sqrt: () => gradcheck((a) => a.sqrt(), [pos(4)]),
  rsqrt: () => gradcheck((a) => a.rsqrt(), [pos(4)]),
  abs: () => gradcheck((a) => a.abs(), [k.tensor([-1.5, -0.3, 0.4, 2])]),
  square: () => gradcheck((a) => a.square(), [r(4)]),
  sin: () => gradcheck((a) => a.sin(), [r(4)]),
  cos: () => gradcheck((a) => a.cos(), [r(4)]),
  tanh: () => gradcheck((a) => a.tanh(), [r(4)]),
  sigmoid: () => gradcheck((a) => a.sigmoid(), [r(4)]),
  silu: () => gradcheck((a) => a.silu(), [r(6)]),
  gelu: () => {
    gradcheck((a) => a.gelu(), [r(6)]);
    gradcheck((a) => a.gelu('tanh'), [r(6)]);
  },
  relu: () => gradcheck((a) => a.relu(), [k.tensor([-1, -0.2, 0.3, 2])]),
  erf: () => gradcheck((a) => k.erf(a), [r(5)]),
  clamp: () => gradcheck((a) => a.clamp(-0.5, 0.5), [k.tensor([-1, -0.2, 0.3, 2])]),
  where: () => gradcheck((a, b) => k.where(k.tensor([1, 0, 1]), a, b), [r(2, 3), r(3)]),
  contiguous: () => gradcheck((a) => a.transpose(0, 1).contiguous().add(a.contiguous().sum()), [r(3, 4)]),
  clone: () => gradcheck((a) => a.clone(), [r(3)]),
  view: () => gradcheck((a) => a.view(4, 3), [r(3, 4)]),
  reshape: () => gradcheck((a) => a.transpose(0, 1).reshape(12), [r(3, 4)]),
  permute: () => gradcheck((a) => a.permute(2, 0, 1), [r(2, 3, 4)]),
  slice: () => gradcheck((a) => a.slice(1, 1, 7, 2), [r(3, 8)]),
  expand: () => gradcheck((a) => a.expand(2, 3, 4), [r(3, 1)]),
  squeeze: () => gradcheck((a) => a.squeeze(1), [r(3, 1, 2)]),
  unsqueeze: () => gradcheck((a) => a.unsqueeze(0), [r(3)]),
  cat: () => gradcheck((a, b) => k.cat([a, b], 1), [r(2, 3), r(2, 2)]),
  pad: () => gradcheck((a) => a.pad([1, 2, 0, 1], 0.5).add(a.pad([-1, 0]).sum()), [r(3, 4)]),
  sum: () => gradcheck((a) => a.sum([0, 2], true), [r(2, 3, 4)]),
  amax: () => gradcheck((a) => a.amax(1), [r(3, 5)]),
  amin: () => gradcheck((a) => a.amin(0, true), [r(3, 5)]),
  max: () => gradcheck((a) => a.max(1).values, [r(3, 5)]),
  min: () => gradcheck((a) => a.min(0).values, [r(3, 5)]),
  matmul: () => {
    gradcheck((a, b) => a.matmul(b), [r(2, 3, 4), r(4, 5)]);
    gradcheck((a, b) => a.matmul(b.mT), [r(2, 3, 4), r(2, 5, 4)]);
    gradcheck((a, b) => a.matmul(b), [r(4), r(3, 4, 2)]);
  },
  softmax: () => gradcheck((a) => a.softmax(0), [r(4, 3)]),
  logSoftmax: () => gradcheck((a) => a.logSoftmax(), [r(3, 5)]),
  crossEntropy: () => {
    gradcheck((a) => k.crossEntropy(a, ids([1, 4, -100, 0])), [r(4, 5)]);
    gradcheck((a) => k.crossEntropy(a, ids([1, 4, 2]), { labelSmoothing: 0.1, reduction: 'sum' }), [r(3, 5)]);
    gradcheck((a) => k.crossEntropy(a, ids([1, 3], [2]), { reduction: 'none' }), [r(2, 5)]);
  },
  rmsNorm: () => gradcheck((a, w) => k.rmsNorm(a, w, 1e-5), [r(3, 6), r(6)]),
  layerNorm: () => gradcheck((a, w, b) => k.layerNorm(a, w, b, 1e-5), [r(3, 6), r(6), r(6)]),
  indexSelect: () => gradcheck((a) => a.indexSelect(1, ids([2, 0, 2])), [r(2, 3, 2)]),
  indexAdd: () => gradcheck((a, s) => k.indexAdd(a, 0, ids([1, 1, 0]), s), [r(2, 3), r(3, 3)]),
  gather: () => gradcheck((a) => a.gather(1, ids([0, 2, 2, 1, 1, 0], [2, 3])), [r(2, 4)]),
  scatterAdd: () => gradcheck((a, s) => k.scatterAdd(a, 1, ids([0, 2, 2, 1], [2, 2]), s), [r(2, 3), r(2, 2)]),
  topk: () => gradcheck((a) => a.topk(2).values, [r(3, 5)]),
  conv1d: () => gradcheck((x, w, b) => k.conv1d(x, w, b, { stride: 2, padding: 1 }), [r(1, 2, 7), r(3, 2, 3), r(3)]),
  conv2d: () => gradcheck((x, w, b) => k.conv2d(x, w, b, { padding: 1, dilation: [1, 2], groups: 2 }), [r(1, 4, 5, 6), r(2, 2, 3, 3), r(2)]),
  conv3d: () => gradcheck((x, w) => k.conv3d(x, w, null, { stride: [1, 2, 2] }), [r(1, 2, 3, 5, 5), r(2, 2, 2, 3, 3)]),
  convTranspose1d: () => gradcheck((x, w, b) => k.convTranspose1d(x, w, b, { stride: 2 }), [r(1, 3, 4), r(3, 2, 3), r(2)]),
  convTranspose2d: () => gradcheck((x, w) => k.convTranspose2d(x, w, null, { stride: 2, padding: 1, outputPadding: 1 }), [r(1, 2, 3, 3), r(2, 2, 3, 3)]),
  convTranspose3d: () => gradcheck((x, w) => k.convTranspose3d(x, w, null, { stride: [1, 2, 2] }), [r(1, 2, 2, 3, 3), r(2, 1, 2, 2, 2)]),
  scaledDotProductAttention: () => {
    gradcheck((q, kk, v) => k.scaledDotProductAttention(q, kk, v, { causal: true }), [r(1, 2, 5, 4), r(1, 2, 5, 4), r(1, 2, 5, 3)]);
    gradcheck((q, kk, v) => k.scaledDotProductAttention(q, kk, v, { mask: k.tensor([[0, -Infinity, 0, 0]]) }), [r(1, 2, 3, 4), r(1, 1, 4, 4), r(1, 1, 4, 4)]);
  },
  // composed ops (built from the ops above) are checked end to end too, under their own names
  avgPool1d: () => composite('avgPool1d', () => gradcheck((x) => k.avgPool1d(x, 3, { stride: 2, padding: 1 }), [r(1, 2, 7)])),
  avgPool2d: () => composite('avgPool2d', () => gradcheck((x) => k.avgPool2d(x, 2), [r(1, 2, 4, 4)])),
  avgPool3d: () => composite('avgPool3d', () => gradcheck((x) => k.avgPool3d(x, [1, 2, 2], { padding: [0, 1, 1], countIncludePad: false }), [r(1, 1, 2, 3, 3)])),
  interpolateNearest: () => composite('interpolateNearest', () => gradcheck((x) => k.interpolateNearest(x, { size: [5, 3] }), [r(1, 1, 3, 2)])),
  padMode: () => composite('padMode', () => gradcheck((x) => k.padMode(x, [2, 1, 1, 0], 'reflect').add(k.padMode(x, [1, 1], 'replicate').sum()), [r(1, 3, 4)])),
  applyRotary: () => {
    const { cos, sin } = k.ropeFrequencies(6, 10000, 4);
    gradcheck((x) => k.applyRotary(x, cos, sin, { layout: 'half' }), [r(2, 4, 6)]);
    gradcheck((x) => k.applyRotary(x, cos.slice(1, 0, 2), sin.slice(1, 0, 2), { layout: 'interleaved', rotaryDim: 4 }), [r(4, 6)]);
  },
};

for (const [name, run] of Object.entries(cases)) test(`gradcheck ${name}`, run);

test('every op that records a gradient has a gradient check', () => {
  const dir = fileURLToPath(new URL('../../src/tensor/ops/', import.meta.url));
  const recorded = new Set<string>();
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
    const src = readFileSync(dir + f, 'utf8');
    // record(out, 'name', ...) and record(out, cond ? 'a' : 'b', ...)
    for (const m of src.matchAll(/record\([^;]*?,\s*(?:[^,;]*?\?\s*)?'(\w+)'(?:\s*:\s*'(\w+)')?\s*,/g)) {
      recorded.add(m[1]);
      if (m[2]) recorded.add(m[2]);
    }
    // ops that hand their name to a shared recorder: convNd('conv2d', ...)
    for (const m of src.matchAll(/\b\w+Nd\('(\w+)'/g)) recorded.add(m[1]);
  }
  assert.ok(recorded.size > 40, `found only ${recorded.size} ops in the sources`);
  const missing = [...recorded].filter((op) => !seen.has(op));
  assert.deepEqual(missing, [], `ops without a gradient check: ${missing.join(', ')}`);
});
