//! One module per emulated provider: its request fields, test keys and answer shapes.

mod byebot;
mod friendlycaptcha;
mod hcaptcha;
mod procaptcha;
mod recaptcha;
mod recaptcha_enterprise;
mod turnstile;

use serde_json::{Value, json};

use crate::input::{Format, Input};
use crate::provider::Provider;
use crate::reply::Reply;
use crate::state::Registry;

/// What the server needs from a provider to answer one verify call.
pub(crate) trait Endpoint: Sync {
    /// Whether the provider accepts a body in this format.
    fn accepts(&self, format: Format) -> bool;
    /// The token the request names, to look up its fault before processing. The defaults of
    /// this trait are the shape hCaptcha, reCAPTCHA and Turnstile share: the token in
    /// `response`, failures as `{"success":false,"error-codes":[...]}` with HTTP 200.
    fn token(&self, input: &Input) -> Option<String> {
        input.text("response").ok().flatten().map(str::to_owned)
    }
    /// A failure answer carrying these codes.
    fn failure(&self, codes: &[&str]) -> Reply {
        Reply::ok(siteverify_failure(codes))
    }
    /// The answer to a wrong content type or an unparseable body.
    fn bad_request(&self) -> Reply {
        self.failure(&["bad-request"])
    }
    /// The answer of [`FaultKind::InternalError`](crate::FaultKind::InternalError).
    fn internal_error(&self) -> Reply {
        self.failure(&["internal-error"])
    }
    /// The answer of [`FaultKind::ErrorCodes`](crate::FaultKind::ErrorCodes).
    fn error_codes(&self, codes: &[String]) -> Reply {
        let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
        self.failure(&codes)
    }
    /// Verifies the request, consuming the token if it is valid.
    fn verify(&self, registry: &mut Registry, input: &Input) -> Reply;
}

pub use recaptcha_enterprise::ENTERPRISE_PROJECT;

pub(crate) fn endpoint(provider: Provider) -> &'static dyn Endpoint {
    match provider {
        Provider::HCaptcha => &hcaptcha::HCaptcha,
        Provider::Recaptcha => &recaptcha::Recaptcha,
        Provider::Turnstile => &turnstile::Turnstile,
        Provider::Procaptcha => &procaptcha::Procaptcha,
        Provider::ByeBot => &byebot::ByeBot,
        Provider::FriendlyCaptcha => &friendlycaptcha::FriendlyCaptcha,
        Provider::RecaptchaEnterprise => &recaptcha_enterprise::RecaptchaEnterprise,
    }
}

/// The documented test site keys of a provider, each with the secret it is registered under.
pub(crate) fn test_sites(provider: Provider) -> Vec<(&'static str, &'static str)> {
    match provider {
        Provider::HCaptcha => hcaptcha::TEST_KEYS
            .iter()
            .map(|k| (k.site_key, hcaptcha::TEST_SECRET))
            .collect(),
        Provider::Recaptcha => vec![(recaptcha::TEST_SITE_KEY, recaptcha::TEST_SECRET)],
        Provider::Turnstile => turnstile::TEST_SITE_KEYS
            .iter()
            .map(|k| (*k, turnstile::TEST_SECRET_PASS))
            .collect(),
        // Procaptcha documents no test secret: the test site keys answer the same for any secret.
        Provider::Procaptcha => procaptcha::TEST_SITE_KEYS
            .iter()
            .map(|k| (*k, Provider::Procaptcha.default_secret()))
            .collect(),
        Provider::ByeBot | Provider::FriendlyCaptcha | Provider::RecaptchaEnterprise => Vec::new(),
    }
}

/// The fixed token a test site key emits, for providers whose test widgets emit one.
pub(crate) fn fixed_test_token(provider: Provider, site_key: &str) -> Option<&'static str> {
    match provider {
        Provider::HCaptcha => hcaptcha::TEST_KEYS
            .iter()
            .find(|k| k.site_key == site_key)
            .map(|k| k.token),
        Provider::Turnstile => turnstile::TEST_SITE_KEYS
            .contains(&site_key)
            .then_some(turnstile::DUMMY_TOKEN),
        Provider::Recaptcha
        | Provider::Procaptcha
        | Provider::ByeBot
        | Provider::FriendlyCaptcha
        | Provider::RecaptchaEnterprise => None,
    }
}

/// The `{"success":false,"error-codes":[…]}` failure of the siteverify family.
fn siteverify_failure<S: AsRef<str>>(codes: &[S]) -> Value {
    let codes: Vec<&str> = codes.iter().map(AsRef::as_ref).collect();
    json!({ "success": false, "error-codes": codes })
}
