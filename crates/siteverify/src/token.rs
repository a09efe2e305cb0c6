//! Local checks on a token before it costs a network call.

use std::borrow::Cow;

use crate::{MalformedToken, Provider, VerifyError};

/// Returns the token to send to the provider, or why it cannot be a real one.
///
/// Only what no provider documents and what is plainly hostile is refused here: an empty
/// token, one over the provider's length cap, and characters outside printable ASCII (every
/// provider's tokens are printable ASCII; control characters and white space only ever come
/// from a bot or a broken client). Nothing else about a token's format is guessed at: a
/// provider that changes its format (Procaptcha has, once) must not lock real users out.
/// Procaptcha's legacy widgets wrapped the token in JSON (`{"token":"0x…"}`); a value that
/// parses as such an object is unwrapped so that old pages keep working, and any other value
/// goes to the provider as it is.
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
        Provider::Procaptcha => unwrap_legacy_procaptcha(token),
        _ => Cow::Borrowed(token),
    };
    if token.is_empty() {
        return Err(VerifyError::MissingToken);
    }
    // Nearly every token is visible ASCII throughout: one cheap pass says so, and only a
    // token that fails it is walked again to name its first offending character.
    if visible_ascii(token.as_bytes()) {
        return Ok(token);
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
    Ok(token)
}

/// Whether every byte is `!` to `~`: exactly the characters the walk in [`precheck`] lets
/// through (ASCII, neither white space nor control). In chunks without early exit, so that
/// the compiler can test a chunk's bytes at once.
fn visible_ascii(bytes: &[u8]) -> bool {
    let visible = |ok: bool, b: &u8| ok & (b.wrapping_sub(b'!') <= b'~' - b'!');
    // Chunks of a length known at compile time: only those become one vector compare each.
    let chunks = bytes.chunks_exact(16);
    let rest = chunks.remainder();
    chunks
        .into_iter()
        .all(|chunk| chunk.iter().fold(true, visible))
        && rest.iter().fold(true, visible)
}

fn malformed(reason: MalformedToken) -> VerifyError {
    VerifyError::MalformedToken(reason)
}

/// The token inside a legacy `{"token": "…"}` wrapper, or the value itself.
fn unwrap_legacy_procaptcha(token: &str) -> Cow<'_, str> {
    #[derive(serde::Deserialize)]
    struct Legacy {
        token: String,
    }
    if !token.trim_start().starts_with('{') {
        return Cow::Borrowed(token);
    }
    match serde_json::from_str::<Legacy>(token) {
        Ok(legacy) => Cow::Owned(legacy.token),
        Err(_) => Cow::Borrowed(token),
    }
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
    fn the_quick_pass_lets_through_exactly_what_the_walk_does() {
        // Every ASCII byte, at every offset of a 16-byte chunk and past the first chunk.
        for b in 0u8..=0x7f {
            for at in [0, 7, 15, 16, 31] {
                let mut token = vec![b'a'; 40];
                token[at] = b;
                let token = String::from_utf8(token).unwrap();
                let walked = token
                    .chars()
                    .all(|c| c.is_ascii() && !c.is_ascii_whitespace() && !c.is_ascii_control());
                assert_eq!(visible_ascii(token.as_bytes()), walked, "{b:#x} at {at}");
                let expected = if walked { "ok" } else { "malformed_token" };
                assert_eq!(code(Provider::Altcha, &token), expected, "{b:#x} at {at}");
            }
        }
        assert!(!visible_ascii("aaaaaaaaaaaaaaaaaaaaé".as_bytes()));
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
        assert_eq!(
            precheck(Provider::Procaptcha, r#"{"token": "0x00ff"}"#).unwrap(),
            "0x00ff",
            "white space inside the wrapper is the wrapper's, not the token's"
        );
    }

    #[test]
    fn procaptcha_formats_nobody_documented_go_to_the_provider() {
        // Prosopo documents no token format and has changed it before: only the provider
        // can tell whether these are tokens.
        for token in [
            "deadbeef",
            "0x",
            "0xzz",
            "v2.abc-DEF_123",
            r#"{"token":5}"#,
            "{}",
        ] {
            assert_eq!(
                precheck(Provider::Procaptcha, token).unwrap(),
                token,
                "{token}"
            );
        }
        // What is plainly hostile still never leaves.
        for token in [
            "0x00\n",
            "0x00\u{0}",
            "0x 00",
            "0x\u{e9}",
            r#"{"token":"0x00\n"}"#,
        ] {
            assert_eq!(
                code(Provider::Procaptcha, token),
                "malformed_token",
                "{token:?}"
            );
        }
    }

    #[test]
    fn the_error_never_repeats_the_token() {
        let secret_looking = format!("{}\n", "S3CR3TTOKEN".repeat(3));
        let err = precheck(Provider::HCaptcha, &secret_looking).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("S3CR3TTOKEN"));
    }
}
