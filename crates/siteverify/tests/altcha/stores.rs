//! The memory store behind a verifier: floods and races.

use std::sync::Arc;

use siteverify::{
    Outage, VerifyError,
    altcha::{AltchaVerifier, MemoryStore},
};

use crate::support::{LIFETIME, classic, code, config, solved, verifier, verify};

/// A store of capacity N full of live challenges refuses the next one (503, not the
/// client's fault and not an outage of a provider) instead of forgetting an earlier one,
/// so no earlier one can be replayed.
#[tokio::test]
async fn a_full_memory_store_refuses_new_challenges_and_never_reopens_replay() {
    const CAPACITY: usize = 16;
    let store = Arc::new(MemoryStore::new(CAPACITY));
    let verifier = verifier(
        config()
            .kind(classic())
            .lifetime(LIFETIME)
            .store(store.clone()),
    );
    let payloads: Vec<String> = (0..=CAPACITY).map(|_| solved(&verifier)).collect();
    for payload in &payloads[..CAPACITY] {
        assert_eq!(code(&verifier, payload).await, "ok");
    }
    assert_eq!(store.len(), CAPACITY);
    let overflow = &payloads[CAPACITY];
    for _ in 0..3 {
        let err = verify(&verifier, overflow)
            .await
            .expect_err("the store is full");
        assert_eq!(err.code(), "provider_unavailable");
        // Said as what it is: full, not down (an operator raises the capacity, not Redis).
        assert!(
            matches!(
                err,
                VerifyError::ProviderUnavailable(Outage::ReplayStoreFull)
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("full"), "{err}");
        // Fail-open covers provider outages only; a full store must never be waved through.
        assert!(!err.is_provider_outage());
    }
    for payload in &payloads[..CAPACITY] {
        assert_eq!(code(&verifier, payload).await, "expired_or_duplicate");
    }
    assert_eq!(store.len(), CAPACITY, "nothing was evicted, nothing added");
}

/// Submits one payload `n` times at once and counts the passes.
pub(crate) async fn concurrent_passes(verifier: &AltchaVerifier, payload: &str, n: usize) -> usize {
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (verifier, payload, barrier) =
                (verifier.clone(), payload.to_owned(), barrier.clone());
            // All start together, so that the submissions really overlap in the store.
            tokio::spawn(async move {
                barrier.wait().await;
                code(&verifier, &payload).await
            })
        })
        .collect();
    let mut passes = 0;
    for task in tasks {
        match task.await.expect("task ran") {
            "ok" => passes += 1,
            "expired_or_duplicate" => {}
            other => panic!("unexpected refusal {other}"),
        }
    }
    passes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_payload_submitted_1000_times_at_once_passes_once_with_the_memory_store() {
    let verifier = verifier(config().kind(classic()));
    let payload = solved(&verifier);
    assert_eq!(concurrent_passes(&verifier, &payload, 1000).await, 1);
}
