//! Every field of a payload is type-checked before it is used: a field of the wrong type, or
//! missing, makes it no payload at all (`malformed_token`), and refusing it spends nothing.
//! altcha-lib once took a `number` sent as a string (see `interop`); these are the rest of
//! the matrix, for both protocols.

use serde_json::{Value, json};

use crate::support::{classic, code, config, decode, encode, solved, v2_sha, verifier};

/// Each of `changes` applied to `genuine` alone is `malformed_token`; `genuine` still passes.
async fn each_is_malformed(kind: siteverify::altcha::ChallengeKind, changes: &[(&str, Value)]) {
    let verifier = verifier(config().kind(kind));
    let genuine = solved(&verifier);
    for (pointer, value) in changes {
        let mut payload = decode(&genuine);
        match value {
            Value::Null if pointer.ends_with('!') => {
                // `…!`: the member removed, not set to null.
                let path = pointer.trim_end_matches('!');
                let (parent, name) = path.rsplit_once('/').unwrap();
                let parent = if parent.is_empty() {
                    &mut payload
                } else {
                    payload.pointer_mut(parent).unwrap()
                };
                parent.as_object_mut().unwrap().remove(name).unwrap();
            }
            _ => *payload.pointer_mut(pointer).unwrap() = value.clone(),
        }
        assert_eq!(
            code(&verifier, &encode(&payload)).await,
            "malformed_token",
            "{pointer} = {value}"
        );
    }
    assert_eq!(code(&verifier, &genuine).await, "ok", "nothing was spent");
}

#[tokio::test]
async fn a_classic_field_of_the_wrong_type_or_missing_is_malformed() {
    let mut changes = Vec::new();
    for field in ["algorithm", "challenge", "salt", "signature"] {
        for wrong in [
            json!(1),
            json!(null),
            json!(["x"]),
            json!({"x": 1}),
            json!(true),
        ] {
            changes.push((format!("/{field}"), wrong));
        }
        changes.push((format!("/{field}!"), Value::Null));
    }
    for wrong in [
        json!("7"),
        json!(1.5),
        json!(-1),
        json!(null),
        json!([7]),
        json!(1e30),
    ] {
        changes.push(("/number".to_owned(), wrong));
    }
    changes.push(("/number!".to_owned(), Value::Null));
    for wrong in [json!("5"), json!([5]), json!({"ms": 5}), json!(true)] {
        changes.push(("/took".to_owned(), wrong));
    }
    let changes: Vec<(&str, Value)> = changes
        .iter()
        .map(|(p, v)| (p.as_str(), v.clone()))
        .collect();
    each_is_malformed(classic(), &changes).await;
}

#[tokio::test]
async fn a_v2_field_of_the_wrong_type_or_missing_is_malformed() {
    let changes = [
        ("/solution/counter", json!("1")),
        ("/solution/counter", json!(-1)),
        ("/solution/counter", json!(1.5)),
        ("/solution/counter", json!(u64::from(u32::MAX) + 1)),
        ("/solution/counter!", Value::Null),
        ("/solution/derivedKey", json!(1)),
        ("/solution/derivedKey!", Value::Null),
        ("/solution/time", json!("3")),
        ("/solution", json!("solved")),
        ("/solution!", Value::Null),
        ("/challenge/signature", json!(1)),
        ("/challenge/parameters", json!(["nonce"])),
        ("/challenge/parameters!", Value::Null),
        ("/challenge", json!("a challenge")),
    ];
    each_is_malformed(v2_sha(), &changes).await;
}

#[tokio::test]
async fn the_token_itself_must_be_base64_of_a_json_object() {
    let verifier = verifier(config().kind(classic()));
    let genuine = solved(&verifier);
    let json = decode(&genuine).to_string();
    use base64::Engine;
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    for token in [
        b64("[]"),
        b64("null"),
        b64("\"payload\""),
        b64(&format!("{json} trailing")),
        b64(&json[..json.len() - 1]),
        format!("{genuine}%"),
        genuine.chars().rev().collect(),
    ] {
        assert_eq!(code(&verifier, &token).await, "malformed_token", "{token}");
    }
    assert_eq!(code(&verifier, &genuine).await, "ok", "nothing was spent");
}
