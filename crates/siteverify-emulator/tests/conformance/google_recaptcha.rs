//! `google-recaptcha` 1.1.0 (npm), pointed at the emulator with its `apiUrl` option. It
//! calls back with the answer's body, and with an `Error` that names the `error-codes`
//! (`Failed to verify: …`) or the status (`Bad response code: …`).

use serde_json::{Value, json};
use siteverify_emulator::{FaultKind, Provider, TokenSpec};

use crate::{mint, runner, start};

const P: Provider = Provider::Recaptcha;
/// Google's documented test keys, which the emulator knows.
const TEST_SECRET: &str = "6LeIxAcTAAAAAGG-vFI1TnRWxMZNFuojJ4WifJWe";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_recaptcha_gets_the_answers_of_the_real_provider() {
    let emulator = start().await;
    let secret = P.default_secret();
    let fresh = mint(&emulator, TokenSpec::new(P).hostname("shop.example"));
    let v3 = mint(
        &emulator,
        TokenSpec::new(P)
            .hostname("shop.example")
            .action("checkout")
            .score(0.7),
    );
    let expired = mint(&emulator, TokenSpec::new(P).lifetime_secs(5).age_secs(6));
    let for_wrong_secret = mint(&emulator, TokenSpec::new(P));
    let internal = mint(&emulator, TokenSpec::new(P).fault(FaultKind::InternalError));
    let unavailable = mint(
        &emulator,
        TokenSpec::new(P).fault(FaultKind::Status { code: 503 }),
    );
    let cases = json!([
        { "secret": secret, "response": fresh, "remoteIp": "203.0.113.7" },
        { "secret": secret, "response": fresh },
        { "secret": secret, "response": v3 },
        { "secret": secret, "response": "03Anever-minted" },
        { "secret": secret, "response": expired },
        { "secret": "not-our-secret", "response": for_wrong_secret },
        { "secret": secret, "response": internal },
        { "secret": secret, "response": unavailable },
        { "secret": TEST_SECRET, "response": "anything" },
        { "secret": secret, "response": "" },
    ]);
    let input = json!({ "apiUrl": emulator.verify_url(P), "cases": cases });
    let results = tokio::task::spawn_blocking(move || runner::node("google_recaptcha.mjs", &input))
        .await
        .unwrap();
    let results: Vec<Value> = results.as_array().expect("an array").clone();
    assert_eq!(results.len(), 10);
    let error = |i: usize| results[i]["error"].as_str().map(str::to_owned);

    // Pass, with what the provider reports.
    assert_eq!(error(0), None, "{}", results[0]);
    assert_eq!(results[0]["body"]["success"], true);
    assert_eq!(results[0]["body"]["hostname"], "shop.example");
    assert!(results[0]["body"]["challenge_ts"].is_string());
    // Single use.
    assert_eq!(
        error(1).as_deref(),
        Some("Failed to verify: timeout-or-duplicate")
    );
    // v3: score and action.
    assert_eq!(error(2), None, "{}", results[2]);
    assert_eq!(results[2]["body"]["action"], "checkout");
    assert_eq!(results[2]["body"]["score"], 0.7);
    // Fail, with the codes it understands.
    assert_eq!(
        error(3).as_deref(),
        Some("Failed to verify: invalid-input-response")
    );
    assert_eq!(
        error(4).as_deref(),
        Some("Failed to verify: timeout-or-duplicate")
    );
    assert_eq!(
        error(5).as_deref(),
        Some("Failed to verify: invalid-input-secret")
    );
    assert_eq!(
        error(6).as_deref(),
        Some("Failed to verify: internal-error")
    );
    assert_eq!(error(7).as_deref(), Some("Bad response code: 503"));
    // Google's test secret: any token passes, from testkey.google.com.
    assert_eq!(error(8), None, "{}", results[8]);
    assert_eq!(results[8]["body"]["hostname"], "testkey.google.com");
    // An empty response is refused by the library itself, before any call.
    assert_eq!(error(9).as_deref(), Some("Missing response object."));

    // What it sent: a form with the secret, the token and the remote IP, never in the URL.
    let requests = emulator.requests();
    assert_eq!(requests.len(), 9, "the empty response made no call");
    let first = &requests[0];
    assert_eq!(first.query, None);
    assert_eq!(
        first.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(first.field("secret"), Some(secret));
    assert_eq!(first.field("remoteip"), Some("203.0.113.7"));
}
