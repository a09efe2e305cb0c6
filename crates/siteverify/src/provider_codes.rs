//! The providers' `error-codes`, sorted by whose fault they are.

use crate::{Outage, VerifyError};

/// Codes that mean our own request or configuration is wrong: never the user's fault, never
/// cured by a retry. (The test-key and site-key codes are sorted by [`Context`] first.)
const CONFIGURATION: &[&str] = &[
    "missing-input-secret",
    "invalid-input-secret",
    "bad-request",
    "missing-remoteip",
    "invalid-remoteip",
    "invalid-widget-id",
    "invalid-parsed-secret",
    "invalid-idempotency-key",
];

/// Codes for a token that was good once but is spent or stale.
const EXPIRED_OR_DUPLICATE: &[&str] = &[
    "expired-input-response",
    "already-seen-response",
    "timeout-or-duplicate",
    "invalid-or-already-seen-response",
];

/// What the call itself said, which decides whose fault some codes are.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Context {
    /// We sent a `sitekey` to bind the token to.
    pub(crate) sent_site_key: bool,
    /// Our own secret or site key is one of the providers' test keys.
    pub(crate) test_keys: bool,
    /// Our secret is a provider's test secret.
    pub(crate) test_secret: bool,
}

/// Codes about test keys: ours if we configured one, otherwise a client sending a public test
/// token (which anyone can) and must not be able to raise our 500s and error logs with it.
const TEST_KEYS: &[&str] = &["not-using-dummy-passcode", "not-using-dummy-secret"];

/// Turns a failed answer's codes into an error.
///
/// When several codes come together the most actionable one wins: our misconfiguration first
/// (an operator must fix it whatever the token was), then a provider outage, then the token's
/// own faults. Unknown codes count as `invalid_token` and are kept verbatim.
pub(crate) fn classify(codes: Vec<String>, context: Context) -> VerifyError {
    let has = |set: &[&str]| codes.iter().any(|c| set.contains(&c.as_str()));
    // A test secret is a public constant and cannot be wrong: when the provider still calls
    // it invalid, it is refusing the token (Turnstile answers a real token sent with a test
    // secret that way), and a client must not be able to raise our 500s with it.
    let configuration = codes.iter().any(|c| {
        CONFIGURATION.contains(&c.as_str()) && !(context.test_secret && c == "invalid-input-secret")
    });
    let ours = configuration
        || (context.test_keys && has(TEST_KEYS))
        // Without a `sitekey` from us, a mismatch is about the site key the token carries.
        || (context.sent_site_key && has(&["sitekey-secret-mismatch"]));
    if ours {
        VerifyError::ProviderMisconfigured {
            provider_codes: codes,
        }
    } else if has(&["internal-error"]) {
        VerifyError::ProviderUnavailable(Outage::InternalError)
    } else if has(EXPIRED_OR_DUPLICATE) {
        VerifyError::ExpiredOrDuplicate {
            provider_codes: codes,
        }
    } else if has(&["missing-input-response"]) {
        VerifyError::MissingToken
    } else {
        VerifyError::InvalidToken {
            provider_codes: codes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As for a verifier with real keys that binds the site key.
    fn code_of(codes: &[&str]) -> &'static str {
        let context = Context {
            sent_site_key: true,
            test_keys: true,
            test_secret: false,
        };
        classify(codes.iter().map(|c| c.to_string()).collect(), context).code()
    }

    #[test]
    fn a_client_cannot_make_test_and_site_key_codes_ours() {
        let codes = |c: &str| vec![c.to_owned()];
        let plain = Context::default();
        assert_eq!(
            classify(codes("not-using-dummy-passcode"), plain).code(),
            "invalid_token"
        );
        assert_eq!(
            classify(codes("not-using-dummy-secret"), plain).code(),
            "invalid_token"
        );
        assert_eq!(
            classify(codes("sitekey-secret-mismatch"), plain).code(),
            "invalid_token"
        );
        let bound = Context {
            sent_site_key: true,
            test_keys: false,
            test_secret: false,
        };
        assert_eq!(
            classify(codes("sitekey-secret-mismatch"), bound).code(),
            "provider_misconfigured"
        );
        let testing = Context {
            sent_site_key: false,
            test_keys: true,
            test_secret: false,
        };
        assert_eq!(
            classify(codes("not-using-dummy-passcode"), testing).code(),
            "provider_misconfigured"
        );
    }

    #[test]
    fn a_test_secret_called_invalid_is_the_tokens_fault() {
        let codes = || vec!["invalid-input-secret".to_owned()];
        let test_secret = Context {
            sent_site_key: false,
            test_keys: true,
            test_secret: true,
        };
        assert_eq!(classify(codes(), test_secret).code(), "invalid_token");
        let real = Context {
            test_secret: false,
            ..test_secret
        };
        assert_eq!(classify(codes(), real).code(), "provider_misconfigured");
    }

    #[test]
    fn every_documented_code_has_a_class() {
        let table = [
            ("missing-input-secret", "provider_misconfigured"),
            ("invalid-input-secret", "provider_misconfigured"),
            ("missing-input-response", "missing_token"),
            ("invalid-input-response", "invalid_token"),
            ("expired-input-response", "expired_or_duplicate"),
            ("already-seen-response", "expired_or_duplicate"),
            ("bad-request", "provider_misconfigured"),
            ("missing-remoteip", "provider_misconfigured"),
            ("invalid-remoteip", "provider_misconfigured"),
            ("not-using-dummy-passcode", "provider_misconfigured"),
            ("sitekey-secret-mismatch", "provider_misconfigured"),
            ("invalid-or-already-seen-response", "expired_or_duplicate"),
            ("not-using-dummy-secret", "provider_misconfigured"),
            ("timeout-or-duplicate", "expired_or_duplicate"),
            ("internal-error", "provider_unavailable"),
            ("invalid-widget-id", "provider_misconfigured"),
            ("invalid-parsed-secret", "provider_misconfigured"),
            ("invalid-idempotency-key", "provider_misconfigured"),
        ];
        for (raw, expected) in table {
            assert_eq!(code_of(&[raw]), expected, "{raw}");
        }
    }

    #[test]
    fn unknown_codes_are_invalid_tokens_and_kept() {
        let err = classify(vec!["brand-new-code".into()], Context::default());
        assert_eq!(err.code(), "invalid_token");
        assert_eq!(err.provider_codes(), ["brand-new-code"]);
        assert_eq!(code_of(&[]), "invalid_token");
    }

    #[test]
    fn configuration_wins_over_the_token() {
        assert_eq!(
            code_of(&["invalid-input-response", "invalid-input-secret"]),
            "provider_misconfigured"
        );
        assert_eq!(
            code_of(&["timeout-or-duplicate", "internal-error"]),
            "provider_unavailable"
        );
        assert_eq!(
            code_of(&["invalid-input-response", "timeout-or-duplicate"]),
            "expired_or_duplicate"
        );
    }
}
