#!/usr/bin/env node
// Writes tests/data/pipe_vectors.json: the expected result of every @pipe catalog case, computed by
// JavaScript itself. Each tests/data/pipe_cases/<domain>.mjs exports `reference` (the functions with
// HotMesh's semantics), `cases` ([fnName, [args…]]) and optionally `env` ({ nowMs, fidelitySeconds, … }).
// See docs/dev/pipe_vectors.md. Usage: node tests/data/make_pipe_vectors.mjs [--check]
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const scriptPath = fileURLToPath(import.meta.url);

// Date getters, toString and friends depend on the zone: vectors are always made in UTC.
if (process.env.TZ !== 'UTC') {
  const child = spawnSync(process.execPath, [scriptPath, ...process.argv.slice(2)], {
    env: { ...process.env, TZ: 'UTC' },
    stdio: 'inherit',
  });
  process.exit(child.status ?? 1);
}

/** Encode a JS value as JSON, tagging what JSON cannot hold ({"$js": …}). */
function encode(value, path = '$') {
  if (value === undefined) return { $js: 'undefined' };
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return { $js: 'NaN' };
    if (value === Infinity) return { $js: 'Infinity' };
    if (value === -Infinity) return { $js: '-Infinity' };
    if (Object.is(value, -0)) return { $js: '-0' };
    return value;
  }
  if (value instanceof Date) return { $js: 'date', ms: encode(value.getTime(), path) };
  if (Array.isArray(value)) {
    return Array.from({ length: value.length }, (_, i) => encode(value[i], `${path}[${i}]`));
  }
  if (typeof value === 'object') {
    const out = {};
    for (const [key, item] of Object.entries(value)) out[key] = encode(item, `${path}.${key}`);
    return out;
  }
  throw new Error(`cannot encode ${typeof value} at ${path}`);
}

/** Sort key of one line: domain, then function; cases of one function keep their written order. */
const byDomainAndFn = (a, b) =>
  a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : a.fn < b.fn ? -1 : a.fn > b.fn ? 1 : 0;

async function main() {
  const casesDir = join(here, 'pipe_cases');
  const files = readdirSync(casesDir).filter((f) => f.endsWith('.mjs')).sort();
  const vectors = [];
  const counts = {};
  for (const file of files) {
    const domain = basename(file, '.mjs');
    const mod = await import(pathToFileURL(join(casesDir, file)).href);
    const { reference, cases, env } = mod;
    if (!reference || !Array.isArray(cases)) {
      throw new Error(`${file} must export 'reference' and 'cases'`);
    }
    for (const [index, entry] of cases.entries()) {
      const [fn, args] = entry;
      if (typeof reference[fn] !== 'function') {
        throw new Error(`${file}: case ${index} names '${fn}', which 'reference' does not define`);
      }
      if (!Array.isArray(args)) throw new Error(`${file}: case ${index} (${fn}) args must be an array`);
      // A fresh copy per case: functions such as push or sort mutate their arguments.
      const callArgs = structuredClone(args);
      const vector = { domain, fn, args: encode(callArgs) };
      if (env !== undefined) vector.env = encode(env);
      try {
        vector.result = encode(reference[fn](...callArgs));
      } catch (err) {
        if (err instanceof Error && err.message.startsWith('cannot encode')) throw err;
        vector.throws = true;
      }
      vectors.push(vector);
      counts[domain] = (counts[domain] ?? 0) + 1;
    }
  }
  vectors.sort(byDomainAndFn); // Array.prototype.sort is stable
  const text = `[\n${vectors.map((v) => '  ' + JSON.stringify(v)).join(',\n')}\n]\n`;
  const target = join(here, 'pipe_vectors.json');
  if (process.argv.includes('--check')) {
    const current = readFileSync(target, 'utf8');
    if (current !== text) {
      console.error(`${target} is stale: run node tests/data/make_pipe_vectors.mjs`);
      process.exit(1);
    }
  } else {
    writeFileSync(target, text);
  }
  const summary = Object.entries(counts).map(([d, n]) => `${d}=${n}`).join(' ');
  console.log(`${vectors.length} vectors (${summary}) → ${target}`);
}

await main();
