//! The wire format of each provider: how a call is encoded and how an answer is read.

use std::net::IpAddr;

use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::{
    BadAnswer, Outage, Provider, Secret, Verdict, VerifyError,
    transport::{WireAnswer, WireBody},
};

#[cfg(feature = "byebot")]
mod byebot;
#[cfg(feature = "friendlycaptcha")]
mod friendlycaptcha;
#[cfg(feature = "hcaptcha")]
mod hcaptcha;
#[cfg(feature = "procaptcha")]
mod procaptcha;
#[cfg(feature = "recaptcha")]
mod recaptcha;
#[cfg(feature = "recaptcha-enterprise")]
mod recaptcha_enterprise;
#[cfg(any(feature = "hcaptcha", feature = "recaptcha", feature = "turnstile"))]
mod siteverify_answer;
#[cfg(feature = "turnstile")]
mod turnstile;

/// What one verification sends.
pub(crate) struct Call<'a> {
    pub(crate) token: &'a str,
    pub(crate) secret: &'a Secret,
    pub(crate) remote_ip: Option<IpAddr>,
    /// The site key to bind the token to, where the provider binds (hCaptcha, Friendly
    /// Captcha).
    pub(crate) site_key: Option<&'a str>,
    /// Turnstile's retry key: the same for every attempt of one verification.
    pub(crate) idempotency_key: Option<&'a str>,
    /// The action the policy expects (sent where the provider takes it: reCAPTCHA
    /// Enterprise's `expectedAction`; we compare it ourselves all the same).
    pub(crate) expected_action: Option<&'a str>,
    /// Our own secret or site key is a provider's test key.
    pub(crate) test_keys: bool,
    /// Our secret is a provider's test secret.
    pub(crate) test_secret: bool,
}

impl Call<'_> {
    /// What the call said, for sorting the provider's codes.
    pub(crate) fn context(&self) -> crate::provider_codes::Context {
        crate::provider_codes::Context {
            sent_site_key: self.site_key.is_some(),
            test_keys: self.test_keys,
            test_secret: self.test_secret,
        }
    }
}

/// The form hCaptcha and reCAPTCHA share: `secret`, `response`, `remoteip` when the client's
/// address is forwarded, then `extra`.
#[cfg(any(feature = "hcaptcha", feature = "recaptcha"))]
fn secret_response_form(call: &Call<'_>, extra: Option<(&'static str, &str)>) -> WireBody {
    let remote_ip = call.remote_ip.map(|ip| ip.to_string());
    WireBody::form(
        [("secret", call.secret.expose()), ("response", call.token)]
            .into_iter()
            .chain(remote_ip.as_deref().map(|ip| ("remoteip", ip)))
            .chain(extra),
    )
}

/// What an answer with a status other than 200 means, where the provider gives that status
/// no meaning of its own. Only a 200 can ever be a pass, whatever the body says.
///
/// - 429 and 5xx: the provider is unavailable (rate limited, or failing).
/// - 3xx and 4xx: our verify URL or request is wrong (a typo in the path answers 404, a moved
///   endpoint redirects, a proxy in the way refuses with 403). That is our misconfiguration:
///   loud, never mistaken for an outage, and never a pass.
/// - anything else (1xx, a 2xx that is not 200): an answer we did not expect.
fn refusal_of_status(answer: &WireAnswer) -> VerifyError {
    match answer.status {
        429 => VerifyError::ProviderUnavailable(Outage::RateLimited {
            retry_after: answer.retry_after,
        }),
        500..=599 => VerifyError::ProviderUnavailable(Outage::Status(answer.status)),
        300..=499 => VerifyError::ProviderMisconfigured {
            provider_codes: vec![format!("http-{}", answer.status)],
        },
        other => VerifyError::ProviderError(BadAnswer::UnexpectedStatus(other)),
    }
}

/// Reads a provider's raw score. Every provider documents 0.0–1.0; anything else (and JSON
/// cannot carry a NaN, but a decoder must not count on its input) is an answer we cannot
/// trust, never a score to clamp into "certainly human".
fn read_score(raw: f64) -> Result<f64, VerifyError> {
    if raw.is_finite() && (0.0..=1.0).contains(&raw) {
        Ok(raw)
    } else {
        Err(VerifyError::ProviderError(BadAnswer::ScoreOutOfRange))
    }
}

/// A provider's wire format and retry rule.
pub(crate) struct Codec {
    pub(crate) encode: fn(&Call<'_>) -> WireBody,
    pub(crate) decode: fn(&Call<'_>, &WireAnswer) -> Result<Verdict, VerifyError>,
    /// Whether a retry is safe after the request may have reached the provider. Only
    /// Turnstile's idempotency key makes it so; elsewhere a retry would find the token spent.
    pub(crate) idempotent: bool,
}

/// The codec of `provider`, or `None` when its feature is disabled.
pub(crate) fn codec(provider: Provider) -> Option<&'static Codec> {
    match provider {
        #[cfg(feature = "hcaptcha")]
        Provider::HCaptcha => Some(&hcaptcha::CODEC),
        #[cfg(feature = "recaptcha")]
        Provider::Recaptcha => Some(&recaptcha::CODEC),
        #[cfg(feature = "turnstile")]
        Provider::Turnstile => Some(&turnstile::CODEC),
        #[cfg(feature = "procaptcha")]
        Provider::Procaptcha => Some(&procaptcha::CODEC),
        #[cfg(feature = "byebot")]
        Provider::ByeBot => Some(&byebot::CODEC),
        #[cfg(feature = "friendlycaptcha")]
        Provider::FriendlyCaptcha => Some(&friendlycaptcha::CODEC),
        #[cfg(feature = "recaptcha-enterprise")]
        Provider::RecaptchaEnterprise => Some(&recaptcha_enterprise::CODEC),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Parses a JSON answer; anything unreadable is the provider's fault, described without
/// repeating the body.
///
/// The body must be a JSON object: serde's derived struct decoders also accept arrays, so
/// `[true]` would otherwise read as `{"success": true}`. Checking the first byte is enough:
/// a document that starts with `{` can only be decoded as a map, and it saves building a map
/// of the whole answer first.
fn parse_json<T: DeserializeOwned>(answer: &WireAnswer) -> Result<T, VerifyError> {
    let unparseable = |detail: String| {
        VerifyError::ProviderError(BadAnswer::Unparseable {
            status: answer.status,
            detail,
        })
    };
    match answer.body.trim_ascii_start().first() {
        Some(b'{') => {}
        Some(_) => return Err(unparseable("not a JSON object at line 1".to_owned())),
        None => return Err(unparseable("truncated JSON: empty body".to_owned())),
    }
    serde_json::from_slice(&answer.body).map_err(|e| {
        let detail = match e.classify() {
            Category::Data => format!("unexpected shape: {}", describe_shape_error(&e)),
            Category::Eof => format!("truncated JSON at line {} column {}", e.line(), e.column()),
            Category::Syntax | Category::Io => {
                format!("not JSON at line {} column {}", e.line(), e.column())
            }
        };
        unparseable(detail)
    })
}

/// serde's message names the field and the expected type, and for a wrong type also quotes
/// the value; the quote is cut off so that nothing of the answer is repeated.
fn describe_shape_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.find("invalid type") {
        // The last ", expected": a quoted value could itself contain one.
        Some(_) => text
            .rsplit_once(", expected")
            .map(|(_, expected)| format!("wrong type, expected{expected}"))
            .unwrap_or_else(|| "wrong type".to_owned()),
        None => text,
    }
}

#[cfg(all(
    test,
    feature = "hcaptcha",
    feature = "recaptcha",
    feature = "turnstile",
    feature = "procaptcha",
    feature = "byebot",
    feature = "friendlycaptcha",
    feature = "recaptcha-enterprise"
))]
mod decode_tests;
