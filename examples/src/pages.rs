//! The HTML of the demo: the form, the success page and the failure page.

use std::sync::LazyLock;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use bytes::Bytes;
pub(crate) use siteverify::widget::escape;
use siteverify::{
    Provider,
    widget::{Csp, Directive},
};
use tower_captcha::{FailureHandler, Rejection, WidgetHint};

use crate::Widget;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1f2933}\
label{display:block;margin:.8rem 0 .2rem}input[type=email],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}\
button[type=submit]{margin-top:1rem;padding:.6rem 1.4rem}.captcha{margin-top:1rem}.note{color:#52606d;font-size:.9rem}";

/// The signup form with the provider's widget, and `notice` above it (escaped).
pub(crate) fn signup_page(widget: &Widget, notice: Option<&str>) -> String {
    // Procaptcha's bundle, Friendly Captcha's site script and the `altcha` widget from npm
    // are ES modules; the widget script the demo serves itself is a classic one.
    let module = match widget.provider {
        Provider::Procaptcha => true,
        Provider::FriendlyCaptcha => widget.script == widget.facts().script,
        Provider::Altcha => widget.script != crate::ALTCHA_WIDGET_PATH,
        _ => false,
    };
    let module = if module { " type=\"module\"" } else { "" };
    let facts = widget.facts();
    // ALTCHA's container is given its challenge URL; the others their site key.
    let key = match widget.provider {
        Provider::Altcha => crate::ALTCHA_CHALLENGE_PATH,
        _ => widget.site_key.as_str(),
    };
    // reCAPTCHA v3 has no checkbox: the token is fetched on submit, for the action the route
    // demands.
    let action = match facts.invisible {
        true => Some(widget.action.as_deref().unwrap_or("signup")),
        false => widget.action.as_deref(),
    };
    // Divs get the page's own class too, for its margin (and the browser test's eye).
    let class = if facts.invisible || widget.provider == Provider::Altcha {
        ""
    } else {
        "captcha"
    };
    let action = action.filter(|_| widget.provider != Provider::Altcha);
    let captcha = facts.container_with_class(key, action, class);
    let v3_script = if facts.invisible {
        format!("\n<script>{V3_SUBMIT}</script>")
    } else {
        String::new()
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign up: tower-captcha demo</title>
<style>{STYLE}</style>
<script src="{script}"{module} async defer></script>
</head>
<body>
<h1>Create your account</h1>{notice}
<p class="note">Protected by {provider} through <code>tower-captcha</code>.</p>
<form id="signup" method="post" action="/signup">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" required autocomplete="email">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" required autocomplete="new-password">
  {captcha}
  <button id="submit" type="submit">Sign up</button>
</form>{v3_script}
<p class="note">The same guard answers JSON at <code>POST /api/signup</code>, multipart uploads at
<code>POST /avatar</code>, and a stricter policy at <code>POST /checkout</code>.</p>
</body>
</html>
"#,
        script = escape(&widget.script),
        provider = widget.provider,
        notice = notice
            .map(|text| format!(
                r#"
<p id="notice" data-fallback="{}">{}</p>"#,
                widget.provider,
                escape(text)
            ))
            .unwrap_or_default(),
    )
}

/// reCAPTCHA v3 on submit: `grecaptcha.execute(site key, {action})` inside `grecaptcha.ready`,
/// the token into the hidden field, then the real submit. The site key and action come from
/// the field's data attributes, so nothing is spliced into the script.
const V3_SUBMIT: &str = r#"
document.getElementById("signup").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const field = form.elements["g-recaptcha-response"];
  const run = () => grecaptcha
    .execute(field.dataset.sitekey, { action: field.dataset.action })
    .then((token) => {
      field.value = token;
      // The button's id="submit" shadows form.submit, hence the prototype's.
      HTMLFormElement.prototype.submit.call(form);
    });
  if (window.grecaptcha && typeof grecaptcha.ready === "function") {
    grecaptcha.ready(run);
  } else {
    // api.js has not loaded yet: its documented queue runs `run` once it has.
    const cfg = (window.___grecaptcha_cfg = window.___grecaptcha_cfg || {});
    (cfg.fns = cfg.fns || []).push(run);
  }
});
"#;

/// The `Content-Security-Policy` of a page with `widget`: what its provider documents (see
/// [`siteverify::widget`]), the page's own inline style and script by their hashes, and
/// the widget script's origin when it is not the provider's (the emulator's stand-in, a
/// `CAPTCHA_WIDGET_SCRIPT`). The stand-in and the `altcha` widget inject stylesheets of
/// their own, so with them inline styles are allowed (a hash would turn that off).
pub(crate) fn content_security_policy(widget: &Widget) -> String {
    let facts = widget.facts();
    let mut csp = Csp::new().allow_widget(&facts);
    csp = if widget.stand_in || widget.provider == Provider::Altcha {
        csp.allow(Directive::StyleSrc, "'unsafe-inline'")
    } else {
        csp.allow(Directive::StyleSrc, hash(STYLE))
    };
    if facts.invisible {
        csp = csp.allow(Directive::ScriptSrc, hash(V3_SUBMIT));
    }
    if let Some(origin) = origin(&widget.script) {
        csp = csp.allow(Directive::ScriptSrc, origin.clone());
        if widget.stand_in {
            // The stand-in mints its tokens at the emulator.
            csp = csp.allow(Directive::ConnectSrc, origin);
        }
    }
    csp.to_string()
}

/// The policy of the pages with no widget: the welcome and failure pages. Computed once.
pub(crate) fn plain_content_security_policy() -> &'static str {
    static POLICY: LazyLock<String> = LazyLock::new(|| {
        Csp::new()
            .allow(Directive::StyleSrc, hash(STYLE))
            .to_string()
    });
    &POLICY
}

/// A CSP hash source of an inline script or style.
fn hash(text: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// `scheme://host[:port]` of an absolute URL; `None` for a path on this site.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{host}"))
}

/// The page after a successful signup.
pub(crate) fn welcome_page(email: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Welcome</title><style>{STYLE}</style></head>\
         <body><h1 id=\"welcome\">Welcome, {}!</h1><p>Your account is ready.</p></body></html>",
        escape(email)
    )
}

/// The failure handler of the form route: a page that says why and links back to the form;
/// when the provider could not answer and the route has a fallback, the form again, with the
/// fallback's widget, so the user gets through without waiting for the provider.
pub(crate) struct FormFailure {
    fallbacks: Vec<FormPage>,
}

impl FormFailure {
    pub(crate) fn new(widgets: &[Widget]) -> Self {
        let notice = "We could not check the CAPTCHA right now, so here is another one. \
                      Please fill in the form again.";
        Self {
            fallbacks: widgets
                .iter()
                .map(|w| FormPage::new(w, Some(notice)))
                .collect(),
        }
    }
}

impl FailureHandler for FormFailure {
    type Body = axum::body::Body;

    fn failure_response(&self, rejection: &Rejection) -> Response {
        failure_page(rejection)
    }

    fn fallback_response(&self, rejection: &Rejection, fallback: &WidgetHint) -> Response {
        match self
            .fallbacks
            .iter()
            .find(|p| p.provider == fallback.provider)
        {
            Some(page) => page.response(rejection.status()),
            None => failure_page(rejection),
        }
    }
}

/// The signup form with one widget, rendered once with its Content-Security-Policy: a
/// response per request is then two cheap clones.
#[derive(Clone)]
pub(crate) struct FormPage {
    pub(crate) provider: Provider,
    html: Bytes,
    csp: HeaderValue,
}

impl FormPage {
    pub(crate) fn new(widget: &Widget, notice: Option<&str>) -> Self {
        Self {
            provider: widget.provider,
            html: Bytes::from(signup_page(widget, notice)),
            csp: HeaderValue::try_from(widget.content_security_policy())
                .expect("a policy is printable ASCII"),
        }
    }

    pub(crate) fn response(&self, status: StatusCode) -> Response {
        (
            status,
            [(header::CONTENT_SECURITY_POLICY, self.csp.clone())],
            Html(self.html.clone()),
        )
            .into_response()
    }
}

/// The failure page: why, and a link back to the form.
pub(crate) fn failure_page(rejection: &Rejection) -> Response {
    let why = match rejection.code() {
        "missing_token" => "Please complete the CAPTCHA before submitting the form.",
        "expired_or_duplicate" => "The CAPTCHA expired or was already used. Please solve it again.",
        "provider_unavailable" | "provider_error" => {
            "We could not check the CAPTCHA right now. Please try again in a moment."
        }
        "provider_misconfigured" => "The CAPTCHA is misconfigured on our side. We are on it.",
        "body_too_large" => "The form was too large.",
        "score_missing" => {
            "The CAPTCHA answer carried no score: the server expects another reCAPTCHA version."
        }
        _ => "We could not verify that you are human. Please try again.",
    };
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Please try again</title><style>{STYLE}</style></head>\
         <body><h1>Please try again</h1><p id=\"reason\" data-code=\"{code}\">{why}</p>\
         <p class=\"note\">Reason: <code>{code}</code></p><p><a id=\"back\" href=\"/\">Back to the form</a></p></body></html>",
        code = rejection.code(),
    );
    (
        rejection.status(),
        [(
            header::CONTENT_SECURITY_POLICY,
            plain_content_security_policy(),
        )],
        Html(page),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_input_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert!(welcome_page("<script>alert(1)</script>@x").contains("&lt;script&gt;"));
    }
}
