use siteverify::Verdict;

use crate::Rejection;

/// What the layer decided, for the handler.
///
/// In the default (enforcing) mode a handler only ever sees `Verified`: refused requests are
/// answered by the layer. In [observe mode](crate::CaptchaLayer::observe) the handler also sees
/// `Rejected` and decides itself, as reCAPTCHA v3 sites often want (ask for a second factor
/// instead of refusing, say).
///
/// In the request's extensions, a pass is the [`Verdict`] itself and a refusal in observe mode
/// is a `CaptchaOutcome::Rejected`; the axum extractor for `CaptchaOutcome` reads either.
// A `Verdict` (with reCAPTCHA Enterprise's iOS bundle and risk reasons) is larger than a
// `Rejection`; boxing it would change the public variant and cost an allocation per request
// read, for an enum that lives on the stack while a handler matches it.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CaptchaOutcome {
    /// The token passed the provider and the policy.
    Verified(Verdict),
    /// The request was refused (observe mode only).
    Rejected(crate::Rejection),
}

impl CaptchaOutcome {
    /// The verdict, if the token passed.
    pub fn verdict(&self) -> Option<&Verdict> {
        match self {
            CaptchaOutcome::Verified(v) => Some(v),
            CaptchaOutcome::Rejected(_) => None,
        }
    }

    /// The rejection, if the token failed.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            CaptchaOutcome::Verified(_) => None,
            CaptchaOutcome::Rejected(r) => Some(r),
        }
    }
}
