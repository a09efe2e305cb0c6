//! The emulator's widget script (siteverify-emulator/src/widget.js) in its ALTCHA mode,
//! run on Node: what it solves verifies here, what its "bot" sends does not.

use serde_json::{Value, json};
use siteverify::altcha::{ChallengeKind, V2Algorithm};

use crate::{
    node::node,
    support::{classic, code, config, v2_pbkdf2, v2_sha, verifier, verify},
};

/// The widget script run on Node for each challenge: a person's solution and a bot's.
fn widget_solves(challenges: &[Value]) -> Vec<Value> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../siteverify-emulator/src/widget.js"
    );
    let results = node(
        "widget.mjs",
        &json!({"script": script, "challenges": challenges}),
    );
    results
        .as_array()
        .expect("one result per challenge")
        .clone()
}

#[tokio::test]
async fn the_emulator_widget_solves_every_kind_we_issue() {
    let kinds = [
        classic(),
        v2_sha(),
        v2_pbkdf2(),
        ChallengeKind::V2 {
            algorithm: V2Algorithm::Sha512,
            cost: 3,
            prefix_digits: 1,
        },
        ChallengeKind::V2 {
            algorithm: V2Algorithm::Pbkdf2Sha512,
            cost: 50,
            prefix_digits: 1,
        },
    ];
    let verifiers: Vec<_> = kinds
        .iter()
        .map(|kind| verifier(config().kind(kind.clone())))
        .collect();
    let challenges: Vec<Value> = verifiers
        .iter()
        .map(|v| v.challenge_for(Some("signup")).as_json().clone())
        .collect();
    let results = widget_solves(&challenges);
    assert_eq!(results.len(), kinds.len());
    for ((kind, verifier), result) in kinds.iter().zip(&verifiers).zip(results) {
        let (human, bot) = (&result["human"], &result["bot"]);
        assert_eq!(human["state"], "solved", "{kind:?}: {human}");
        assert_eq!(human["status"], "Verified");
        assert_eq!(human["name"], "altcha", "the default field");
        let token = human["token"].as_str().unwrap();
        let verdict = verify(verifier, token)
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(verdict.action.as_deref(), Some("signup"));
        assert_eq!(code(verifier, token).await, "expired_or_duplicate");

        assert_eq!(bot["state"], "bot", "{kind:?}: {bot}");
        assert_eq!(bot["status"], "Bot token set");
        assert_eq!(bot["name"], "pow", "the element's name attribute");
        assert_eq!(
            code(verifier, bot["token"].as_str().unwrap()).await,
            "invalid_token"
        );
    }
}

/// The classic search hashes SHA-256 in JavaScript rather than through crypto.subtle (whose
/// round trips dominated), so that SHA-256 is checked where hand-written ones break: a
/// message (salt and number) of 55 bytes (the last of one block), 56 (the length spills into
/// a second), 63, 64, 119, 120 and more. A difficulty of 9 makes every number one digit, so
/// the salts, lengthened by a parameter, place the message exactly. Our salts are 62 bytes
/// or more; altcha-lib's are shorter. Every other hash goes through crypto.subtle: a
/// SHA-512 challenge from altcha-lib takes that path. Each is solved here and verified.
#[tokio::test]
async fn the_emulator_widget_s_own_sha_256_finds_what_the_verifier_takes_at_every_boundary() {
    use crate::node::altcha_lib;
    use siteverify::altcha::AltchaConfig;
    let verifier = verifier(
        AltchaConfig::new(crate::support::KEY).kind(ChallengeKind::Classic { max_number: 9 }),
    );
    let ours = |action: &str| verifier.challenge_for(Some(action)).as_json().clone();
    let theirs = |params: Value, algorithm: &str| {
        json!({
            "op": "v1.issue", "key": crate::support::KEY, "maxNumber": 9, "expiresIn": 300,
            "params": params, "algorithm": algorithm,
        })
    };
    let padded = |length: usize| json!({ "p": "x".repeat(length) });
    let salt_of = |challenge: &Value| challenge["salt"].as_str().unwrap().len();
    // A message is its salt and one digit; a parameter of length n makes it n - 1 longer
    // than one of length 1.
    let (our_base, their_base) = (
        salt_of(&ours("a")) + 1,
        salt_of(&altcha_lib(&[theirs(padded(1), "SHA-256")])[0]) + 1,
    );
    let mut challenges = vec![verifier.challenge_for(None).as_json().clone()];
    for target in [119, 120, 200] {
        challenges.push(ours(&"a".repeat(target - our_base + 1)));
    }
    let mut ops: Vec<Value> = [55, 56, 60, 63, 64]
        .into_iter()
        .map(|target| theirs(padded(target - their_base + 1), "SHA-256"))
        .collect();
    ops.push(theirs(json!({}), "SHA-256"));
    ops.push(theirs(json!({}), "SHA-512"));
    challenges.extend(altcha_lib(&ops));
    let messages: Vec<usize> = challenges.iter().map(|c| salt_of(c) + 1).collect();
    for boundary in [55, 56, 63, 64, 119, 120] {
        assert!(messages.contains(&boundary), "{boundary}: {messages:?}");
    }
    let results = widget_solves(&challenges);
    assert_eq!(results.len(), challenges.len());
    for ((challenge, length), result) in challenges.iter().zip(&messages).zip(results) {
        let what = format!("{} of {length} bytes", challenge["algorithm"]);
        let human = &result["human"];
        assert_eq!(human["state"], "solved", "{what}: {human}");
        verify(&verifier, human["token"].as_str().unwrap())
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}
