//! The emulated providers and their per-provider constants.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A CAPTCHA provider whose verify endpoint the emulator answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// hCaptcha (`api.hcaptcha.com/siteverify`).
    HCaptcha,
    /// Google reCAPTCHA v2 and v3 (`www.google.com/recaptcha/api/siteverify`).
    Recaptcha,
    /// Cloudflare Turnstile (`challenges.cloudflare.com/turnstile/v0/siteverify`).
    Turnstile,
    /// Prosopo Procaptcha (`api.prosopo.io/siteverify`).
    Procaptcha,
    /// ByeBot, formerly Captchacat (`challenge.byebot.de/validate_token`).
    ByeBot,
    /// Friendly Captcha v2 (`global.frcapi.com/api/v2/captcha/siteverify`).
    FriendlyCaptcha,
    /// reCAPTCHA Enterprise, createAssessment
    /// (`recaptchaenterprise.googleapis.com/v1/projects/{project}/assessments`).
    #[serde(rename = "recaptcha-enterprise")]
    RecaptchaEnterprise,
}

impl Provider {
    /// Every provider, in a stable order.
    pub const ALL: [Provider; 7] = [
        Provider::HCaptcha,
        Provider::Recaptcha,
        Provider::Turnstile,
        Provider::Procaptcha,
        Provider::ByeBot,
        Provider::FriendlyCaptcha,
        Provider::RecaptchaEnterprise,
    ];

    /// The lowercase name used in serde, URLs and default keys (`"hcaptcha"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::HCaptcha => "hcaptcha",
            Provider::Recaptcha => "recaptcha",
            Provider::Turnstile => "turnstile",
            Provider::Procaptcha => "procaptcha",
            Provider::ByeBot => "byebot",
            Provider::FriendlyCaptcha => "friendlycaptcha",
            Provider::RecaptchaEnterprise => "recaptcha-enterprise",
        }
    }

    /// Path of the emulated verify endpoint, relative to the emulator's base URL.
    ///
    /// The part after the provider prefix mirrors the real endpoint's path. Friendly Captcha
    /// has no prefix: its official server SDKs take an origin and append the real path
    /// (`/api/v2/captcha/siteverify`) themselves, so the emulator serves exactly that path.
    /// Neither has reCAPTCHA Enterprise, for the same reason (Google's client libraries take
    /// an API endpoint host): its path is the real one, for the emulator's only project,
    /// [`ENTERPRISE_PROJECT`](crate::ENTERPRISE_PROJECT).
    pub fn verify_path(self) -> &'static str {
        match self {
            Provider::RecaptchaEnterprise => "/v1/projects/emulator-project/assessments",
            Provider::FriendlyCaptcha => "/api/v2/captcha/siteverify",
            Provider::HCaptcha => "/hcaptcha/siteverify",
            Provider::Recaptcha => "/recaptcha/api/siteverify",
            Provider::Turnstile => "/turnstile/v0/siteverify",
            Provider::Procaptcha => "/procaptcha/siteverify",
            Provider::ByeBot => "/byebot/validate_token",
        }
    }

    /// The site key registered at start for this provider: `emulator-<provider>-site-key`.
    pub fn default_site_key(self) -> &'static str {
        match self {
            Provider::HCaptcha => "emulator-hcaptcha-site-key",
            Provider::Recaptcha => "emulator-recaptcha-site-key",
            Provider::Turnstile => "emulator-turnstile-site-key",
            Provider::Procaptcha => "emulator-procaptcha-site-key",
            Provider::ByeBot => "emulator-byebot-site-key",
            Provider::FriendlyCaptcha => "emulator-friendlycaptcha-site-key",
            Provider::RecaptchaEnterprise => "emulator-recaptcha-enterprise-site-key",
        }
    }

    /// The secret paired with [`default_site_key`](Self::default_site_key):
    /// `emulator-<provider>-secret`.
    pub fn default_secret(self) -> &'static str {
        match self {
            Provider::HCaptcha => "emulator-hcaptcha-secret",
            Provider::Recaptcha => "emulator-recaptcha-secret",
            Provider::Turnstile => "emulator-turnstile-secret",
            Provider::Procaptcha => "emulator-procaptcha-secret",
            Provider::ByeBot => "emulator-byebot-secret",
            Provider::FriendlyCaptcha => "emulator-friendlycaptcha-secret",
            Provider::RecaptchaEnterprise => "emulator-recaptcha-enterprise-secret",
        }
    }

    /// How long a freshly minted token stays valid.
    ///
    /// ByeBot and Friendly Captcha document no lifetime; 300 s is our UNCONFIRMED choice.
    pub fn token_lifetime(self) -> Duration {
        match self {
            Provider::HCaptcha
            | Provider::Recaptcha
            | Provider::Procaptcha
            | Provider::RecaptchaEnterprise => Duration::from_secs(120),
            Provider::Turnstile | Provider::ByeBot | Provider::FriendlyCaptcha => {
                Duration::from_secs(300)
            }
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown provider name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownProvider(pub String);

impl fmt::Display for UnknownProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown provider {:?}", self.0)
    }
}

impl std::error::Error for UnknownProvider {}

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownProvider(s.to_owned()))
    }
}
