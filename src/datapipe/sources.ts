/**
 * File sources: list the files named by `--input` (a directory, walked recursively, filtered by extension; or a
 * glob with `*`, `?` and `**`; or a single file) in sorted order, as items `{ id, source }`. The id is the path
 * relative to the input root with its extension dropped and unsafe characters replaced, so it is stable across runs
 * and machines.
 */
import { readdirSync, statSync } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';
import { KilnError } from '../errors.js';

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export interface ListedFile {
  id: string;
  path: string;
}

export function idFromRelative(rel: string): string {
  const noExt = rel.slice(0, rel.length - extname(rel).length);
  return noExt.split(sep).join('__').replace(/[^A-Za-z0-9_-]/g, '_') || 'file';
}

/** List input files; `extensions` (lower-case, no dot) filters directory walks, not explicit globs. */
export function listInputs(input: string | undefined, extensions: string[]): ListedFile[] {
  if (!input) throw new KilnError('E_CONFIG', 'datapipe: no input given; pass --input <dir|glob|file>');
  const wild = /[*?]/.test(input);
  let root: string;
  let files: string[];
  if (wild) {
    const abs = resolve(input);
    const parts = abs.split('/');
    const k = parts.findIndex((x) => /[*?]/.test(x));
    root = parts.slice(0, k).join('/') || '/';
    const re = globToRegExp(abs);
    files = walk(root).filter((f) => re.test(f));
  } else {
    const abs = resolve(input);
    let st;
    try {
      st = statSync(abs);
    } catch {
      throw new KilnError('E_IO', `datapipe: input ${input} does not exist; pass an existing directory, file or glob`);
    }
    if (st.isDirectory()) {
      root = abs;
      files = walk(abs).filter((f) => extensions.includes(extname(f).slice(1).toLowerCase()));
    } else {
      root = resolve(abs, '..');
      files = [abs];
    }
  }
  const seen = new Map<string, number>();
  return files.map((f) => {
    let id = idFromRelative(relative(root, f));
    const n = seen.get(id) ?? 0;
    seen.set(id, n + 1);
    if (n > 0) id = `${id}_${n}`;
    return { id, path: f };
  });
}
