//! What reading each provider's answer costs, with answers shaped like the real ones
//! (docs/PROVIDERS.md): the JSON decode, the timestamp parse and the verdict, once per
//! verification.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use siteverify::{Provider, parse_answer};

/// A successful answer per provider, with the fields the real services send, unknown ones
/// included (they must be skipped at a cost too).
const ANSWERS: [(Provider, &str); 5] = [
    (
        Provider::HCaptcha,
        r#"{"success":true,"challenge_ts":"2026-01-02T03:04:05.000000Z","hostname":"example.com","credit":false,"score":0.1,"score_reason":["safe"]}"#,
    ),
    (
        Provider::Recaptcha,
        r#"{"success":true,"challenge_ts":"2026-01-02T03:04:05Z","hostname":"example.com","score":0.9,"action":"signup"}"#,
    ),
    (
        Provider::Turnstile,
        r#"{"success":true,"challenge_ts":"2026-01-02T03:04:05.123Z","hostname":"example.com","error-codes":[],"action":"signup","cdata":"session-1","metadata":{"ephemeral_id":"x:9f2c1a0b7e6d5c4b"}}"#,
    ),
    (
        Provider::Procaptcha,
        r#"{"verified":true,"status":"ok","score":0.2}"#,
    ),
    (
        Provider::ByeBot,
        r#"{"success":true,"sitekey":"site","challenged_at":1767323045,"solve_time_ms":812,"interactive_solved":true}"#,
    ),
];

fn answers(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_answer");
    for (provider, body) in ANSWERS {
        assert!(parse_answer(provider, 200, body.as_bytes()).is_ok());
        group.bench_function(provider.name(), |b| {
            b.iter(|| parse_answer(black_box(provider), 200, black_box(body.as_bytes())))
        });
    }
    group.finish();
}

criterion_group!(benches, answers);
criterion_main!(benches);
