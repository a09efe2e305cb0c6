//! Timestamps in the exact shapes the providers send.

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// How many fractional-second digits a provider prints in `challenge_ts`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Precision {
    /// reCAPTCHA: `2024-05-06T07:08:09Z`.
    Seconds,
    /// Turnstile: `2024-05-06T07:08:09.123Z`.
    Millis,
    /// hCaptcha: `2024-05-06T07:08:09.123456Z`.
    Micros,
}

/// RFC 3339 in UTC with a `Z` suffix.
pub(crate) fn rfc3339(at: SystemTime, precision: Precision) -> String {
    let t = OffsetDateTime::from(at);
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    match precision {
        Precision::Seconds => format!("{base}Z"),
        Precision::Millis => format!("{base}.{:03}Z", t.millisecond()),
        Precision::Micros => format!("{base}.{:06}Z", t.microsecond()),
    }
}

/// Whole seconds since the Unix epoch (ByeBot's `challenged_at`); 0 before the epoch.
pub(crate) fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_each_precision() {
        let at = UNIX_EPOCH + Duration::new(1_715_000_000, 123_456_789);
        assert_eq!(rfc3339(at, Precision::Seconds), "2024-05-06T12:53:20Z");
        assert_eq!(rfc3339(at, Precision::Millis), "2024-05-06T12:53:20.123Z");
        assert_eq!(
            rfc3339(at, Precision::Micros),
            "2024-05-06T12:53:20.123456Z"
        );
        assert_eq!(unix_secs(at), 1_715_000_000);
    }
}
