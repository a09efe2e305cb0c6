use std::time::SystemTime;

use serde::Serialize;

use crate::Provider;

/// What the provider said about a token that passed verification and policy.
///
/// Handlers read it from the request (through `Verified<Verdict>` in `tower-captcha`) or get it
/// back from [`Verifier::verify`](crate::Verifier::verify). Fields a provider does not report
/// are `None`. It serialises to JSON with `challenge_ts` as an RFC 3339 string.
///
/// The struct is `#[non_exhaustive]`: build one for a fake verifier with [`Verdict::new`] and the
/// `with_*` methods.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Verdict {
    /// Who verified the token.
    pub provider: Provider,
    /// The hostname the challenge was solved on, as the provider reported it. hCaptcha may
    /// report `"not-provided"` under load. It comes from the browser: a signal, not proof.
    pub hostname: Option<String>,
    /// The Android package the challenge was solved in (reCAPTCHA and reCAPTCHA Enterprise
    /// on Android).
    pub apk_package_name: Option<String>,
    /// The iOS bundle the challenge was solved in (reCAPTCHA Enterprise on iOS). The policy's
    /// package allowlist applies to it as to Android packages.
    pub ios_bundle_id: Option<String>,
    /// The action the page set on the widget (reCAPTCHA v3, Turnstile).
    pub action: Option<String>,
    /// The customer data the page set on the widget (Turnstile).
    pub cdata: Option<String>,
    /// The provider's raw score, in the provider's own meaning: reCAPTCHA 1.0 = human;
    /// hCaptcha Enterprise and Procaptcha are risk scores, 1.0 = bot.
    pub score: Option<f64>,
    /// The score as a likelihood of a human, 0.0–1.0, whatever the provider; the minimum-score
    /// policy is applied to this value.
    pub human_score: Option<f64>,
    /// When the challenge was solved (reCAPTCHA: loaded).
    #[serde(serialize_with = "crate::timestamp::serialize_opt")]
    pub challenge_ts: Option<SystemTime>,
    /// The site key the token was solved for, where the provider reports it (ByeBot) or we
    /// bound it (hCaptcha with a configured site key).
    pub site_key: Option<String>,
    /// Whether the user had to solve an interactive challenge (ByeBot).
    pub interactive: Option<bool>,
    /// How long the browser took to solve the proof of work, as the widget reports it
    /// (ALTCHA): a client's figure, useful for statistics, never proof. Serialised as
    /// `solve_time_ms`.
    #[serde(rename = "solve_time_ms", serialize_with = "serialize_ms")]
    pub solve_time: Option<std::time::Duration>,
    /// Error or warning codes the provider attached to a successful answer.
    pub error_codes: Vec<String>,
    /// Why the provider scored the request as it did (reCAPTCHA Enterprise
    /// `riskAnalysis.reasons`: `AUTOMATION`, `TOO_MUCH_TRAFFIC`, …), verbatim.
    pub risk_reasons: Vec<String>,
    /// `true` when nothing was verified: the provider was down and a fail-open layer let the
    /// request through anyway. A handler may then ask for more (an email confirmation, say).
    pub degraded: bool,
}

impl Verdict {
    /// An empty verdict for `provider`; fill it with the `with_*` methods.
    pub fn new(provider: Provider) -> Self {
        Self {
            provider,
            hostname: None,
            apk_package_name: None,
            ios_bundle_id: None,
            action: None,
            cdata: None,
            score: None,
            human_score: None,
            challenge_ts: None,
            site_key: None,
            interactive: None,
            solve_time: None,
            error_codes: Vec::new(),
            risk_reasons: Vec::new(),
            degraded: false,
        }
    }

    /// The verdict of a request let through unverified because the provider was down.
    pub fn degraded(provider: Provider) -> Self {
        Self {
            degraded: true,
            ..Self::new(provider)
        }
    }

    /// Sets the hostname.
    pub fn with_hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// Sets the action.
    pub fn with_action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// Sets the customer data.
    pub fn with_cdata(mut self, cdata: impl Into<String>) -> Self {
        self.cdata = Some(cdata.into());
        self
    }

    /// Sets the raw score and derives the human-likelihood score the way this provider's
    /// scores are meant (see [`Verdict::score`]). Scores lie in 0.0–1.0; the decoders refuse
    /// answers with any other, and a verdict built with one fails every minimum score.
    pub fn with_score(mut self, raw: f64) -> Self {
        self.score = Some(raw);
        self.human_score = Some(self.provider.human_likelihood(raw));
        self
    }

    /// Sets the challenge time.
    pub fn with_challenge_ts(mut self, at: SystemTime) -> Self {
        self.challenge_ts = Some(at);
        self
    }

    /// Sets the site key.
    pub fn with_site_key(mut self, site_key: impl Into<String>) -> Self {
        self.site_key = Some(site_key.into());
        self
    }

    /// Sets the interactive flag.
    pub fn with_interactive(mut self, interactive: bool) -> Self {
        self.interactive = Some(interactive);
        self
    }
}

fn serialize_ms<S: serde::Serializer>(
    value: &Option<std::time::Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(d) => serializer.serialize_some(&(d.as_secs_f64() * 1000.0)),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn serialises_the_time_as_rfc3339() {
        let verdict = Verdict::new(Provider::Recaptcha)
            .with_hostname("example.com")
            .with_score(0.9)
            .with_challenge_ts(UNIX_EPOCH + Duration::from_secs(1_552_330_329));
        let json = serde_json::to_value(&verdict).unwrap();
        assert_eq!(json["provider"], "recaptcha");
        assert_eq!(json["challenge_ts"], "2019-03-11T18:52:09Z");
        assert_eq!(json["human_score"], 0.9);
        assert_eq!(json["cdata"], serde_json::Value::Null);
    }
}
