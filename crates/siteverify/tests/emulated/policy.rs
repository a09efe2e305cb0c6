//! Policy checks end to end, and the per-call override.

use std::time::Duration;

use siteverify::{Policy, Provider, Verifier, VerifyOptions};

use crate::support::*;

#[tokio::test]
async fn the_hostname_allowlist_passes_and_fails() {
    let emulator = emulator().await;
    let policy = Policy::new()
        .allow_hostname("example.com")
        .unwrap()
        .allow_hostname("*.example.org")
        .unwrap();
    for provider in [Provider::HCaptcha, Provider::Recaptcha, Provider::Turnstile] {
        let verifier =
            Verifier::new(provider, config(&emulator, provider).policy(policy.clone())).unwrap();
        for (host, expected) in [
            ("EXAMPLE.com", "ok"),
            ("shop.example.org", "ok"),
            ("example.org", "hostname_mismatch"),
            ("evil-example.com", "hostname_mismatch"),
        ] {
            let token = mint(&emulator, spec(provider).hostname(host));
            assert_eq!(code(&verifier, &token).await, expected, "{provider} {host}");
        }
    }
}

#[tokio::test]
async fn old_challenges_are_refused() {
    let emulator = emulator().await;
    for provider in [
        Provider::HCaptcha,
        Provider::Recaptcha,
        Provider::Turnstile,
        Provider::ByeBot,
    ] {
        let verifier = Verifier::new(
            provider,
            config(&emulator, provider).policy(Policy::new().max_age(Duration::from_secs(60))),
        )
        .unwrap();
        let fresh = mint(&emulator, spec(provider).age_secs(5));
        assert_eq!(code(&verifier, &fresh).await, "ok", "{provider}");
        // Still redeemable at the provider, but older than this route allows.
        let old = mint(&emulator, spec(provider).age_secs(90));
        assert_eq!(
            code(&verifier, &old).await,
            "challenge_too_old",
            "{provider}"
        );
    }
}

#[tokio::test]
async fn a_call_can_bring_its_own_policy() {
    let emulator = emulator().await;
    let verifier = Verifier::turnstile(
        config(&emulator, Provider::Turnstile).policy(Policy::new().action("signup")),
    )
    .unwrap();
    let checkout = mint(&emulator, spec(Provider::Turnstile).action("checkout"));
    let options = VerifyOptions::new().with_policy(Policy::new().action("checkout"));
    verifier.verify(&checkout, &options).await.unwrap();
    let another = mint(&emulator, spec(Provider::Turnstile).action("checkout"));
    assert_eq!(code(&verifier, &another).await, "action_mismatch");
}

/// A route's policy given per call (`VerifyOptions::with_policy`) is laid over the verifier's
/// exactly as `Policy::layered_over` lays it: the verifier's answer over HTTP agrees with the
/// layered policy's check of the same verdict, over generated policies and tokens.
#[test]
fn a_per_call_policy_agrees_with_the_layered_one() {
    use proptest::{prelude::*, test_runner::TestRunner};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    let bare = verifier(&emulator, Provider::Recaptcha);

    let policy = (
        proptest::sample::subsequence(vec!["example.com", "*.example.com"], 0..=2),
        proptest::option::of(Just("com.example.app")),
        proptest::option::of(prop_oneof![Just("signup"), Just("login")]),
        proptest::option::of(prop_oneof![Just(0.3), Just(0.8)]),
        proptest::option::of(Just(60u64)),
    )
        .prop_map(|(hosts, apk, action, min, age)| {
            let mut p = Policy::new();
            for h in hosts {
                p = p.allow_hostname(h).unwrap();
            }
            if let Some(apk) = apk {
                p = p.allow_apk_package(apk);
            }
            if let Some(a) = action {
                p = p.action(a);
            }
            if let Some(m) = min {
                p = p.min_score(m).unwrap();
            }
            if let Some(a) = age {
                p = p.max_age(Duration::from_secs(a));
            }
            p
        });
    let token = (
        prop_oneof![
            Just("example.com"),
            Just("www.example.com"),
            Just("evil.test")
        ],
        proptest::option::of(prop_oneof![Just("signup"), Just("login")]),
        proptest::option::of(prop_oneof![Just(0.1), Just(0.5), Just(0.9)]),
        prop_oneof![Just(5u64), Just(90)],
    );
    let mut runner = TestRunner::new(ProptestConfig::with_cases(48));
    runner
        .run(
            &(policy.clone(), policy, token),
            |(route, base, (host, action, score, age))| {
                let mut spec = spec(Provider::Recaptcha).hostname(host).age_secs(age);
                if let Some(action) = action {
                    spec = spec.action(action);
                }
                if let Some(score) = score {
                    spec = spec.score(score);
                }
                let guarded = Verifier::recaptcha(
                    config(&emulator, Provider::Recaptcha).policy(base.clone()),
                )
                .unwrap();
                // What the provider said, with nothing checked (a scored answer needs an explicit
                // zero minimum to escape the v3 default).
                let nothing = match score {
                    Some(_) => Policy::new().min_score(0.0).unwrap(),
                    None => Policy::new(),
                };
                let (through_http, verdict) = runtime.block_on(async {
                    let options = VerifyOptions::new().with_policy(route.clone());
                    let through_http = guarded
                        .verify(&mint(&emulator, spec.clone()), &options)
                        .await;
                    let verdict = bare
                        .verify(
                            &mint(&emulator, spec),
                            &VerifyOptions::new().with_policy(nothing),
                        )
                        .await
                        .unwrap();
                    (through_http, verdict)
                });
                let layered = route
                    .layered_over(&base)
                    .check(&verdict, std::time::SystemTime::now());
                // Codes, not values: the two checks read the clock a moment apart.
                let code = |r: Result<(), siteverify::VerifyError>| r.map_err(|e| e.code());
                prop_assert_eq!(code(through_http.map(|_| ())), code(layered));
                Ok(())
            },
        )
        .unwrap();
    runtime.block_on(emulator.shutdown());
}
