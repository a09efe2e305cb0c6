use http::request::Parts;

/// Decides that a request passes without a CAPTCHA, beyond the skipped methods.
///
/// Implemented for closures `Fn(&http::request::Parts) -> bool`:
///
/// ```
/// # use siteverify::{Provider, Verdict, Verify, VerifyError, VerifyOptions};
/// # struct Fake;
/// # impl Verify for Fake {
/// #     async fn verify(&self, _: &str, _: &VerifyOptions) -> Result<Verdict, VerifyError> {
/// #         Ok(Verdict::new(Provider::Turnstile))
/// #     }
/// # }
/// use tower_captcha::CaptchaLayer;
///
/// /// What your authentication layer (which runs first) puts into the request once it has
/// /// checked the session. Never decide on a raw header or cookie here: a bot sends those too.
/// #[derive(Clone)]
/// struct SignedIn;
///
/// // Signed-in users are not asked again.
/// let layer = CaptchaLayer::new(Fake)
///     .skip_if(|parts: &http::request::Parts| parts.extensions.get::<SignedIn>().is_some());
/// ```
pub trait SkipPredicate: Send + Sync + 'static {
    /// `true` to let the request through unverified.
    fn skip(&self, parts: &Parts) -> bool;
}

impl<F> SkipPredicate for F
where
    F: Fn(&Parts) -> bool + Send + Sync + 'static,
{
    fn skip(&self, parts: &Parts) -> bool {
        self(parts)
    }
}
