//! The emulator's memory: registered sites, minted tokens, recorded calls and Turnstile's
//! idempotency answers. One mutex guards it all; it is never held across an `.await`, and each
//! verification runs entirely under one lock so concurrent calls see a consistent token state.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use crate::fault::FaultKind;
use crate::provider::Provider;
use crate::providers;
use crate::record::RecordedRequest;
use crate::reply::Reply;
use crate::spec::{MintError, TokenSpec};
use crate::token;

/// Shared state of one emulator instance.
#[derive(Debug)]
pub(crate) struct State {
    registry: Mutex<Registry>,
}

impl State {
    /// A state with the default site of every provider and every documented test key, that
    /// keeps the last `record_limit` verify calls.
    pub(crate) fn new(record_limit: usize) -> Self {
        let mut registry = Registry {
            record_limit,
            ..Registry::default()
        };
        for provider in Provider::ALL {
            registry.register_site(
                provider,
                provider.default_site_key(),
                provider.default_secret(),
            );
            for (site_key, secret) in providers::test_sites(provider) {
                registry.register_site(provider, site_key, secret);
            }
        }
        State {
            registry: Mutex::new(registry),
        }
    }

    /// Locks the registry. A poisoned lock is recovered: every mutation leaves the registry
    /// consistent, and the emulator must keep answering.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Everything the emulator knows; see [`State`].
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// `(provider, site key)` → secret. A site key belongs to one secret; a secret may own
    /// several site keys.
    sites: HashMap<(Provider, String), String>,
    tokens: HashMap<String, MintedToken>,
    /// The last `record_limit` verify calls, oldest first: a ring, so that a long CI run
    /// cannot grow it without end.
    records: VecDeque<RecordedRequest>,
    record_limit: usize,
    /// Calls dropped from the ring since the last clear.
    records_dropped: u64,
    /// Turnstile `idempotency_key` → the token and the first answer given for it.
    idempotency: HashMap<String, (String, Reply)>,
    /// Providers that misbehave on every verify call, whatever the token.
    outages: HashMap<Provider, FaultKind>,
}

/// A token minted by the emulator, with everything its verification reports.
#[derive(Clone, Debug)]
pub(crate) struct MintedToken {
    pub(crate) provider: Provider,
    pub(crate) site_key: String,
    pub(crate) hostname: String,
    pub(crate) action: Option<String>,
    pub(crate) cdata: Option<String>,
    pub(crate) score: Option<f64>,
    pub(crate) interactive: bool,
    pub(crate) solve_time_ms: u64,
    pub(crate) challenged_at: SystemTime,
    pub(crate) expires_at: SystemTime,
    used: bool,
    fault: Option<FaultKind>,
    /// `None`: the fault hits every call.
    fault_hits_left: Option<u32>,
}

/// The outcome of redeeming a minted token.
#[derive(Clone, Debug)]
pub(crate) enum Redeemed {
    /// Valid; now consumed.
    Valid(Box<MintedToken>),
    /// Never minted, or minted for another provider.
    Unknown,
    /// Minted for a site key this secret does not own, or not the site key the caller expected.
    WrongSite,
    Expired,
    AlreadyUsed,
}

impl Registry {
    pub(crate) fn register_site(&mut self, provider: Provider, site_key: &str, secret: &str) {
        self.sites
            .insert((provider, site_key.to_owned()), secret.to_owned());
    }

    pub(crate) fn site_registered(&self, provider: Provider, site_key: &str) -> bool {
        self.sites.contains_key(&(provider, site_key.to_owned()))
    }

    pub(crate) fn secret_known(&self, provider: Provider, secret: &str) -> bool {
        self.sites
            .iter()
            .any(|((p, _), s)| *p == provider && s == secret)
    }

    pub(crate) fn owns(&self, provider: Provider, secret: &str, site_key: &str) -> bool {
        self.sites
            .get(&(provider, site_key.to_owned()))
            .is_some_and(|s| s == secret)
    }

    pub(crate) fn mint(&mut self, spec: &TokenSpec) -> Result<String, MintError> {
        let provider = spec.provider;
        let site_key = spec
            .site_key
            .clone()
            .unwrap_or_else(|| provider.default_site_key().to_owned());
        if !self.site_registered(provider, &site_key) {
            return Err(MintError::UnknownSiteKey { provider, site_key });
        }
        if let Some(score) = spec.score
            && !(0.0..=1.0).contains(&score)
        {
            return Err(MintError::invalid(format!(
                "score {score} is outside 0.0..=1.0"
            )));
        }
        if let Some(fault) = &spec.fault {
            fault.validate()?;
        }
        if let Some(fixed) = providers::fixed_test_token(provider, &site_key) {
            // Every caller shares the fixed token, so a fault on it would leak into other tests.
            if spec.fault.is_some() {
                return Err(MintError::invalid(format!(
                    "test site key {site_key:?} always emits {fixed:?}; a fault cannot be attached to it"
                )));
            }
            return Ok(fixed.to_owned());
        }

        let now = SystemTime::now();
        let challenged_at = now
            .checked_sub(Duration::from_secs(spec.age_secs.unwrap_or(0)))
            .ok_or_else(|| MintError::invalid("age_secs reaches before the clock's range"))?;
        let lifetime = spec
            .lifetime_secs
            .map_or(provider.token_lifetime(), Duration::from_secs);
        let expires_at = challenged_at
            .checked_add(lifetime)
            .ok_or_else(|| MintError::invalid("lifetime_secs reaches past the clock's range"))?;
        let random = uuid::Uuid::new_v4().as_u128();
        let token = token::mint(provider, &site_key);
        self.tokens.insert(
            token.clone(),
            MintedToken {
                provider,
                site_key,
                hostname: spec
                    .hostname
                    .clone()
                    .unwrap_or_else(|| "localhost".to_owned()),
                action: spec.action.clone(),
                cdata: spec.cdata.clone(),
                score: spec.score,
                interactive: spec.interactive.unwrap_or(false),
                // A plausible human solve time, 0.4 s to 4 s.
                solve_time_ms: 400 + u64::try_from(random % 3600).unwrap_or(0),
                challenged_at,
                expires_at,
                used: false,
                fault_hits_left: spec.fault.as_ref().and_then(|f| f.times),
                fault: spec.fault.as_ref().map(|f| f.kind.clone()),
            },
        );
        Ok(token)
    }

    /// The fault this call of the token suffers, counting the call against the fault's budget.
    pub(crate) fn take_fault(&mut self, provider: Provider, token: &str) -> Option<FaultKind> {
        let minted = self.tokens.get_mut(token)?;
        if minted.provider != provider {
            return None;
        }
        let kind = minted.fault.clone()?;
        match &mut minted.fault_hits_left {
            None => Some(kind),
            Some(0) => None,
            Some(left) => {
                *left -= 1;
                Some(kind)
            }
        }
    }

    /// Checks a token against the secret (and the site key the caller insists on) and consumes
    /// it when valid.
    pub(crate) fn redeem(
        &mut self,
        provider: Provider,
        secret: &str,
        token: &str,
        expected_site_key: Option<&str>,
    ) -> Redeemed {
        let Some(minted) = self.tokens.get(token).filter(|t| t.provider == provider) else {
            return Redeemed::Unknown;
        };
        let owned = self
            .sites
            .get(&(provider, minted.site_key.clone()))
            .is_some_and(|s| s == secret);
        if !owned || expected_site_key.is_some_and(|k| k != minted.site_key) {
            return Redeemed::WrongSite;
        }
        if SystemTime::now() > minted.expires_at {
            return Redeemed::Expired;
        }
        if minted.used {
            return Redeemed::AlreadyUsed;
        }
        let Some(minted) = self.tokens.get_mut(token) else {
            return Redeemed::Unknown;
        };
        minted.used = true;
        Redeemed::Valid(Box::new(minted.clone()))
    }

    pub(crate) fn record(&mut self, request: RecordedRequest) {
        if self.record_limit == 0 {
            self.records_dropped += 1;
            return;
        }
        while self.records.len() >= self.record_limit {
            self.records.pop_front();
            self.records_dropped += 1;
        }
        self.records.push_back(request);
    }

    pub(crate) fn records(&self) -> Vec<RecordedRequest> {
        self.records.iter().cloned().collect()
    }

    /// How many calls the ring holds at most, and how many it dropped since the last clear.
    pub(crate) fn record_bounds(&self) -> (usize, u64) {
        (self.record_limit, self.records_dropped)
    }

    pub(crate) fn clear_records(&mut self) {
        self.records.clear();
        self.records_dropped = 0;
    }

    /// Makes every verify call of `provider` suffer `fault`, or (with `None`) ends that.
    pub(crate) fn set_outage(&mut self, provider: Provider, fault: Option<FaultKind>) {
        match fault {
            Some(fault) => self.outages.insert(provider, fault),
            None => self.outages.remove(&provider),
        };
    }

    /// The fault this call suffers: the provider's outage, else the token's own.
    pub(crate) fn fault_of(
        &mut self,
        provider: Provider,
        token: Option<&str>,
    ) -> Option<FaultKind> {
        if let Some(outage) = self.outages.get(&provider) {
            return Some(outage.clone());
        }
        self.take_fault(provider, token?)
    }

    pub(crate) fn idempotent_answer(&self, key: &str) -> Option<&(String, Reply)> {
        self.idempotency.get(key)
    }

    pub(crate) fn remember_answer(&mut self, key: &str, token: &str, reply: &Reply) {
        self.idempotency
            .entry(key.to_owned())
            .or_insert_with(|| (token.to_owned(), reply.clone()));
    }
}
