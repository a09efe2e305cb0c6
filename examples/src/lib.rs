//! The signup demo behind `cargo run --example signup`, as a library so that the end-to-end
//! tests drive exactly what a new user runs.
//!
//! With no `CAPTCHA_PROVIDER` in the environment it starts the local emulator in-process and
//! needs no account and no network; with `CAPTCHA_PROVIDER`, `CAPTCHA_SECRET`,
//! `CAPTCHA_SITEKEY` (and the other variables of [`CaptchaConfig::from_env`]) it talks to the
//! real provider and serves its real widget. With `CAPTCHA_PROVIDER=altcha` and
//! `CAPTCHA_SECRET` (the HMAC key) it needs neither an account nor the emulator: it issues
//! its own challenges at `GET /altcha/challenge` (for `signup`) and
//! `GET /altcha/challenge/checkout` (for `checkout`), and serves a widget script at
//! `GET /altcha/widget.js` unless `CAPTCHA_WIDGET_SCRIPT` names another (the `altcha` widget
//! from npm, say). [`serve`] serves it with the timeouts a public server needs.

mod handlers;
mod pages;
mod serve;

use std::collections::HashMap;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post},
};
use siteverify::{AnyVerifier, Policy, Provider, RecaptchaVersion};
use siteverify_emulator::Emulator;
use tower_captcha::{CaptchaConfig, CaptchaLayer, EnvError, altcha::challenge_route};

pub use serve::{Timeouts, serve};

/// The error of setting the demo up.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Largest avatar upload the demo accepts. The CAPTCHA layer itself never buffers it: the
/// token field comes first and the file streams past.
pub const MAX_AVATAR_BYTES: usize = 8 * 1024 * 1024;

/// The prefix of the demo's [`CaptchaConfig`] variables.
const PREFIX: &str = "CAPTCHA";
const PROVIDER_VAR: &str = "CAPTCHA_PROVIDER";
const WIDGET_SCRIPT_VAR: &str = "CAPTCHA_WIDGET_SCRIPT";
const EMULATE_VAR: &str = "DEMO_EMULATE";

/// Where the page's ALTCHA widget fetches its challenge for the signup routes.
pub const ALTCHA_CHALLENGE_PATH: &str = "/altcha/challenge";
/// Where the challenges for `/checkout` are issued.
pub const ALTCHA_CHECKOUT_CHALLENGE_PATH: &str = "/altcha/challenge/checkout";
/// The widget script the demo serves itself when ALTCHA has no `CAPTCHA_WIDGET_SCRIPT`.
pub const ALTCHA_WIDGET_PATH: &str = "/altcha/widget.js";

/// What the page needs to render the widget.
#[derive(Clone, Debug)]
pub struct Widget {
    /// The provider.
    pub provider: Provider,
    /// The public site key; empty for ALTCHA, which has none.
    pub site_key: String,
    /// The URL of the widget script the page loads: the provider's, or the emulator's; for
    /// reCAPTCHA v3 with `render=<site key>`.
    pub script: String,
    /// The reCAPTCHA version the server expects; `None` for the other providers.
    pub recaptcha_version: Option<RecaptchaVersion>,
    /// The action the signup route demands, which the page must set on the widget (ALTCHA:
    /// which its challenges are signed for).
    pub action: Option<String>,
}

impl Widget {
    /// Whether the page runs reCAPTCHA v3: no checkbox, a token fetched on submit.
    pub fn is_recaptcha_v3(&self) -> bool {
        self.provider == Provider::Recaptcha && self.recaptcha_version == Some(RecaptchaVersion::V3)
    }
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
    /// Reads the process environment; see [`from_vars`](Self::from_vars).
    pub async fn from_env() -> Result<Self, Error> {
        Self::from_vars(process_env()?).await
    }

    /// Reads these variables: a real provider when `CAPTCHA_PROVIDER` is set (every
    /// variable of [`CaptchaConfig::from_env`], and `CAPTCHA_WIDGET_SCRIPT` for another
    /// widget script), otherwise the emulator, emulating `DEMO_EMULATE` (any provider name,
    /// default `recaptcha`). The emulated demo honours the same variables but the four it
    /// fills in itself: the provider, secret, site key and verify URL are the emulator's.
    pub async fn from_vars<I, K, V>(vars: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars: HashMap<String, String> = vars
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect();
        if is_set(&vars, PROVIDER_VAR) {
            let config = CaptchaConfig::from_vars(PREFIX, &vars)?;
            let script = set_value(&vars, WIDGET_SCRIPT_VAR).map(str::to_owned);
            return Self::real(&config, script).await;
        }
        let provider = match set_value(&vars, EMULATE_VAR) {
            Some(name) => name
                .parse()
                .map_err(|unknown: siteverify::UnknownProvider| EnvError::Invalid {
                    var: EMULATE_VAR.to_owned(),
                    reason: unknown.to_string(),
                })?,
            None => Provider::Recaptcha,
        };
        Self::emulate(provider, vars).await
    }

    /// The demo against the local emulator, started on a free port, with no other setting.
    pub async fn emulated(provider: Provider) -> Result<Self, Error> {
        Self::emulate(provider, HashMap::new()).await
    }

    /// The demo against a real provider, or ALTCHA (no third party). The widget script
    /// defaults to the provider's own; ALTCHA's to the one the demo serves itself.
    pub async fn real(config: &CaptchaConfig, script: Option<String>) -> Result<Self, Error> {
        let script = script.unwrap_or_else(|| real_script(config.provider).to_owned());
        let demo = Self::build(config, script, None).await?;
        tracing::info!(
            provider = config.provider.name(),
            "verifying with the real provider"
        );
        Ok(demo)
    }

    async fn emulate(provider: Provider, mut vars: HashMap<String, String>) -> Result<Self, Error> {
        let emulated: siteverify_emulator::Provider = provider.name().parse()?;
        let emulator = Emulator::start().await?;
        let emulator_vars = [
            ("PROVIDER", provider.name().to_owned()),
            ("SECRET", emulated.default_secret().to_owned()),
            ("SITEKEY", emulated.default_site_key().to_owned()),
            ("VERIFY_URL", emulator.verify_url(emulated)),
        ];
        for (suffix, value) in emulator_vars {
            vars.insert(format!("{PREFIX}_{suffix}"), value);
        }
        // The page is served on loopback; only providers that report a hostname can be held
        // to it, and a configured allowlist is left as it is.
        let hostnames = format!("{PREFIX}_HOSTNAMES");
        let local = Policy::new().allow_hostname("localhost")?;
        if !is_set(&vars, &hostnames) && local.validate_for(provider).is_ok() {
            vars.insert(hostnames, "localhost,127.0.0.1".to_owned());
        }
        let config = CaptchaConfig::from_vars(PREFIX, &vars)?;
        // The emulator serves its widget stand-in under the name of reCAPTCHA Enterprise's
        // script too, which is how the page tells the stand-in which tokens to mint.
        let script_name = match provider {
            Provider::RecaptchaEnterprise => "enterprise.js",
            _ => "widget.js",
        };
        let script = format!("{}/{script_name}", emulator.base_url());
        tracing::info!(
            provider = provider.name(),
            emulator = %emulator.base_url(),
            "CAPTCHA_PROVIDER is not set: verifying against the built-in emulator (no account, no network)"
        );
        Self::build(&config, script, Some(emulator)).await
    }

    async fn build(
        config: &CaptchaConfig,
        script: String,
        emulator: Option<Emulator>,
    ) -> Result<Self, Error> {
        let guard = CaptchaLayer::from_config(config).await?;
        // The layer's own verifier, read for the page and the routes' policies (and, with
        // ALTCHA, issuing the challenges: one key, one replay store).
        let verifier = guard.verifier();
        let site_key = match verifier.as_hosted() {
            Some(hosted) => hosted
                .site_key()
                .ok_or("CAPTCHA_SITEKEY is not set: the page cannot show the widget without it")?
                .to_owned(),
            None => String::new(),
        };
        let routes = RoutePolicies::new(verifier)?;
        let mut widget = Widget {
            provider: verifier.provider(),
            script,
            recaptcha_version: verifier.as_hosted().and_then(|v| v.recaptcha_version()),
            action: routes
                .signup
                .expected_action()
                .or(verifier.policy().expected_action())
                .map(str::to_owned),
            site_key,
        };
        if widget.is_recaptcha_v3() {
            widget.script = with_query(&widget.script, "render", &widget.site_key);
        }
        Ok(Self {
            router: router(guard, routes, &widget)?,
            widget,
            emulator,
        })
    }
}

/// What each route demands beyond the configured policy, which the layer lays them over.
struct RoutePolicies {
    signup: Policy,
    checkout: Policy,
}

impl RoutePolicies {
    fn new(verifier: &AnyVerifier) -> Result<Self, Error> {
        Ok(Self {
            signup: route_policy(verifier, "signup", 0.5)?,
            checkout: route_policy(verifier, "checkout", 0.8)?,
        })
    }
}

/// A route's defaults, each only where the configuration sets nothing (`CAPTCHA_ACTION`,
/// `CAPTCHA_MIN_SCORE` apply as given) and only where the answer carries it: the route's
/// action where the provider reports the action the page set, and a minimum score where
/// every answer is scored (reCAPTCHA v3). A v2 checkbox reports neither.
fn route_policy(verifier: &AnyVerifier, action: &str, min_score: f64) -> Result<Policy, Error> {
    let provider = verifier.provider();
    let configured = verifier.policy();
    let scored =
        verifier.as_hosted().and_then(|v| v.recaptcha_version()) == Some(RecaptchaVersion::V3);
    let reports_action = match provider {
        Provider::Recaptcha => scored,
        other => Policy::new().action(action).validate_for(other).is_ok(),
    };
    let mut policy = Policy::new();
    if reports_action && configured.expected_action().is_none() {
        policy = policy.action(action);
    }
    if scored && configured.minimum_score().is_none() {
        policy = policy.min_score(min_score)?;
    }
    Ok(policy)
}

/// The app: the page, the guarded routes, each with its own policy on a clone of `guard`;
/// with ALTCHA, the challenge routes and the widget script too.
fn router(
    guard: CaptchaLayer<AnyVerifier>,
    routes: RoutePolicies,
    widget: &Widget,
) -> Result<Router, Error> {
    let mut app = Router::new();
    if let Some(altcha) = guard.verifier().as_altcha() {
        // Each challenge is signed for the action its route demands (the configured one
        // when `CAPTCHA_ACTION` is set), so a checkout challenge cannot sign anyone up.
        let configured = altcha.policy().expected_action();
        let signup = routes.signup.expected_action().or(configured);
        let checkout = routes.checkout.expected_action().or(configured);
        app = app
            .route(
                ALTCHA_CHALLENGE_PATH,
                challenge_route(altcha.clone(), signup),
            )
            .route(
                ALTCHA_CHECKOUT_CHALLENGE_PATH,
                challenge_route(altcha.clone(), checkout),
            )
            .route(
                ALTCHA_WIDGET_PATH,
                get(|| async {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/javascript; charset=utf-8",
                        )],
                        siteverify_emulator::WIDGET_SCRIPT,
                    )
                }),
            );
    }
    let form_guard = guard
        .clone()
        .policy(routes.signup.clone())?
        .on_failure(pages::failure_page);
    let api_guard = guard.clone().policy(routes.signup)?;
    let checkout_guard = guard.policy(routes.checkout)?;

    let page = pages::signup_page(widget);
    Ok(app
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

/// The variables the demo reads, from the process environment. A value that is not Unicode
/// is an error naming its variable, rather than a variable silently unset.
fn process_env() -> Result<HashMap<String, String>, EnvError> {
    let mut vars = HashMap::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with("CAPTCHA_") || name == EMULATE_VAR) {
            continue;
        }
        let value = value.into_string().map_err(|_| EnvError::Invalid {
            var: name.to_owned(),
            reason: "not valid Unicode".to_owned(),
        })?;
        vars.insert(name.to_owned(), value);
    }
    Ok(vars)
}

/// A variable's value; empty or blank counts as unset, as in [`CaptchaConfig::from_env`].
fn set_value<'a>(vars: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn is_set(vars: &HashMap<String, String>, name: &str) -> bool {
    set_value(vars, name).is_some()
}

/// `url` with `name=value` added to its query, `value` percent-encoded.
fn with_query(url: &str, name: &str, value: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    let mut out = format!("{url}{separator}{name}=");
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Friendly Captcha's `site` script (v2 widget SDK), an ES module.
pub(crate) const FRIENDLY_CAPTCHA_SCRIPT: &str =
    "https://cdn.jsdelivr.net/npm/@friendlycaptcha/sdk@0.2.0/site.min.js";

/// The provider's own widget script.
fn real_script(provider: Provider) -> &'static str {
    match provider {
        Provider::HCaptcha => "https://js.hcaptcha.com/1/api.js",
        Provider::Recaptcha => "https://www.google.com/recaptcha/api.js",
        Provider::Turnstile => "https://challenges.cloudflare.com/turnstile/v0/api.js",
        Provider::Procaptcha => "https://js.prosopo.io/js/procaptcha.bundle.js",
        Provider::FriendlyCaptcha => FRIENDLY_CAPTCHA_SCRIPT,
        Provider::RecaptchaEnterprise => "https://www.google.com/recaptcha/enterprise.js",
        // Self-hosted: the demo serves a widget script itself.
        Provider::Altcha => ALTCHA_WIDGET_PATH,
        // ByeBot documents no public script URL; set CAPTCHA_WIDGET_SCRIPT.
        _ => "https://challenge.byebot.de/widget.js",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            with_query("https://x/api.js", "render", "6Le-a_b.c~"),
            "https://x/api.js?render=6Le-a_b.c~"
        );
        assert_eq!(
            with_query("http://h/widget.js?onload=f", "render", "a b&c"),
            "http://h/widget.js?onload=f&render=a%20b%26c"
        );
    }
}
