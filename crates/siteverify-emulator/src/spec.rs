//! What a test asks for when it mints a token, and why minting can fail.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::fault::Fault;
use crate::provider::Provider;

/// The description of a token to mint, for [`Emulator::mint`](crate::Emulator::mint) or
/// `POST /tokens`.
///
/// Every field but `provider` is optional; unknown JSON members are rejected so a typo in a
/// test fails loudly instead of minting the wrong token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// The provider whose token this is.
    pub provider: Provider,
    /// The site key the token is solved for; default [`Provider::default_site_key`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_key: Option<String>,
    /// The hostname the provider reports; default `"localhost"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The action (reCAPTCHA v3, Turnstile); reCAPTCHA reports it only when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Turnstile customer data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdata: Option<String>,
    /// The score in the provider's own meaning: hCaptcha and Procaptcha a RISK score (1.0 =
    /// bot), reCAPTCHA a human likelihood (1.0 = human). Reported only when set; must lie in
    /// 0.0..=1.0. Turnstile and ByeBot have no score and ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Seconds the token stays valid; default [`Provider::token_lifetime`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_secs: Option<u64>,
    /// Back-date the challenge time, and with it the expiry clock, by this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_secs: Option<u64>,
    /// ByeBot `interactive_solved`; default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactive: Option<bool>,
    /// A misbehaviour of the provider when this token is verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
}

impl TokenSpec {
    /// A spec with every option at its default.
    pub fn new(provider: Provider) -> Self {
        TokenSpec {
            provider,
            site_key: None,
            hostname: None,
            action: None,
            cdata: None,
            score: None,
            lifetime_secs: None,
            age_secs: None,
            interactive: None,
            fault: None,
        }
    }

    /// Sets [`site_key`](Self::site_key).
    pub fn site_key(mut self, site_key: impl Into<String>) -> Self {
        self.site_key = Some(site_key.into());
        self
    }

    /// Sets [`hostname`](Self::hostname).
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// Sets [`action`](Self::action).
    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// Sets [`cdata`](Self::cdata).
    pub fn cdata(mut self, cdata: impl Into<String>) -> Self {
        self.cdata = Some(cdata.into());
        self
    }

    /// Sets [`score`](Self::score).
    pub fn score(mut self, score: f64) -> Self {
        self.score = Some(score);
        self
    }

    /// Sets [`lifetime_secs`](Self::lifetime_secs).
    pub fn lifetime_secs(mut self, secs: u64) -> Self {
        self.lifetime_secs = Some(secs);
        self
    }

    /// Sets [`age_secs`](Self::age_secs).
    pub fn age_secs(mut self, secs: u64) -> Self {
        self.age_secs = Some(secs);
        self
    }

    /// Sets [`interactive`](Self::interactive).
    pub fn interactive(mut self, interactive: bool) -> Self {
        self.interactive = Some(interactive);
        self
    }

    /// Sets [`fault`](Self::fault); a bare [`FaultKind`](crate::FaultKind) hits every call.
    pub fn fault(mut self, fault: impl Into<Fault>) -> Self {
        self.fault = Some(fault.into());
        self
    }
}

/// Why a token could not be minted. `POST /tokens` answers these with HTTP 400.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MintError {
    /// The site key is not registered for the provider.
    UnknownSiteKey {
        /// The provider asked for.
        provider: Provider,
        /// The unregistered site key.
        site_key: String,
    },
    /// The spec asks for something the emulator cannot produce.
    InvalidSpec {
        /// What is wrong, for humans.
        reason: String,
    },
}

impl MintError {
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        MintError::InvalidSpec {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for MintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MintError::UnknownSiteKey { provider, site_key } => {
                write!(f, "site key {site_key:?} is not registered for {provider}")
            }
            MintError::InvalidSpec { reason } => write!(f, "invalid token spec: {reason}"),
        }
    }
}

impl std::error::Error for MintError {}
