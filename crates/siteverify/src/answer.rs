//! Reading a provider's answer without making the call: for callers that make the HTTP call
//! themselves, and for tests and benchmarks.

use crate::{
    Provider, Secret, Verdict, VerifyError,
    protocol::{self, Call},
    transport::WireAnswer,
};

/// Reads the answer `provider`'s verify endpoint gave, exactly as [`Verifier`](crate::Verifier)
/// reads it: the same classification of failures into [`VerifyError`] codes, the same
/// [`Verdict`] on success.
///
/// For callers that make the HTTP call themselves (their own client, a queue, another
/// runtime), and for tests. `status` is the HTTP status and `body` the raw answer body.
///
/// Only the answer is read: no [`Policy`](crate::Policy) is applied (check the verdict with
/// [`Policy::check`](crate::Policy::check), which also applies the reCAPTCHA v3 default
/// minimum score), the token is not pre-checked, and the length of `body` is not capped (the
/// verifier refuses answers over [`MAX_ANSWER_BYTES`](crate::MAX_ANSWER_BYTES) before
/// reading them). A 429 gives no `retry_after`, since the headers are not seen; an hCaptcha
/// verdict carries no site key, since the call's is not known. A provider whose cargo feature
/// is off gives [`VerifyError::ProviderMisconfigured`] with the code `provider-disabled`.
///
/// ```
/// use siteverify::{Provider, parse_answer};
///
/// let body = br#"{"success":true,"hostname":"example.com","action":"signup"}"#;
/// let verdict = parse_answer(Provider::Turnstile, 200, body)?;
/// assert_eq!(verdict.hostname.as_deref(), Some("example.com"));
///
/// let spent = br#"{"success":false,"error-codes":["timeout-or-duplicate"]}"#;
/// let error = parse_answer(Provider::Turnstile, 200, spent).unwrap_err();
/// assert_eq!(error.code(), "expired_or_duplicate");
/// # Ok::<(), siteverify::VerifyError>(())
/// ```
pub fn parse_answer(provider: Provider, status: u16, body: &[u8]) -> Result<Verdict, VerifyError> {
    let Some(codec) = protocol::codec(provider) else {
        return Err(VerifyError::ProviderMisconfigured {
            provider_codes: vec!["provider-disabled".to_owned()],
        });
    };
    // The decoders read only the answer and what the call says of site keys and test keys:
    // here, none bound and none configured, so test-key and site-key codes count as the
    // token's fault.
    let secret = Secret::new("unused");
    let call = Call {
        token: "",
        secret: &secret,
        remote_ip: None,
        site_key: None,
        idempotency_key: None,
        expected_action: None,
        test_keys: false,
        test_secret: false,
    };
    // Answers are a few hundred bytes; copying keeps the decoders' input type unchanged.
    let answer = WireAnswer {
        status,
        body: body.to_vec(),
        retry_after: None,
    };
    (codec.decode)(&call, &answer)
}

#[cfg(all(
    test,
    feature = "hcaptcha",
    feature = "recaptcha",
    feature = "turnstile",
    feature = "procaptcha",
    feature = "byebot"
))]
mod tests {
    use super::*;

    #[test]
    fn reads_each_provider_like_the_verifier() {
        let passes: [(Provider, &[u8]); 5] = [
            (
                Provider::HCaptcha,
                br#"{"success":true,"hostname":"h","score":0.2}"#,
            ),
            (
                Provider::Recaptcha,
                br#"{"success":true,"hostname":"h","score":0.9}"#,
            ),
            (Provider::Turnstile, br#"{"success":true,"hostname":"h"}"#),
            (Provider::Procaptcha, br#"{"verified":true,"status":"ok"}"#),
            (Provider::ByeBot, br#"{"success":true,"sitekey":"k"}"#),
        ];
        for (provider, body) in passes {
            let verdict = parse_answer(provider, 200, body).unwrap();
            assert_eq!(verdict.provider, provider);
        }
        let hcaptcha = parse_answer(Provider::HCaptcha, 200, passes[0].1).unwrap();
        assert_eq!(hcaptcha.human_score, Some(0.8), "risk score inverted");
        assert_eq!(hcaptcha.site_key, None);
    }

    #[test]
    fn failures_keep_their_codes() {
        let code = |provider, status, body: &[u8]| {
            parse_answer(provider, status, body).unwrap_err().code()
        };
        assert_eq!(
            code(
                Provider::Recaptcha,
                200,
                br#"{"success":false,"error-codes":["timeout-or-duplicate"]}"#
            ),
            "expired_or_duplicate"
        );
        assert_eq!(code(Provider::ByeBot, 400, b""), "invalid_token");
        assert_eq!(code(Provider::Turnstile, 503, b""), "provider_unavailable");
        assert_eq!(code(Provider::Procaptcha, 200, b"<html>"), "provider_error");
    }
}
