//! Token strings that look like each provider's real ones.

use crate::provider::Provider;

/// Random bytes from v4 UUIDs; a handful of fixed version bits do not matter for tokens that
/// only have to be unguessable within one test run.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        out.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    out.truncate(len);
    out
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        // Unpadded, as url-safe tokens are: 1 byte → 2 chars, 2 → 3, 3 → 4.
        for i in 0..=chunk.len() {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| char::from(c).to_digit(16);
            u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()
        })
        .collect()
}

/// Number of random bytes after the site key and `:` in a Procaptcha token.
const PROCAPTCHA_NONCE_LEN: usize = 16;

/// A fresh, random token in the provider's usual format.
pub(crate) fn mint(provider: Provider, site_key: &str) -> String {
    match provider {
        Provider::HCaptcha => format!("P1_{}", base64url(&random_bytes(96))),
        Provider::Recaptcha | Provider::RecaptchaEnterprise => {
            format!("03A{}", base64url(&random_bytes(240)))
        }
        Provider::Turnstile => format!(
            "0.{}.{}",
            base64url(&random_bytes(192)),
            hex(&random_bytes(16))
        ),
        Provider::Procaptcha => {
            let mut bytes = site_key.as_bytes().to_vec();
            bytes.push(b':');
            bytes.extend(random_bytes(PROCAPTCHA_NONCE_LEN));
            format!("0x{}", hex(&bytes))
        }
        Provider::ByeBot => base64url(&random_bytes(48)),
        // Friendly Captcha documents no format; its responses are long dotted base64url text.
        Provider::FriendlyCaptcha => format!(
            "{}.{}",
            base64url(&random_bytes(96)),
            base64url(&random_bytes(32))
        ),
    }
}

/// The site key embedded in a Procaptcha token minted by [`mint`], if the token has that form.
pub(crate) fn procaptcha_site_key(token: &str) -> Option<String> {
    let bytes = unhex(token.strip_prefix("0x")?)?;
    let split = bytes.len().checked_sub(PROCAPTCHA_NONCE_LEN + 1)?;
    if split == 0 || bytes[split] != b':' {
        return None;
    }
    String::from_utf8(bytes[..split].to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_known_vectors() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn formats_look_like_the_real_ones() {
        let h = mint(Provider::HCaptcha, "k");
        assert!(h.starts_with("P1_") && h.len() > 100);
        assert!(mint(Provider::Recaptcha, "k").starts_with("03A"));
        let t = mint(Provider::Turnstile, "k");
        assert!(t.starts_with("0.") && t.len() < 2048);
        let b = mint(Provider::ByeBot, "k");
        assert!(
            b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(mint(Provider::ByeBot, "k"), b);
    }

    #[test]
    fn procaptcha_tokens_carry_their_site_key() {
        let token = mint(Provider::Procaptcha, "5EARsite:key");
        assert!(token.starts_with("0x"));
        assert!(
            token[2..]
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(procaptcha_site_key(&token).as_deref(), Some("5EARsite:key"));
        assert_eq!(procaptcha_site_key("0xzz"), None);
        assert_eq!(procaptcha_site_key("0x00"), None);
        assert_eq!(procaptcha_site_key("abc"), None);
    }
}
