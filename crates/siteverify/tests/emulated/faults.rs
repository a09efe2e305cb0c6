//! What each kind of provider failure becomes, how long it may take, and what is retried.

use std::{net::TcpListener, time::Instant};

use siteverify::{Outage, Provider, Verifier, VerifierConfig, VerifyError};

use crate::support::*;

/// Every provider but Turnstile, whose idempotency key changes the retry rules.
const NOT_IDEMPOTENT: [Provider; 6] = [
    Provider::HCaptcha,
    Provider::Recaptcha,
    Provider::Procaptcha,
    Provider::ByeBot,
    Provider::FriendlyCaptcha,
    Provider::RecaptchaEnterprise,
];

#[tokio::test]
async fn server_errors_are_outages_and_never_retried_where_a_retry_could_spend_the_token() {
    let emulator = emulator().await;
    for provider in NOT_IDEMPOTENT {
        for status in [500, 502, 503] {
            emulator.clear_requests();
            let verifier = verifier(&emulator, provider);
            let token = mint(
                &emulator,
                spec(provider).fault(Fault::once(FaultKind::Status { code: status })),
            );
            assert_eq!(
                verify(&verifier, &token).await,
                Err(VerifyError::ProviderUnavailable(Outage::Status(status))),
                "{provider}"
            );
            assert_eq!(
                emulator.requests().len(),
                1,
                "{provider} must not retry {status}"
            );
        }
    }
}

#[tokio::test]
async fn rate_limits_are_never_retried_by_anyone() {
    let emulator = emulator().await;
    for provider in Provider::HOSTED {
        emulator.clear_requests();
        let verifier = verifier(&emulator, provider);
        let token = mint(
            &emulator,
            spec(provider).fault(Fault::once(FaultKind::Status { code: 429 })),
        );
        let err = verify(&verifier, &token).await.unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::ProviderUnavailable(Outage::RateLimited { .. })
            ),
            "{provider}: {err:?}"
        );
        assert_eq!(err.http_status(), 503);
        assert_eq!(emulator.requests().len(), 1, "{provider}");
        // 429 comes before the provider looks at the token: it is still good.
        assert_eq!(code(&verifier, &token).await, "ok", "{provider}");
    }
}

#[tokio::test]
async fn internal_error_is_an_outage() {
    let emulator = emulator().await;
    for provider in NOT_IDEMPOTENT {
        let verifier = verifier(&emulator, provider);
        let token = mint(&emulator, spec(provider).fault(FaultKind::InternalError));
        assert_eq!(
            code(&verifier, &token).await,
            "provider_unavailable",
            "{provider}"
        );
    }
}

#[tokio::test]
async fn garbage_truncated_and_oversized_answers_are_provider_errors() {
    let emulator = emulator().await;
    for provider in Provider::HOSTED {
        let verifier = verifier(&emulator, provider);
        for fault in [FaultKind::MalformedJson, FaultKind::Oversized] {
            let token = mint(&emulator, spec(provider).fault(fault.clone()));
            let err = verify(&verifier, &token).await.unwrap_err();
            assert_eq!(
                err.code(),
                "provider_error",
                "{provider} {fault:?}: {err:?}"
            );
            assert_eq!(err.http_status(), 502);
        }
    }
}

#[tokio::test]
async fn a_dropped_connection_is_an_outage() {
    let emulator = emulator().await;
    for provider in NOT_IDEMPOTENT {
        emulator.clear_requests();
        let verifier = verifier(&emulator, provider);
        let token = mint(&emulator, spec(provider).fault(FaultKind::DropConnection));
        assert_eq!(
            verify(&verifier, &token).await,
            Err(VerifyError::ProviderUnavailable(Outage::ConnectionLost)),
            "{provider}"
        );
        assert_eq!(emulator.requests().len(), 1, "{provider}");
    }
}

#[tokio::test]
async fn a_slow_or_trickling_provider_times_out_within_the_deadline() {
    let emulator = emulator().await;
    for provider in Provider::HOSTED {
        let verifier = Verifier::new(provider, config(&emulator, provider).timeout(SHORT)).unwrap();
        // Silent until the deadline: a timeout. Trickling after the head: the provider took
        // the call and its answer is cut short at the deadline, an unreadable answer.
        for (fault, expected) in [
            (
                FaultKind::Delay { ms: 3_000 },
                VerifyError::ProviderUnavailable(Outage::Timeout),
            ),
            (
                FaultKind::Trickle { interval_ms: 100 },
                VerifyError::ProviderError(siteverify::BadAnswer::Truncated),
            ),
        ] {
            let token = mint(&emulator, spec(provider).fault(fault.clone()));
            let started = Instant::now();
            let result = verify(&verifier, &token).await;
            let took = started.elapsed();
            assert_eq!(result, Err(expected), "{provider} {fault:?}");
            assert!(
                took < SHORT + SHORT / 2,
                "{provider} {fault:?} took {took:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_refused_connection_is_retried_for_everyone_and_still_bounded() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for provider in Provider::HOSTED {
        let url = format!("http://127.0.0.1:{port}/verify");
        let verifier = Verifier::new(
            provider,
            base_config(provider, "s").verify_url(url).timeout(SHORT),
        )
        .unwrap();
        let started = Instant::now();
        let result = verify(&verifier, "0xabc").await;
        assert_eq!(
            result,
            Err(VerifyError::ProviderUnavailable(Outage::Connect)),
            "{provider}"
        );
        assert!(started.elapsed() < SHORT + SHORT / 2);
    }
}

#[tokio::test]
async fn a_misconfigured_secret_is_never_retried() {
    let emulator = emulator().await;
    let verifier = Verifier::turnstile(
        VerifierConfig::new("wrong").verify_url(emulator.verify_url(Emulated::Turnstile)),
    )
    .unwrap();
    let err = verify(&verifier, &mint(&emulator, spec(Provider::Turnstile)))
        .await
        .unwrap_err();
    assert_eq!(err.provider_codes(), ["invalid-input-secret"]);
    assert_eq!(emulator.requests().len(), 1);
}
