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
