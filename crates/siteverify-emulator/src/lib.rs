//! A local emulator of the server-side verify endpoints of hCaptcha, Google reCAPTCHA,
//! Cloudflare Turnstile, Prosopo Procaptcha and ByeBot.
//!
//! It is a real HTTP server (axum) so verification clients, demos and CI run with no network
//! and no accounts. Tests start it on a free port, mint tokens with the properties they need
//! (hostname, action, score, age, a misbehaviour of the provider…), point the client at
//! [`Emulator::verify_url`], and afterwards inspect what the client sent with
//! [`Emulator::requests`]. The answers follow the providers' documented protocols (the
//! workspace's `PROVIDERS.md`); where the providers are silent, the choices are listed below.
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
//! The same server runs as a binary: `siteverify-emulator --port 8787`.
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
//! | `POST /tokens` | JSON [`TokenSpec`] | 200 `{"token":"…"}`, 400 `{"error":"…"}` |
//! | `POST /sites` | JSON `{"provider","site_key","secret"}` | 204, 400 `{"error":"…"}` |
//! | `GET /requests` | | JSON array of [`RecordedRequest`] (body as a string) |
//! | `DELETE /requests` | | 204 |
//! | `GET /health` | | 200 `ok` |
//!
//! Every verify call is recorded before it is answered. A wrong content type or an
//! unparseable body gets the provider's bad-request answer: hCaptcha, reCAPTCHA and Turnstile
//! HTTP 200 `{"success":false,"error-codes":["bad-request"]}`, Procaptcha HTTP 400 JSON error,
//! ByeBot HTTP 400 with no body.
//!
//! # Keys and token lifetimes
//!
//! Each provider `<p>` (`hcaptcha`, `recaptcha`, `turnstile`, `procaptcha`, `byebot`) has the
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
//! | `InternalError` | **no** | `internal-error` (HTTP 200) / Procaptcha 500 JSON / ByeBot 500 empty |
//! | `ErrorCodes { codes }` | **no** | the provider's failure shape with exactly `codes` |
//! | `MalformedJson` | yes | 200 `application/json`, body cut in half |
//! | `DropConnection` | yes | the connection closes without a byte |
//! | `Oversized` | yes | the normal answer plus a > 100 KiB `"padding"` member |
//! | `Trickle { interval_ms }` | yes | status and headers at once, then one body byte per interval |
//!
//! "Consumes" means the provider processed the call: the token is spent and a Turnstile
//! `idempotency_key` has its answer stored, so a retry with the key gets the same answer.
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

pub use fault::{Fault, FaultKind};
pub use provider::{Provider, UnknownProvider};
pub use record::RecordedRequest;
pub use server::Emulator;
pub use spec::{MintError, TokenSpec};
