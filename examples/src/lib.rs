//! The signup demo behind `cargo run --example signup`, as a library so that the end-to-end
//! tests drive exactly what a new user runs.
//!
//! With no `CAPTCHA_PROVIDER` in the environment it starts the local emulator in-process and
//! needs no account and no network; with `CAPTCHA_PROVIDER`, `CAPTCHA_SECRET`,
//! `CAPTCHA_SITEKEY` (and the other variables of [`CaptchaConfig::from_env`]) it talks to the
//! real provider and serves its real widget.

mod handlers;
mod pages;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post},
};
use siteverify::{Policy, Provider, Verifier, VerifierConfig};
use siteverify_emulator::Emulator;
use tower_captcha::{CaptchaConfig, CaptchaLayer};

/// The error of setting the demo up.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Largest avatar upload the demo accepts. The CAPTCHA layer itself never buffers it: the
/// token field comes first and the file streams past.
pub const MAX_AVATAR_BYTES: usize = 64 * 1024 * 1024;

/// What the page needs to render the widget.
#[derive(Clone, Debug)]
pub struct Widget {
    /// The provider.
    pub provider: Provider,
    /// The public site key.
    pub site_key: String,
    /// The URL of the widget script: the provider's, or the emulator's.
    pub script: String,
}

/// A ready demo: its router and, when emulated, the running emulator.
pub struct Demo {
    /// The app.
    pub router: Router,
    /// The widget the page shows.
    pub widget: Widget,
    /// The in-process emulator, when no real provider is configured. Kept here because
    /// dropping it stops it.
    pub emulator: Option<Emulator>,
}

impl Demo {
    /// Reads the environment: a real provider when `CAPTCHA_PROVIDER` is set, otherwise the
    /// emulator, emulating `DEMO_EMULATE` (default `recaptcha`, which shows actions and scores).
    pub async fn from_env() -> Result<Self, Error> {
        if std::env::var_os("CAPTCHA_PROVIDER").is_some_and(|v| !v.is_empty()) {
            let config = CaptchaConfig::from_env("CAPTCHA")?;
            let script = std::env::var("CAPTCHA_WIDGET_SCRIPT").ok();
            return Self::real(&config, script);
        }
        let provider = match std::env::var("DEMO_EMULATE") {
            Ok(name) if !name.is_empty() => name.parse()?,
            _ => Provider::Recaptcha,
        };
        Self::emulated(provider).await
    }

    /// The demo against the local emulator, started on a free port.
    pub async fn emulated(provider: Provider) -> Result<Self, Error> {
        let emulator = Emulator::start().await?;
        let emulated = emulated(provider)?;
        let widget = Widget {
            provider,
            site_key: emulated.default_site_key().to_owned(),
            script: format!("{}/widget.js", emulator.base_url()),
        };
        let config = VerifierConfig::new(emulated.default_secret())
            .site_key(emulated.default_site_key())
            .verify_url(emulator.verify_url(emulated))
            .policy(
                Policy::new()
                    .allow_hostname("localhost")?
                    .allow_hostname("127.0.0.1")?,
            );
        let verifier = Verifier::new(provider, config)?;
        tracing::info!(
            provider = provider.name(),
            emulator = %emulator.base_url(),
            "CAPTCHA_PROVIDER is not set: verifying against the built-in emulator (no account, no network)"
        );
        Ok(Self {
            router: router(verifier, &widget, false)?,
            widget,
            emulator: Some(emulator),
        })
    }

    /// The demo against a real provider. The widget script defaults to the provider's own.
    pub fn real(config: &CaptchaConfig, script: Option<String>) -> Result<Self, Error> {
        let verifier = config.build_verifier()?;
        let site_key = verifier
            .site_key()
            .ok_or("CAPTCHA_SITEKEY is not set: the page cannot show the widget without it")?
            .to_owned();
        let widget = Widget {
            provider: config.provider,
            site_key,
            script: script.unwrap_or_else(|| real_script(config.provider).to_owned()),
        };
        tracing::info!(
            provider = config.provider.name(),
            "verifying with the real provider"
        );
        Ok(Self {
            router: router(verifier, &widget, config.fail_open)?,
            widget,
            emulator: None,
        })
    }
}

/// The app: the page, the guarded routes, each with its own layer. `fail_open` lets requests
/// through, marked degraded, while the provider is down (`CAPTCHA_FAIL_OPEN`).
pub fn router(verifier: Verifier, widget: &Widget, fail_open: bool) -> Result<Router, Error> {
    let provider = verifier.provider();
    let base = verifier.policy().clone();
    let signup_policy = route_policy(&base, provider, "signup", 0.5)?;
    let checkout_policy = route_policy(&base, provider, "checkout", 0.8)?;

    let form_guard = CaptchaLayer::new(verifier.clone())
        .policy(signup_policy.clone())?
        .fail_open(fail_open)
        .on_failure(pages::failure_page);
    let api_guard = CaptchaLayer::new(verifier.clone())
        .policy(signup_policy)?
        .fail_open(fail_open);
    let checkout_guard = CaptchaLayer::new(verifier)
        .policy(checkout_policy)?
        .fail_open(fail_open);

    let page = pages::signup_page(widget);
    Ok(Router::new()
        .route("/", get(move || async move { axum::response::Html(page) }))
        .route("/signup", post(handlers::signup).layer(form_guard))
        .route(
            "/api/signup",
            post(handlers::api_signup).layer(api_guard.clone()),
        )
        .route(
            "/avatar",
            post(handlers::avatar)
                .layer::<_, std::convert::Infallible>(api_guard)
                .layer(DefaultBodyLimit::max(MAX_AVATAR_BYTES)),
        )
        .route("/checkout", post(handlers::checkout).layer(checkout_guard)))
}

/// A route's policy: the configured one (hostnames, …) plus the route's action where the
/// provider reports actions, and a minimum score where it reports scores the way v3 does.
fn route_policy(
    base: &Policy,
    provider: Provider,
    action: &str,
    min_score: f64,
) -> Result<Policy, Error> {
    let mut policy = base.clone();
    if matches!(provider, Provider::Recaptcha | Provider::Turnstile) {
        policy = policy.action(action);
    }
    if provider == Provider::Recaptcha {
        let configured = base.minimum_score().unwrap_or(0.0);
        policy = policy.min_score(configured.max(min_score))?;
    }
    Ok(policy)
}

fn emulated(provider: Provider) -> Result<siteverify_emulator::Provider, Error> {
    Ok(provider.name().parse::<siteverify_emulator::Provider>()?)
}

/// The provider's own widget script.
fn real_script(provider: Provider) -> &'static str {
    match provider {
        Provider::HCaptcha => "https://js.hcaptcha.com/1/api.js",
        Provider::Recaptcha => "https://www.google.com/recaptcha/api.js",
        Provider::Turnstile => "https://challenges.cloudflare.com/turnstile/v0/api.js",
        Provider::Procaptcha => "https://js.prosopo.io/js/procaptcha.bundle.js",
        // ByeBot documents no public script URL; set CAPTCHA_WIDGET_SCRIPT.
        _ => "https://challenge.byebot.de/widget.js",
    }
}
