use siteverify::Verdict;

use crate::Rejection;

/// What the layer decided, in the request's extensions for the handler.
///
/// In the default (enforcing) mode a handler only ever sees `Verified`: refused requests are
/// answered by the layer. In [observe mode](crate::CaptchaLayer::observe) the handler also sees
/// `Rejected` and decides itself, as reCAPTCHA v3 sites often want (ask for a second factor
/// instead of refusing, say).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CaptchaOutcome {
    /// The token passed the provider and the policy. The verdict is also in the extensions on
    /// its own, for [`Verified<Verdict>`](crate::Verified).
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
