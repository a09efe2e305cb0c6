//! Conformance with client libraries nobody here wrote, each pointed at the emulator by its
//! own documented setting: they must get the answers their users get from the real provider
//! (pass, fail, and the error codes they understand). Friendly Captcha's official SDK has its
//! own cross-check in the `siteverify` crate.
//!
//! | library | provider | setting |
//! |---|---|---|
//! | `google-recaptcha` 1.1.0 (npm) | reCAPTCHA | `apiUrl` |
//! | `django-hCaptcha` 0.2.0 (PyPI) | hCaptcha | `HCAPTCHA_VERIFY_URL`, `HCAPTCHA_SECRET` |
//! | `django-turnstile` 0.1.3 (PyPI) | Turnstile | `TURNSTILE_VERIFY_URL`, `TURNSTILE_SECRET` |
//!
//! The packages come from the committed `tests/node/package-lock.json` and
//! `tests/python/requirements.txt`; a test installs them when they are missing and fails,
//! saying so, when it cannot: a skipped conformance check would pass without checking.

mod django;
mod google_recaptcha;
mod runner;

use siteverify_emulator::{Emulator, TokenSpec};

pub(crate) async fn start() -> Emulator {
    Emulator::start().await.expect("emulator starts")
}

pub(crate) fn mint(emulator: &Emulator, spec: TokenSpec) -> String {
    emulator.mint(spec).expect("mint")
}
