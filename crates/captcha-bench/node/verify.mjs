// altcha-lib's side of `captcha-bench`'s verification rate: the classic `verifySolution` of
// altcha-lib 2.x (`altcha-lib/v1`) in a plain loop, one payload at a time, each once.
//
// Usage: node verify.mjs INPUT.json NODE_MODULES
//   INPUT.json: {key, warmup: [payload], timed: [payload]} (solved by the Rust side)
//   NODE_MODULES: where `npm ci` installed altcha-lib (crates/siteverify/tests/node)
// Prints {verified, failed, seconds, cpu_seconds} for the timed payloads.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [input, modules] = process.argv.slice(2);
// By path: this script lives outside the package that installed altcha-lib, so a bare
// specifier would not resolve.
const v1 = await import(pathToFileURL(join(modules, 'altcha-lib/dist/esm/v1/index.js')).href);
const { key, warmup, timed } = JSON.parse(readFileSync(input, 'utf8'));

let failed = 0;
// Warms the JIT; not counted.
for (const payload of warmup) {
	if (!(await v1.verifySolution(payload, key, true))) failed++;
}
let verified = 0;
const cpu = process.cpuUsage();
const began = process.hrtime.bigint();
for (const payload of timed) {
	if (await v1.verifySolution(payload, key, true)) verified++;
	else failed++;
}
const seconds = Number(process.hrtime.bigint() - began) / 1e9;
const used = process.cpuUsage(cpu);
const cpu_seconds = (used.user + used.system) / 1e6;
process.stdout.write(JSON.stringify({ verified, failed, seconds, cpu_seconds }) + '\n');
