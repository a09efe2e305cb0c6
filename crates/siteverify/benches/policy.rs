//! What applying a route's policy to a verdict costs: run once per guarded request, after the
//! provider said yes.

use std::{
    hint::black_box,
    time::{Duration, SystemTime},
};

use criterion::{Criterion, criterion_group, criterion_main};
use siteverify::{Policy, Provider, Verdict};

/// A strict route: two hostname patterns, an action, a minimum score and a maximum age, so
/// that every check runs.
fn strict_policy() -> Policy {
    Policy::new()
        .allow_hostname("example.com")
        .and_then(|p| p.allow_hostname("*.example.com"))
        .and_then(|p| p.action("signup").min_score(0.5))
        .expect("a valid policy")
        .max_age(Duration::from_secs(120))
}

fn policy(c: &mut Criterion) {
    let policy = strict_policy();
    let now = SystemTime::now();
    let passing = Verdict::new(Provider::Recaptcha)
        .with_hostname("www.example.com")
        .with_action("signup")
        .with_score(0.9)
        .with_challenge_ts(now - Duration::from_secs(10));
    // A refusal builds an error that owns the reported hostname: the bot's path.
    let refused = passing.clone().with_hostname("attacker.test");
    assert!(policy.check(&passing, now).is_ok());
    assert!(policy.check(&refused, now).is_err());

    let mut group = c.benchmark_group("policy_check");
    group.bench_function("pass", |b| {
        b.iter(|| policy.check(black_box(&passing), black_box(now)))
    });
    group.bench_function("hostname_mismatch", |b| {
        b.iter(|| policy.check(black_box(&refused), black_box(now)))
    });
    group.finish();
}

criterion_group!(benches, policy);
criterion_main!(benches);
