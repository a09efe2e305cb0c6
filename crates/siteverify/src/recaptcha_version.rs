//! Which reCAPTCHA a site key is: the v2 checkbox or the v3 score.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// The reCAPTCHA version of a site key, for [`VerifierConfig::recaptcha_version`].
///
/// Google answers both with the same siteverify call, and the server cannot tell a v2 key
/// from a v3 key except by the answer: v3 answers carry a `score` and an `action`, v2 answers
/// neither. Saying which one a site uses lets the verifier refuse an answer of the other kind
/// loudly instead of letting a misconfiguration decide.
///
/// Written `2` or `3` in configuration (a number or a string; `"v2"`, `"v3"` too).
///
/// [`VerifierConfig::recaptcha_version`]: crate::VerifierConfig::recaptcha_version
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecaptchaVersion {
    /// The checkbox (and invisible v2): no score, no action.
    V2,
    /// The score: every answer carries a score and an action, and a minimum score always
    /// applies ([`RECAPTCHA_V3_DEFAULT_MIN_SCORE`](crate::RECAPTCHA_V3_DEFAULT_MIN_SCORE)
    /// unless the policy sets one).
    V3,
}

impl RecaptchaVersion {
    /// `2` or `3`.
    pub const fn number(self) -> u8 {
        match self {
            RecaptchaVersion::V2 => 2,
            RecaptchaVersion::V3 => 3,
        }
    }
}

impl fmt::Display for RecaptchaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

/// The error of [`RecaptchaVersion::from_str`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a reCAPTCHA version is 2 or 3")]
pub struct UnknownRecaptchaVersion;

impl FromStr for RecaptchaVersion {
    type Err = UnknownRecaptchaVersion;

    /// `2`, `3`, `v2` or `v3`, ignoring ASCII case and surrounding white space.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let digits = s
            .strip_prefix('v')
            .or_else(|| s.strip_prefix('V'))
            .unwrap_or(s);
        match digits {
            "2" => Ok(RecaptchaVersion::V2),
            "3" => Ok(RecaptchaVersion::V3),
            _ => Err(UnknownRecaptchaVersion),
        }
    }
}

impl Serialize for RecaptchaVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.number())
    }
}

impl<'de> Deserialize<'de> for RecaptchaVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Version;
        impl de::Visitor<'_> for Version {
            type Value = RecaptchaVersion;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a reCAPTCHA version, 2 or 3")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                match v {
                    2 => Ok(RecaptchaVersion::V2),
                    3 => Ok(RecaptchaVersion::V3),
                    _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
                    .and_then(|v| self.visit_u64(v))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.parse()
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(Version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_numbers_and_strings() {
        for (json, version) in [
            ("2", RecaptchaVersion::V2),
            ("3", RecaptchaVersion::V3),
            (r#""3""#, RecaptchaVersion::V3),
            (r#""v2""#, RecaptchaVersion::V2),
            (r#"" V3 ""#, RecaptchaVersion::V3),
        ] {
            assert_eq!(
                serde_json::from_str::<RecaptchaVersion>(json).unwrap(),
                version
            );
        }
        for bad in ["1", "4", "-3", "3.0", r#""three""#, "null"] {
            assert!(
                serde_json::from_str::<RecaptchaVersion>(bad).is_err(),
                "{bad}"
            );
        }
        assert_eq!(serde_json::to_string(&RecaptchaVersion::V2).unwrap(), "2");
        assert_eq!("v3".parse(), Ok(RecaptchaVersion::V3));
        assert_eq!(RecaptchaVersion::V2.to_string(), "2");
    }
}
