//! Secrets and tokens never appear in Debug, Display, error messages or tracing output.

use siteverify::{Provider, Verifier, VerifyOptions};

use crate::support::*;

const SECRET: &str = "SECRET-5f1d-never-print-me";
const WRONG_SECRET: &str = "WRONGSECRET-77aa-never-print-me";

#[tokio::test]
async fn nothing_secret_reaches_errors_debug_or_logs() {
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber());

    let emulator = emulator().await;
    let mut seen = Vec::new();
    let mut tokens = Vec::new();
    for provider in Provider::HOSTED {
        let e = emulated(provider);
        let site_key = format!("site-of-{provider}");
        emulator.register_site(e, &site_key, SECRET);
        let good = Verifier::new(
            provider,
            base_config(provider, SECRET)
                .site_key(&site_key)
                .verify_url(emulator.verify_url(e))
                .timeout(SHORT),
        )
        .unwrap();
        let wrong = Verifier::new(
            provider,
            base_config(provider, WRONG_SECRET).verify_url(emulator.verify_url(e)),
        )
        .unwrap();
        seen.push(format!("{good:?} {wrong:?}"));

        let token = mint(&emulator, spec(provider).site_key(&site_key));
        let verdict = verify(&good, &token).await.unwrap();
        seen.push(format!(
            "{verdict:?} {}",
            serde_json::to_string(&verdict).unwrap()
        ));
        let reuse = verify(&good, &token).await.unwrap_err();
        let misconfigured = verify(&wrong, &mint(&emulator, spec(provider).site_key(&site_key)))
            .await
            .unwrap_err();
        let slow_token = mint(
            &emulator,
            spec(provider)
                .site_key(&site_key)
                .fault(FaultKind::Delay { ms: 2_000 }),
        );
        let slow = verify(&good, &slow_token).await.unwrap_err();
        let garbage_token = mint(
            &emulator,
            spec(provider)
                .site_key(&site_key)
                .fault(FaultKind::MalformedJson),
        );
        let garbage = good
            .verify(&garbage_token, &VerifyOptions::new())
            .await
            .unwrap_err();
        let malformed_token = format!("{token}\u{0}");
        let malformed = verify(&good, &malformed_token).await.unwrap_err();
        for err in [reuse, misconfigured, slow, garbage, malformed] {
            seen.push(format!("{err} | {err:?} | {}", err.code()));
        }
        tokens.extend([token, slow_token, garbage_token]);
    }

    let logs = captured.text();
    assert!(logs.contains("outcome"), "the capture works: {logs}");
    assert!(logs.contains("provider_misconfigured"), "{logs}");
    seen.push(logs);
    for text in &seen {
        for secret in [SECRET, WRONG_SECRET] {
            assert!(!text.contains(secret), "secret leaked into: {text}");
        }
        for token in &tokens {
            assert!(!text.contains(token.as_str()), "token leaked into: {text}");
        }
    }
}
