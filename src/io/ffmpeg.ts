/**
 * ffmpeg/ffprobe as child processes, shared by the video I/O (src/io/video.ts) and the datapipe's video operators.
 * `runTool` runs one to completion, optionally feeding `input` bytes to its stdin, and returns stdout; a non-zero
 * exit throws KilnError('E_FORMAT') with the tool's last stderr line, a missing binary KilnError('E_IO') saying how
 * to install it. Binaries: KILN_FFMPEG / KILN_FFPROBE env, else `ffmpeg` / `ffprobe` on PATH (Debian `ffmpeg`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { KilnError } from '../errors.js';

export function ffmpegPaths(): { ffmpeg: string; ffprobe: string } {
  return { ffmpeg: process.env.KILN_FFMPEG ?? 'ffmpeg', ffprobe: process.env.KILN_FFPROBE ?? 'ffprobe' };
}

/** True when the binary runs (`-version` exits 0). */
export function haveBinary(bin: string): boolean {
  const r = spawnSync(bin, ['-version'], { stdio: 'ignore' });
  return r.status === 0;
}

export interface ToolResult {
  stdout: Buffer;
  stderr: string;
}

/** The last non-empty line of a tool's stderr (≤ 300 chars): what went wrong, for an error message. */
export function lastLine(s: string): string {
  const lines = s.trim().split('\n').filter((l) => l.trim().length > 0);
  return (lines.at(-1) ?? '').trim().slice(0, 300);
}

export function missingToolMessage(what: string, bin: string, e: Error): string {
  return `${what}: cannot run ${bin} (${e.message}); install ffmpeg (apt-get install ffmpeg) or set KILN_FFMPEG/KILN_FFPROBE`;
}

/** Run a tool (stdin = `input` when given); throw KilnError with the tool's last stderr line when it exits non-zero. */
export function runTool(bin: string, args: string[], what: string, signal?: AbortSignal, input?: Uint8Array): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'], signal });
    const out: Buffer[] = [];
    let err = '';
    let spawnError: Error | undefined;
    p.stdout!.on('data', (b: Buffer) => out.push(b));
    p.stderr!.on('data', (b: Buffer) => {
      if (err.length < 65536) err += b.toString();
    });
    if (input && p.stdin) {
      // EPIPE when the tool exits early (bad arguments): the exit code and stderr say why, so ignore it here.
      p.stdin.on('error', () => undefined);
      p.stdin.end(input);
    }
    p.on('error', (e) => {
      spawnError = e;
      reject(new KilnError('E_IO', missingToolMessage(what, bin, e)));
    });
    p.on('close', (code) => {
      if (spawnError) return;
      if (code === 0) resolve({ stdout: Buffer.concat(out), stderr: err });
      else reject(new KilnError('E_FORMAT', `${what}: ${bin} failed (exit ${code}): ${lastLine(err) || 'no message'}`));
    });
  });
}
