/**
 * Test helpers for datapipe: binary checks (skip with a reason locally, fail under CI where the binaries are
 * installed), synthetic videos made with ffmpeg's lavfi sources, and a throwaway nats-server on a free port.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** undefined when `bin` runs; else a skip reason. Under CI a missing binary throws instead (CI installs them). */
export function needBinary(bin: string, versionArg = '-version'): string | undefined {
  const r = spawnSync(bin, [versionArg], { stdio: 'ignore' });
  if (r.status === 0) return undefined;
  const reason = `${bin} not found on PATH (apt-get install ffmpeg nats-server); skipping`;
  if (process.env.CI) throw new Error(`${reason} is not allowed under CI`);
  return reason;
}

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `kiln-dp-${tag}-`));
}

export function rmDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
}

function ff(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
}

/**
 * The reference test video, 160x90 @ 25 fps, 305 frames:
 *   [0,50) testsrc2 | [50,100) mandelbrot | [100,140) life | [140,180) smptebars (still) |
 *   [180,230) testsrc2 fading out over [205,230) | [230,255) black | [255,305) rgbtestsrc fading in over [255,280)
 * Hard cuts at 50, 100, 140, 180; none inside the fade-out, black, fade-in or still segments.
 */
export const REF_CUTS = [50, 100, 140, 180];
export const REF_FRAMES = 305;
export function makeReferenceVideo(path: string, crf = 18): void {
  ff(['-f', 'lavfi', '-i', 'testsrc2=s=160x90:r=25:d=2', '-f', 'lavfi', '-i', 'mandelbrot=s=160x90:r=25',
    '-f', 'lavfi', '-i', 'life=s=160x90:r=25:mold=10:ratio=0.5:death_color=blue:life_color=yellow:seed=7',
    '-f', 'lavfi', '-i', 'smptebars=s=160x90:r=25:d=1.6', '-f', 'lavfi', '-i', 'testsrc2=s=160x90:r=25:d=2',
    '-f', 'lavfi', '-i', 'color=c=black:s=160x90:r=25:d=1', '-f', 'lavfi', '-i', 'rgbtestsrc=s=160x90:r=25:d=2',
    '-filter_complex', '[1]trim=end_frame=50,setpts=PTS-STARTPTS[m];[2]trim=end_frame=40,setpts=PTS-STARTPTS[l];' +
    '[4]fade=t=out:st=1:d=1[f];[6]fade=t=in:st=0:d=1[g];[0][m][l][3][f][5][g]concat=n=7:v=1:a=0,format=yuv420p[v]',
    '-map', '[v]', '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', String(crf), '-g', '50', '-threads', '1', path]);
}

/** A short two-shot video: `a` then `b` (lavfi source names), `n` frames each. */
export function makeTwoShotVideo(path: string, a: string, b: string, n = 40): void {
  ff(['-f', 'lavfi', '-i', `${a}=s=160x90:r=25`, '-f', 'lavfi', '-i', `${b}=s=160x90:r=25`, '-filter_complex',
    `[0]trim=end_frame=${n},setpts=PTS-STARTPTS[x];[1]trim=end_frame=${n},setpts=PTS-STARTPTS[y];` +
    '[x][y]concat=n=2:v=1:a=0,format=yuv420p[v]', '-map', '[v]', '-c:v', 'libx264', '-preset', 'ultrafast',
    '-threads', '1', path]);
}

/** Re-encode (a near-duplicate of the same content). */
export function reencode(src: string, dst: string, crf: number): void {
  ff(['-i', src, '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', String(crf), '-threads', '1', dst]);
}

export function makePoison(dir: string): void {
  writeFileSync(join(dir, 'empty.mp4'), '');
  writeFileSync(join(dir, 'corrupt.mp4'), Buffer.concat([Buffer.from('\x00\x00\x00\x18ftypmp42'),
    Buffer.alloc(4000, 7)]));
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

export interface NatsServer {
  url: string;
  stop(): Promise<void>;
}

/** Start `nats-server -js` on a free loopback port with a temp store; stop() kills it and removes the store. */
export async function startNatsServer(): Promise<NatsServer> {
  const port = await freePort();
  const store = tempDir('js');
  const p: ChildProcess = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  p.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  const t0 = Date.now();
  while (!log.includes('Server is ready')) {
    if (p.exitCode !== null || Date.now() - t0 > 10_000) throw new Error(`nats-server did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: async () => {
      if (p.exitCode === null) {
        const exited = new Promise((r) => p.on('exit', r));
        p.kill('SIGKILL');
        await exited;
      }
      rmDir(store);
    },
  };
}
