use serde::Serialize;
use siteverify::Provider;

/// What a page needs to show one member's widget: the provider, and its site key or (for
/// ALTCHA) the URL of its challenge route.
///
/// It is what a provider set recommends ([`ProviderSet::recommended`](crate::ProviderSet::recommended))
/// and what the failure body names under `fallback` when the provider a token came from is
/// unavailable. Serialises as that member:
/// `{"provider":"altcha","challenge_url":"/altcha/challenge"}` or
/// `{"provider":"turnstile","site_key":"...","action":"signup"}`, with absent parts left out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WidgetHint {
    /// The provider, by its configuration name (`altcha`, `hcaptcha`, …).
    #[serde(serialize_with = "provider_name")]
    pub provider: Provider,
    /// The public site key the widget is rendered with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_key: Option<String>,
    /// Where the widget fetches its challenge (ALTCHA's `challengeurl`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge_url: Option<String>,
    /// The action the route demands, which the page sets on the widget (Turnstile's
    /// `data-action`, reCAPTCHA v3's `execute` action).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

impl WidgetHint {
    /// The provider's widget, with nothing more known about it.
    pub fn new(provider: Provider) -> Self {
        Self {
            provider,
            site_key: None,
            challenge_url: None,
            action: None,
        }
    }

    /// Sets the site key.
    pub fn with_site_key(mut self, site_key: impl Into<String>) -> Self {
        self.site_key = Some(site_key.into());
        self
    }

    /// Sets the challenge URL.
    pub fn with_challenge_url(mut self, url: impl Into<String>) -> Self {
        self.challenge_url = Some(url.into());
        self
    }

    /// Sets the action.
    pub fn with_action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }
}

fn provider_name<S: serde::Serializer>(provider: &Provider, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(provider.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_the_failure_body_member() {
        let altcha = WidgetHint::new(Provider::Altcha).with_challenge_url("/altcha/challenge");
        assert_eq!(
            serde_json::to_string(&altcha).unwrap(),
            r#"{"provider":"altcha","challenge_url":"/altcha/challenge"}"#
        );
        let hcaptcha = WidgetHint::new(Provider::HCaptcha).with_site_key("k\"ey");
        assert_eq!(
            serde_json::to_string(&hcaptcha).unwrap(),
            r#"{"provider":"hcaptcha","site_key":"k\"ey"}"#
        );
    }
}
