//! `verify_now`: the answers of `verify`, given at once, or none and nothing done.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use siteverify::{
    AnyVerifier, BoxVerifier, Verify, VerifyOptions,
    altcha::{AltchaVerifier, ChallengeId, MemoryStore, ReplayStore, StoreFuture},
};

use crate::support::{LIFETIME, classic, code, config, decode, encode, solved, v2_sha, verifier};

/// What `verify_now` answers, as the code `verify` would give.
fn now_code(verifier: &impl Verify, payload: &str) -> Option<&'static str> {
    verifier
        .verify_now(payload, &VerifyOptions::new())
        .map(|result| result.map_or_else(|e| e.code(), |_| "ok"))
}

/// [`now_code`] of one verifier.
type Asker<'a> = &'a dyn Fn(&str) -> Option<&'static str>;

/// A store that waits, as Redis's does: a memory store behind the trait's defaults alone.
struct Waiting(MemoryStore);

impl ReplayStore for Waiting {
    fn spend<'a>(&'a self, id: &'a ChallengeId, ttl: Duration) -> StoreFuture<'a> {
        self.0.spend(id, ttl)
    }
}

#[tokio::test]
async fn a_classic_payload_is_answered_at_once_as_verify_answers_it() {
    let verifier = verifier(config().kind(classic()).lifetime(LIFETIME));
    let payload = solved(&verifier);
    let verdict = verifier
        .verify_now(&payload, &VerifyOptions::new())
        .expect("answered at once")
        .expect("a fresh solution passes");
    assert_eq!(verdict.action.as_deref(), Some("signup"));
    // One store behind both: what one spent, the other refuses.
    assert_eq!(now_code(&verifier, &payload), Some("expired_or_duplicate"));
    assert_eq!(code(&verifier, &payload).await, "expired_or_duplicate");
    let other = solved(&verifier);
    assert_eq!(code(&verifier, &other).await, "ok");
    assert_eq!(now_code(&verifier, &other), Some("expired_or_duplicate"));

    // Every refusal as `verify` gives it, and none of them spends the challenge.
    let good = solved(&verifier);
    let mut unsolved = decode(&good);
    unsolved["number"] = json!(unsolved["number"].as_u64().unwrap() + 1);
    let mut forged = decode(&good);
    forged["signature"] = json!("00".repeat(32));
    let mut as_string = decode(&good);
    as_string["number"] = json!(as_string["number"].to_string());
    let checkout = siteverify::altcha::solve(&verifier.challenge_for(Some("checkout"))).unwrap();
    let cases = [
        ("unsolved", encode(&unsolved), "invalid_token"),
        ("forged", encode(&forged), "invalid_token"),
        ("number as a string", encode(&as_string), "malformed_token"),
        ("not base64", "not base64!".to_owned(), "malformed_token"),
        ("empty", String::new(), "missing_token"),
        ("another action", checkout, "action_mismatch"),
    ];
    for (name, payload, expected) in cases {
        assert_eq!(now_code(&verifier, &payload), Some(expected), "{name}");
    }
    assert_eq!(now_code(&verifier, &good), Some("ok"));
}

#[tokio::test]
async fn a_v2_payload_or_a_store_that_waits_gets_no_answer_at_once_and_nothing_is_spent() {
    let v2 = verifier(config().kind(v2_sha()).lifetime(LIFETIME));
    let payload = solved(&v2);
    assert_eq!(
        now_code(&v2, &payload),
        None,
        "a derivation is not run inline"
    );
    assert_eq!(code(&v2, &payload).await, "ok");

    let waiting = verifier(
        config()
            .kind(classic())
            .lifetime(LIFETIME)
            .store(Waiting(MemoryStore::default())),
    );
    let payload = solved(&waiting);
    assert_eq!(now_code(&waiting, &payload), None);
    assert_eq!(
        now_code(&waiting, "not base64!"),
        None,
        "nothing is even read"
    );
    assert_eq!(code(&waiting, &payload).await, "ok");
    assert_eq!(code(&waiting, &payload).await, "expired_or_duplicate");
}

#[tokio::test]
async fn the_wrappers_pass_the_answer_at_once_on() {
    let verifier: AltchaVerifier = verifier(config().kind(classic()).lifetime(LIFETIME));
    let boxed = BoxVerifier::new(verifier.clone());
    let any = AnyVerifier::from(verifier.clone());
    let shared = Arc::new(verifier.clone());
    let wrappers: [(&str, Asker<'_>); 3] = [
        ("BoxVerifier", &|p| now_code(&boxed, p)),
        ("AnyVerifier", &|p| now_code(&any, p)),
        ("Arc", &|p| now_code(&shared, p)),
    ];
    for (name, now_code) in wrappers {
        let payload = solved(&verifier);
        assert_eq!(now_code(&payload), Some("ok"), "{name}");
        assert_eq!(now_code(&payload), Some("expired_or_duplicate"), "{name}");
    }
}
