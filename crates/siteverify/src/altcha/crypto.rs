//! The hash and MAC primitives ALTCHA is built on, and the constant-time comparison every
//! check goes through.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// A hash ALTCHA names: `SHA-256`, `SHA-384`, `SHA-512` (the HMAC of a v2 signature uses the
/// same names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sha {
    Sha256,
    Sha384,
    Sha512,
}

impl Sha {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "SHA-256" => Some(Sha::Sha256),
            "SHA-384" => Some(Sha::Sha384),
            "SHA-512" => Some(Sha::Sha512),
            _ => None,
        }
    }

    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Sha::Sha256 => Sha256::digest(data).to_vec(),
            Sha::Sha384 => Sha384::digest(data).to_vec(),
            Sha::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            // HMAC takes a key of any length.
            let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts any key");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Sha::Sha256 => mac::<Hmac<Sha256>>(key, data),
            Sha::Sha384 => mac::<Hmac<Sha384>>(key, data),
            Sha::Sha512 => mac::<Hmac<Sha512>>(key, data),
        }
    }
}

/// Lowercase hex, as ALTCHA writes every hash.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The bytes of an even-length hex string, either case; `None` for anything else.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// Equality that takes the same time wherever the inputs differ, so that a forger cannot
/// find a signature byte by byte from our answer times. Lengths are public.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// `n` random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS's randomness failing is not something a CAPTCHA can work around; without it no
    // challenge can be issued safely.
    getrandom::fill(&mut bytes).expect("the operating system's random number generator");
    bytes
}

/// A uniformly random integer in `0..=max`.
pub(crate) fn random_up_to(max: u64) -> u64 {
    if max == u64::MAX {
        return u64::from_le_bytes(random_bytes());
    }
    let bound = max + 1;
    // Rejection sampling: no modulo bias.
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let candidate = u64::from_le_bytes(random_bytes());
        if candidate < zone {
            return candidate % bound;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_junk() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(unhex("00ABff"), Some(vec![0x00, 0xab, 0xff]));
        for bad in ["0", "zz", "0g", "é0"] {
            assert_eq!(unhex(bad), None, "{bad}");
        }
    }

    #[test]
    fn known_answers() {
        // RFC 4231 test case 2.
        assert_eq!(
            hex(&Sha::Sha256.hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&Sha::Sha256.digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn comparison_and_randomness() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert_ne!(random_bytes::<16>(), random_bytes::<16>());
        assert!((0..1000).all(|_| random_up_to(9) <= 9));
    }
}
