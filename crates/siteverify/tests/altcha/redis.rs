//! The Redis store against a real `redis-server`.

use std::time::{Duration, Instant};

use siteverify::{
    Outage, VerifyError,
    altcha::{AltchaVerifier, RedisStore},
};

use crate::{
    redis_server::{RedisServer, Reply},
    stores::concurrent_passes,
    support::{classic, code, config, solved, v2_sha, verifier, verify},
};

/// One "app instance": its own verifier and its own Redis connection, the shared key.
async fn instance(server: &RedisServer, lifetime: Duration) -> AltchaVerifier {
    let store = RedisStore::connect(&server.url())
        .await
        .expect("Redis reachable");
    verifier(config().kind(classic()).lifetime(lifetime).store(store))
}

#[tokio::test]
async fn two_instances_sharing_redis_refuse_on_one_what_the_other_accepted() {
    let server = RedisServer::start();
    let a = instance(&server, Duration::from_secs(120)).await;
    let b = instance(&server, Duration::from_secs(120)).await;
    let (first, second) = (solved(&a), solved(&b));
    assert_eq!(code(&a, &first).await, "ok");
    assert_eq!(code(&b, &first).await, "expired_or_duplicate");
    assert_eq!(code(&b, &second).await, "ok");
    assert_eq!(code(&a, &second).await, "expired_or_duplicate");
    assert_eq!(code(&a, &first).await, "expired_or_duplicate");
}

#[tokio::test]
async fn redis_stopped_mid_test_refuses_with_provider_unavailable() {
    let mut server = RedisServer::start();
    let verifier = instance(&server, Duration::from_secs(120)).await;
    assert_eq!(code(&verifier, &solved(&verifier)).await, "ok");
    server.stop();
    let payload = solved(&verifier);
    for _ in 0..2 {
        let err = verify(&verifier, &payload)
            .await
            .expect_err("no store, no pass");
        assert_eq!(err.code(), "provider_unavailable");
        assert!(
            matches!(
                err,
                VerifyError::ProviderUnavailable(Outage::ReplayStoreDown)
            ),
            "down, not full: {err:?}"
        );
        // A client can make a store busy; fail-open must never cover it.
        assert!(!err.is_provider_outage());
        // The URL (which could carry a password) is not in the error.
        assert!(!format!("{err} {err:?}").contains("redis://"), "{err:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_payload_submitted_1000_times_at_once_passes_once_with_redis() {
    let server = RedisServer::start();
    let verifier = instance(&server, Duration::from_secs(120)).await;
    for payload in [solved(&verifier), {
        let v2 = verifier_v2(&server).await;
        solved(&v2)
    }] {
        assert_eq!(concurrent_passes(&verifier, &payload, 1000).await, 1);
    }
}

async fn verifier_v2(server: &RedisServer) -> AltchaVerifier {
    let store = RedisStore::connect(&server.url())
        .await
        .expect("Redis reachable");
    // The lifetime of the instance that verifies: a challenge living longer is not its own.
    verifier(
        config()
            .kind(v2_sha())
            .lifetime(Duration::from_secs(120))
            .store(store),
    )
}

/// The spent entry lives as long as the challenge has left, plus the clock-skew margin
/// (60 s), and not forever: Redis forgets it by itself. The challenge comes from an issuer
/// whose challenges live a quarter as long as the verifier's own, so that what it has left
/// and the verifier's lifetime are told apart.
#[tokio::test]
async fn a_spent_challenge_expires_in_redis_after_its_remaining_lifetime_and_the_skew_margin() {
    const LIFETIME_MS: i64 = 120_000;
    const ISSUED_FOR_MS: i64 = 30_000;
    const SKEW_MS: i64 = 60_000;
    let server = RedisServer::start();
    let verifier = instance(&server, Duration::from_millis(LIFETIME_MS as u64)).await;
    let started = Instant::now();
    let issuer = crate::support::verifier(
        config()
            .kind(v2_sha())
            .lifetime(Duration::from_millis(ISSUED_FOR_MS as u64)),
    );
    let payload = solved(&issuer);
    assert_eq!(code(&verifier, &payload).await, "ok");
    let Reply::Array(keys) = server.command(&["KEYS", "altcha:spent:*"]) else {
        panic!("KEYS answers an array");
    };
    let [Reply::Bulk(Some(key))] = &keys[..] else {
        panic!("one spent challenge, one key: {keys:?}");
    };
    let Reply::Integer(pttl) = server.command(&["PTTL", key]) else {
        panic!("PTTL answers an integer");
    };
    let elapsed = i64::try_from(started.elapsed().as_millis()).unwrap();
    // The expiry is written in whole seconds (up to 1 s earlier than issue + lifetime), and
    // the time this test took is measured rather than assumed, so a slow machine widens the
    // window instead of failing.
    // Both the TTL sent and the time measured here are whole milliseconds, cut down: a few
    // more milliseconds of slack, or a run that straddles them fails by one.
    let most = ISSUED_FOR_MS + SKEW_MS;
    let least = most - 1_000 - elapsed - 5;
    assert!(
        (least..=most).contains(&pttl),
        "PTTL {pttl} ms not in {least}..={most}"
    );
}
