// google-recaptcha (npm) against the emulator, for tests/conformance: pointed at it with its
// documented `apiUrl` option.
//
// Reads one JSON object on stdin: {apiUrl, cases: [{secret, response, remoteIp?}]}.
// Writes one JSON array on stdout, one result per case, in order:
//   {error: the Error's message or null, body: what the library hands the callback}

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const GoogleRecaptcha = require('google-recaptcha');

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString());

const results = [];
for (const c of input.cases) {
	const recaptcha = new GoogleRecaptcha({ apiUrl: input.apiUrl, secret: c.secret });
	const result = await new Promise((resolve) => {
		recaptcha.verify({ response: c.response, remoteIp: c.remoteIp }, (error, body) => {
			resolve({ error: error ? String(error.message) : null, body: body ?? null });
		});
	});
	results.push(result);
}
process.stdout.write(JSON.stringify(results));
