// The altcha-lib side of the cross-checks in ../altcha/interop.rs: an independent
// implementation of ALTCHA issues, solves and verifies, so that our reading of the protocol is
// checked against the reference rather than against itself.
//
// Reads one JSON array of operations on stdin and writes one JSON array of their results on
// stdout, in order. One process per batch keeps Node's start-up cost out of every check.
//
// Operations (`key` is the HMAC key, shared with the Rust side):
//   {op: "v1.issue", key, maxNumber, expiresIn, params, algorithm?} -> challenge
//   {op: "v1.solve", challenge}                              -> base64 payload
//   {op: "v1.verify", key, payload}                          -> {verified, params}
//   {op: "v2.issue", key, algorithm, cost, keyPrefix, expiresIn, data} -> challenge
//   {op: "v2.solve", challenge}                              -> base64 payload
//   {op: "v2.counter0", challenge}                           -> base64 payload of counter 0
//   {op: "v2.verify", key, payload}                          -> verifySolution's result
// `expiresIn` is in seconds from now and may be negative (an expired challenge).

import * as v1 from 'altcha-lib/v1';
import { createChallenge, solveChallenge, verifySolution } from 'altcha-lib';
import { deriveKey as sha } from 'altcha-lib/algorithms/sha';
import { deriveKey as pbkdf2 } from 'altcha-lib/algorithms/pbkdf2';

function deriveKeyFor(algorithm) {
	if (algorithm.startsWith('PBKDF2/')) return pbkdf2;
	if (algorithm.startsWith('SHA-')) return sha;
	throw new Error(`no key derivation for ${algorithm} in this script`);
}

const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64');
const decode = (payload) => JSON.parse(Buffer.from(payload, 'base64').toString());
const inSeconds = (s) => new Date(Date.now() + s * 1000);

async function run(op) {
	switch (op.op) {
		case 'v1.issue':
			return v1.createChallenge({
				hmacKey: op.key,
				algorithm: op.algorithm,
				maxNumber: op.maxNumber,
				expires: inSeconds(op.expiresIn),
				params: op.params,
			});
		case 'v1.solve': {
			const c = op.challenge;
			const solution = await v1.solveChallenge(c.challenge, c.salt, c.algorithm, c.maxnumber)
				.promise;
			if (!solution) throw new Error('altcha-lib found no solution');
			// The payload the widget posts (altcha's widget builds the same object).
			return encode({
				algorithm: c.algorithm,
				challenge: c.challenge,
				number: solution.number,
				salt: c.salt,
				signature: c.signature,
				took: solution.took,
			});
		}
		case 'v1.verify':
			return {
				verified: await v1.verifySolution(op.payload, op.key),
				params: v1.extractParams(op.payload),
			};
		case 'v2.issue':
			return createChallenge({
				algorithm: op.algorithm,
				cost: op.cost,
				keyPrefix: op.keyPrefix,
				deriveKey: deriveKeyFor(op.algorithm),
				expiresAt: inSeconds(op.expiresIn),
				data: op.data,
				hmacSignatureSecret: op.key,
			});
		case 'v2.solve': {
			const challenge = op.challenge;
			const solution = await solveChallenge({
				challenge,
				deriveKey: deriveKeyFor(challenge.parameters.algorithm),
			});
			if (!solution) throw new Error('altcha-lib found no solution');
			return encode({ challenge, solution });
		}
		case 'v2.counter0': {
			// No work at all: the key of counter 0, whatever its prefix.
			const { parameters } = op.challenge;
			const nonce = Buffer.from(parameters.nonce, 'hex');
			const salt = Buffer.from(parameters.salt, 'hex');
			const { derivedKey } = await deriveKeyFor(parameters.algorithm)(
				parameters,
				new Uint8Array(salt),
				// The counter as a big-endian uint32 after the nonce: four zero bytes.
				new Uint8Array(Buffer.concat([nonce, Buffer.alloc(4)])),
			);
			return encode({
				challenge: op.challenge,
				solution: { counter: 0, derivedKey: Buffer.from(derivedKey).toString('hex'), time: 1 },
			});
		}
		case 'v2.verify': {
			const payload = decode(op.payload);
			return verifySolution({
				challenge: payload.challenge,
				solution: payload.solution,
				deriveKey: deriveKeyFor(payload.challenge.parameters.algorithm),
				hmacSignatureSecret: op.key,
			});
		}
		default:
			throw new Error(`unknown operation ${op.op}`);
	}
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const ops = JSON.parse(Buffer.concat(chunks).toString());
const results = [];
for (const op of ops) results.push(await run(op));
process.stdout.write(JSON.stringify(results));
