//! Several providers on one route: each chosen by the field its widget writes the token in,
//! with failover to another when one cannot answer.
//!
//! A route guarded by one provider is exactly as available as that provider: when it has an
//! outage, runs out of quota (reCAPTCHA answers 429 until the first of the next month) or is
//! blocked in a country, the only choices are to refuse every signup or to let everyone in.
//! A [`ProviderSet`] holds several verifiers instead, each with its own secret, policy and
//! circuit breaker: hosted [`Verifier`](siteverify::Verifier)s, an ALTCHA verifier (no third
//! party, no quota: the natural fallback) and your own [`Verify`](siteverify::Verify)
//! implementations side by side.
//!
//! - **Failover** ([`ProviderSet::failover`]): when the token's provider cannot answer
//!   (circuit breaker open, timeout, 5xx, 429), the answer is still 503
//!   `provider_unavailable`, and its JSON body names the widget to fall back to:
//!   `"fallback":{"provider":"altcha","challenge_url":"/altcha/challenge"}`. The page swaps in
//!   that widget; its token is then verified by that member. While the first member's breaker
//!   is open, [`ProviderSet::recommended`] names the fallback, so new pages are not sent to a
//!   dead widget first. Fail-open is not involved.
//! - **Migration** ([`ProviderSet::side_by_side`]): two providers accepted with no preference,
//!   each page rendering one, to move from reCAPTCHA to Turnstile or ALTCHA without a flag
//!   day.
//!
//! The verdict names the provider that passed, and so do the layer's tracing span and metrics.

mod hint;
mod member;
mod provider_set;

pub use hint::WidgetHint;
pub use member::Member;
pub(crate) use provider_set::Seat;
pub use provider_set::{MemberHealth, ProviderSet, SetError, SetMode};
