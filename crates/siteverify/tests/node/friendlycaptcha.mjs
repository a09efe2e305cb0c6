// Friendly Captcha's official server SDK (@friendlycaptcha/server-sdk) against our emulator,
// for the cross-check in ../emulated/frc_sdk.rs: the SDK and siteverify must reach the same
// decision on every answer the emulator can give.
//
// Reads one JSON object on stdin:
//   {endpoint, cases: [{response, apiKey, sitekey?, strict, timeoutMs}]}
// `endpoint` is the emulator's origin: the SDK appends /api/v2/captcha/siteverify itself.
// Writes one JSON array on stdout, one result per case, in order:
//   {shouldAccept, wasAbleToVerify, isClientError, status, errorCode, responseErrorCode, threw}
// `threw` holds the message when shouldAccept() throws (0.3.0 does for a 5xx with a JSON body),
// and shouldAccept is then null.

import { FriendlyCaptchaClient } from '@friendlycaptcha/server-sdk';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString());

const results = [];
for (const c of input.cases) {
	const client = new FriendlyCaptchaClient({
		apiKey: c.apiKey,
		sitekey: c.sitekey || undefined,
		apiEndpoint: input.endpoint,
		strict: c.strict,
	});
	const result = await client.verifyCaptchaResponse(c.response, { timeout: c.timeoutMs });
	const error = result.getResponseError();
	let shouldAccept = null;
	let threw = null;
	try {
		shouldAccept = result.shouldAccept();
	} catch (e) {
		threw = String(e.message);
	}
	results.push({
		shouldAccept,
		threw,
		wasAbleToVerify: result.wasAbleToVerify(),
		isClientError: result.isClientError(),
		status: result.status,
		errorCode: result.getErrorCode(),
		responseErrorCode: error ? error.error_code : null,
	});
}
process.stdout.write(JSON.stringify(results));
// The SDK leaves each request's timeout timer running; nothing else is pending.
process.exit(0);
