//! `django-hCaptcha` 0.2.0 and `django-turnstile` 0.1.3 (PyPI), pointed at the emulator with
//! their own Django settings. A form with their field is valid on a pass; on a failure the
//! field's `ValidationError` code is `invalid_hcaptcha` / `invalid_turnstile` (the provider
//! said no) or `error_hcaptcha` / `error_turnstile` (an HTTP error status).

use serde_json::{Value, json};
use siteverify_emulator::{Emulator, FaultKind, Provider, TokenSpec};

use crate::{mint, runner, start};

/// Runs the library with one configuration over `cases` (`{"token", "remote_ip"?}`).
async fn run(
    library: &str,
    verify_url: String,
    secret: &str,
    cases: Value,
) -> Vec<(bool, Vec<String>)> {
    let input = json!({
        "library": library, "verify_url": verify_url, "secret": secret, "cases": cases,
    });
    let results = tokio::task::spawn_blocking(move || runner::python("django_clients.py", &input))
        .await
        .unwrap();
    results
        .as_array()
        .expect("an array")
        .iter()
        .map(|r| {
            let codes = r["codes"]
                .as_array()
                .expect("codes")
                .iter()
                .map(|c| c.as_str().expect("a code").to_owned())
                .collect();
            (r["valid"].as_bool().expect("valid"), codes)
        })
        .collect()
}

fn pass() -> (bool, Vec<String>) {
    (true, vec![])
}

fn fail(code: &str) -> (bool, Vec<String>) {
    (false, vec![code.to_owned()])
}

/// What both libraries meet alike, each in its own codes (`invalid_<library>` when the
/// provider says no, `error_<library>` on an HTTP error status): a fresh token passes (sent
/// with `remote_ip` when given), its replay, a token never minted (`never_minted`) and an
/// expired one are refused, the provider's 503 is an error, an empty field is `required`,
/// and a wrong secret is refused. Returns the fresh token, the first one verified.
async fn common_answers(
    emulator: &Emulator,
    library: &str,
    provider: Provider,
    remote_ip: Option<&str>,
    never_minted: &str,
) -> String {
    let url = emulator.verify_url(provider);
    let fresh = mint(emulator, TokenSpec::new(provider).hostname("forms.example"));
    let expired = mint(
        emulator,
        TokenSpec::new(provider).lifetime_secs(5).age_secs(6),
    );
    let unavailable = mint(
        emulator,
        TokenSpec::new(provider).fault(FaultKind::Status { code: 503 }),
    );
    let other = mint(emulator, TokenSpec::new(provider));
    let mut first = json!({ "token": fresh });
    if let Some(ip) = remote_ip {
        first["remote_ip"] = json!(ip);
    }
    let results = run(
        library,
        url.clone(),
        provider.default_secret(),
        json!([
            first,
            { "token": fresh },
            { "token": never_minted },
            { "token": expired },
            { "token": unavailable },
            { "token": "" },
        ]),
    )
    .await;
    let (invalid, error) = (format!("invalid_{library}"), format!("error_{library}"));
    assert_eq!(
        results,
        [
            pass(),
            fail(&invalid),
            fail(&invalid),
            fail(&invalid),
            fail(&error),
            fail("required"),
        ]
    );
    let wrong = run(
        library,
        url,
        "0xnot-our-secret",
        json!([{ "token": other }]),
    )
    .await;
    assert_eq!(wrong, [fail(&invalid)]);
    fresh
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_hcaptcha_gets_the_answers_of_the_real_provider() {
    let emulator = start().await;
    let p = Provider::HCaptcha;
    let url = emulator.verify_url(p);
    let fresh = common_answers(&emulator, "hcaptcha", p, None, "P1_never-minted").await;
    // The library's own defaults are hCaptcha's documented test keys: they pass here too.
    let test_keys = run(
        "hcaptcha",
        url,
        "0x0000000000000000000000000000000000000000",
        json!([{ "token": "10000000-aaaa-bbbb-cccc-000000000001" }, { "token": "10000000-aaaa-bbbb-cccc-000000000001" }]),
    )
    .await;
    assert_eq!(
        test_keys,
        [pass(), pass()],
        "test tokens answer the same every time"
    );
    let sent = &emulator.requests()[0];
    assert_eq!(sent.field("secret"), Some(p.default_secret()));
    assert_eq!(sent.field("response"), Some(fresh.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_turnstile_gets_the_answers_of_the_real_provider() {
    let emulator = start().await;
    let p = Provider::Turnstile;
    let url = emulator.verify_url(p);
    let fresh = common_answers(
        &emulator,
        "turnstile",
        p,
        Some("198.51.100.4"),
        "0.never-minted",
    )
    .await;
    // Cloudflare's documented test secrets: always passes, always fails.
    let dummy = "XXXX.DUMMY.TOKEN.XXXX";
    let passes = run(
        "turnstile",
        url.clone(),
        "1x0000000000000000000000000000000AA",
        json!([{ "token": dummy }]),
    )
    .await;
    assert_eq!(passes, [pass()]);
    let fails = run(
        "turnstile",
        url,
        "2x0000000000000000000000000000000AA",
        json!([{ "token": dummy }]),
    )
    .await;
    assert_eq!(fails, [fail("invalid_turnstile")]);
    // What it sent: a form with the secret, the token and the remote IP.
    let sent = &emulator.requests()[0];
    assert_eq!(
        sent.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(sent.field("remoteip"), Some("198.51.100.4"));
    assert_eq!(sent.field("response"), Some(fresh.as_str()));
}
