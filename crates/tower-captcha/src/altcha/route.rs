//! The challenge endpoint on an axum router.

use axum::routing::{MethodRouter, any_service};
use siteverify::altcha::AltchaVerifier;

use super::ChallengeService;

/// The route that serves `verifier`'s challenges, signed for `action` (`None`: the action
/// its policy expects): a [`ChallengeService`] for every method, so that it answers 405 to
/// anything but `GET` and `HEAD` itself.
///
/// ```
/// use axum::Router;
/// use siteverify::altcha::{AltchaConfig, AltchaVerifier};
/// use tower_captcha::altcha::challenge_route;
///
/// # fn main() -> Result<(), siteverify::ConfigError> {
/// let verifier = AltchaVerifier::new(AltchaConfig::new("3f9c2d7e1a8b4c6d0e5f7a9b2c4d6e8f"))?;
/// let app: Router = Router::new()
///     .route("/altcha/challenge", challenge_route(verifier.clone(), Some("signup")))
///     .route("/altcha/checkout", challenge_route(verifier, Some("checkout")));
/// # Ok(())
/// # }
/// ```
pub fn challenge_route<S>(verifier: AltchaVerifier, action: Option<&str>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    let service = ChallengeService::new(verifier);
    let service = match action {
        Some(action) => service.action(action),
        None => service,
    };
    any_service(service)
}
