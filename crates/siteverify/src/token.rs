//! Local checks on a token before it costs a network call.

use std::borrow::Cow;

use crate::{MalformedToken, Provider, VerifyError};

/// Returns the token to send to the provider, or why it cannot be a real one.
///
/// Every provider issues printable ASCII tokens, so anything else is refused here: it saves a
/// round trip for junk a bot sends, and keeps control characters out of everything downstream.
/// Procaptcha's legacy widgets wrapped the token in JSON (`{"token":"0x…"}`); that wrapper is
/// unpacked so that old pages keep working.
pub(crate) fn precheck(provider: Provider, token: &str) -> Result<Cow<'_, str>, VerifyError> {
    if token.trim().is_empty() {
        return Err(VerifyError::MissingToken);
    }
    let max = provider.max_token_len();
    if token.len() > max {
        return Err(malformed(MalformedToken::TooLong {
            len: token.len(),
            max,
        }));
    }
    let token = match provider {
        Provider::Procaptcha => unwrap_legacy_procaptcha(token)?,
        _ => Cow::Borrowed(token),
    };
    if token.is_empty() {
        return Err(VerifyError::MissingToken);
    }
    for c in token.chars() {
        if !c.is_ascii() {
            return Err(malformed(MalformedToken::NonAscii));
        }
        if c.is_ascii_whitespace() {
            return Err(malformed(MalformedToken::Whitespace));
        }
        if c.is_ascii_control() {
            return Err(malformed(MalformedToken::ControlCharacter));
        }
    }
    if provider == Provider::Procaptcha {
        let hex = token.strip_prefix("0x").unwrap_or_default();
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed(MalformedToken::NotHex));
        }
    }
    Ok(token)
}

fn malformed(reason: MalformedToken) -> VerifyError {
    VerifyError::MalformedToken(reason)
}

fn unwrap_legacy_procaptcha(token: &str) -> Result<Cow<'_, str>, VerifyError> {
    if !token.trim_start().starts_with('{') {
        return Ok(Cow::Borrowed(token));
    }
    #[derive(serde::Deserialize)]
    struct Legacy {
        token: String,
    }
    serde_json::from_str::<Legacy>(token)
        .map(|legacy| Cow::Owned(legacy.token))
        .map_err(|_| malformed(MalformedToken::NotHex))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(provider: Provider, token: &str) -> &'static str {
        precheck(provider, token)
            .map(|_| "ok")
            .unwrap_or_else(|e| e.code())
    }

    #[test]
    fn empty_and_blank_tokens_are_missing() {
        assert_eq!(code(Provider::HCaptcha, ""), "missing_token");
        assert_eq!(code(Provider::HCaptcha, "   "), "missing_token");
        assert_eq!(
            code(Provider::Procaptcha, r#"{"token":""}"#),
            "missing_token"
        );
    }

    #[test]
    fn length_caps_follow_the_provider() {
        assert_eq!(code(Provider::Turnstile, &"a".repeat(2048)), "ok");
        assert_eq!(
            code(Provider::Turnstile, &"a".repeat(2049)),
            "malformed_token"
        );
        assert_eq!(code(Provider::Recaptcha, &"a".repeat(16 * 1024)), "ok");
        assert_eq!(
            code(Provider::Recaptcha, &"a".repeat(16 * 1024 + 1)),
            "malformed_token"
        );
    }

    #[test]
    fn bad_characters_are_malformed() {
        for token in ["abc\n", "a\u{0}b", "a b", "tök", "a\tb", "a\u{7f}b"] {
            assert_eq!(
                code(Provider::Recaptcha, token),
                "malformed_token",
                "{token:?}"
            );
        }
        assert_eq!(code(Provider::Turnstile, "XXXX.DUMMY.TOKEN.XXXX"), "ok");
        assert_eq!(code(Provider::Recaptcha, "03AFcWeA-_x.y~z"), "ok");
    }

    #[test]
    fn procaptcha_accepts_raw_hex_and_the_legacy_json_wrapper() {
        assert_eq!(
            precheck(Provider::Procaptcha, "0xdeadBEEF").unwrap(),
            "0xdeadBEEF"
        );
        assert_eq!(
            precheck(Provider::Procaptcha, r#"{"token":"0x00ff","extra":1}"#).unwrap(),
            "0x00ff"
        );
        assert_eq!(code(Provider::Procaptcha, "deadbeef"), "malformed_token");
        assert_eq!(code(Provider::Procaptcha, "0x"), "malformed_token");
        assert_eq!(code(Provider::Procaptcha, "0xzz"), "malformed_token");
        assert_eq!(
            code(Provider::Procaptcha, r#"{"token": 5}"#),
            "malformed_token"
        );
    }

    #[test]
    fn the_error_never_repeats_the_token() {
        let secret_looking = format!("{}\n", "S3CR3TTOKEN".repeat(3));
        let err = precheck(Provider::HCaptcha, &secret_looking).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("S3CR3TTOKEN"));
    }
}
