//! The hash and MAC primitives ALTCHA is built on, and the constant-time comparison every
//! check goes through.

use std::fmt;

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
    /// The length of its output in bytes.
    pub(crate) fn output_len(self) -> usize {
        match self {
            Sha::Sha256 => 32,
            Sha::Sha384 => 48,
            Sha::Sha512 => 64,
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "SHA-256" => Some(Sha::Sha256),
            "SHA-384" => Some(Sha::Sha384),
            "SHA-512" => Some(Sha::Sha512),
            _ => None,
        }
    }

    /// The hash of `parts`, one after the other: what would be hashed of their
    /// concatenation, without building it.
    pub(crate) fn digest(self, parts: &[&[u8]]) -> Hash {
        fn run<D: Digest>(parts: &[&[u8]]) -> Hash {
            let mut hasher = D::new();
            for part in parts {
                hasher.update(part);
            }
            Hash::new(&hasher.finalize())
        }
        match self {
            Sha::Sha256 => run::<Sha256>(parts),
            Sha::Sha384 => run::<Sha384>(parts),
            Sha::Sha512 => run::<Sha512>(parts),
        }
    }
}

/// A hash or MAC output, up to SHA-512's 64 bytes, on the stack: a verification computes
/// several, and none needs to outlive it.
#[derive(Clone, Copy)]
pub(crate) struct Hash {
    bytes: [u8; 64],
    len: usize,
}

impl Hash {
    fn new(bytes: &[u8]) -> Self {
        let mut out = [0u8; 64];
        out[..bytes.len()].copy_from_slice(bytes);
        Self {
            bytes: out,
            len: bytes.len(),
        }
    }
}

impl std::ops::Deref for Hash {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// An HMAC key made ready once: HMAC hashes the key's inner and outer pads before any data,
/// two compressions per call that depend on the key alone, so the keyed states are kept (the
/// verifier makes its keys' once) and cloned per call instead. For each hash ALTCHA names,
/// since a classic payload names its own. Every MAC here, issued or checked, goes through it.
///
/// It is derived from the secret, so its `Debug` prints nothing of it.
#[derive(Clone)]
pub(crate) struct MacKey {
    sha256: Hmac<Sha256>,
    sha384: Hmac<Sha384>,
    sha512: Hmac<Sha512>,
}

impl MacKey {
    pub(crate) fn new(key: &[u8]) -> Self {
        // HMAC takes a key of any length.
        Self {
            sha256: KeyInit::new_from_slice(key).expect("HMAC accepts any key"),
            sha384: KeyInit::new_from_slice(key).expect("HMAC accepts any key"),
            sha512: KeyInit::new_from_slice(key).expect("HMAC accepts any key"),
        }
    }

    /// HMAC of `data` with the hash `sha`.
    pub(crate) fn mac(&self, sha: Sha, data: &[u8]) -> Hash {
        fn run<M: Mac + Clone>(keyed: &M, data: &[u8]) -> Hash {
            let mut mac = keyed.clone();
            mac.update(data);
            Hash::new(&mac.finalize().into_bytes())
        }
        match sha {
            Sha::Sha256 => run(&self.sha256, data),
            Sha::Sha384 => run(&self.sha384, data),
            Sha::Sha512 => run(&self.sha512, data),
        }
    }
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey([redacted])")
    }
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Every byte's two lowercase hex digits: one load per byte where a verification writes
/// three hashes as hex.
const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut table = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = [DIGITS[b >> 4], DIGITS[b & 0x0f]];
        b += 1;
    }
    table
};

/// What no hex digit is worth: any value with a bit above the low four set would do.
const NOT_HEX: u8 = 0xff;

/// Every byte's value as a hex digit (either case), or [`NOT_HEX`]: one load per digit
/// instead of a branch per range, and a check that a whole string is hex is then an OR over
/// it.
const UNHEX: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Lowercase hex, as ALTCHA writes every hash.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let [hi, lo] = HEX_PAIRS[usize::from(*b)];
        out.push(char::from(hi));
        out.push(char::from(lo));
    }
    out
}

/// [`hex`] of a [`Hash`], on the stack.
pub(crate) fn hex_of(hash: &Hash) -> HexHash {
    let mut out = HexHash {
        digits: [0u8; 128],
        len: hash.len() * 2,
    };
    for (pair, b) in out.digits.chunks_exact_mut(2).zip(hash.iter()) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
    out
}

/// A [`Hash`] as lowercase hex digits.
pub(crate) struct HexHash {
    digits: [u8; 128],
    len: usize,
}

impl std::ops::Deref for HexHash {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.digits[..self.len]
    }
}

/// Whether `text` is `bytes` in hex, either case: [`unhex`] and compare, without the copy.
/// Not constant time: for public values only.
pub(crate) fn is_hex_of(text: &str, bytes: &[u8]) -> bool {
    if text.len() != bytes.len() * 2 {
        return false;
    }
    // Any digit that is not hex, or any byte that differs, leaves a high or a low bit set.
    let mut off = 0u8;
    for (pair, b) in text.as_bytes().chunks_exact(2).zip(bytes) {
        let (hi, lo) = nibbles(pair);
        off |= ((hi | lo) & 0xf0) | ((hi << 4 | lo) ^ b);
    }
    off == 0
}

/// The bytes of an even-length hex string of at most 64 bytes, either case, on the stack;
/// `None` for anything else (a signature that is not hex is no signature of ours).
pub(crate) fn unhex_hash(text: &str) -> Option<Hash> {
    if text.len() > 128 || !text.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Hash {
        bytes: [0u8; 64],
        len: text.len() / 2,
    };
    let mut not_hex = 0u8;
    for (b, pair) in out.bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let (hi, lo) = nibbles(pair);
        not_hex |= hi | lo;
        *b = hi << 4 | lo;
    }
    (not_hex & 0xf0 == 0).then_some(out)
}

/// The table's values of a pair of digits: a digit's value, or a byte with a high bit set
/// for anything that is not a hex digit, so that one mask over many pairs tells whether all
/// were digits.
#[inline]
fn nibbles(pair: &[u8]) -> (u8, u8) {
    (UNHEX[usize::from(pair[0])], UNHEX[usize::from(pair[1])])
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let (hi, lo) = nibbles(pair);
    ((hi | lo) & 0xf0 == 0).then_some(hi << 4 | lo)
}

/// The bytes of an even-length hex string, either case; `None` for anything else.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes().chunks(2).map(hex_pair).collect()
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
            hex(&MacKey::new(b"Jefe").mac(Sha::Sha256, b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&Sha::Sha256.digest(&[b"ab", b"c"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_key_made_ready_once_gives_every_call_the_same_macs() {
        // RFC 4231 test case 2, each hash, twice from one MacKey: a keyed state that one
        // call changed would give the second a different answer.
        let key = MacKey::new(b"Jefe");
        let data = b"what do ya want for nothing?";
        let expected = [
            (
                Sha::Sha256,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                Sha::Sha384,
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
            ),
            (
                Sha::Sha512,
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ),
        ];
        for (sha, mac) in expected {
            for _ in 0..2 {
                assert_eq!(hex(&key.mac(sha, data)), mac, "{sha:?}");
            }
        }
        assert_eq!(format!("{key:?}"), "MacKey([redacted])");
    }

    #[test]
    fn hex_on_the_stack_matches_hex() {
        let hash = Sha::Sha512.digest(&[b"abc"]);
        assert_eq!(&*hex_of(&hash), hex(&hash).as_bytes());
        let upper = hex(&hash).to_ascii_uppercase();
        assert!(is_hex_of(&upper, &hash));
        assert_eq!(unhex_hash(&upper).as_deref(), Some(&*hash));
        assert!(!is_hex_of(&upper[2..], &hash), "shorter");
        assert!(!is_hex_of(&format!("{}zz", &upper[2..]), &hash), "not hex");
        for bad in ["0", "zz", "0g", "é0"] {
            assert!(unhex_hash(bad).is_none(), "{bad}");
        }
        assert!(
            unhex_hash(&"00".repeat(65)).is_none(),
            "longer than any hash"
        );
    }

    #[test]
    fn every_pair_of_bytes_reads_as_hex_as_to_digit_says() {
        let digit = |b: u8| char::from(b).to_digit(16);
        for hi in 0..=u8::MAX {
            for lo in 0..=u8::MAX {
                let expected = digit(hi).zip(digit(lo)).map(|(h, l)| (h * 16 + l) as u8);
                assert_eq!(hex_pair(&[hi, lo]), expected, "{hi:#x} {lo:#x}");
            }
        }
    }

    #[test]
    fn a_hash_in_hex_differing_anywhere_is_not_that_hash() {
        let hash = Sha::Sha256.digest(&[b"abc"]);
        let text = hex(&hash);
        assert!(is_hex_of(&text, &hash));
        for at in 0..text.len() {
            for c in ['0', 'f', 'F', 'g', '/', ':', '@', '`'] {
                let mut changed = text.clone().into_bytes();
                changed[at] = c as u8;
                let changed = String::from_utf8(changed).unwrap();
                let same = changed.eq_ignore_ascii_case(&text);
                assert_eq!(is_hex_of(&changed, &hash), same, "{changed}");
                assert_eq!(
                    unhex_hash(&changed).is_some_and(|h| *h == *hash),
                    same,
                    "{changed}"
                );
            }
        }
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
