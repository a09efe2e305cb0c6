//! Friendly Captcha's official server SDK (`@friendlycaptcha/server-sdk`, on Node) and our
//! client, both pointed at the emulator: on every answer the emulator can give, they must
//! reach the same decision.
//!
//! The cases follow Friendly Captcha's own conformance fixtures for its SDKs
//! (friendly-captcha-sdk-tooling, `captcha_siteverify_test_cases.json`): each answer has an
//! expected `should_accept`, `was_able_to_verify` and `is_client_error`, in strict and in
//! non-strict mode. The SDK's decision has three values, and so has ours:
//!
//! | SDK | siteverify |
//! |---|---|
//! | verified, accept | `Ok(verdict)` |
//! | verified, reject | a user-class error (`invalid_token`, `expired_or_duplicate`, …) |
//! | could not verify | a configuration- or provider-class error |
//!
//! Strict mode rejects what could not be verified, as we do by default; the SDK's default
//! (non-strict) accepts it, which is our fail-open, except that we fail open only on
//! evidence of an outage (see `cross_checked_decisions_where_we_are_stricter`).

use serde_json::{Value, json};
use siteverify::{ErrorClass, Provider, Verifier, VerifierConfig, VerifyError};

use crate::support::*;

#[path = "../shared/node.rs"]
mod runner;

const FRC: Provider = Provider::FriendlyCaptcha;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Accept,
    Reject,
    CouldNotVerify,
}

fn ours(result: &Result<siteverify::Verdict, VerifyError>) -> Decision {
    match result {
        Ok(_) => Decision::Accept,
        Err(e) if e.class() == ErrorClass::User => Decision::Reject,
        Err(_) => Decision::CouldNotVerify,
    }
}

fn sdks(result: &Value) -> Decision {
    assert!(result["threw"].is_null(), "the SDK threw: {result}");
    let accept = result["shouldAccept"].as_bool().expect("shouldAccept");
    match result["wasAbleToVerify"]
        .as_bool()
        .expect("wasAbleToVerify")
    {
        true if accept => Decision::Accept,
        true => Decision::Reject,
        false => Decision::CouldNotVerify,
    }
}

/// One answer of the emulator, reached by a token (and a key) of this case.
struct Case {
    name: &'static str,
    /// Mints a fresh token with the properties of the case; called once per client.
    token: Box<dyn Fn(&Emulator) -> String>,
    api_key: &'static str,
    site_key: Option<&'static str>,
    /// What both must decide, as Friendly Captcha's fixture of the same name expects.
    expected: Decision,
    /// The SDK's `isClientError` (a 4xx answer) in the fixture.
    client_error: bool,
}

fn case(
    name: &'static str,
    expected: Decision,
    token: impl Fn(&Emulator) -> String + 'static,
) -> Case {
    Case {
        name,
        token: Box::new(token),
        api_key: Emulated::FriendlyCaptcha.default_secret(),
        site_key: None,
        expected,
        client_error: false,
    }
}

fn with_fault(kind: FaultKind) -> impl Fn(&Emulator) -> String {
    move |e: &Emulator| mint(e, spec(FRC).fault(kind.clone()))
}

fn error_code(code: &str) -> impl Fn(&Emulator) -> String {
    with_fault(FaultKind::ErrorCodes {
        codes: vec![code.to_owned()],
    })
}

fn cases() -> Vec<Case> {
    use Decision::*;
    let fresh = |e: &Emulator| mint(e, spec(FRC));
    let spent = |e: &Emulator| {
        let token = mint(e, spec(FRC));
        // Spend it with a call the emulator answers, as a first redemption would.
        let verifier = Verifier::friendlycaptcha(
            VerifierConfig::new(Emulated::FriendlyCaptcha.default_secret())
                .verify_url(e.verify_url(Emulated::FriendlyCaptcha)),
        )
        .unwrap();
        let runtime = tokio::runtime::Handle::current();
        let spend = token.clone();
        std::thread::spawn(move || {
            runtime.block_on(async move { verifier.verify(&spend, &Default::default()).await })
        })
        .join()
        .unwrap()
        .unwrap();
        token
    };
    vec![
        case("success", Accept, fresh),
        Case {
            client_error: true,
            ..case("auth_required", CouldNotVerify, error_code("auth_required"))
        },
        Case {
            api_key: "not-the-api-key",
            client_error: true,
            ..case("auth_invalid", CouldNotVerify, fresh)
        },
        Case {
            site_key: Some("not-a-site-key-of-ours"),
            client_error: true,
            ..case("sitekey_invalid", CouldNotVerify, fresh)
        },
        Case {
            client_error: true,
            ..case(
                "response_missing",
                CouldNotVerify,
                error_code("response_missing"),
            )
        },
        Case {
            client_error: true,
            ..case("bad_request", CouldNotVerify, error_code("bad_request"))
        },
        case("response_invalid", Reject, |_: &Emulator| {
            "never.minted".to_owned()
        }),
        case("response_timeout", Reject, |e: &Emulator| {
            mint(e, spec(FRC).lifetime_secs(5).age_secs(6))
        }),
        case("response_duplicate", Reject, spent),
        case(
            "bad_response_200",
            CouldNotVerify,
            with_fault(FaultKind::MalformedJson),
        ),
        case(
            "bad_response_500",
            CouldNotVerify,
            with_fault(FaultKind::Status { code: 500 }),
        ),
        // A 4xx the SDK cannot decode is a decode error to it, not a client error.
        case(
            "bad_response_400",
            CouldNotVerify,
            with_fault(FaultKind::Status { code: 400 }),
        ),
        // Beyond the fixtures: what else the emulator can do.
        case(
            "rate_limited",
            CouldNotVerify,
            with_fault(FaultKind::Status { code: 429 }),
        ),
        case(
            "connection_dropped",
            CouldNotVerify,
            with_fault(FaultKind::DropConnection),
        ),
        case(
            "too_slow",
            CouldNotVerify,
            with_fault(FaultKind::Delay { ms: 2_000 }),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_and_siteverify_decide_alike_on_every_emulated_answer() {
    let emulator = emulator().await;
    let cases = cases();
    let mut sdk_cases = Vec::new();
    let mut our_results = Vec::new();
    for case in &cases {
        // Our client, with a deadline short enough for the slow case.
        let mut config = VerifierConfig::new(case.api_key)
            .verify_url(emulator.verify_url(Emulated::FriendlyCaptcha))
            .timeout(SHORT);
        if let Some(site_key) = case.site_key {
            config = config.site_key(site_key);
        }
        let verifier = Verifier::friendlycaptcha(config).unwrap();
        our_results.push(verify(&verifier, &(case.token)(&emulator)).await);
        for strict in [false, true] {
            sdk_cases.push(json!({
                "response": (case.token)(&emulator),
                "apiKey": case.api_key,
                "sitekey": case.site_key,
                "strict": strict,
                "timeoutMs": SHORT.as_millis() as u64,
            }));
        }
    }
    let input = json!({ "endpoint": emulator.base_url(), "cases": sdk_cases });
    let sdk_results =
        tokio::task::spawn_blocking(move || runner::node("friendlycaptcha.mjs", &input))
            .await
            .unwrap();
    let sdk_results = sdk_results.as_array().expect("an array").clone();
    assert_eq!(sdk_results.len(), 2 * cases.len());

    for (i, case) in cases.iter().enumerate() {
        let (lenient, strict) = (&sdk_results[2 * i], &sdk_results[2 * i + 1]);
        let name = case.name;
        assert_eq!(
            ours(&our_results[i]),
            case.expected,
            "{name}: ours {:?}",
            our_results[i]
        );
        assert_eq!(
            sdks(strict),
            case.expected,
            "{name}: the SDK (strict) {strict}"
        );
        assert_eq!(sdks(lenient), case.expected, "{name}: the SDK {lenient}");
        // Strict mode accepts exactly what we accept; the default mode also what neither
        // could verify.
        assert_eq!(
            strict["shouldAccept"],
            case.expected == Decision::Accept,
            "{name}"
        );
        assert_eq!(
            lenient["shouldAccept"],
            case.expected != Decision::Reject,
            "{name}"
        );
        assert_eq!(
            lenient["isClientError"], case.client_error,
            "{name}: {lenient}"
        );
    }

    // Every call of either client carried the key in the header, never in the URL or body.
    for request in emulator.requests() {
        assert_eq!(request.query, None);
        let key = request.header("x-api-key").expect("the API key header");
        assert!(!String::from_utf8_lossy(&request.body).contains(key));
    }
}

/// Where the two differ, by design: checked so that the difference stays known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_checked_decisions_where_we_are_stricter() {
    let emulator = emulator().await;
    let verifier = verifier(&emulator, FRC);
    // An empty response: we refuse it before any call (`missing_token`, the client's fault).
    // The SDK sends it, Friendly Captcha answers 400 `response_missing`, and the SDK's
    // default mode accepts what it "could not verify": a bot that leaves the field out
    // passes an SDK integration that does not check for it first.
    assert_eq!(code(&verifier, "").await, "missing_token");
    // An answer over 64 KiB: we refuse to read it (`provider_error`); the SDK reads any size.
    let oversized = mint(&emulator, spec(FRC).fault(FaultKind::Oversized));
    assert_eq!(code(&verifier, &oversized).await, "provider_error");

    // A 500 with Friendly Captcha's JSON error body (`internal_server_error`): an outage to
    // us; the SDK 0.3.0 throws from shouldAccept() ("Implementation error"), as it only
    // expects 5xx answers it cannot decode.
    let internal = mint(&emulator, spec(FRC).fault(FaultKind::InternalError));
    assert_eq!(code(&verifier, &internal).await, "provider_unavailable");

    let oversized_for_sdk = mint(&emulator, spec(FRC).fault(FaultKind::Oversized));
    let internal_for_sdk = mint(&emulator, spec(FRC).fault(FaultKind::InternalError));
    let key = Emulated::FriendlyCaptcha.default_secret();
    let input = json!({
        "endpoint": emulator.base_url(),
        "cases": [
            { "response": "", "apiKey": key, "strict": false, "timeoutMs": 2000 },
            { "response": "", "apiKey": key, "strict": true, "timeoutMs": 2000 },
            { "response": oversized_for_sdk, "apiKey": key, "strict": true, "timeoutMs": 2000 },
            { "response": internal_for_sdk, "apiKey": key, "strict": false, "timeoutMs": 2000 },
        ],
    });
    let results = tokio::task::spawn_blocking(move || runner::node("friendlycaptcha.mjs", &input))
        .await
        .unwrap();
    assert_eq!(results[0]["responseErrorCode"], "response_missing");
    assert_eq!(results[0]["shouldAccept"], true, "{}", results[0]);
    assert_eq!(results[1]["shouldAccept"], false);
    assert_eq!(results[2]["shouldAccept"], true, "{}", results[2]);
    assert_eq!(results[3]["status"], 500);
    assert!(
        results[3]["threw"]
            .as_str()
            .is_some_and(|m| m.contains("Implementation error")),
        "{}",
        results[3]
    );
}
