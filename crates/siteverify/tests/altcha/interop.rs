//! Cross-checks with altcha-lib 2.3.1, the reference implementation: what it issues and
//! solves verifies here, what we issue and solve verifies there, what it refuses we refuse,
//! and where it is known to be too lenient we are not.

use serde_json::{Value, json};
use siteverify::altcha::{ChallengeKind, V2Algorithm, solve};

use crate::{
    node::{altcha_lib, altcha_lib_one},
    support::{
        KEY, LIFETIME, classic, code, config, decode, encode, v2_pbkdf2, v2_sha, verifier, verify,
    },
};

fn v1_issue(action: &str, expires_in: i64) -> Value {
    json!({
        "op": "v1.issue", "key": KEY, "maxNumber": 5_000, "expiresIn": expires_in,
        "params": {"action": action},
    })
}

/// A v2 challenge from altcha-lib; `key_prefix` `None` takes altcha-lib's default (`00`).
fn v2_issue(algorithm: &str, cost: u32, key_prefix: Option<&str>, expires_in: i64) -> Value {
    let mut op = json!({
        "op": "v2.issue", "key": KEY, "algorithm": algorithm, "cost": cost,
        "expiresIn": expires_in, "data": {"action": "signup"},
    });
    if let Some(prefix) = key_prefix {
        op["keyPrefix"] = prefix.into();
    }
    op
}

/// Issues with altcha-lib, then solves with altcha-lib: the payloads its widget would post.
fn issued_and_solved_by_altcha_lib(issues: Vec<Value>) -> Vec<String> {
    let challenges = altcha_lib(&issues);
    let solves: Vec<Value> = issues
        .iter()
        .zip(challenges)
        .map(|(issue, challenge)| {
            let op = if issue["op"] == "v1.issue" {
                "v1.solve"
            } else {
                "v2.solve"
            };
            json!({"op": op, "challenge": challenge})
        })
        .collect();
    altcha_lib(&solves)
        .into_iter()
        .map(|p| p.as_str().expect("a base64 payload").to_owned())
        .collect()
}

fn verify_op(payload: &str) -> Value {
    let op = if decode(payload)["challenge"].is_object() {
        "v2.verify"
    } else {
        "v1.verify"
    };
    json!({"op": op, "key": KEY, "payload": payload})
}

/// altcha-lib's verdict on each payload.
fn altcha_lib_verifies(payloads: &[String]) -> Vec<bool> {
    let ops: Vec<Value> = payloads.iter().map(|p| verify_op(p)).collect();
    altcha_lib(&ops)
        .into_iter()
        .map(|r| r["verified"].as_bool().expect("a verified flag"))
        .collect()
}

#[tokio::test]
async fn altcha_lib_challenges_verify_here_with_their_action() {
    let payloads = issued_and_solved_by_altcha_lib(vec![
        v1_issue("signup", 300),
        v2_issue("SHA-256", 10, None, 300),
        v2_issue("PBKDF2/SHA-256", 200, Some("0"), 300),
    ]);
    let verifier = verifier(config());
    for payload in &payloads {
        let verdict = verify(&verifier, payload)
            .await
            .unwrap_or_else(|e| panic!("{e}: {}", decode(payload)));
        assert_eq!(verdict.action.as_deref(), Some("signup"));
        assert!(
            verdict.solve_time.is_some(),
            "altcha-lib reports the time it took"
        );
        assert_eq!(
            code(&verifier, payload).await,
            "expired_or_duplicate",
            "spent once"
        );
    }
    // The action is read, not just carried: one issued for another action fails the policy.
    let login = issued_and_solved_by_altcha_lib(vec![v1_issue("login", 300)]);
    assert_eq!(code(&verifier, &login[0]).await, "action_mismatch");
}

#[tokio::test]
async fn challenges_issued_here_verify_with_altcha_lib() {
    let mut payloads = Vec::new();
    for kind in [classic(), v2_sha(), v2_pbkdf2()] {
        let ours = verifier(config().kind(kind).lifetime(LIFETIME));
        payloads.push(solve(&ours.challenge_for(Some("signup"))).expect("solvable"));
    }
    let results = altcha_lib(&payloads.iter().map(|p| verify_op(p)).collect::<Vec<_>>());
    assert_eq!(results[0]["verified"], true, "v1: {}", decode(&payloads[0]));
    assert_eq!(
        results[0]["params"]["action"], "signup",
        "altcha-lib reads our action"
    );
    for (result, payload) in results[1..].iter().zip(&payloads[1..]) {
        assert_eq!(result["verified"], true, "v2: {result} {}", decode(payload));
        let data = &decode(payload)["challenge"]["parameters"]["data"];
        assert_eq!(data["action"], "signup");
    }
    // And they verify here too (the verifier of any kind verifies every kind).
    let verifier = verifier(config());
    for payload in &payloads {
        assert_eq!(code(&verifier, payload).await, "ok");
    }
}

#[tokio::test]
async fn what_altcha_lib_refuses_is_refused_here() {
    let [v1, v2, v1_expired, v2_expired]: [String; 4] = issued_and_solved_by_altcha_lib(vec![
        v1_issue("signup", 300),
        v2_issue("SHA-256", 10, Some("0"), 300),
        v1_issue("signup", -30),
        v2_issue("SHA-256", 10, Some("0"), -30),
    ])
    .try_into()
    .expect("four payloads");
    let edit = |payload: &str, change: &dyn Fn(&mut Value)| {
        let mut value = decode(payload);
        change(&mut value);
        encode(&value)
    };
    let cases = [
        (
            "v1 wrong number",
            edit(&v1, &|p| {
                p["number"] = (p["number"].as_u64().unwrap() + 1).into()
            }),
            "invalid_token",
        ),
        (
            "v1 salt relabelled",
            edit(&v1, &|p| {
                p["salt"] = p["salt"]
                    .as_str()
                    .unwrap()
                    .replace("action=signup", "action=admin")
                    .into()
            }),
            "invalid_token",
        ),
        ("v1 expired", v1_expired, "expired_or_duplicate"),
        (
            "v2 wrong counter",
            edit(&v2, &|p| {
                p["solution"]["counter"] = (p["solution"]["counter"].as_u64().unwrap() + 1).into()
            }),
            "invalid_token",
        ),
        (
            "v2 data relabelled",
            edit(&v2, &|p| {
                p["challenge"]["parameters"]["data"]["action"] = "admin".into()
            }),
            "invalid_token",
        ),
        (
            "v2 expiry extended",
            edit(&v2, &|p| {
                let at = p["challenge"]["parameters"]["expiresAt"].as_u64().unwrap();
                p["challenge"]["parameters"]["expiresAt"] = (at + 86_400).into()
            }),
            "invalid_token",
        ),
        ("v2 expired", v2_expired, "expired_or_duplicate"),
    ];
    let payloads: Vec<String> = cases.iter().map(|(_, p, _)| p.clone()).collect();
    let theirs = altcha_lib_verifies(&payloads);
    let verifier = verifier(config());
    for ((name, payload, expected), theirs) in cases.iter().zip(theirs) {
        assert!(!theirs, "altcha-lib accepted {name}");
        assert_eq!(code(&verifier, payload).await, *expected, "{name}");
    }
    // None of the refusals spent the genuine challenges.
    assert_eq!(code(&verifier, &v1).await, "ok");
    assert_eq!(code(&verifier, &v2).await, "ok");
}

/// A published flaw: altcha-lib's v1 verifier concatenates `salt + number` whatever type the
/// number has, so `"number": "123"` passes there. Here it is not a payload at all.
#[tokio::test]
async fn a_number_sent_as_a_string_is_malformed_here_though_altcha_lib_takes_it() {
    let [genuine]: [String; 1] = issued_and_solved_by_altcha_lib(vec![v1_issue("signup", 300)])
        .try_into()
        .unwrap();
    let mut value = decode(&genuine);
    value["number"] = value["number"].to_string().into();
    let stringly = encode(&value);
    assert_eq!(altcha_lib_verifies(std::slice::from_ref(&stringly)), [true]);
    let verifier = verifier(config());
    assert_eq!(code(&verifier, &stringly).await, "malformed_token");
    assert_eq!(
        code(&verifier, &genuine).await,
        "ok",
        "the refusal did not burn it"
    );
}

/// The other published flaw (CVE-2025-68113): a salt without its trailing `&`, as issuers
/// before the fix wrote it, lets digits move between the salt and the number while
/// `salt + number` (so the hash and the signature) stays the same. Moving the number's first
/// digit into the salt makes an expired `expires` ten times later; moving the salt's
/// `expires` digits into the number drops the expiry. We refuse any salt without the
/// delimiter; altcha-lib 2.3.1 appends one before hashing, which also breaks the splice.
#[tokio::test]
async fn a_salt_spliced_to_move_or_drop_expires_is_refused() {
    let expired = (std::time::SystemTime::now() - std::time::Duration::from_secs(60))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let salt = format!("5eed5eed5eed5eed5eed5eed?action=signup&expires={expired}");
    let number = "12345";
    // Signed as a pre-fix issuer would, with the shared key.
    let legacy = |salt: &str, number: &str| {
        let challenge = sha256_hex(format!("{salt}{number}").as_bytes());
        encode(&json!({
            "algorithm": "SHA-256",
            "challenge": challenge,
            "number": number.parse::<u64>().unwrap(),
            "salt": salt,
            "signature": hmac_sha256_hex(KEY.as_bytes(), challenge.as_bytes()),
            "took": 10,
        }))
    };
    let moved = legacy(&format!("{salt}1"), &number[1..]);
    let dropped = legacy(
        salt.strip_suffix(&expired.to_string()).unwrap(),
        &format!("{expired}{number}"),
    );
    // Same hash, same signature: the splice is a genuine one.
    assert_eq!(
        decode(&moved)["signature"],
        decode(&legacy(&salt, number))["signature"]
    );
    assert_eq!(decode(&dropped)["signature"], decode(&moved)["signature"]);
    let verifier = verifier(config());
    for (name, payload) in [("moved", &moved), ("dropped", &dropped)] {
        let err = verify(&verifier, payload).await.expect_err(name);
        assert_eq!(err.code(), "invalid_token", "{name}");
        assert_eq!(
            err.provider_codes(),
            ["altcha-salt-without-delimiter"],
            "{name}"
        );
    }
    assert_eq!(altcha_lib_verifies(&[moved, dropped]), [false, false]);
}

/// altcha-lib 2.3.1's v2 verifier re-derives the key from the counter and compares it with
/// the claimed one, but never checks that it starts with `keyPrefix`: the key of counter 0,
/// found with no work at all, passes there. We check the prefix.
#[tokio::test]
async fn the_v2_key_prefix_is_checked_here_though_not_by_altcha_lib() {
    let hard = ChallengeKind::V2 {
        algorithm: V2Algorithm::Sha256,
        cost: 1,
        prefix_digits: 8,
    };
    let ours = verifier(config().kind(hard));
    let challenge = ours.challenge_for(Some("signup"));
    let theirs = altcha_lib_one(v2_issue("SHA-256", 1, Some("00000000"), 300));
    let ops: Vec<Value> = [challenge.as_json().clone(), theirs]
        .into_iter()
        .map(|c| json!({"op": "v2.counter0", "challenge": c}))
        .collect();
    let forged: Vec<String> = altcha_lib(&ops)
        .into_iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    for payload in &forged {
        let key = decode(payload)["solution"]["derivedKey"]
            .as_str()
            .unwrap()
            .to_owned();
        // One chance in 2^32 that counter 0 really is a solution; then this test proves nothing.
        assert!(
            !key.starts_with("00000000"),
            "counter 0 happens to solve it: rerun"
        );
    }
    assert_eq!(
        altcha_lib_verifies(&forged),
        [true, true],
        "altcha-lib's flaw is still there"
    );
    for payload in &forged {
        let err = verify(&ours, payload).await.expect_err("no work, no pass");
        assert_eq!(err.code(), "invalid_token");
        assert_eq!(err.provider_codes(), ["altcha-wrong-solution"]);
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(data))
}

fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
