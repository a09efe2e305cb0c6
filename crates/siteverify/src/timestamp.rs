//! Challenge times: providers send ISO-8601 (`challenge_ts`) or unix seconds (ByeBot); the
//! verdict holds one `SystemTime`.

use std::{
    fmt,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::{
    Deserializer, Serializer,
    de::{self, Visitor},
};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// Parses the providers' `challenge_ts`. They differ in precision (`…:09Z`, `…:09.123Z`,
/// `…:09.000000Z`) and sometimes in offset, all of which RFC 3339 covers; anything else is
/// treated as "no timestamp" rather than an unreadable answer, because the timestamp only
/// matters when a maximum age is configured, and then its absence fails closed.
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let parsed = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    Some(SystemTime::from(parsed))
}

/// Reads an optional `challenge_ts` straight out of the answer, without copying the text:
/// absent or `null` is no time, text that is not RFC 3339 is no time (as in
/// [`parse_rfc3339`]), any other JSON type makes the answer unreadable.
pub(crate) fn deserialize_rfc3339_opt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SystemTime>, D::Error> {
    struct Rfc3339Text;

    impl<'de> Visitor<'de> for Rfc3339Text {
        type Value = Option<SystemTime>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(parse_rfc3339(text))
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D2: Deserializer<'de>>(self, inner: D2) -> Result<Self::Value, D2::Error> {
            inner.deserialize_str(self)
        }
    }

    deserializer.deserialize_option(Rfc3339Text)
}

/// Unix seconds to a time, refusing values outside what a calendar date can hold (so that the
/// verdict can always be serialised).
pub(crate) fn from_unix_seconds(seconds: i64) -> Option<SystemTime> {
    let secs = u64::try_from(seconds).ok()?;
    OffsetDateTime::from_unix_timestamp(seconds).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// A time as a calendar date, or `None` out of range (instead of the panic of `From`).
fn to_datetime(at: SystemTime) -> Option<OffsetDateTime> {
    let nanos = match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).ok()?,
        Err(before) => -i128::try_from(before.duration().as_nanos()).ok()?,
    };
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// Serialises an optional time as an RFC 3339 string (or `null`).
pub(crate) fn serialize_opt<S: Serializer>(
    value: &Option<SystemTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value.and_then(|t| to_datetime(t)?.format(&Rfc3339).ok()) {
        Some(text) => serializer.serialize_some(&text),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_precision_the_providers_use() {
        let base = UNIX_EPOCH + Duration::from_secs(1_552_330_329);
        assert_eq!(parse_rfc3339("2019-03-11T18:52:09Z"), Some(base));
        assert_eq!(
            parse_rfc3339("2019-03-11T18:52:09.123Z"),
            Some(base + Duration::from_millis(123))
        );
        assert_eq!(parse_rfc3339("2019-03-11T18:52:09.000000Z"), Some(base));
        assert_eq!(parse_rfc3339("2019-03-11T19:52:09+01:00"), Some(base));
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339(""), None);
    }

    #[test]
    fn far_future_times_are_refused_or_serialise_without_panicking() {
        assert_eq!(from_unix_seconds(i64::MAX / 2), None);
        assert_eq!(from_unix_seconds(253_402_300_800), None, "year 10000");
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        let json = serde_json::to_string(
            &crate::Verdict::new(crate::Provider::ByeBot).with_challenge_ts(far),
        )
        .unwrap();
        assert!(json.contains(r#""challenge_ts":null"#), "{json}");
    }

    #[test]
    fn unix_seconds_reject_negative_values() {
        assert_eq!(from_unix_seconds(-1), None);
        assert_eq!(
            from_unix_seconds(10),
            Some(UNIX_EPOCH + Duration::from_secs(10))
        );
    }
}
