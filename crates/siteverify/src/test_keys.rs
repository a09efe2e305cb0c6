//! The providers' documented test keys: they accept every token, so they must never guard a
//! real site.

use crate::Provider;

const TEST_SECRETS: &[&str] = &[
    "0x0000000000000000000000000000000000000000",
    "6LeIxAcTAAAAAGG-vFI1TnRWxMZNFuojJ4WifJWe",
    "1x0000000000000000000000000000000AA",
    "2x0000000000000000000000000000000AA",
    "3x0000000000000000000000000000000AA",
];

const TEST_SITE_KEYS: &[&str] = &[
    "10000000-ffff-ffff-ffff-000000000001",
    "20000000-ffff-ffff-ffff-000000000002",
    "30000000-ffff-ffff-ffff-000000000003",
    "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI",
    "1x00000000000000000000AA",
    "2x00000000000000000000AB",
    "3x00000000000000000000FF",
    // Turnstile's invisible widgets: passes, fails.
    "1x00000000000000000000BB",
    "2x00000000000000000000BB",
    // Procaptcha's test keys and its demo keys: passes, fails.
    "5EARALUe4HXQwKo5KanZSGGKqJV4VTaytpezFwv8ZHbZewmh",
    "5ETtechmZkn3CUVeJX7Z511oiuiu742aHLm91D5ZZw4fqoAG",
    "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy",
    "5CiPPseXPECbkjWCa6MnjNokrgYjMqmKndv2rSnekmSK2DjL",
];

/// Whether the secret or the site key is one of the documented test keys.
pub(crate) fn is_test_key(_provider: Provider, secret: &str, site_key: Option<&str>) -> bool {
    is_test_secret(secret) || site_key.is_some_and(|k| TEST_SITE_KEYS.contains(&k))
}

/// Whether the secret is one of the documented test secrets: public constants, which can
/// never be "wrong" the way a real secret can.
pub(crate) fn is_test_secret(secret: &str) -> bool {
    TEST_SECRETS.contains(&secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_test_key_is_recognised() {
        for secret in TEST_SECRETS {
            assert!(is_test_key(Provider::Turnstile, secret, None));
        }
        for key in TEST_SITE_KEYS {
            assert!(is_test_key(Provider::HCaptcha, "real-secret", Some(key)));
        }
        assert!(!is_test_key(
            Provider::Turnstile,
            "0x4AAAAAAA-real",
            Some("0x4AAAAAAA-site")
        ));
    }
}
