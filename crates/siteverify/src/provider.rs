use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};

/// The CAPTCHA services this crate speaks to.
///
/// Every variant exists whatever the cargo features; building a verifier for a provider whose
/// feature is off is a [`ConfigError::ProviderDisabled`](crate::ConfigError::ProviderDisabled),
/// so a configuration read at run time fails with a clear message instead of a missing variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Provider {
    /// hCaptcha (`h-captcha-response`).
    HCaptcha,
    /// Google reCAPTCHA v2 and v3 (`g-recaptcha-response`).
    Recaptcha,
    /// Cloudflare Turnstile (`cf-turnstile-response`).
    Turnstile,
    /// Prosopo Procaptcha (`procaptcha-response`).
    Procaptcha,
    /// ByeBot, formerly Captchacat (`byebot-token`).
    ByeBot,
    /// Friendly Captcha v2 (`frc-captcha-response`); the API key travels in the `X-API-Key`
    /// header.
    FriendlyCaptcha,
    /// reCAPTCHA Enterprise through the createAssessment API (`g-recaptcha-response`); the
    /// API key travels in the `X-Goog-Api-Key` header. Configuration name
    /// `recaptcha-enterprise`.
    #[serde(rename = "recaptcha-enterprise")]
    RecaptchaEnterprise,
    /// ALTCHA, the self-hosted proof of work (`altcha`): no third party, verified here by
    /// `altcha::AltchaVerifier`.
    Altcha,
}

/// Friendly Captcha's global verify endpoint, its default.
pub const FRIENDLY_CAPTCHA_GLOBAL_VERIFY_URL: &str =
    "https://global.frcapi.com/api/v2/captcha/siteverify";

/// Friendly Captcha's EU endpoint: the same API, served and processed in the EU only. Pass it
/// to [`VerifierConfig::verify_url`](crate::VerifierConfig::verify_url) (`CAPTCHA_VERIFY_URL`).
pub const FRIENDLY_CAPTCHA_EU_VERIFY_URL: &str = "https://eu.frcapi.com/api/v2/captcha/siteverify";

/// The createAssessment URL of reCAPTCHA Enterprise for a Google Cloud project (its id or
/// number): `https://recaptchaenterprise.googleapis.com/v1/projects/{project}/assessments`.
/// The API key is never put in it (Google also accepts `?key=`, which would write the secret
/// into every access log on the way); it travels in the `X-Goog-Api-Key` header.
pub fn recaptcha_enterprise_url(project: &str) -> String {
    format!("https://recaptchaenterprise.googleapis.com/v1/projects/{project}/assessments")
}

/// Whether `project` can be a Google Cloud project id (6–30 lowercase letters, digits and
/// hyphens, starting with a letter) or project number (digits): anything else would change
/// the path of the URL it is put into.
pub(crate) fn is_project(project: &str) -> bool {
    let bytes = project.as_bytes();
    let number = !bytes.is_empty() && bytes.len() <= 20 && bytes.iter().all(u8::is_ascii_digit);
    let id = (6..=30).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && !project.ends_with('-')
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    number || id
}

/// Longest token accepted for providers that document no limit. Real tokens are a few KiB at
/// most; the cap only keeps a hostile client from making us forward megabytes to the provider.
const UNDOCUMENTED_TOKEN_CAP: usize = 16 * 1024;

impl Provider {
    /// All providers, in a stable order: the hosted ones, then ALTCHA.
    pub const ALL: [Provider; 8] = [
        Provider::HCaptcha,
        Provider::Recaptcha,
        Provider::Turnstile,
        Provider::Procaptcha,
        Provider::ByeBot,
        Provider::FriendlyCaptcha,
        Provider::RecaptchaEnterprise,
        Provider::Altcha,
    ];

    /// The hosted providers: a third party's verify endpoint answers for them, and a
    /// [`Verifier`](crate::Verifier) calls it.
    pub const HOSTED: [Provider; 7] = [
        Provider::HCaptcha,
        Provider::Recaptcha,
        Provider::Turnstile,
        Provider::Procaptcha,
        Provider::ByeBot,
        Provider::FriendlyCaptcha,
        Provider::RecaptchaEnterprise,
    ];

    /// Whether a third party's verify endpoint answers for this provider (all but ALTCHA).
    pub const fn is_hosted(self) -> bool {
        !matches!(self, Provider::Altcha)
    }

    /// The lowercase name used in configuration (`hcaptcha`, `recaptcha`, `turnstile`,
    /// `procaptcha`, `byebot`, `friendlycaptcha`, `recaptcha-enterprise`, `altcha`).
    pub const fn name(self) -> &'static str {
        match self {
            Provider::HCaptcha => "hcaptcha",
            Provider::Recaptcha => "recaptcha",
            Provider::Turnstile => "turnstile",
            Provider::Procaptcha => "procaptcha",
            Provider::ByeBot => "byebot",
            Provider::FriendlyCaptcha => "friendlycaptcha",
            Provider::RecaptchaEnterprise => "recaptcha-enterprise",
            Provider::Altcha => "altcha",
        }
    }

    /// The form field the provider's widget writes the token into.
    pub const fn widget_field(self) -> &'static str {
        match self {
            Provider::HCaptcha => "h-captcha-response",
            Provider::Recaptcha => "g-recaptcha-response",
            Provider::Turnstile => "cf-turnstile-response",
            Provider::Procaptcha => "procaptcha-response",
            Provider::ByeBot => "byebot-token",
            Provider::FriendlyCaptcha => "frc-captcha-response",
            Provider::RecaptchaEnterprise => "g-recaptcha-response",
            Provider::Altcha => "altcha",
        }
    }

    /// The provider's public verify endpoint; `None` for ALTCHA, which is verified here, and
    /// for reCAPTCHA Enterprise, whose URL names the Google Cloud project (see
    /// [`recaptcha_enterprise_url`]).
    pub const fn default_verify_url(self) -> Option<&'static str> {
        match self {
            Provider::HCaptcha => Some("https://api.hcaptcha.com/siteverify"),
            Provider::Recaptcha => Some("https://www.google.com/recaptcha/api/siteverify"),
            Provider::Turnstile => {
                Some("https://challenges.cloudflare.com/turnstile/v0/siteverify")
            }
            Provider::Procaptcha => Some("https://api.prosopo.io/siteverify"),
            Provider::ByeBot => Some("https://challenge.byebot.de/validate_token"),
            Provider::FriendlyCaptcha => Some(FRIENDLY_CAPTCHA_GLOBAL_VERIFY_URL),
            Provider::RecaptchaEnterprise | Provider::Altcha => None,
        }
    }

    /// The longest token this crate sends to the provider; longer ones are rejected locally
    /// as `malformed_token`.
    ///
    /// Turnstile documents 2048 characters and Friendly Captcha "16KB", read as 16,000 bytes
    /// (the smaller reading: a longer token the provider refused as a bad request would be
    /// counted as our misconfiguration). The others document no limit, so we allow 16 KiB,
    /// several times the size of any real token.
    pub const fn max_token_len(self) -> usize {
        match self {
            Provider::Turnstile => 2048,
            Provider::FriendlyCaptcha => 16_000,
            _ => UNDOCUMENTED_TOKEN_CAP,
        }
    }

    /// How long a token stays redeemable at the provider, where documented.
    pub const fn token_lifetime(self) -> Option<Duration> {
        match self {
            Provider::HCaptcha
            | Provider::Recaptcha
            | Provider::Procaptcha
            | Provider::RecaptchaEnterprise => Some(Duration::from_secs(120)),
            Provider::Turnstile => Some(Duration::from_secs(300)),
            Provider::ByeBot | Provider::FriendlyCaptcha | Provider::Altcha => None,
        }
    }

    /// Whether the cargo feature of this provider is enabled in this build.
    pub const fn is_enabled(self) -> bool {
        match self {
            Provider::HCaptcha => cfg!(feature = "hcaptcha"),
            Provider::Recaptcha => cfg!(feature = "recaptcha"),
            Provider::Turnstile => cfg!(feature = "turnstile"),
            Provider::Procaptcha => cfg!(feature = "procaptcha"),
            Provider::ByeBot => cfg!(feature = "byebot"),
            Provider::FriendlyCaptcha => cfg!(feature = "friendlycaptcha"),
            Provider::RecaptchaEnterprise => cfg!(feature = "recaptcha-enterprise"),
            Provider::Altcha => cfg!(feature = "altcha"),
        }
    }

    /// Whether the provider can ever answer with a score (hCaptcha Enterprise, reCAPTCHA v3,
    /// reCAPTCHA Enterprise, Procaptcha paid tiers).
    pub(crate) const fn reports_score(self) -> bool {
        matches!(
            self,
            Provider::HCaptcha
                | Provider::Recaptcha
                | Provider::Procaptcha
                | Provider::RecaptchaEnterprise
        )
    }

    /// Whether the provider reports the action the page set on the widget.
    pub(crate) const fn reports_action(self) -> bool {
        matches!(
            self,
            Provider::Recaptcha
                | Provider::Turnstile
                | Provider::Altcha
                | Provider::RecaptchaEnterprise
        )
    }

    /// Whether the provider reports the customer data (`cdata`) the page set on the widget.
    pub(crate) const fn reports_cdata(self) -> bool {
        matches!(self, Provider::Turnstile)
    }

    /// Whether the provider reports when the challenge was solved or loaded.
    pub(crate) const fn reports_challenge_time(self) -> bool {
        !matches!(self, Provider::Procaptcha)
    }

    /// Whether the provider reports the hostname the challenge was solved on.
    pub(crate) const fn reports_hostname(self) -> bool {
        matches!(
            self,
            Provider::HCaptcha
                | Provider::Recaptcha
                | Provider::Turnstile
                | Provider::FriendlyCaptcha
                | Provider::RecaptchaEnterprise
        )
    }

    /// Whether a site-key binding can be enforced: hCaptcha, Friendly Captcha and reCAPTCHA
    /// Enterprise check the site key we send, ByeBot returns the site key so we compare it
    /// ourselves.
    pub(crate) const fn binds_site_key(self) -> bool {
        matches!(
            self,
            Provider::HCaptcha
                | Provider::ByeBot
                | Provider::FriendlyCaptcha
                | Provider::RecaptchaEnterprise
        )
    }

    /// Whether the secret travels in a header (an API key) rather than in the body.
    pub(crate) const fn secret_in_header(self) -> bool {
        matches!(
            self,
            Provider::FriendlyCaptcha | Provider::RecaptchaEnterprise
        )
    }

    /// Whether the site key to bind to is sent with the call (the provider refuses a token of
    /// another key), rather than compared with what the answer reports.
    pub(crate) const fn sends_site_key(self) -> bool {
        matches!(
            self,
            Provider::HCaptcha | Provider::FriendlyCaptcha | Provider::RecaptchaEnterprise
        )
    }

    /// Turns the provider's raw score into "likelihood of a human".
    ///
    /// hCaptcha and Procaptcha report a risk score (1.0 = bot) and are inverted; reCAPTCHA's
    /// score already means "1.0 = human". Nothing is clamped: a raw score outside 0.0–1.0
    /// stays outside, where the decoders refuse it and the minimum-score check fails it.
    pub(crate) fn human_likelihood(self, raw: f64) -> f64 {
        match self {
            Provider::HCaptcha | Provider::Procaptcha => 1.0 - raw,
            _ => raw,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of [`Provider::from_str`]: the name is none of the providers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown CAPTCHA provider `{0}` (expected hcaptcha, recaptcha, turnstile, procaptcha, byebot, friendlycaptcha, recaptcha-enterprise or altcha)"
)]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;

    /// Parses a provider name, ignoring ASCII case and surrounding white space.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Provider::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownProvider(wanted.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str_and_serde() {
        for p in Provider::ALL {
            assert_eq!(p.name().parse::<Provider>().unwrap(), p);
            assert_eq!(p.name().to_uppercase().parse::<Provider>().unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.name()));
            assert_eq!(serde_json::from_str::<Provider>(&json).unwrap(), p);
        }
        let err = "recaptha".parse::<Provider>().unwrap_err();
        assert!(err.to_string().contains("recaptha"));
    }

    #[test]
    fn widget_fields_match_providers_md() {
        let fields: Vec<_> = Provider::ALL.iter().map(|p| p.widget_field()).collect();
        assert_eq!(
            fields,
            [
                "h-captcha-response",
                "g-recaptcha-response",
                "cf-turnstile-response",
                "procaptcha-response",
                "byebot-token",
                "frc-captcha-response",
                "g-recaptcha-response",
                "altcha"
            ]
        );
    }

    #[test]
    fn risk_scores_are_inverted_and_never_clamped_into_trust() {
        assert_eq!(Provider::HCaptcha.human_likelihood(0.9), 1.0 - 0.9);
        assert_eq!(Provider::Procaptcha.human_likelihood(0.25), 0.75);
        assert_eq!(Provider::Recaptcha.human_likelihood(0.7), 0.7);
        assert_eq!(Provider::Recaptcha.human_likelihood(1.5), 1.5);
        assert_eq!(Provider::HCaptcha.human_likelihood(-0.5), 1.5);
    }
}
