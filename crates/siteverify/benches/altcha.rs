//! What verifying one solved classic ALTCHA payload costs (`AltchaVerifier::verify`, the memory
//! store's spend included), and the parts of it: the payload's decode and check, the spend. Each
//! payload passes once, so every iteration gets a fresh one, solved outside the timing.

use std::{hint::black_box, time::Duration};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use siteverify::{
    VerifyOptions,
    altcha::{AltchaConfig, AltchaVerifier, ChallengeKind, MemoryStore, solve},
};

/// A 46-byte key, as the load benchmark's servers use.
const KEY: &str = "captcha-bench-altcha-hmac-key-0123456789abcdef";
/// Room for every payload criterion verifies (a few million over a run): a full store would
/// time the refusal instead.
const CAPACITY: usize = 50_000_000;

fn verifier() -> AltchaVerifier {
    AltchaVerifier::new(
        AltchaConfig::new(KEY)
            // The difficulty costs the solver only: verification is one hash whatever it is.
            .kind(ChallengeKind::Classic { max_number: 20 })
            .lifetime(Duration::from_secs(600))
            .store(MemoryStore::new(CAPACITY)),
    )
    .expect("a valid configuration")
}

fn altcha(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let verifier = verifier();
    let fresh = || solve(&verifier.challenge()).expect("a solvable challenge");
    let options = VerifyOptions::new();
    // A refusal would time the failure path instead.
    let payload = fresh();
    assert!(
        runtime
            .block_on(verifier.verify(&payload, &options))
            .is_ok()
    );
    assert!(
        runtime
            .block_on(verifier.verify(&payload, &options))
            .is_err()
    );

    let mut group = c.benchmark_group("altcha");
    group.bench_function("classic_verify", |b| {
        b.iter_batched(
            fresh,
            |payload| runtime.block_on(verifier.verify(black_box(&payload), &options)),
            BatchSize::SmallInput,
        )
    });
    // A replay: everything but the store's insert, which is what a spent payload skips.
    group.bench_function("classic_replay", |b| {
        b.iter(|| runtime.block_on(verifier.verify(black_box(&payload), &options)))
    });
    group.finish();
}

criterion_group!(benches, altcha);
criterion_main!(benches);
