//! ALTCHA's v2 protocol: signed `parameters` (nonce, salt, key prefix, cost, expiry, data),
//! solved by deriving keys from `nonce ‖ counter` until one starts with the key prefix.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    Checked, MAX_V2_COST,
    crypto::{MacKey, Sha, constant_time_eq, hex, random_bytes, unhex},
    expired, invalid, unix_time,
    v1::duration_ms,
};
use crate::VerifyError;

/// The longest derived key accepted: SHA-512's output. Longer ones only cost us time.
const MAX_KEY_LENGTH: u64 = 64;

/// How a v2 challenge's keys are derived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Derivation {
    /// `SHA-256` and friends: the hash of `salt ‖ password`, hashed again `cost - 1` times.
    Sha(Sha),
    /// `PBKDF2/SHA-256` and friends, with `cost` iterations.
    Pbkdf2(Sha),
}

impl Derivation {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name.strip_prefix("PBKDF2/") {
            Some(hash) => Sha::from_name(hash).map(Derivation::Pbkdf2),
            None => Sha::from_name(name).map(Derivation::Sha),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Derivation::Sha(Sha::Sha256) => "SHA-256",
            Derivation::Sha(Sha::Sha384) => "SHA-384",
            Derivation::Sha(Sha::Sha512) => "SHA-512",
            Derivation::Pbkdf2(Sha::Sha256) => "PBKDF2/SHA-256",
            Derivation::Pbkdf2(Sha::Sha384) => "PBKDF2/SHA-384",
            Derivation::Pbkdf2(Sha::Sha512) => "PBKDF2/SHA-512",
        }
    }

    /// Rounds of the hash (or of PBKDF2's HMAC) one derivation takes: PBKDF2 runs its rounds
    /// once per block of output.
    pub(crate) fn work(self, cost: u32, key_length: usize) -> u64 {
        let blocks = match self {
            Derivation::Sha(_) => 1,
            Derivation::Pbkdf2(sha) => key_length.div_ceil(sha.output_len()).max(1),
        };
        u64::from(cost.max(1)) * blocks as u64
    }

    pub(crate) fn derive(
        self,
        salt: &[u8],
        password: &[u8],
        cost: u32,
        key_length: usize,
    ) -> Vec<u8> {
        match self {
            Derivation::Sha(sha) => {
                let mut key = sha.digest(&[salt, password]);
                for _ in 1..cost.max(1) {
                    key = sha.digest(&[&key]);
                }
                key[..key_length.min(key.len())].to_vec()
            }
            Derivation::Pbkdf2(sha) => {
                let mut key = vec![0u8; key_length];
                let rounds = cost.max(1);
                match sha {
                    Sha::Sha256 => {
                        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, rounds, &mut key)
                    }
                    Sha::Sha384 => {
                        pbkdf2::pbkdf2_hmac::<sha2::Sha384>(password, salt, rounds, &mut key)
                    }
                    Sha::Sha512 => {
                        pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, rounds, &mut key)
                    }
                }
                key
            }
        }
    }
}

/// A v2 challenge, as the widget fetches it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Challenge {
    pub(crate) parameters: Value,
    pub(crate) signature: String,
}

/// What the widget posts back, base64-encoded.
#[derive(Deserialize)]
pub(crate) struct Payload {
    challenge: SignedChallenge,
    solution: Solution,
}

#[derive(Deserialize)]
struct SignedChallenge {
    /// Kept as sent: the signature covers every member, known or not.
    parameters: Map<String, Value>,
    #[serde(default)]
    signature: Option<String>,
}

#[derive(Deserialize)]
struct Solution {
    /// The counter appended to the nonce as a big-endian 32-bit integer.
    counter: u32,
    #[serde(rename = "derivedKey")]
    derived_key: String,
    #[serde(default)]
    time: Option<f64>,
}

/// What a challenge is issued with.
pub(crate) struct Issue<'a> {
    pub(crate) derivation: Derivation,
    pub(crate) cost: u32,
    pub(crate) key_prefix: &'a str,
    pub(crate) data: Map<String, Value>,
    pub(crate) expires: SystemTime,
}

/// Issues a challenge signed with `key`.
pub(crate) fn issue(key: &MacKey, hmac: Sha, spec: Issue<'_>) -> Challenge {
    let expires_at = spec
        .expires
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut parameters = Map::new();
    parameters.insert("algorithm".into(), spec.derivation.name().into());
    parameters.insert("cost".into(), spec.cost.into());
    parameters.insert("expiresAt".into(), expires_at.into());
    parameters.insert("keyLength".into(), 32.into());
    parameters.insert("keyPrefix".into(), spec.key_prefix.into());
    parameters.insert("nonce".into(), hex(&random_bytes::<16>()).into());
    parameters.insert("salt".into(), hex(&random_bytes::<16>()).into());
    if !spec.data.is_empty() {
        parameters.insert("data".into(), Value::Object(spec.data));
    }
    let parameters = Value::Object(parameters);
    let signature = hex(&key.mac(hmac, canonical_json(&parameters).as_bytes()));
    Challenge {
        parameters,
        signature,
    }
}

/// Checks a v2 payload against `keys` (the current one first): expiry, signature, then the
/// solution, re-derived from its counter.
pub(crate) fn check(
    payload: Payload,
    keys: &[&MacKey],
    hmac: Sha,
    now: SystemTime,
) -> Result<Checked, VerifyError> {
    let params = &payload.challenge.parameters;
    let text = |name: &str| params.get(name).and_then(Value::as_str);
    let integer = |name: &str| params.get(name).and_then(Value::as_u64);
    // Every field is type-checked before it is used; one of the wrong type is a challenge we
    // did not issue.
    let malformed = || invalid("altcha-malformed-parameters");
    let expires = integer("expiresAt")
        .and_then(unix_time)
        .ok_or_else(|| invalid("altcha-no-expiry"))?;
    if expires < now {
        return Err(expired());
    }
    let signature = payload
        .challenge
        .signature
        .as_deref()
        .ok_or_else(|| invalid("altcha-unsigned"))?
        .to_ascii_lowercase();
    let canonical = canonical_json(&Value::Object(params.clone()));
    let signed = keys.iter().any(|key| {
        constant_time_eq(
            hex(&key.mac(hmac, canonical.as_bytes())).as_bytes(),
            signature.as_bytes(),
        )
    });
    if !signed {
        return Err(invalid("altcha-bad-signature"));
    }
    // Signed by us, so what follows was chosen by us (or by an issuer holding our key): its
    // cost is not an attacker's to raise.
    let derivation = text("algorithm")
        .and_then(Derivation::from_name)
        .ok_or_else(|| invalid("altcha-unsupported-algorithm"))?;
    let cost = integer("cost")
        .and_then(|c| u32::try_from(c).ok())
        .ok_or_else(malformed)?;
    let key_length = integer("keyLength")
        .filter(|len| (1..=MAX_KEY_LENGTH).contains(len))
        .ok_or_else(malformed)?;
    // Signed, but not necessarily by this verifier's settings: an issuer sharing the key
    // (altcha-lib, an older deploy) may have asked for more than one submission may cost us.
    if derivation.work(cost, key_length as usize) > u64::from(MAX_V2_COST) {
        return Err(invalid("altcha-cost-too-high"));
    }
    let key_prefix = text("keyPrefix")
        .filter(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(malformed)?
        .to_ascii_lowercase();
    let nonce = text("nonce").and_then(unhex).ok_or_else(malformed)?;
    let salt = text("salt").and_then(unhex).ok_or_else(malformed)?;
    let mut password = nonce;
    password.extend_from_slice(&payload.solution.counter.to_be_bytes());
    let derived = hex(&derivation.derive(&salt, &password, cost, key_length as usize));
    // The key must be the counter's, and it must start with the prefix: that is the work.
    // (altcha-lib 2.3 checks only the first, so a counter of 0 would pass there.)
    let claimed = payload.solution.derived_key.to_ascii_lowercase();
    if !constant_time_eq(derived.as_bytes(), claimed.as_bytes())
        || !derived.starts_with(&key_prefix)
    {
        return Err(invalid("altcha-wrong-solution"));
    }
    let data = params.get("data").and_then(Value::as_object);
    let data_text = |name: &str| data.and_then(|d| d.get(name)).and_then(Value::as_str);
    Ok(Checked {
        id: Checked::id_of(2, signature.as_bytes()),
        expires,
        action: data_text("action").map(str::to_owned),
        issued: data
            .and_then(|d| d.get("issued"))
            .and_then(Value::as_u64)
            .and_then(unix_time),
        solve_time: payload.solution.time.and_then(duration_ms),
    })
}

/// The JSON a v2 signature covers: members sorted by name at every level, no white space,
/// numbers as JavaScript writes them (`5000`, never `5000.0`), strings escaped as
/// `JSON.stringify` escapes them. Built here rather than by serde_json's map, whose order
/// depends on a cargo feature any crate in the build may turn on.
pub(crate) fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            // JavaScript sorts keys by UTF-16 code units.
            members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, (name, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(name, out);
                out.push(':');
                write_canonical(member, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(text) => write_string(text, out),
        Value::Number(number) => match number.as_f64() {
            // JavaScript has one number type and writes integral values without a fraction.
            Some(f) if number.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => {
                out.push_str(&format!("{f:.0}"));
            }
            _ => out.push_str(&number.to_string()),
        },
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(text: &str, out: &mut String) {
    // serde_json escapes exactly what JSON.stringify escapes: `"`, `\`, and control
    // characters (the short forms where JSON has them, `\u00XX` otherwise).
    out.push_str(&Value::String(text.to_owned()).to_string());
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    const KEY: &[u8] = b"test-hmac-key";

    #[test]
    fn canonical_json_is_what_javascript_writes() {
        let value = json!({"b": 1, "a": {"d": [1, 2.5, 3.0], "c": "x\"y\n\u{1}é"}, "B": null});
        assert_eq!(
            canonical_json(&value),
            r#"{"B":null,"a":{"c":"x\"y\n\u0001é","d":[1,2.5,3]},"b":1}"#
        );
    }

    fn solve(challenge: &Challenge) -> (u32, String) {
        let p = &challenge.parameters;
        let derivation = Derivation::from_name(p["algorithm"].as_str().unwrap()).unwrap();
        let nonce = unhex(p["nonce"].as_str().unwrap()).unwrap();
        let salt = unhex(p["salt"].as_str().unwrap()).unwrap();
        let prefix = p["keyPrefix"].as_str().unwrap();
        let cost = p["cost"].as_u64().unwrap() as u32;
        (0u32..)
            .find_map(|counter| {
                let mut password = nonce.clone();
                password.extend_from_slice(&counter.to_be_bytes());
                let key = hex(&derivation.derive(&salt, &password, cost, 32));
                key.starts_with(prefix).then_some((counter, key))
            })
            .unwrap()
    }

    fn payload(challenge: &Challenge, counter: u32, key: &str) -> Payload {
        serde_json::from_value(json!({
            "challenge": {"parameters": challenge.parameters, "signature": challenge.signature},
            "solution": {"counter": counter, "derivedKey": key, "time": 3.5},
        }))
        .unwrap()
    }

    fn issued(derivation: Derivation, cost: u32) -> Challenge {
        let mut data = Map::new();
        data.insert("action".into(), "signup".into());
        issue(
            &MacKey::new(KEY),
            Sha::Sha256,
            Issue {
                derivation,
                cost,
                key_prefix: "0",
                data,
                expires: SystemTime::now() + Duration::from_secs(60),
            },
        )
    }

    #[test]
    fn issued_challenges_verify_once_solved_for_each_derivation() {
        for (derivation, cost) in [
            (Derivation::Sha(Sha::Sha256), 1),
            (Derivation::Sha(Sha::Sha512), 3),
            (Derivation::Pbkdf2(Sha::Sha256), 10),
        ] {
            let challenge = issued(derivation, cost);
            let (counter, key) = solve(&challenge);
            let checked = check(
                payload(&challenge, counter, &key),
                &[&MacKey::new(KEY)],
                Sha::Sha256,
                SystemTime::now(),
            )
            .unwrap();
            assert_eq!(checked.action.as_deref(), Some("signup"));
            let wrong = check(
                payload(&challenge, counter.wrapping_add(1), &key),
                &[&MacKey::new(KEY)],
                Sha::Sha256,
                SystemTime::now(),
            );
            assert_eq!(wrong.unwrap_err().code(), "invalid_token", "{derivation:?}");
        }
    }

    #[test]
    fn a_key_that_misses_the_prefix_is_no_solution() {
        let mut challenge = issued(Derivation::Sha(Sha::Sha256), 1);
        // A prefix the first counters miss, re-signed as an issuer would.
        challenge.parameters["keyPrefix"] = "ffff".into();
        challenge.signature = hex(&MacKey::new(KEY).mac(
            Sha::Sha256,
            canonical_json(&challenge.parameters).as_bytes(),
        ));
        let p = &challenge.parameters;
        let mut password = unhex(p["nonce"].as_str().unwrap()).unwrap();
        password.extend_from_slice(&0u32.to_be_bytes());
        let key = hex(&Derivation::Sha(Sha::Sha256).derive(
            &unhex(p["salt"].as_str().unwrap()).unwrap(),
            &password,
            1,
            32,
        ));
        if !key.starts_with("ffff") {
            let err = check(
                payload(&challenge, 0, &key),
                &[&MacKey::new(KEY)],
                Sha::Sha256,
                SystemTime::now(),
            )
            .unwrap_err();
            assert_eq!(err.provider_codes(), ["altcha-wrong-solution"]);
        }
    }

    /// `challenge` with `name` set to `value`, re-signed with our key: what an issuer sharing
    /// the key could send.
    fn resigned(challenge: &Challenge, name: &str, value: Value) -> Challenge {
        let mut challenge = challenge.clone();
        challenge.parameters[name] = value;
        challenge.signature = hex(&MacKey::new(KEY).mac(
            Sha::Sha256,
            canonical_json(&challenge.parameters).as_bytes(),
        ));
        challenge
    }

    fn provider_codes(challenge: &Challenge, counter: u32, key: &str) -> Vec<String> {
        let err = check(
            payload(challenge, counter, key),
            &[&MacKey::new(KEY)],
            Sha::Sha256,
            SystemTime::now(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "invalid_token");
        err.provider_codes().to_vec()
    }

    #[test]
    fn a_signed_cost_above_the_most_we_derive_is_refused_before_deriving() {
        let challenge = issued(Derivation::Sha(Sha::Sha256), 1);
        let (counter, key) = solve(&challenge);
        // At the limit the key is derived (and this one, solved at cost 1, is wrong there).
        let at_limit = resigned(&challenge, "cost", MAX_V2_COST.into());
        assert_eq!(
            provider_codes(&at_limit, counter, &key),
            ["altcha-wrong-solution"]
        );
        // PBKDF2 runs its rounds once per block of output: a key of two blocks at the limit
        // is twice the work.
        let pbkdf2 = issued(Derivation::Pbkdf2(Sha::Sha256), 1);
        let (counter, key) = solve(&pbkdf2);
        let one_block = resigned(&pbkdf2, "cost", MAX_V2_COST.into());
        assert_eq!(
            provider_codes(&one_block, counter, &key),
            ["altcha-wrong-solution"]
        );
        let two_blocks = resigned(&one_block, "keyLength", 33.into());
        assert_eq!(
            provider_codes(&two_blocks, counter, &key),
            ["altcha-cost-too-high"]
        );
        let challenge = issued(Derivation::Sha(Sha::Sha256), 1);
        let (counter, key) = solve(&challenge);
        let above = resigned(&challenge, "cost", (MAX_V2_COST + 1).into());
        assert_eq!(
            provider_codes(&above, counter, &key),
            ["altcha-cost-too-high"]
        );
    }

    #[test]
    fn a_signed_parameter_of_the_wrong_type_is_an_issuer_s_mistake_not_a_payload() {
        // Under a valid signature the client chose none of it: `invalid_token`, told apart
        // by its provider code, rather than `malformed_token`.
        let challenge = issued(Derivation::Sha(Sha::Sha256), 1);
        let (counter, key) = solve(&challenge);
        for (name, value) in [
            ("cost", json!("1")),
            ("cost", json!(-1)),
            ("cost", json!(1.5)),
            ("keyLength", json!("32")),
            ("keyLength", json!(0)),
            ("keyLength", json!(MAX_KEY_LENGTH + 1)),
            ("keyPrefix", json!(0)),
            ("keyPrefix", json!("0x")),
            ("nonce", json!(7)),
            ("nonce", json!("not hex")),
            ("salt", json!(["00"])),
        ] {
            let wrong = resigned(&challenge, name, value.clone());
            assert_eq!(
                provider_codes(&wrong, counter, &key),
                ["altcha-malformed-parameters"],
                "{name} = {value}"
            );
        }
        for value in [json!("later"), json!(-5), json!(null)] {
            let wrong = resigned(&challenge, "expiresAt", value.clone());
            assert_eq!(
                provider_codes(&wrong, counter, &key),
                ["altcha-no-expiry"],
                "expiresAt = {value}"
            );
        }
        let wrong = resigned(&challenge, "algorithm", json!("MD5"));
        assert_eq!(
            provider_codes(&wrong, counter, &key),
            ["altcha-unsupported-algorithm"]
        );
    }

    #[test]
    fn tampered_parameters_break_the_signature() {
        let challenge = issued(Derivation::Sha(Sha::Sha256), 1);
        let (counter, key) = solve(&challenge);
        let mut tampered = challenge.clone();
        tampered.parameters["expiresAt"] = (u64::from(u32::MAX)).into();
        let err = check(
            payload(&tampered, counter, &key),
            &[&MacKey::new(KEY)],
            Sha::Sha256,
            SystemTime::now(),
        )
        .unwrap_err();
        assert_eq!(err.provider_codes(), ["altcha-bad-signature"]);
        let mut relabelled = challenge.clone();
        relabelled.parameters["data"]["action"] = "login".into();
        let err = check(
            payload(&relabelled, counter, &key),
            &[&MacKey::new(KEY)],
            Sha::Sha256,
            SystemTime::now(),
        )
        .unwrap_err();
        assert_eq!(err.provider_codes(), ["altcha-bad-signature"]);
    }
}
