// The `nats` executor against a real nats-server (started here on a free loopback port, killed after):
// same manifest as `local` with 2 worker processes; SIGKILL of a worker mid-task loses and duplicates nothing;
// working() heartbeats prevent redelivery of long tasks; accelerator stages only go to accelerator workers;
// poison items reach the dead-letter stream; `status` reports the run. Skips without nats-server (fails under CI).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import { builtinRegistry } from '../../src/datapipe/builtin-operators.js';
import { compileGraph, type PipelineSpec } from '../../src/datapipe/graph.js';
import { runLocal } from '../../src/datapipe/local-executor.js';
import { submitNatsRun } from '../../src/datapipe/nats/coordinator.js';
import { deadStream } from '../../src/datapipe/nats/names.js';
import { runNatsPipeline, natsStatus } from '../../src/datapipe/nats/nats-executor.js';
import { loadSpec } from '../../src/datapipe/spec.js';
import { makePoison, makeTwoShotVideo, needBinary, rmDir, startNatsServer, tempDir, type NatsServer } from './helpers.js';

const skip = needBinary('nats-server', '--version');
/** Per-test limit: a worker that cannot start must fail the test, not hang the suite. */
const T = 90_000;
const skipVideo = skip ?? needBinary('ffmpeg');
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'dist/src/datapipe/bin.js');
const PLUGIN = join(ROOT, 'dist/test/datapipe/fixtures/test-plugin.js');
let server: NatsServer | undefined;
const dirs: string[] = [];
const procs: ChildProcess[] = [];

test.before(async () => {
  if (!skip) server = await startNatsServer();
});
test.after(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await server?.stop();
  for (const d of dirs) rmDir(d);
});

function dir(tag: string): string {
  const d = tempDir(tag);
  dirs.push(d);
  return d;
}

/** The last lines each worker wrote to stderr (also passed through with KILN_TEST_VERBOSE). */
const stderrOf = new Map<ChildProcess, string>();

function worker(runId: string, extra: string[] = []): ChildProcess {
  const p = spawn(process.execPath, [BIN, 'datapipe', 'worker', '--nats', server!.url, '--run', runId, '--exit-when-idle',
    '--plugin', PLUGIN, '--cpus', '2', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  stderrOf.set(p, '');
  p.stderr!.on('data', (b: Buffer) => {
    if (process.env.KILN_TEST_VERBOSE) process.stderr.write(b);
    stderrOf.set(p, (stderrOf.get(p)! + b.toString()).slice(-2000));
  });
  procs.push(p);
  return p;
}

/**
 * A signal for submitNatsRun that aborts the coordination, with the workers' exit codes and last stderr lines, once
 * every one of these workers has exited (the run can no longer finish) or after `deadlineMs`: a stuck run then fails
 * with a reason instead of running into the test timeout without a trace.
 */
function whileWorkersServe(ws: ChildProcess[], deadlineMs: number): AbortSignal {
  const ctl = new AbortController();
  const why = (): string => ws.map((w) => `worker ${w.pid} (${w.exitCode ?? w.signalCode ?? 'running'}): ` +
    `${stderrOf.get(w)!.trim().split('\n').slice(-3).join(' | ')}`).join('; ');
  const timer = setTimeout(() => ctl.abort(`not done after ${deadlineMs} ms; ${why()}`), deadlineMs);
  timer.unref();
  let alive = ws.length;
  for (const w of ws) w.on('exit', () => --alive === 0 && ctl.abort(`every worker exited; ${why()}`));
  return ctl.signal;
}

const lines = (path: string): string[] => (existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').filter(Boolean) : []);
const manifest = (out: string) => lines(join(out, 'manifest.jsonl')).map((l) => JSON.parse(l));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function numSpec(n: number, ms: number, extra: Partial<PipelineSpec['stages'][number]> = {}, params = {}): PipelineSpec {
  return { name: 'nums', stages: [{ name: 'src', op: 'count-source', params: { n } },
    { name: 'sq', op: 'slow-square', input: 'src', params: { ms, ...params }, ...extra },
    { name: 'all', op: 'collect', input: 'sq' }] };
}

test('nats with 2 worker processes gives the same manifest as local', { skip: skipVideo, timeout: T }, async () => {
  const input = dir('nin');
  makeTwoShotVideo(join(input, 'a.mp4'), 'testsrc', 'cellauto');
  makeTwoShotVideo(join(input, 'b.mp4'), 'mandelbrot', 'testsrc2', 30);
  makePoison(input);
  const spec = loadSpec(join(ROOT, 'examples/datapipe/video.yaml'));
  const outL = dir('nl');
  const outN = dir('nn');
  await runLocal(compileGraph(spec, builtinRegistry(), { input, ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' }), { outDir: outL });
  const r = await runNatsPipeline({ specPath: '', spec, input, outDir: outN, servers: server!.url, workers: 2, cpus: 1,
    plugins: [] });
  assert.equal(r.summary.complete, true);
  assert.equal(r.summary.errors, 2);
  const ml = readFileSync(join(outL, 'manifest.jsonl'), 'utf8');
  assert.equal(ml.trim().split('\n').length, 4);
  assert.equal(readFileSync(join(outN, 'manifest.jsonl'), 'utf8'), ml);
  assert.equal(readFileSync(join(outN, 'errors.jsonl'), 'utf8'), readFileSync(join(outL, 'errors.jsonl'), 'utf8'));
  const st = spawnSync(process.execPath, [BIN, 'datapipe', 'status', r.runId, '--nats', server!.url, '--json'],
    { encoding: 'utf8' });
  assert.equal(st.status, 0, st.stderr);
  const s = JSON.parse(st.stdout);
  assert.equal(s.state, 'done');
  assert.equal(s.stages.find((x: { stage: string }) => x.stage === 'cut').out, ml.split('\n').filter((l) => l.includes('"clip"')).length);
});

test('video pipeline: SIGKILL a worker mid-run; manifest, clips and shards equal the local run', { skip: skipVideo, timeout: T },
  async () => {
    const input = dir('kvin');
    makeTwoShotVideo(join(input, 'a.mp4'), 'testsrc', 'cellauto', 50);
    makeTwoShotVideo(join(input, 'b.mp4'), 'mandelbrot', 'testsrc2', 50);
    makeTwoShotVideo(join(input, 'c.mp4'), 'rgbtestsrc', 'testsrc', 50);
    makePoison(input);
    const spec = loadSpec(join(ROOT, 'examples/datapipe/video.yaml'));
    const outL = dir('kvl');
    const outN = dir('kvn');
    await runLocal(compileGraph(spec, builtinRegistry(), { input, ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' }), { outDir: outL });
    const runId = 'videokill';
    const a = worker(runId, ['--cpus', '1', '--accelerators', '1']);
    worker(runId, ['--cpus', '1', '--accelerators', '1']);
    const run = submitNatsRun({ spec, input, outDir: outN, servers: server!.url, runId, ackWaitMs: 1500 });
    const cutDir = join(outN, '.state', 'cut');
    const t0 = Date.now();
    while (!existsSync(cutDir) || readdirSync(cutDir).length < 1) {
      assert.ok(Date.now() - t0 < 30_000, 'no clip was cut');
      await sleep(10);
    }
    a.kill('SIGKILL');
    const r = await run;
    assert.equal(r.summary.complete, true);
    assert.equal(readFileSync(join(outN, 'manifest.jsonl'), 'utf8'), readFileSync(join(outL, 'manifest.jsonl'), 'utf8'));
    assert.deepEqual(readdirSync(join(outN, 'clips')).sort(), readdirSync(join(outL, 'clips')).sort());
    assert.deepEqual(readFileSync(join(outN, 'shards', 'shard-000000.tar')),
      readFileSync(join(outL, 'shards', 'shard-000000.tar')));
  });

test('SIGKILL of a worker mid-task: nothing lost, nothing duplicated, its tasks redelivered', { skip, timeout: T }, async () => {
  const out = dir('kill');
  const n = 24;
  const runId = 'killtest';
  const a = worker(runId);
  const b = worker(runId);
  const run = submitNatsRun({ spec: numSpec(n, 300), input: '', outDir: out, servers: server!.url, runId,
    plugins: [PLUGIN], ackWaitMs: 1500 });
  const log = join(out, 'attempts.log');
  const t0 = Date.now();
  while (lines(log).filter((l) => l.startsWith(`${a.pid} `)).length < 3) {
    assert.ok(Date.now() - t0 < 20_000, 'worker A never started tasks');
    await sleep(20);
  }
  a.kill('SIGKILL');
  const r = await run;
  assert.equal(r.summary.complete, true);
  const man = manifest(out);
  assert.deepEqual(man.map((m) => m.id), Array.from({ length: n }, (_, i) => `n${String(i).padStart(4, '0')}`));
  assert.deepEqual(man.map((m) => m.square), Array.from({ length: n }, (_, i) => i * i));
  assert.deepEqual(readdirSync(join(out, 'squares')).sort(), man.map((m) => `${m.id}.json`));
  const attempts = lines(log).map((l) => l.split(' '));
  const byA = new Set(attempts.filter(([p]) => p === String(a.pid)).map(([, id]) => id));
  const byB = new Set(attempts.filter(([p]) => p === String(b.pid)).map(([, id]) => id));
  assert.equal(new Set([...byA, ...byB]).size, n);
  const redone = [...byA].filter((id) => byB.has(id));
  assert.ok(redone.length >= 1, 'the killed worker\'s in-flight task must be redelivered to the other worker');
  await new Promise((res) => (b.exitCode !== null ? res(0) : b.on('exit', res)));
});

test('working() heartbeats keep a task longer than ack_wait from being redelivered', { skip, timeout: T }, async () => {
  const out = dir('hb');
  const runId = 'hbtest';
  // Each task runs twice ack_wait while its worker heartbeats (every ack_wait / 3; the operator also every ~200 ms).
  // - Heartbeats broken: the server redelivers each message ack_wait after delivering it. Every worker keeps an idle
  //   pull loop (3 loops each, 2 items in all), so the copy starts at once, ~ack_wait before the first attempt ends,
  //   and attempts.log gets a third line. (With no idle loop the copy would wait for a busy one, find the result
  //   already written and be skipped: broken heartbeats could pass.)
  // - Heartbeats working: a redelivery needs a whole ack_wait without a beat, i.e. the worker or the server stalled
  //   for ~2.8 s; the largest gap between beats measured on this 2-core machine at load ~9 was 0.25 s.
  const ackWaitMs = 3000;
  const ws = [worker(runId, ['--cpus', '3']), worker(runId, ['--cpus', '3'])];
  const r = await submitNatsRun({ spec: numSpec(2, 2 * ackWaitMs), input: '', outDir: out, servers: server!.url, runId,
    plugins: [PLUGIN], ackWaitMs, signal: whileWorkersServe(ws, 60_000) });
  assert.equal(r.summary.kept, 2);
  assert.deepEqual(lines(join(out, 'attempts.log')).map((l) => l.split(' ')[1]).sort(), ['n0000', 'n0001']);
});

test('accelerator stages go only to workers offering accelerators; poison goes to the dead-letter stream', { skip, timeout: T },
  async () => {
    const out = dir('acc');
    const runId = 'acctest';
    const cpuOnly = worker(runId, ['--accelerators', '0']);
    const run = submitNatsRun({ spec: numSpec(6, 10, { resources: { accelerator: 1 } }, { poison: 5 }), input: '',
      outDir: out, servers: server!.url, runId, plugins: [PLUGIN], ackWaitMs: 2000 });
    await sleep(2500);
    const s = await natsStatus(server!.url, runId);
    assert.equal(s.state, 'running');
    assert.equal(s.stages.find((x) => x.stage === 'sq')!.queue, 6);
    assert.equal(lines(join(out, 'attempts.log')).length, 0);
    worker(runId, ['--accelerators', '1']);
    const r = await run;
    assert.equal(r.summary.kept, 5);
    assert.equal(r.summary.errors, 1);
    assert.ok(lines(join(out, 'attempts.log')).every((l) => !l.startsWith(`${cpuOnly.pid} `)));
    const nc = await connect({ servers: server!.url });
    const info = await (await nc.jetstreamManager()).streams.info(deadStream(runId));
    assert.equal(info.state.messages, 1);
    await nc.close();
  });

test('an item that crashes every worker that takes it is declared poison after maxDeliver deliveries', { skip, timeout: T },
  async () => {
    const out = dir('crash');
    const runId = 'crashtest';
    // A supervisor that restarts crashed workers (as systemd or Kubernetes would).
    let stopping = false;
    let crashes = 0;
    const supervise = (): void => {
      const w = worker(runId, ['--cpus', '1']);
      w.on('exit', (code) => {
        if (code === 70) crashes++;
        if (!stopping && code !== 0) supervise();
      });
    };
    supervise();
    const r = await submitNatsRun({ spec: numSpec(5, 10, {}, { crash: 3 }), input: '', outDir: out, servers: server!.url,
      runId, plugins: [PLUGIN], ackWaitMs: 1000, maxDeliver: 2 });
    stopping = true;
    assert.equal(r.summary.kept, 4);
    assert.equal(r.summary.errors, 1);
    assert.equal(crashes, 2);
    const err = JSON.parse(readFileSync(join(out, 'errors.jsonl'), 'utf8'));
    assert.equal(err.id, 'n0003');
    assert.match(err.error, /gave up after 2 deliveries/);
    assert.deepEqual(manifest(out).map((m) => m.id), ['n0000', 'n0001', 'n0002', 'n0004']);
  });

test('CLI: workers discover a detached `submit`; `status` follows it to done', { skip, timeout: T }, async () => {
  const out = dir('cli');
  const specPath = join(out, 'nums.json');
  writeFileSync(specPath, JSON.stringify(numSpec(8, 50)));
  const w1 = spawn(process.execPath, [BIN, 'datapipe', 'worker', '--nats', server!.url, '--plugin', PLUGIN, '--cpus', '1'],
    { stdio: 'ignore' });
  procs.push(w1);
  const sub = spawnSync(process.execPath, [BIN, 'datapipe', 'submit', specPath, '--input', out, '--out', join(out, 'o'),
    '--nats', server!.url, '--plugin', PLUGIN, '--detach'], { encoding: 'utf8' });
  assert.equal(sub.status, 0, sub.stderr);
  const runId = sub.stdout.trim();
  assert.match(runId, /^nums-[0-9a-f]{10}$/);
  let s: { state: string; stages: Array<{ stage: string; out: number }> } | undefined;
  const t0 = Date.now();
  for (;;) {
    const st = spawnSync(process.execPath, [BIN, 'datapipe', 'status', runId, '--nats', server!.url, '--json'],
      { encoding: 'utf8' });
    if (st.status === 0) {
      s = JSON.parse(st.stdout);
      if (s!.state === 'done') break;
    }
    assert.ok(Date.now() - t0 < 30_000, `run not done: ${st.stdout} ${st.stderr}`);
    await sleep(300);
  }
  assert.equal(s!.stages.find((x) => x.stage === 'sq')!.out, 8);
  assert.equal(manifest(join(out, 'o')).length, 8);
});
