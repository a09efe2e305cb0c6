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
//!
//! `CAPTCHA_FALLBACK_PROVIDER` (with the other `CAPTCHA_*` variables under the prefix
//! `CAPTCHA_FALLBACK_`: `CAPTCHA_FALLBACK_SECRET`, `CAPTCHA_FALLBACK_SITEKEY`, …, and
//! `CAPTCHA_FALLBACK_WIDGET_SCRIPT`) adds a second provider to every guarded route, as a
//! [`ProviderSet`] in failover order: when the first cannot answer, the form comes back with the
//! fallback's widget (the JSON routes answer 503 with a `fallback` member) and the user gets
//! through with it. ALTCHA as the fallback serves its challenges as above; a hosted fallback
//! in the emulated demo is emulated too, unless `CAPTCHA_FALLBACK_SECRET` is set.

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
use tower_captcha::{
    CaptchaConfig, CaptchaLayer, EnvError, Member, ProviderSet, altcha::challenge_route,
};

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
/// The prefix of the fallback provider's variables.
const FALLBACK_PREFIX: &str = "CAPTCHA_FALLBACK_";
const FALLBACK_PROVIDER_VAR: &str = "CAPTCHA_FALLBACK_PROVIDER";
const FALLBACK_WIDGET_SCRIPT_VAR: &str = "CAPTCHA_FALLBACK_WIDGET_SCRIPT";
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
    /// The script is the emulator's stand-in for the provider's.
    pub stand_in: bool,
}

impl Widget {
    /// Whether the page runs reCAPTCHA v3: no checkbox, a token fetched on submit.
    pub fn is_recaptcha_v3(&self) -> bool {
        self.provider == Provider::Recaptcha && self.recaptcha_version == Some(RecaptchaVersion::V3)
    }

    /// What siteverify knows of the provider's widget: its container, field and CSP.
    pub fn facts(&self) -> siteverify::widget::Widget {
        match self.recaptcha_version {
            Some(version) if self.provider == Provider::Recaptcha => {
                siteverify::widget::Widget::recaptcha(version)
            }
            _ => siteverify::widget::Widget::of(self.provider),
        }
    }

    /// The `Content-Security-Policy` header of the page that shows it.
    pub fn content_security_policy(&self) -> String {
        pages::content_security_policy(self)
    }
}

/// A ready demo: its router and, when emulated, the running emulator.
pub struct Demo {
    /// The app.
    pub router: Router,
    /// The widget the page shows.
    pub widget: Widget,
    /// The widget the page falls back to when the first provider cannot answer, when
    /// `CAPTCHA_FALLBACK_PROVIDER` is set.
    pub fallback: Option<Widget>,
    /// The signup routes' providers, for the page (which widget to show first) and health.
    pub providers: ProviderSet,
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
    /// `DEMO_EMULATE=altcha` starts no emulator, since ALTCHA has no third party: the demo
    /// runs it itself, keyed by `CAPTCHA_SECRET` or else by a key made for this run.
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
            if let Some(Ok(fallback)) = set_value(&vars, FALLBACK_PROVIDER_VAR).map(str::parse) {
                another_provider(config.provider, fallback)?;
            }
            let fallback = fallback_config(&vars)?;
            return Self::real_with(&config, script, fallback).await;
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
        Self::real_with(config, script, None).await
    }

    async fn real_with(
        config: &CaptchaConfig,
        script: Option<String>,
        fallback: Option<Configured>,
    ) -> Result<Self, Error> {
        let main = Configured::own(config.clone(), script);
        let demo = Self::build(main, fallback, None).await?;
        tracing::info!(
            provider = config.provider.name(),
            "verifying with the real provider"
        );
        Ok(demo)
    }

    async fn emulate(provider: Provider, mut vars: HashMap<String, String>) -> Result<Self, Error> {
        // A hosted fallback is emulated too, unless it comes with a secret of its own.
        let fallback_provider = set_value(&vars, FALLBACK_PROVIDER_VAR).map(str::parse::<Provider>);
        if let Some(Ok(fallback)) = fallback_provider {
            another_provider(provider, fallback)?;
        }
        let emulated_fallback = match fallback_provider {
            Some(Ok(fallback))
                if fallback.is_hosted() && !is_set(&vars, &format!("{FALLBACK_PREFIX}SECRET")) =>
            {
                Some(fallback)
            }
            _ => None,
        };
        // ALTCHA has no third party to stand in for: the demo runs it itself, so the emulator
        // starts only for a hosted provider.
        let emulator = if provider.is_hosted() || emulated_fallback.is_some() {
            Some(Emulator::start().await?)
        } else {
            None
        };
        // Who the emulator stands in for: the first provider when hosted, the fallback when
        // emulated.
        let main_stand_in = emulator.as_ref().filter(|_| provider.is_hosted());
        let fallback_stand_in = emulator.as_ref().filter(|_| emulated_fallback.is_some());
        let key_made = match main_stand_in {
            Some(emulator) => {
                emulated_vars(emulator, &format!("{PREFIX}_"), provider, &mut vars)?;
                false
            }
            None => self_hosted_vars(provider, &mut vars)?,
        };
        if let (Some(emulator), Some(fallback)) = (fallback_stand_in, emulated_fallback) {
            emulated_vars(emulator, FALLBACK_PREFIX, fallback, &mut vars)?;
        }
        let config = CaptchaConfig::from_vars(PREFIX, &vars)?;
        // The emulator's widget only for a fallback the emulator verifies: one with a secret
        // of its own verifies with the real provider, whose own widget it needs.
        let fallback = match (fallback_config(&vars)?, fallback_stand_in) {
            (Some(mut fallback), Some(emulator)) if !is_set(&vars, FALLBACK_WIDGET_SCRIPT_VAR) => {
                fallback.script = emulated_script(emulator, fallback.config.provider);
                fallback.stand_in = true;
                Some(fallback)
            }
            (other, _) => other,
        };
        let main = match main_stand_in {
            Some(emulator) => {
                tracing::info!(
                    provider = provider.name(),
                    emulator = %emulator.base_url(),
                    "CAPTCHA_PROVIDER is not set: verifying against the built-in emulator (no account, no network)"
                );
                Configured {
                    config,
                    script: emulated_script(emulator, provider),
                    stand_in: true,
                }
            }
            None => {
                tracing::info!(
                    provider = provider.name(),
                    key = if key_made {
                        "made for this run"
                    } else {
                        "CAPTCHA_SECRET"
                    },
                    fallback_emulator = fallback_stand_in.map(Emulator::base_url),
                    "CAPTCHA_PROVIDER is not set: the demo runs the self-hosted provider itself (no account, no network)"
                );
                Configured::own(
                    config,
                    set_value(&vars, WIDGET_SCRIPT_VAR).map(str::to_owned),
                )
            }
        };
        Self::build(main, fallback, emulator).await
    }

    async fn build(
        main: Configured,
        fallback: Option<Configured>,
        emulator: Option<Emulator>,
    ) -> Result<Self, Error> {
        if let Some(fallback) = &fallback {
            same_layer_settings(&main.config, &fallback.config)?;
        }
        let mut seats = vec![Seat::connect(&main).await?];
        if let Some(fallback) = &fallback {
            seats.push(Seat::connect(fallback).await?);
        }
        let signup = route_set(&seats, |routes| &routes.signup, ALTCHA_CHALLENGE_PATH)?;
        let checkout = route_set(
            &seats,
            |routes| &routes.checkout,
            ALTCHA_CHECKOUT_CHALLENGE_PATH,
        )?;
        let guard = |set: ProviderSet| {
            CaptchaLayer::set(set)
                .fail_open(main.config.fail_open)
                .client_ip(main.config.client_ip)
        };
        let widgets: Vec<Widget> = seats.iter().map(|seat| seat.widget.clone()).collect();
        let router = router(
            guard(signup.clone()),
            guard(checkout),
            &seats,
            widgets.clone(),
        )?;
        let mut widgets = widgets.into_iter();
        Ok(Self {
            router,
            widget: widgets.next().expect("the first provider"),
            fallback: widgets.next(),
            providers: signup,
            emulator,
        })
    }
}

/// The emulator's widget stand-in for `provider`'s page. It is served under the name of
/// reCAPTCHA Enterprise's script too, which is how the page tells the stand-in which tokens
/// to mint.
fn emulated_script(emulator: &Emulator, provider: Provider) -> String {
    let name = match provider {
        Provider::RecaptchaEnterprise => "enterprise.js",
        _ => "widget.js",
    };
    format!("{}/{name}", emulator.base_url())
}

/// One provider's configuration and the widget script its page loads.
struct Configured {
    config: CaptchaConfig,
    script: String,
    /// The script is the emulator's stand-in.
    stand_in: bool,
}

impl Configured {
    /// A provider the demo does not stand in for: its own widget script unless `script`
    /// names another.
    fn own(config: CaptchaConfig, script: Option<String>) -> Self {
        let script = script.unwrap_or_else(|| real_script(config.provider).to_owned());
        Configured {
            config,
            script,
            stand_in: false,
        }
    }
}

/// The fallback's configuration, when `CAPTCHA_FALLBACK_PROVIDER` is set.
fn fallback_config(vars: &HashMap<String, String>) -> Result<Option<Configured>, Error> {
    if !is_set(vars, FALLBACK_PROVIDER_VAR) {
        return Ok(None);
    }
    let config = CaptchaConfig::from_vars(FALLBACK_PREFIX, vars)?;
    let script = set_value(vars, FALLBACK_WIDGET_SCRIPT_VAR).map(str::to_owned);
    Ok(Some(Configured::own(config, script)))
}

/// Fills in the emulator's secret, site key and verify URL for `provider` under `prefix`
/// (ending in `_`),
/// and holds the page to loopback where the provider reports a hostname (a configured
/// allowlist is left as it is).
fn emulated_vars(
    emulator: &Emulator,
    prefix: &str,
    provider: Provider,
    vars: &mut HashMap<String, String>,
) -> Result<(), Error> {
    let emulated: siteverify_emulator::Provider = provider.name().parse()?;
    let emulator_vars = [
        ("PROVIDER", provider.name().to_owned()),
        ("SECRET", emulated.default_secret().to_owned()),
        ("SITEKEY", emulated.default_site_key().to_owned()),
        ("VERIFY_URL", emulator.verify_url(emulated)),
    ];
    for (suffix, value) in emulator_vars {
        vars.insert(format!("{prefix}{suffix}"), value);
    }
    let hostnames = format!("{prefix}HOSTNAMES");
    let local = Policy::new().allow_hostname("localhost")?;
    if !is_set(vars, &hostnames) && local.validate_for(provider).is_ok() {
        vars.insert(hostnames, "localhost,127.0.0.1".to_owned());
    }
    Ok(())
}

/// `DEMO_EMULATE` naming a provider that is not hosted (ALTCHA): nothing to emulate, so the
/// demo configures the provider itself, with an HMAC key made for this run unless
/// `CAPTCHA_SECRET` gives one (challenges issued before a restart then stop verifying, as
/// they would after a key change). Of the four settings an emulated demo fills in itself, the
/// site key and verify URL mean nothing here and are dropped, as an emulated hosted demo
/// overwrites them. Gives whether the key was made here.
fn self_hosted_vars(provider: Provider, vars: &mut HashMap<String, String>) -> Result<bool, Error> {
    vars.insert(PROVIDER_VAR.to_owned(), provider.name().to_owned());
    for hosted in ["SITEKEY", "VERIFY_URL"] {
        vars.remove(&format!("{PREFIX}_{hosted}"));
    }
    let secret = format!("{PREFIX}_SECRET");
    if is_set(vars, &secret) {
        return Ok(false);
    }
    let mut key = [0u8; siteverify::altcha::MIN_KEY_BYTES];
    getrandom::fill(&mut key).map_err(|e| Error::from(format!("no randomness for a key: {e}")))?;
    let key: String = key.iter().map(|b| format!("{b:02x}")).collect();
    vars.insert(secret, key);
    Ok(true)
}

/// The layer has one fail-open setting and one client-IP source, the first provider's: a
/// fallback that asks for others is refused rather than silently overruled, and so is a
/// fallback that is the first provider again.
/// A fallback must be another provider; asked before the fallback's own settings are read,
/// so that its missing secret is not the first thing a user is told.
fn another_provider(main: Provider, fallback: Provider) -> Result<(), EnvError> {
    if fallback == main {
        return Err(EnvError::Invalid {
            var: format!("{FALLBACK_PREFIX}PROVIDER"),
            reason: "it is CAPTCHA_PROVIDER already: a fallback must be another provider"
                .to_owned(),
        });
    }
    Ok(())
}

fn same_layer_settings(main: &CaptchaConfig, fallback: &CaptchaConfig) -> Result<(), EnvError> {
    let refused = |suffix: &str, reason: &str| EnvError::Invalid {
        var: format!("{FALLBACK_PREFIX}{suffix}"),
        reason: reason.to_owned(),
    };
    another_provider(main.provider, fallback.provider)?;
    if fallback.fail_open && !main.fail_open {
        return Err(refused(
            "FAIL_OPEN",
            "the route has one fail-open setting for both providers: set CAPTCHA_FAIL_OPEN",
        ));
    }
    if fallback.client_ip != main.client_ip && fallback.client_ip != tower_captcha::ClientIp::Off {
        return Err(refused(
            "CLIENT_IP",
            "the route has one client-IP source for both providers: set CAPTCHA_CLIENT_IP",
        ));
    }
    Ok(())
}

/// One provider of the demo: its verifier, what each route demands of it, its widget.
struct Seat {
    verifier: AnyVerifier,
    routes: RoutePolicies,
    widget: Widget,
}

impl Seat {
    async fn connect(configured: &Configured) -> Result<Self, Error> {
        let verifier = configured.config.connect().await?;
        let site_key = match verifier.as_hosted() {
            Some(hosted) => hosted
                .site_key()
                .ok_or_else(|| {
                    format!(
                        "no site key for {}: the page cannot show the widget without it \
                         (CAPTCHA_SITEKEY, or CAPTCHA_FALLBACK_SITEKEY for the fallback)",
                        verifier.provider()
                    )
                })?
                .to_owned(),
            None => String::new(),
        };
        let routes = RoutePolicies::new(&verifier)?;
        let mut widget = Widget {
            provider: verifier.provider(),
            script: configured.script.clone(),
            recaptcha_version: verifier.as_hosted().and_then(|v| v.recaptcha_version()),
            action: routes
                .signup
                .expected_action()
                .or(verifier.policy().expected_action())
                .map(str::to_owned),
            site_key,
            stand_in: configured.stand_in,
        };
        if widget.is_recaptcha_v3() {
            widget.script = with_query(&widget.script, "render", &widget.site_key);
        }
        Ok(Self {
            verifier,
            routes,
            widget,
        })
    }
}

/// A route's set: every provider in failover order, each with what the route demands of it;
/// an ALTCHA member's challenges are served at `challenge_path`.
fn route_set(
    seats: &[Seat],
    policy: fn(&RoutePolicies) -> &Policy,
    challenge_path: &str,
) -> Result<ProviderSet, Error> {
    let members = seats.iter().map(|seat| {
        let member = Member::new(seat.verifier.clone()).policy(policy(&seat.routes).clone());
        match seat.verifier.provider() {
            Provider::Altcha => member.challenge_url(challenge_path),
            _ => member,
        }
    });
    Ok(ProviderSet::failover(members)?)
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

/// The app: the page, the guarded routes, each with its own set of the providers; with
/// ALTCHA, the challenge routes and the widget script too.
fn router(
    guard: CaptchaLayer<ProviderSet>,
    checkout_guard: CaptchaLayer<ProviderSet>,
    seats: &[Seat],
    widgets: Vec<Widget>,
) -> Result<Router, Error> {
    let mut app = Router::new();
    for seat in seats {
        let Some(altcha) = seat.verifier.as_altcha() else {
            continue;
        };
        // Each challenge is signed for the action its route demands (the configured one
        // when `CAPTCHA_ACTION` is set), so a checkout challenge cannot sign anyone up.
        let configured = altcha.policy().expected_action();
        let signup = seat.routes.signup.expected_action().or(configured);
        let checkout = seat.routes.checkout.expected_action().or(configured);
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
    let providers = guard.verifier().clone();
    let form_guard = guard.clone().on_failure(pages::FormFailure::new(&widgets));
    let api_guard = guard;

    // The widget a new visitor sees: the first provider, or its fallback while the first
    // one cannot answer. Each page is rendered once, here.
    let pages: Vec<pages::FormPage> = widgets
        .iter()
        .map(|widget| pages::FormPage::new(widget, None))
        .collect();
    let page = move || {
        let recommended = providers.recommended_provider();
        let page = pages
            .iter()
            .find(|page| Some(page.provider) == recommended)
            .unwrap_or(&pages[0])
            .response(axum::http::StatusCode::OK);
        async move { page }
    };
    Ok(app
        .route("/", get(page))
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

/// The provider's own widget script; ALTCHA's is the one the demo serves itself.
fn real_script(provider: Provider) -> &'static str {
    match provider {
        Provider::Altcha => ALTCHA_WIDGET_PATH,
        other => siteverify::widget::Widget::of(other).script,
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
