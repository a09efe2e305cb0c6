//! The emulator's widget script (siteverify-emulator/src/widget.js) in its ALTCHA mode,
//! run on Node: what it solves verifies here, what its "bot" sends does not.

use serde_json::{Value, json};
use siteverify::altcha::{ChallengeKind, V2Algorithm};

use crate::{
    node::node,
    support::{classic, code, config, v2_pbkdf2, v2_sha, verifier, verify},
};

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
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../siteverify-emulator/src/widget.js"
    );
    let results = node(
        "widget.mjs",
        &json!({"script": script, "challenges": challenges}),
    );
    let results = results.as_array().expect("one result per challenge");
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

/// The classic search hashes in JavaScript rather than through crypto.subtle (whose round
/// trips dominated), so its SHA-256 is checked where hand-written ones break: messages (salt
/// and number) of one block, of 56 to 64 bytes (the length spills into a second block), and
/// of several blocks. Our salts are 62 bytes or more; altcha-lib's, with no parameters, are
/// shorter. Each is solved by the widget and verified here.
#[tokio::test]
async fn the_emulator_widget_s_own_sha_256_finds_what_the_verifier_takes_at_any_salt_length() {
    let verifier =
        verifier(siteverify::altcha::AltchaConfig::new(crate::support::KEY).kind(classic()));
    let long = "x".repeat(150);
    let actions = [
        None,
        Some("a"),
        Some("signup"),
        Some("checkout-longer"),
        Some(&*long),
    ];
    let mut challenges: Vec<Value> = actions
        .iter()
        .map(|action| verifier.challenge_for(*action).as_json().clone())
        .collect();
    let altcha_lib = |params: Value| {
        json!({
            "op": "v1.issue", "key": crate::support::KEY, "maxNumber": 2_000, "expiresIn": 300,
            "params": params,
        })
    };
    challenges.extend(crate::node::altcha_lib(&[
        altcha_lib(json!({})),
        altcha_lib(json!({"action": "signup"})),
    ]));
    // The message is the salt and up to four digits.
    let lengths: Vec<usize> = challenges
        .iter()
        .map(|c| c["salt"].as_str().unwrap().len())
        .collect();
    assert!(
        lengths.iter().any(|&l| l + 4 <= 55),
        "one block: {lengths:?}"
    );
    assert!(
        lengths.iter().any(|&l| (56..=60).contains(&l)),
        "the length in a second block: {lengths:?}"
    );
    assert!(
        lengths.iter().any(|&l| l > 128),
        "three blocks: {lengths:?}"
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../siteverify-emulator/src/widget.js"
    );
    let results = node(
        "widget.mjs",
        &json!({"script": script, "challenges": challenges}),
    );
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), challenges.len());
    for (length, result) in lengths.iter().zip(results) {
        let human = &result["human"];
        assert_eq!(human["state"], "solved", "salt of {length}: {human}");
        verify(&verifier, human["token"].as_str().unwrap())
            .await
            .unwrap_or_else(|e| panic!("salt of {length}: {e}"));
    }
}
