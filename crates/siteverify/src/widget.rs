//! What a page needs to show a provider's widget, and what its Content-Security-Policy must
//! allow for it.
//!
//! The server side of a CAPTCHA is only half of it: the page loads the provider's script,
//! renders its container, and the widget writes its token into a form field. [`Widget`] has
//! those facts for every provider, from the providers' own documentation, and [`Csp`]
//! builds the `Content-Security-Policy` header value a page with that widget needs.
//!
//! ```
//! use siteverify::{Provider, widget::{Csp, Widget}};
//!
//! let turnstile = Widget::of(Provider::Turnstile);
//! assert_eq!(turnstile.script, "https://challenges.cloudflare.com/turnstile/v0/api.js");
//! assert_eq!(turnstile.field, "cf-turnstile-response");
//! let html = turnstile.container("0x4AAAAAAA-site-key", Some("signup"));
//! assert_eq!(
//!     html,
//!     r#"<div class="cf-turnstile" data-sitekey="0x4AAAAAAA-site-key" data-action="signup"></div>"#
//! );
//! let policy = Csp::new().allow_widget(&turnstile).to_string();
//! assert_eq!(
//!     policy,
//!     "default-src 'self'; script-src 'self' https://challenges.cloudflare.com; \
//!      frame-src 'self' https://challenges.cloudflare.com; object-src 'none'; base-uri 'self'"
//! );
//! ```

use std::{collections::BTreeMap, fmt};

use crate::{Provider, RecaptchaVersion};

/// A CSP fetch directive a widget needs sources in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Directive {
    /// `script-src`: the widget's scripts.
    ScriptSrc,
    /// `frame-src`: the iframes the challenge runs in.
    FrameSrc,
    /// `style-src`: its stylesheets.
    StyleSrc,
    /// `connect-src`: the requests its script makes (`fetch`, XHR).
    ConnectSrc,
    /// `worker-src`: the web workers that solve a proof of work.
    WorkerSrc,
}

impl Directive {
    /// The directive's name in the header.
    pub const fn name(self) -> &'static str {
        match self {
            Directive::ScriptSrc => "script-src",
            Directive::FrameSrc => "frame-src",
            Directive::StyleSrc => "style-src",
            Directive::ConnectSrc => "connect-src",
            Directive::WorkerSrc => "worker-src",
        }
    }
}

/// What a page needs for one provider's widget.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Widget {
    /// The provider.
    pub provider: Provider,
    /// The URL of the provider's script (ALTCHA's: none, you serve the `altcha` widget
    /// yourself; the empty string).
    pub script: &'static str,
    /// Whether the script is an ES module (`<script type="module">`).
    pub module: bool,
    /// The form field the widget writes the token into.
    pub field: &'static str,
    /// reCAPTCHA v3 has no container: the page runs `grecaptcha.execute` on submit.
    pub invisible: bool,
    /// The sources the provider documents for each directive.
    pub csp: &'static [(Directive, &'static str)],
}

const HCAPTCHA_CSP: &[(Directive, &str)] = &[
    (Directive::ScriptSrc, "https://hcaptcha.com"),
    (Directive::ScriptSrc, "https://*.hcaptcha.com"),
    (Directive::FrameSrc, "https://hcaptcha.com"),
    (Directive::FrameSrc, "https://*.hcaptcha.com"),
    (Directive::StyleSrc, "https://hcaptcha.com"),
    (Directive::StyleSrc, "https://*.hcaptcha.com"),
    (Directive::ConnectSrc, "https://hcaptcha.com"),
    (Directive::ConnectSrc, "https://*.hcaptcha.com"),
];
const RECAPTCHA_CSP: &[(Directive, &str)] = &[
    (Directive::ScriptSrc, "https://www.google.com/recaptcha/"),
    (Directive::ScriptSrc, "https://www.gstatic.com/recaptcha/"),
    (Directive::FrameSrc, "https://www.google.com/recaptcha/"),
    (
        Directive::FrameSrc,
        "https://recaptcha.google.com/recaptcha/",
    ),
];
const TURNSTILE_CSP: &[(Directive, &str)] = &[
    (Directive::ScriptSrc, "https://challenges.cloudflare.com"),
    (Directive::FrameSrc, "https://challenges.cloudflare.com"),
];
// Derived from the hosts its script and API use; Prosopo documents no CSP.
const PROCAPTCHA_CSP: &[(Directive, &str)] = &[
    (Directive::ScriptSrc, "https://js.prosopo.io"),
    (Directive::ConnectSrc, "https://*.prosopo.io"),
    (Directive::FrameSrc, "https://*.prosopo.io"),
];
// ByeBot documents neither a script URL nor a CSP.
const BYEBOT_CSP: &[(Directive, &str)] = &[(Directive::ScriptSrc, "https://challenge.byebot.de")];
// Friendly Captcha's guide: the CDN, WebAssembly and blob: workers for the proof of work;
// the v2 widget talks to its API from the page.
const FRIENDLY_CAPTCHA_CSP: &[(Directive, &str)] = &[
    (Directive::ScriptSrc, "https://cdn.jsdelivr.net/npm/"),
    (Directive::ScriptSrc, "'wasm-unsafe-eval'"),
    (Directive::WorkerSrc, "blob:"),
    (Directive::ConnectSrc, "https://global.frcapi.com"),
    (Directive::ConnectSrc, "https://eu.frcapi.com"),
];
// The `altcha` widget you serve yourself: its workers are blob: URLs, 3.x may compile
// WebAssembly for its key derivations, its default bundle injects its stylesheet (serve
// the CSS of its `dist/external` build to drop 'unsafe-inline'), and its challenge comes
// from your own origin (already allowed by 'self').
const ALTCHA_CSP: &[(Directive, &str)] = &[
    (Directive::WorkerSrc, "blob:"),
    (Directive::ScriptSrc, "'wasm-unsafe-eval'"),
    (Directive::StyleSrc, "'unsafe-inline'"),
];

impl Widget {
    /// The widget of `provider`; for reCAPTCHA, version 3's (see [`Widget::recaptcha`]).
    pub fn of(provider: Provider) -> Widget {
        let widget = |script, module, csp| Widget {
            provider,
            script,
            module,
            field: provider.widget_field(),
            invisible: false,
            csp,
        };
        match provider {
            Provider::HCaptcha => widget("https://js.hcaptcha.com/1/api.js", false, HCAPTCHA_CSP),
            Provider::Recaptcha => Widget::recaptcha(RecaptchaVersion::V3),
            Provider::Turnstile => widget(
                "https://challenges.cloudflare.com/turnstile/v0/api.js",
                false,
                TURNSTILE_CSP,
            ),
            Provider::Procaptcha => widget(
                "https://js.prosopo.io/js/procaptcha.bundle.js",
                true,
                PROCAPTCHA_CSP,
            ),
            Provider::ByeBot => widget("https://challenge.byebot.de/widget.js", false, BYEBOT_CSP),
            Provider::FriendlyCaptcha => widget(
                "https://cdn.jsdelivr.net/npm/@friendlycaptcha/sdk@0.2.0/site.min.js",
                true,
                FRIENDLY_CAPTCHA_CSP,
            ),
            Provider::RecaptchaEnterprise => widget(
                "https://www.google.com/recaptcha/enterprise.js",
                false,
                RECAPTCHA_CSP,
            ),
            Provider::Altcha => widget("", true, ALTCHA_CSP),
        }
    }

    /// reCAPTCHA's widget for a version: v2 is the checkbox in a container, v3 has none
    /// (its token is fetched on submit) and loads the script with `?render=<site key>`.
    pub fn recaptcha(version: RecaptchaVersion) -> Widget {
        Widget {
            provider: Provider::Recaptcha,
            script: "https://www.google.com/recaptcha/api.js",
            module: false,
            field: Provider::Recaptcha.widget_field(),
            invisible: version == RecaptchaVersion::V3,
            csp: RECAPTCHA_CSP,
        }
    }

    /// The container the provider's script renders the widget in, its attributes escaped:
    /// a `<div>` with the provider's class and `data-sitekey` (and `data-action` where the
    /// page sets one); for reCAPTCHA v3 the hidden field the token goes in on submit, with
    /// the site key and action as data for the page's script; for ALTCHA the
    /// `<altcha-widget>` element, with `site_key` taken as its challenge URL (both attribute
    /// names: `challengeurl` for widget 2.x, `challenge` for 3.x).
    pub fn container(&self, site_key: &str, action: Option<&str>) -> String {
        self.container_with_class(site_key, action, "")
    }

    /// [`container`](Self::container), with classes of your own on the element (for your
    /// stylesheet, say) before the provider's.
    pub fn container_with_class(
        &self,
        site_key: &str,
        action: Option<&str>,
        class: &str,
    ) -> String {
        let site_key = escape(site_key);
        let action = action
            .map(|action| format!(r#" data-action="{}""#, escape(action)))
            .unwrap_or_default();
        let class_attr = |own: &str| {
            let all = [escape(class), own.to_owned()];
            let all: Vec<&str> = all
                .iter()
                .map(String::as_str)
                .filter(|c| !c.is_empty())
                .collect();
            match all.is_empty() {
                true => String::new(),
                false => format!(r#" class="{}""#, all.join(" ")),
            }
        };
        match self.provider {
            Provider::Altcha => format!(
                r#"<altcha-widget{} challengeurl="{site_key}" challenge="{site_key}" name="{}"></altcha-widget>"#,
                class_attr(""),
                self.field
            ),
            _ if self.invisible => format!(
                r#"<input type="hidden"{} name="{}" data-sitekey="{site_key}"{action}>"#,
                class_attr(""),
                self.field
            ),
            provider => format!(
                r#"<div{} data-sitekey="{site_key}"{action}></div>"#,
                class_attr(container_class(provider))
            ),
        }
    }
}

/// The class each provider's script looks for.
fn container_class(provider: Provider) -> &'static str {
    match provider {
        Provider::HCaptcha => "h-captcha",
        Provider::Recaptcha | Provider::RecaptchaEnterprise => "g-recaptcha",
        Provider::Turnstile => "cf-turnstile",
        Provider::Procaptcha => "procaptcha",
        Provider::FriendlyCaptcha => "frc-captcha",
        Provider::ByeBot => "byebot-captcha",
        Provider::Altcha => "altcha",
    }
}

/// Escapes text for HTML: an attribute value in double or single quotes, or element content.
/// What [`Widget::container`] puts in its attributes, and what a page needs for its own.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A `Content-Security-Policy` header value: `default-src 'self'`, `object-src 'none'`,
/// `base-uri 'self'`, and, for each fetch directive a widget needs, `'self'` and the
/// sources added. [`Display`](fmt::Display) writes the header value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Csp {
    sources: BTreeMap<Directive, Vec<String>>,
}

impl Csp {
    /// `default-src 'self'; object-src 'none'; base-uri 'self'` and nothing more.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds what `widget` needs.
    pub fn allow_widget(mut self, widget: &Widget) -> Self {
        for (directive, source) in widget.csp {
            self = self.allow(*directive, *source);
        }
        self
    }

    /// Adds `source` (an origin such as `https://cdn.example`, a keyword such as `blob:`, a
    /// hash such as `'sha256-…'`) to `directive`. A source already there is not repeated.
    pub fn allow(mut self, directive: Directive, source: impl Into<String>) -> Self {
        let source = source.into();
        let sources = self.sources.entry(directive).or_default();
        if !sources.contains(&source) {
            sources.push(source);
        }
        self
    }
}

impl fmt::Display for Csp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("default-src 'self'")?;
        for (directive, sources) in &self.sources {
            write!(f, "; {} 'self'", directive.name())?;
            for source in sources {
                write!(f, " {source}")?;
            }
        }
        f.write_str("; object-src 'none'; base-uri 'self'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_has_a_widget_whose_field_is_its_own() {
        for provider in Provider::ALL {
            let widget = Widget::of(provider);
            assert_eq!(widget.field, provider.widget_field());
            assert_eq!(widget.provider, provider);
            assert!(provider == Provider::Altcha || widget.script.starts_with("https://"));
            // Every hosted widget's script host is allowed by its own policy.
            let policy = Csp::new().allow_widget(&widget).to_string();
            if provider.is_hosted() {
                let host = widget.script.split('/').nth(2).unwrap();
                assert!(
                    policy.contains(host) || policy.contains(&host.replacen("js.", "*.", 1)),
                    "{provider}: {policy}"
                );
            }
        }
    }

    #[test]
    fn containers_escape_what_they_are_given() {
        let html = Widget::of(Provider::HCaptcha).container(r#"k"><script>"#, None);
        assert_eq!(
            html,
            r#"<div class="h-captcha" data-sitekey="k&quot;&gt;&lt;script&gt;"></div>"#
        );
        let v3 = Widget::recaptcha(RecaptchaVersion::V3).container("6Le", Some("signup"));
        assert_eq!(
            v3,
            r#"<input type="hidden" name="g-recaptcha-response" data-sitekey="6Le" data-action="signup">"#
        );
        let v2 = Widget::recaptcha(RecaptchaVersion::V2).container("6Le", None);
        assert_eq!(v2, r#"<div class="g-recaptcha" data-sitekey="6Le"></div>"#);
        let styled = Widget::of(Provider::Turnstile).container_with_class("k", None, "captcha");
        assert_eq!(
            styled,
            r#"<div class="captcha cf-turnstile" data-sitekey="k"></div>"#
        );
        let altcha = Widget::of(Provider::Altcha).container("/altcha/challenge", None);
        assert_eq!(
            altcha,
            r#"<altcha-widget challengeurl="/altcha/challenge" challenge="/altcha/challenge" name="altcha"></altcha-widget>"#
        );
    }

    #[test]
    fn a_policy_lists_each_source_once_under_its_directive() {
        let policy = Csp::new()
            .allow_widget(&Widget::of(Provider::HCaptcha))
            .allow(Directive::ScriptSrc, "https://hcaptcha.com")
            .allow(Directive::ConnectSrc, "http://127.0.0.1:8787")
            .to_string();
        assert_eq!(
            policy,
            "default-src 'self'; script-src 'self' https://hcaptcha.com https://*.hcaptcha.com; \
             frame-src 'self' https://hcaptcha.com https://*.hcaptcha.com; \
             style-src 'self' https://hcaptcha.com https://*.hcaptcha.com; \
             connect-src 'self' https://hcaptcha.com https://*.hcaptcha.com http://127.0.0.1:8787; \
             object-src 'none'; base-uri 'self'"
        );
        assert_eq!(
            Csp::new().to_string(),
            "default-src 'self'; object-src 'none'; base-uri 'self'"
        );
    }
}
