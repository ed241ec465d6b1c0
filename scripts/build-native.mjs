// The package's `install` script: builds the N-API addon (build/Release/kiln_native.node) with node-gyp against
// the locally installed Node headers (npm's `nodedir` config; nothing is downloaded). If the build fails for any
// reason, prints one warning and exits 0: Kiln then runs on its TypeScript backend.
// Set KILN_SKIP_NATIVE=1 to skip the build entirely.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function warn(reason) {
  console.warn(`kiln: native addon did not build, falling back to the TypeScript backend: ${reason}`);
  process.exit(0);
}

// node-gyp's CLI script: npm tells install scripts where its copy is; otherwise look next to npm itself.
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  const require = createRequire(import.meta.url);
  const tryResolve = (id, paths) => {
    try {
      candidates.push(require.resolve(id, paths ? { paths } : undefined));
    } catch {
      /* not there */
    }
  };
  tryResolve('node-gyp/bin/node-gyp.js');
  if (process.env.npm_execpath) {
    // .../npm/bin/npm-cli.js -> .../npm/node_modules/node-gyp
    tryResolve('node-gyp/bin/node-gyp.js', [resolve(dirname(process.env.npm_execpath), '..')]);
  }
  const prefix = resolve(dirname(process.execPath), '..');
  for (const lib of ['lib/node_modules/npm', 'node_modules/npm']) {
    candidates.push(join(prefix, lib, 'node_modules/node-gyp/bin/node-gyp.js'));
  }
  return candidates.find((p) => p && existsSync(p));
}

if (process.env.KILN_SKIP_NATIVE === '1') warn('KILN_SKIP_NATIVE=1');
if (!existsSync(join(root, 'binding.gyp'))) warn('binding.gyp is missing');

const gyp = findNodeGyp();
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['npx', ['--no-install', 'node-gyp', 'rebuild']];
// Headers: npm passes its `nodedir` config as npm_config_nodedir; when run by hand, use the headers installed
// next to this Node binary (<prefix>/include/node), so node-gyp never tries to download them.
const extra = ['--jobs', 'max'];
if (!process.env.npm_config_nodedir) {
  const prefix = resolve(dirname(process.execPath), '..');
  if (existsSync(join(prefix, 'include/node/common.gypi'))) extra.push(`--nodedir=${prefix}`);
}
const r = spawnSync(cmd, [...args, ...extra], { cwd: root, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
if (r.error) warn(`could not run node-gyp (${r.error.message})`);
if (r.status !== 0) {
  const tail = (r.stderr ?? '').trim().split('\n').slice(-15).join('\n');
  if (tail) console.warn(tail);
  warn(`node-gyp rebuild exited with status ${r.status}`);
}
if (!existsSync(join(root, 'build/Release/kiln_native.node'))) warn('build/Release/kiln_native.node was not produced');
console.log('kiln: native addon built (build/Release/kiln_native.node)');
