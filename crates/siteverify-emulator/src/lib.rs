//! A local emulator of the server-side verify endpoints of hCaptcha, Google reCAPTCHA,
//! Cloudflare Turnstile, Prosopo Procaptcha, ByeBot, Friendly Captcha v2 and reCAPTCHA
//! Enterprise (createAssessment).
//!
//! It is a real HTTP server (axum) so verification clients, demos and CI run with no network
//! and no accounts. Tests start it on a free port, mint tokens with the properties they need
//! (hostname, action, score, age, a misbehaviour of the provider…), point the client at
//! [`Emulator::verify_url`], and afterwards inspect what the client sent with
//! [`Emulator::requests`]. The answers follow the providers' documented protocols (the
//! repository's `docs/PROVIDERS.md`); where the providers are silent, the choices are listed below.
//!
//! ```
//! use siteverify_emulator::{Emulator, Provider, TokenSpec};
//!
//! let runtime = tokio::runtime::Runtime::new()?;
//! runtime.block_on(async {
//!     let emulator = Emulator::start().await?;
//!     let token = emulator
//!         .mint(TokenSpec::new(Provider::Turnstile).hostname("example.org").action("login"))?;
//!     assert!(token.starts_with("0."));
//!
//!     let url = emulator.verify_url(Provider::Turnstile);
//!     assert_eq!(url, format!("{}/turnstile/v0/siteverify", emulator.base_url()));
//!     // POST {"secret": Provider::Turnstile.default_secret(), "response": token} to `url`
//!     // and the answer is {"success":true,"hostname":"example.org","action":"login",…}.
//!
//!     emulator.shutdown().await;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! The same server runs as a binary: `siteverify-emulator --port 8787` (`--help` lists its
//! flags and the `SITEVERIFY_EMULATOR_*` variables; SIGTERM stops it at once). The
//! repository's `docs/EMULATOR.md` is the HTTP reference with a curl walk-through and the
//! steps to run it in another project's CI.
//!
//! # Endpoints
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /hcaptcha/siteverify` | form: `secret`, `response`, `remoteip?`, `sitekey?` | hCaptcha JSON |
//! | `POST /recaptcha/api/siteverify` | form: `secret`, `response`, `remoteip?` | reCAPTCHA JSON |
//! | `POST /turnstile/v0/siteverify` | JSON or form: `secret`, `response`, `remoteip?`, `idempotency_key?` | Turnstile JSON |
//! | `POST /procaptcha/siteverify` | JSON: `secret`, `token`, `ip?`, `email?` | `{"verified":…,"status":…}` |
//! | `POST /byebot/validate_token` | JSON: `api_key`, `token` | 200 JSON, or 400 with no body |
//! | `POST /api/v2/captcha/siteverify` (Friendly Captcha, at its real path: its SDKs take only an origin) | header `X-API-Key`; JSON or form: `response`, `sitekey?` | `{"success":true,"data":{…}}`, or `{"success":false,"error":{"error_code",…}}` with the documented status (401, 400, 200; 500 for `internal_server_error`) |
//! | `POST /v1/projects/{project}/assessments` (reCAPTCHA Enterprise, at its real path; only [`ENTERPRISE_PROJECT`] is known) | header `X-Goog-Api-Key` (or `?key=`); JSON `{"event": {"token", "siteKey", "expectedAction"?, "userIpAddress"?, "userAgent"?}}` | 200 assessment (`tokenProperties.valid` is the verdict), or a Google API error `{"error": {"code", "message", "status"}}` |
//! | `POST /tokens` | JSON [`TokenSpec`] | 200 `{"token":"…"}`, 400 `{"error":"…"}` (CORS: any origin) |
//! | `OPTIONS /tokens` | | 204 CORS preflight |
//! | `GET /widget.js` | | the [widget script](#the-widget-script) (CORS: any origin) |
//! | `GET /enterprise.js` | | the same script, standing in for reCAPTCHA Enterprise's `enterprise.js` |
//! | `POST /sites` | JSON `{"provider","site_key","secret"}` | 204, 400 `{"error":"…"}` |
//! | `GET /requests` | | JSON array of [`RecordedRequest`] (body as a string) |
//! | `DELETE /requests` | | 204 |
//! | `PUT /outages/{provider}` | JSON [`FaultKind`] | 204: every verify call of the provider suffers it ([`Emulator::start_outage`]); 400, 404 `{"error":"…"}` |
//! | `DELETE /outages/{provider}` | | 204: the outage ends |
//! | `GET /health` | | 200 `ok` |
//! | `GET /` | | JSON index: `endpoints` (`method`, `path`, `about`), `providers` (`provider`, `verify_path`, `site_key`, `secret`), `record` (`limit`, `dropped`), `name`, `version` |
//!
//! The record of verify calls is a ring of the last [`DEFAULT_RECORD_LIMIT`] calls (set with
//! [`EmulatorBuilder::record_limit`]), so a long CI run cannot grow it without end.
//!
//! Only `/tokens` and `/widget.js` carry CORS headers (`access-control-allow-origin: *`; the
//! preflight allows `POST, OPTIONS` and the `content-type` header): the page that uses the
//! widget script lives on another origin. The verify endpoints get none, since the real ones
//! are called server to server. Every verify call is recorded before it is answered. A wrong content type or an
//! unparseable body gets the provider's bad-request answer: hCaptcha, reCAPTCHA and Turnstile
//! HTTP 200 `{"success":false,"error-codes":["bad-request"]}`, Procaptcha HTTP 400 JSON error,
//! ByeBot HTTP 400 with no body.
//!
//! # Keys and token lifetimes
//!
//! Each provider `<p>` (`hcaptcha`, `recaptcha`, `turnstile`, `procaptcha`, `byebot`,
//! `friendlycaptcha`, `recaptcha-enterprise`) has the
//! site `emulator-<p>-site-key` / `emulator-<p>-secret` registered at start
//! ([`Provider::default_site_key`], [`Provider::default_secret`]); more with
//! [`Emulator::register_site`] or `POST /sites`.
//!
//! | provider | token format | lifetime | documented test keys (all pre-registered) |
//! |---|---|---|---|
//! | hCaptcha | `P1_…` | 120 s | secret `0x0000000000000000000000000000000000000000`; site keys `10000000-ffff-ffff-ffff-000000000001`, `20000000-…-000000000002` (risk score 0.1), `30000000-…-000000000003` (risk score 0.95), which emit the tokens `10000000-aaaa-bbbb-cccc-000000000001` etc. |
//! | reCAPTCHA | `03A…` | 120 s | site key `6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI`, secret `6LeIxAcTAAAAAGG-vFI1TnRWxMZNFuojJ4WifJWe`: any token passes, v2 shape, hostname `testkey.google.com` |
//! | Turnstile | `0.…` (< 2048 chars) | 300 s | site keys `1x00000000000000000000AA`, `2x00000000000000000000AB`, `3x00000000000000000000FF` emit `XXXX.DUMMY.TOKEN.XXXX`; secrets `1x0000000000000000000000000000000AA` (passes the dummy token), `2x…AA` (`invalid-input-response`), `3x…AA` (`timeout-or-duplicate`) |
//! | Procaptcha | `0x` + hex(site key `:` 16 random bytes) | 120 s | tokens embedding `5EARALUe4HXQwKo5KanZSGGKqJV4VTaytpezFwv8ZHbZewmh` pass, `5ETtechmZkn3CUVeJX7Z511oiuiu742aHLm91D5ZZw4fqoAG` fail, with any secret |
//! | ByeBot | url-safe random | 300 s (UNCONFIRMED upstream) | none documented |
//! | reCAPTCHA Enterprise | `03A…` | 120 s | none documented; the score is the minted one (default 0.9), below 0.5 with the reason `AUTOMATION` |
//! | Friendly Captcha | two url-safe random parts joined by `.` | 300 s (UNCONFIRMED upstream) | none documented; the answer's `origin` is `https://<hostname>` (empty for an empty hostname) |
//!
//! Tokens are single use, except the fixed test tokens and tokens verified with a test secret
//! or a Procaptcha test site key, which answer the same every time.
//!
//! # Faults
//!
//! A [`Fault`] attached to a minted token makes the provider misbehave on the first
//! [`Fault::times`] verify calls naming that token (every call when `None`).
//!
//! | [`FaultKind`] | consumes the token | what the client sees |
//! |---|---|---|
//! | `Delay { ms }` | yes | the normal answer, `ms` later |
//! | `Status { code: 429 }` | **no** | 429, `text/plain`, `retry-after: 1` |
//! | `Status { code }` (other) | yes | `code`, short `text/plain` body |
//! | `InternalError` | **no** | `internal-error` (HTTP 200) / Procaptcha 500 JSON / ByeBot 500 empty / Friendly Captcha 500 `internal_server_error` |
//! | `ErrorCodes { codes }` | **no** | the provider's failure shape with exactly `codes` (Friendly Captcha: the first, under its documented status) |
//! | `MalformedJson` | yes | 200 `application/json`, body cut in half |
//! | `DropConnection` | yes | the connection closes without a byte |
//! | `Oversized` | yes | the normal answer plus a > 100 KiB `"padding"` member |
//! | `Trickle { interval_ms }` | yes | status and headers at once, then one body byte per interval |
//!
//! "Consumes" means the provider processed the call: the token is spent and a Turnstile
//! `idempotency_key` has its answer stored, so a retry with the key gets the same answer.
//!
//! # The widget script
//!
//! `GET /widget.js` serves a small script (plain JavaScript, embedded in the binary) that stands
//! in for the providers' widget scripts (ALTCHA's too) in demos and browser tests. It follows the page contract
//! of the real widgets, so the same HTML works with the real script or with this one:
//!
//! ```html
//! <form method="post" action="/signup">
//!   <input name="email">
//!   <div class="cf-turnstile" data-sitekey="emulator-turnstile-site-key"></div>
//!   <button>Sign up</button>
//! </form>
//! <!-- real: https://challenges.cloudflare.com/turnstile/v0/api.js -->
//! <script src="http://127.0.0.1:8787/widget.js" async defer></script>
//! ```
//!
//! The script finds the emulator through its own `src`, so it works wherever the emulator
//! runs. The page's site keys must be known to the emulator: the `emulator-<p>-site-key`
//! defaults, the documented test keys, or keys added with `POST /sites`.
//!
//! **Containers.** On `DOMContentLoaded` (at once if the DOM is already loaded) every container
//! is rendered:
//!
//! | container | hidden field | provider |
//! |---|---|---|
//! | `.h-captcha` | `h-captcha-response` | `hcaptcha` |
//! | `.g-recaptcha` | `g-recaptcha-response` | `recaptcha`; `recaptcha-enterprise` when the script is loaded as `/enterprise.js` |
//! | `.cf-turnstile` | `cf-turnstile-response` (or `data-response-field-name`) | `turnstile` |
//! | `.procaptcha` | `procaptcha-response` | `procaptcha` |
//! | `.byebot-captcha` | `byebot-token` | `byebot` |
//! | `.frc-captcha` | `frc-captcha-response` | `friendlycaptcha` |
//!
//! ByeBot documents no container class; `.byebot-captcha` is our choice. A container reads
//! `data-sitekey`, `data-action`, `data-cdata`, `data-callback` and `data-error-callback` (names
//! of global functions).
//!
//! **DOM contract**, for browser tests. Inside a `div` container the script appends
//! `<div class="emulator-widget">` holding:
//! - `<button type="button" class="emulator-human" data-emulator="human" role="checkbox">` with
//!   the text `I am human`;
//! - `<button type="button" class="emulator-bot" data-emulator="bot">` with `Simulate a bot`;
//! - `<span class="emulator-status" data-emulator="status" role="status">`, empty at first;
//! - `<input type="hidden" name="FIELD">` (the real hCaptcha and reCAPTCHA use a hidden
//!   `textarea`; the form submits the same).
//!
//! The container's `data-emulator-state` is `idle`, then `pending` → `solved` or `error`, or
//! `bot`. "I am human" POSTs `{provider, site_key, hostname: location.hostname}` to `/tokens`,
//! plus what the real provider's answer reports of the page's settings: Turnstile's `action`
//! and `cdata`; nothing more for hCaptcha, Procaptcha and ByeBot, and for the reCAPTCHA
//! checkbox, which is v2: its tokens carry no score and no action. On success the field holds the token, the
//! status reads `Verified`, `aria-checked` becomes `true` and the callback gets the token. On
//! failure the field is emptied, the status reads `Error: …` and the error callback gets the
//! message. "Simulate a bot" writes a token the emulator never minted (`bot-` + 32 hex digits;
//! Procaptcha `0x` + 32 hex digits, so it is not refused as malformed first), sets the status
//! `Bot token set` and calls the callback: only the server can tell, and verification fails as
//! invalid. A container that is a `button` or `input` (reCAPTCHA v3's "bind to the submit
//! button" pattern) renders nothing: its click is the human solve (for reCAPTCHA a v3 token:
//! `data-action` and a score), the hidden field goes into its form, and the callback is
//! expected to submit.
//!
//! **ALTCHA** (self-hosted: nothing is minted here). Every `<altcha-widget>` element, and
//! every element with a `data-altcha` attribute, gets the same box, buttons, status and
//! `data-emulator-state` as above, and a hidden field named by the element's `name` attribute
//! (`data-name` on a container; default `altcha`):
//!
//! ```html
//! <altcha-widget challengeurl="/altcha/challenge" name="altcha"></altcha-widget>
//! <div data-altcha data-challengeurl="/altcha/challenge"></div>
//! ```
//!
//! "I am human" fetches the challenge from `challengeurl` (altcha 2.x's attribute; 3.x's
//! `challenge`, a URL or the challenge's JSON itself, is read too; `data-challengeurl` on a
//! container), which must be on the page's own origin (the page's server issues challenges
//! and verifies them; the emulator takes no part), then really solves it with
//! `crypto.subtle`: the classic protocol (SHA-256/384/512 of `salt + number`, `number` up to
//! `maxnumber`) or v2 (`SHA-*` and `PBKDF2/SHA-*` keys from `nonce ‖ counter` until one starts
//! with `keyPrefix`). The field then holds base64 of the payload's JSON, the status reads
//! `Verified`, a `verified` event (detail `{payload}`, as the real widget's) is dispatched and
//! `data-callback` is called. "Simulate a bot" fetches a challenge too but skips the work: a
//! classic number above `maxnumber`, or a v2 key genuine for its counter that misses the
//! prefix, so the server refuses it as `invalid_token`. `auto="onload"` solves at once. The
//! solving runs on the page's thread (no workers): keep demo difficulties small. A page in a
//! non-secure context (plain HTTP other than `localhost`/`127.0.0.1`) has no `crypto.subtle`.
//!
//! **reCAPTCHA v2 or v3.** As with Google's script, the page says which: `widget.js` alone
//! renders the v2 checkbox in every `.g-recaptcha`; `widget.js?render=<site key>` is v3 and
//! renders no checkbox. The page then calls `grecaptcha.execute(siteKey, {action})` (inside
//! `grecaptcha.ready`), which mints a token with that action and a score, and puts it in its
//! form itself. The score is `0.9`, a person's, unless the page sets
//! `window.siteverifyEmulator = {v3Score: 0.1}` (any number from 0 to 1, read at each
//! `execute`): that is how a browser test plays a bot, whose token the server then refuses
//! as `score_below_threshold`.
//!
//! **reCAPTCHA Enterprise.** Loaded as `/enterprise.js` (for Google's
//! `https://www.google.com/recaptcha/enterprise.js`), the script mints reCAPTCHA Enterprise
//! tokens for `.g-recaptcha` containers, with the container's `data-action` and a score
//! (checkbox keys are scored too, as Enterprise scores every token), and adds
//! `grecaptcha.enterprise` (`render`, `execute`, `ready`, …) beside `grecaptcha`.
//!
//! **JavaScript API**, defined only where the page has no real one (an object with `render`):
//! `grecaptcha`, `hcaptcha` and `turnstile` each get `render(container, params)` (returns the
//! widget id, its index), `getResponse(id?)`, `reset(id?)`, `ready(cb)` and `execute(id?)`,
//! which solves a rendered widget. `grecaptcha.execute(siteKey, {action})` mints a fresh v3
//! token (that action, the score above) without touching any field. Query parameters:
//! `widget.js?onload=fnName` calls that global once the script is ready, `render=explicit`
//! skips the automatic rendering, `render=<site key>` is reCAPTCHA v3. reCAPTCHA's documented pre-load queue
//! (`___grecaptcha_cfg.fns`) is run.
//!
//! **Not emulated:** challenges, invisible and compact sizes, themes and languages (the widget
//! always looks the same), the reCAPTCHA v3 badge and v3's score model (the score is what
//! the page asks for), token expiry and `data-expired-callback`,
//! hCaptcha's reCAPTCHA compatibility (its extra `g-recaptcha-response` field and
//! `window.grecaptcha`), hCaptcha's `execute({async: true})` result object, Turnstile's
//! `data-response-field="false"`, `remove()` and the other less common API members, and the
//! Procaptcha and ByeBot JavaScript APIs. Load either the real script or this one, never both.
//! A page with a strict Content-Security-Policy must allow the emulator's origin in
//! `script-src` and `connect-src`, and inline styles (the widget adds one `<style>` element).
//!
//! # Our choices where the providers are silent
//!
//! - Checks run in this order: bad body, missing secret, missing token, (hCaptcha) invalid
//!   `remoteip`, test keys, unknown secret, token checks (unknown or another site's → expired →
//!   already used). An unknown secret therefore wins over `not-using-dummy-passcode`.
//! - hCaptcha with the test secret: a `sitekey` not among the test site keys answers
//!   `sitekey-secret-mismatch`; a test token or test `sitekey` with a registered secret
//!   answers `not-using-dummy-passcode`. `challenge_ts` has 6 fractional digits.
//! - reCAPTCHA `challenge_ts` has whole seconds, Turnstile milliseconds. reCAPTCHA reports
//!   `score` and `action` only when the token was minted with them.
//! - Turnstile: `idempotency_key` must be a hyphenated UUID; the first answer for a key is
//!   replayed byte for byte for the same token, and the same key with another token answers
//!   `invalid-idempotency-key`. Failures carry `"messages": []`. `remoteip` is not checked.
//! - Procaptcha: missing secret or token, or a non-JSON body → HTTP 400
//!   `{"error":{"message","code"}}` (codes `MISSING_SECRET`, `MISSING_TOKEN`, `BAD_REQUEST`);
//!   an unknown secret → HTTP **403** (`INVALID_SECRET`); a token whose embedded site key is
//!   not registered at all → 400 `UNKNOWN_SITE_KEY`. Token failures are HTTP 200
//!   `{"verified":false,"status":…}` with status `invalid`, `site_key_mismatch`, `expired` or
//!   `already_used`. A `token` that is JSON text (or an object) with a string `token` member
//!   is unwrapped (old widgets).
//! - ByeBot: a missing or unknown `api_key` → HTTP **401** with no body; everything wrong
//!   with the token → 400 with no body. The token lifetime of 300 s is UNCONFIRMED upstream.
//! - The fixed test tokens (hCaptcha, Turnstile) are shared by every caller, so no fault can be
//!   attached to them: minting one with a fault is a [`MintError`]. Their other spec fields are
//!   ignored; the documented answer is fixed.
//! - `DropConnection` unwinds the connection task (without the panic hook); it needs the
//!   default `panic = "unwind"`.

mod clock;
mod fault;
mod input;
mod provider;
mod providers;
mod record;
mod reply;
mod server;
mod spec;
mod state;
mod token;
mod widget;

/// The widget script `GET /widget.js` serves, embedded so the binary serves it with no files
/// beside it; public for apps that serve it from their own origin (the signup demo's ALTCHA
/// mode, at `/altcha/widget.js`).
pub const WIDGET_SCRIPT: &str = include_str!("widget.js");

pub use fault::{Fault, FaultKind};
pub use provider::{Provider, UnknownProvider};
pub use providers::ENTERPRISE_PROJECT;
pub use record::RecordedRequest;
pub use server::{DEFAULT_RECORD_LIMIT, Emulator, EmulatorBuilder};
pub use spec::{MintError, TokenSpec};
