// Graph validation, spec parsing and the TypeScript builder: every error is caught before anything runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinRegistry } from '../../src/datapipe/builtin-operators.js';
import { compileGraph, Pipeline, type PipelineSpec } from '../../src/datapipe/graph.js';
import { parseSpec } from '../../src/datapipe/spec.js';
import { KilnError } from '../../src/errors.js';

const env = { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' };
const compile = (spec: PipelineSpec) => compileGraph(spec, builtinRegistry(), env);
const fails = (spec: unknown, re: RegExp): void =>
  assert.throws(() => compile(spec as PipelineSpec), (e: unknown) => e instanceof KilnError && e.code === 'E_CONFIG' &&
    re.test(e.message));

test('a valid spec compiles in topological order with resolved resources and types', () => {
  const g = compile(parseSpec(`
name: t
stages:
  - { name: cap, op: caption, input: cut }
  - { name: cut, op: cut-clips, input: shots }
  - { name: v, op: video-files }
  - { name: shots, op: detect-shots, input: v }
  - { name: sh, op: webdataset, input: cap, params: { target_mb: 1 } }
`, 'x.yaml'));
  assert.deepEqual(g.stages.map((s) => s.name), ['v', 'shots', 'cut', 'cap', 'sh']);
  assert.equal(g.byName.get('cap')!.resources.accelerator, 1);
  assert.equal(g.byName.get('shots')!.outType, 'clip');
  assert.equal(g.byName.get('sh')!.barrier, true);
  assert.deepEqual(g.byName.get('shots')!.outputs, ['cut']);
});

test('validation: unknown operator, missing/unknown input, cycle, type mismatch, duplicates, bad params', () => {
  fails({ name: 'x', stages: [{ name: 'a', op: 'nope' }] }, /unknown operator "nope"/);
  fails({ name: 'x', stages: [{ name: 'a', op: 'video-files' }, { name: 'b', op: 'probe' }] }, /needs an "input"/);
  fails({ name: 'x', stages: [{ name: 'a', op: 'video-files' }, { name: 'b', op: 'probe', input: 'zz' }] },
    /input "zz" is not a stage/);
  fails({ name: 'x', stages: [{ name: 'a', op: 'video-files' }, { name: 'b', op: 'probe', input: ['a', 'c'] },
    { name: 'c', op: 'probe', input: 'b' }] }, /cycle through stages b -> c/);
  fails({ name: 'x', stages: [{ name: 'a', op: 'video-files' }, { name: 'b', op: 'cut-clips', input: 'a' }] },
    /consumes "clip" items but input "a" produces "video"/);
  fails({ name: 'x', stages: [{ name: 'a', op: 'video-files' }, { name: 'a', op: 'probe', input: 'a' }] }, /duplicate/);
  fails({ name: 'x', stages: [{ name: 'a', op: 'video-files', input: 'a' }] }, /takes no input/);
  fails({ name: 'x', stages: [{ name: 'a', op: 'video-files' }, { name: 's', op: 'detect-shots', input: 'a',
    params: { threshold: 'high' } }] }, /param "threshold" must be a number/);
  fails({ name: 'x', stages: [{ name: 'a', op: 'video-files' }, { name: 's', op: 'detect-shots', input: 'a',
    params: { min_shot_frame: 3 } }] }, /unknown param "min_shot_frame"/);
  fails({ name: 'x', stages: [{ name: 'a', op: 'video-files', resources: { cpu: -1 } }] }, /resources.cpu/);
  fails({ name: 'x', stages: [{ name: 'a', op: 'video-files' }, { name: 's', op: 'detect-shots', input: 'a' },
    { name: 'c', op: 'cut-clips', input: 's', params: { copy: true, metrics: true } }] }, /needs a re-encode/);
  fails({ name: 'x', stages: [{ name: 'a', op: 'video-files' }, { name: 's', op: 'detect-shots', input: 'a' },
    { name: 'c', op: 'cut-clips', input: 's', params: { metrics: { widht: 3 } } }] }, /unknown param "widht"/);
  fails({ name: 'x', stages: [] }, /non-empty/);
  fails({ name: 'x', stages: [{ name: 'Bad Name', op: 'video-files' }] }, /"name" must match/);
});

test('spec parsing: YAML and JSON, memory_mb normalised, syntax errors are E_CONFIG', () => {
  const s = parseSpec('{"name":"j","stages":[{"name":"a","op":"video-files","resources":{"memory_mb":64}}]}', 'p.json');
  assert.equal(s.stages[0].resources!.memoryMb, 64);
  assert.throws(() => parseSpec('name: [', 'p.yaml'), (e: unknown) => e instanceof KilnError && /not valid YAML/.test(e.message));
});

test('Pipeline builder chains inputs by default', () => {
  const spec = new Pipeline('b').add('v', 'video-files').add('p', 'probe').add('s', 'detect-shots').toSpec();
  assert.deepEqual(spec.stages.map((s) => s.input), [undefined, 'v', 'p']);
  assert.equal(compile(spec).stages.length, 3);
});
