//! ALTCHA's classic protocol: `challenge = hex(SHA(salt + number))`, signed with
//! `hex(HMAC(key, challenge))`, parameters such as `expires` in the salt's query part.

use std::{
    borrow::Cow,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

use super::{
    Checked,
    crypto::{
        MacKey, Sha, constant_time_eq, hex, hex_of, is_hex_of, random_bytes, random_up_to,
        unhex_hash,
    },
    expired, invalid, parse_unix_seconds,
};
use crate::VerifyError;

/// A classic challenge, as the widget fetches it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Challenge {
    pub(crate) algorithm: &'static str,
    pub(crate) challenge: String,
    pub(crate) maxnumber: u64,
    pub(crate) salt: String,
    pub(crate) signature: String,
}

/// What the widget posts back, base64-encoded. The strings borrow from the decoded JSON
/// (a copy only where one holds an escape): they are read once, during the check.
#[derive(Deserialize)]
pub(crate) struct Payload<'a> {
    #[serde(borrow)]
    algorithm: Cow<'a, str>,
    #[serde(borrow)]
    challenge: Cow<'a, str>,
    /// An integer: a string, a float or a negative number is not a solution (altcha-lib once
    /// accepted a string here).
    number: u64,
    #[serde(borrow)]
    salt: Cow<'a, str>,
    #[serde(borrow)]
    signature: Cow<'a, str>,
    #[serde(default)]
    took: Option<f64>,
}

/// Issues a challenge whose number is at most `max_number`, with `params` (and `expires`)
/// signed into its salt.
pub(crate) fn issue(
    key: &MacKey,
    max_number: u64,
    params: &[(&str, &str)],
    expires: SystemTime,
) -> Challenge {
    let expires = expires
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        .to_string();
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(params.iter().copied());
    query.append_pair("expires", &expires);
    // The trailing `&` is the delimiter that keeps a number's digits from being read as part
    // of the last parameter (the fix of CVE-2025-68113).
    let salt = format!("{}?{}&", hex(&random_bytes::<12>()), query.finish());
    let number = random_up_to(max_number);
    let sha = Sha::Sha256;
    let challenge = hex(&sha.digest(&[salt.as_bytes(), number.to_string().as_bytes()]));
    let signature = hex(&key.mac(sha, challenge.as_bytes()));
    Challenge {
        algorithm: "SHA-256",
        challenge,
        maxnumber: max_number,
        salt,
        signature,
    }
}

/// Checks a classic payload against `keys` (the current one first).
pub(crate) fn check(
    payload: Payload<'_>,
    keys: &[&MacKey],
    now: SystemTime,
) -> Result<Checked, VerifyError> {
    let sha = Sha::from_name(&payload.algorithm)
        .ok_or_else(|| invalid("altcha-unsupported-algorithm"))?;
    // A salt without its final delimiter can be spliced with the number's digits to change
    // the last parameter (an `expires` ten times later, say).
    if !payload.salt.ends_with('&') {
        return Err(invalid("altcha-salt-without-delimiter"));
    }
    let params = salt_params(&payload.salt)?;
    let find = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    };
    // altcha-lib writes `expires`; its verifier also reads `expire`.
    let expires = find("expires")
        .or_else(|| find("expire"))
        .ok_or_else(|| invalid("altcha-no-expiry"))?;
    let expires = parse_unix_seconds(expires).ok_or_else(|| invalid("altcha-no-expiry"))?;
    if expires < now {
        return Err(expired());
    }
    let mut digits = [0u8; 20];
    let digest = sha.digest(&[
        payload.salt.as_bytes(),
        decimal(payload.number, &mut digits),
    ]);
    // The challenge is public (it came with the payload), so a plain comparison will do.
    if !is_hex_of(&payload.challenge, &digest) {
        return Err(invalid("altcha-wrong-solution"));
    }
    // What is signed is the challenge as we write it (lowercase hex); the signature may come
    // in either case. Anything that is not hex cannot be ours.
    let challenge = hex_of(&digest);
    let claimed = unhex_hash(&payload.signature).ok_or_else(|| invalid("altcha-bad-signature"))?;
    let signed = keys
        .iter()
        .any(|key| constant_time_eq(&key.mac(sha, &challenge), &claimed));
    if !signed {
        return Err(invalid("altcha-bad-signature"));
    }
    Ok(Checked {
        // The signature as we write it: the same id whatever case it came in.
        id: Checked::id_of(1, &hex_of(&claimed)),
        expires,
        action: find("action").map(str::to_owned),
        issued: find("issued").and_then(parse_unix_seconds),
        solve_time: payload.took.and_then(duration_ms),
    })
}

/// `n` in decimal digits, as JavaScript's `salt + number` writes it, in `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        // A digit: the remainder is below 10.
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// A salt parameter's name and value, borrowed from the salt unless percent-decoding changed
/// them.
type Param<'a> = (Cow<'a, str>, Cow<'a, str>);

/// The salt's parameters, each name once: a repeated name would let two readers of the salt
/// disagree on its value.
fn salt_params(salt: &str) -> Result<Vec<Param<'_>>, VerifyError> {
    let query = salt.split_once('?').map_or("", |(_, query)| query);
    // Ours carry two or three (`action`, `issued`, `expires`).
    let mut params: Vec<Param<'_>> = Vec::with_capacity(4);
    for (name, value) in query_pairs(query) {
        if params.iter().any(|(k, _)| *k == name) {
            return Err(invalid("altcha-repeated-parameter"));
        }
        params.push((name, value));
    }
    Ok(params)
}

/// `application/x-www-form-urlencoded` pairs, as `form_urlencoded::parse` reads them (and
/// URLSearchParams, which altcha-lib uses). A query with no `%` and no `+` has nothing to
/// decode, and most salts have neither: its pairs are cut out of it directly, which
/// `form_urlencoded` would do at several times the cost (a lossy UTF-8 pass per name and
/// value).
fn query_pairs(query: &str) -> impl Iterator<Item = Param<'_>> {
    // Bytes, not chars: a search for either of two chars decodes UTF-8 as it goes, and
    // neither can be part of a multi-byte character.
    let plain = !query.bytes().any(|b| b == b'%' || b == b'+');
    let direct = plain.then(|| {
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (Cow::Borrowed(name), Cow::Borrowed(value))
            })
    });
    let decoded = (!plain).then(|| form_urlencoded::parse(query.as_bytes()));
    direct
        .into_iter()
        .flatten()
        .chain(decoded.into_iter().flatten())
}

/// Milliseconds a client reports, as a duration; nonsense gives none.
pub(crate) fn duration_ms(ms: f64) -> Option<Duration> {
    (0.0..1e12)
        .contains(&ms)
        .then(|| Duration::from_secs_f64(ms / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salt_parameters_read_as_form_urlencoded_reads_them() {
        let queries = [
            "",
            "&",
            "a=1&b=2&",
            "a=1&&b=&c&=d&",
            "a==1&b=2=3",
            "action=sign%20up&expires=1&",
            "action=sign+up&expires=1&",
            "a%3D=b%26&",
            "%zz=%e9&x=%C3%A9",
            "é=ü&",
        ];
        for query in queries {
            let ours: Vec<_> = query_pairs(query).collect();
            let theirs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
            assert_eq!(ours, theirs, "{query:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_salt_reads_as_form_urlencoded_reads_it(query in "[ab=&%+0-9é]{0,24}") {
            let ours: Vec<_> = query_pairs(&query).collect();
            let theirs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
            proptest::prop_assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn numbers_are_written_as_javascript_writes_them() {
        let mut buf = [0u8; 20];
        for n in [0, 7, 10, 20, 12_345, u64::MAX] {
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }

    const KEY: &[u8] = b"test-hmac-key";

    fn solve(challenge: &Challenge) -> u64 {
        (0..=challenge.maxnumber)
            .find(|n| {
                hex(&Sha::Sha256.digest(&[format!("{}{n}", challenge.salt).as_bytes()]))
                    == challenge.challenge
            })
            .expect("a solution within maxnumber")
    }

    fn payload(challenge: &Challenge, number: u64) -> Payload<'_> {
        Payload {
            algorithm: challenge.algorithm.into(),
            challenge: challenge.challenge.as_str().into(),
            number,
            salt: challenge.salt.as_str().into(),
            signature: challenge.signature.as_str().into(),
            took: Some(12.0),
        }
    }

    fn keys(key: &[u8]) -> MacKey {
        MacKey::new(key)
    }

    fn in_a_minute() -> SystemTime {
        SystemTime::now() + Duration::from_secs(60)
    }

    #[test]
    fn an_issued_challenge_verifies_once_solved() {
        let key = keys(KEY);
        let challenge = issue(&key, 1000, &[("action", "signup")], in_a_minute());
        assert!(
            challenge.salt.contains("?action=signup&expires="),
            "{}",
            challenge.salt
        );
        assert!(challenge.salt.ends_with('&'));
        let number = solve(&challenge);
        let checked = check(payload(&challenge, number), &[&key], SystemTime::now()).unwrap();
        assert_eq!(checked.action.as_deref(), Some("signup"));
        assert_eq!(checked.solve_time, Some(Duration::from_millis(12)));
        let wrong = check(payload(&challenge, number + 1), &[&key], SystemTime::now());
        assert_eq!(wrong.unwrap_err().code(), "invalid_token");
        let other_key = check(
            payload(&challenge, number),
            &[&keys(b"other")],
            SystemTime::now(),
        );
        assert_eq!(other_key.unwrap_err().code(), "invalid_token");
        // Either case of the hex, one id: the case cannot make a spent challenge new.
        let upper = Challenge {
            challenge: challenge.challenge.to_ascii_uppercase(),
            signature: challenge.signature.to_ascii_uppercase(),
            ..challenge.clone()
        };
        let again = check(payload(&upper, number), &[&key], SystemTime::now()).unwrap();
        assert_eq!(again.id, checked.id);
    }

    #[test]
    fn an_expired_challenge_is_refused() {
        let challenge = issue(
            &keys(KEY),
            10,
            &[],
            SystemTime::now() - Duration::from_secs(1),
        );
        let number = solve(&challenge);
        let err = check(
            payload(&challenge, number),
            &[&keys(KEY)],
            SystemTime::now(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "expired_or_duplicate");
    }
}
