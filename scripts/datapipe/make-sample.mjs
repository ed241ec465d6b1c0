#!/usr/bin/env node
// Make a small sample input for trying the video pipeline: node scripts/datapipe/make-sample.mjs <dir> [n]
// Writes n (default 4) 160x90 25 fps videos built from ffmpeg lavfi sources with hard cuts, a fade to black, a still
// segment and a fade-in; one near-duplicate re-encode; plus a zero-byte and a corrupt file (poison inputs).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const n = Number(process.argv[3] ?? 4);
if (!dir) {
  console.error('usage: node scripts/datapipe/make-sample.mjs <dir> [n]');
  process.exit(2);
}
mkdirSync(dir, { recursive: true });
const ff = (args) => {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg: ${r.stderr || r.error}`);
};
const sources = ['testsrc2', 'mandelbrot', 'testsrc', 'cellauto', 'rgbtestsrc', 'smptebars', 'yuvtestsrc'];
for (let i = 0; i < n; i++) {
  const [a, b, c] = [0, 1, 2].map((k) => sources[(i + k) % sources.length]);
  ff(['-f', 'lavfi', '-i', `${a}=s=160x90:r=25`, '-f', 'lavfi', '-i', `${b}=s=160x90:r=25`,
    '-f', 'lavfi', '-i', `${c}=s=160x90:r=25`, '-f', 'lavfi', '-i', 'color=c=black:s=160x90:r=25',
    '-filter_complex', '[0]trim=end_frame=50,setpts=PTS-STARTPTS[a];[1]trim=end_frame=60,setpts=PTS-STARTPTS,' +
    'fade=t=out:st=1.4:d=1[b];[3]trim=end_frame=20,setpts=PTS-STARTPTS[k];[2]trim=end_frame=40,setpts=PTS-STARTPTS,' +
    `hue=h=${i * 40}[c];[a][b][k][c]concat=n=4:v=1:a=0,format=yuv420p[v]`, '-map', '[v]', '-c:v', 'libx264',
    '-preset', 'veryfast', '-threads', '1', join(dir, `video${i}.mp4`)]);
}
ff(['-i', join(dir, 'video0.mp4'), '-c:v', 'libx264', '-crf', '32', '-threads', '1', join(dir, 'video0-reencoded.mp4')]);
writeFileSync(join(dir, 'empty.mp4'), '');
writeFileSync(join(dir, 'corrupt.mp4'), Buffer.concat([Buffer.from('\x00\x00\x00\x18ftypmp42'), Buffer.alloc(4000, 7)]));
console.log(`wrote ${n + 3} files to ${dir}`);
