// Oniguruma → JavaScript regex translation (src/tokenizers/regex.ts): each documented rule, checked by matching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRegex, translateRegex } from '../../src/tokenizers/regex.js';
import { KilnError } from '../../src/errors.js';

const all = (src: string, s: string) => [...s.matchAll(compileRegex(src))].map((m) => m[0]);

test('\\s is Unicode White_Space as in Oniguruma (U+0085 yes, U+FEFF no)', () => {
  assert.deepEqual(all('\\s+', 'a\u0085b\ufeffc\u3000d'), ['\u0085', '\u3000']);
  assert.deepEqual(all('\\S+', 'a\u0085b\ufeffc'), ['a', 'b\ufeffc']);
  assert.deepEqual(all('[^\\s\\p{L}]+', 'ab 12\u00a0!?'), ['12', '!?']);
});

test('(?i:...) expands letters to both cases', () => {
  assert.equal(translateRegex("(?i:'s|'ll)"), "(?:'[sS]|'[lL][lL])");
  assert.deepEqual(all("(?i:'s|'ll)", "it'S we'Ll x's"), ["'S", "'Ll", "'s"]);
});

test('possessive quantifiers and atomic groups do not give back', () => {
  // a++b never matches "aaab"'s a-run followed by a needed 'a'
  assert.deepEqual(all('a++a', 'aaaa'), []);
  assert.deepEqual(all('a+a', 'aaaa'), ['aaaa']);
  assert.deepEqual(all('(?>a|ab)c', 'abc ac'), ['ac']);
  assert.deepEqual(all('\\p{L}++|\\s++', 'ab  cd'), ['ab', '  ', 'cd']);
});

test('escapes: \\x{...}, \\d, \\w, \\h, script names, dot, anchors', () => {
  assert.deepEqual(all('\\x{4e00}+', 'a一一b'), ['一一']);
  assert.deepEqual(all('\\d+', 'x١٢٣y45'), ['١٢٣', '45']);
  assert.deepEqual(all('\\w+', 'héllo wörld_1'), ['héllo', 'wörld_1']);
  assert.deepEqual(all('\\h+', 'xyz0fAg'), ['0fA']);
  assert.deepEqual(all('\\p{Han}+', 'ab漢字cd'), ['漢字']);
  assert.deepEqual(all('.+', 'ab\r\ncd'), ['ab\r', 'cd']);
  assert.deepEqual(all('^x', 'xa\nxb'), ['x', 'x']);
  assert.deepEqual(all('[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+', 'a.b -c [d \\e'), ['.b', '-c', '[d', '\\e']);
});

test('unsupported constructs are a KilnError naming them', () => {
  assert.throws(() => translateRegex('(a)\\1'), (e: unknown) => e instanceof KilnError && /back-reference/.test(e.message));
  assert.throws(() => translateRegex('[a[b]]'), (e: unknown) => e instanceof KilnError && /nested character class/.test(e.message));
  assert.throws(() => translateRegex('[a-z&&[^x]]'), (e: unknown) => e instanceof KilnError);
});
