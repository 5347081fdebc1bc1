//! Go duration strings (`90m`, `1h30m`, `1.5h`): the format of every duration in the API,
//! because Kubernetes CEL's `duration()` parses exactly this format and so the API server
//! can compare them (`max` ≥ `default`, ≤ 24h) before the operator ever sees an object.

use std::{fmt, str::FromStr, time::Duration};

/// The ceiling for any grant, whatever a policy says.
pub const MAX_GRANT_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// A positive duration parsed from a Go duration string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoDuration(Duration);

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DurationError {
    #[error("{input:?} is not a Go duration (examples: 30m, 2h, 1h30m): {why}")]
    Invalid { input: String, why: &'static str },
    #[error("{input:?} must be a positive duration")]
    NotPositive { input: String },
}

impl GoDuration {
    pub fn as_std(self) -> Duration {
        self.0
    }

    /// Parses like Go's `time.ParseDuration`, but only positive, unsigned values: a grant
    /// never has a negative or zero duration.
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        let invalid = |why| DurationError::Invalid {
            input: input.to_owned(),
            why,
        };
        if input.is_empty() {
            return Err(invalid("empty"));
        }
        let mut rest = input;
        let mut total_nanos: u128 = 0;
        while !rest.is_empty() {
            let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            let int_part = &rest[..int_len];
            rest = &rest[int_len..];
            let mut frac_part = "";
            if let Some(after_dot) = rest.strip_prefix('.') {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                frac_part = &after_dot[..frac_len];
                rest = &after_dot[frac_len..];
            }
            if int_part.is_empty() && frac_part.is_empty() {
                return Err(invalid("expected a number"));
            }
            let unit_len = rest
                .char_indices()
                .find(|(_, c)| c.is_ascii_digit() || *c == '.')
                .map_or(rest.len(), |(i, _)| i);
            let nanos_per_unit: u128 = match &rest[..unit_len] {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60 * 1_000_000_000,
                "h" => 3_600 * 1_000_000_000,
                "" => return Err(invalid("missing unit (ns, us, ms, s, m, h)")),
                _ => return Err(invalid("unknown unit (ns, us, ms, s, m, h)")),
            };
            rest = &rest[unit_len..];
            let whole: u128 = if int_part.is_empty() {
                0
            } else {
                int_part.parse().map_err(|_| invalid("number too large"))?
            };
            let mut frac_nanos: u128 = 0;
            let mut scale = nanos_per_unit;
            for digit in frac_part.bytes().take(18) {
                scale /= 10;
                frac_nanos += u128::from(digit - b'0') * scale;
            }
            total_nanos = whole
                .checked_mul(nanos_per_unit)
                .and_then(|n| n.checked_add(frac_nanos))
                .and_then(|n| total_nanos.checked_add(n))
                .filter(|n| *n <= i64::MAX as u128)
                .ok_or_else(|| invalid("out of range"))?;
        }
        if total_nanos == 0 {
            return Err(DurationError::NotPositive {
                input: input.to_owned(),
            });
        }
        let secs = (total_nanos / 1_000_000_000) as u64;
        let nanos = (total_nanos % 1_000_000_000) as u32;
        Ok(Self(Duration::new(secs, nanos)))
    }
}

impl FromStr for GoDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for GoDuration {
    /// Formats in Go's canonical style for whole seconds (`1h30m0s`), compact otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
        let sub = self.0.subsec_nanos();
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if h > 0 || m > 0 {
            write!(f, "{m}m")?;
        }
        if sub == 0 {
            write!(f, "{s}s")
        } else {
            let frac = format!("{sub:09}");
            write!(f, "{s}.{}s", frac.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> f64 {
        GoDuration::parse(s).expect(s).as_std().as_secs_f64()
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(secs("1h"), 3600.0);
        assert_eq!(secs("90m"), 5400.0);
        assert_eq!(secs("1h30m"), 5400.0);
        assert_eq!(secs("1.5h"), 5400.0);
        assert_eq!(secs("24h"), 86400.0);
        assert_eq!(secs("2h45m30s"), 9930.0);
        assert_eq!(secs(".5s"), 0.5);
        assert_eq!(secs("1500ms"), 1.5);
        assert_eq!(secs("3µs"), 0.000003);
        assert_eq!(secs("3μs"), 0.000003);
        assert_eq!(secs("3us"), 0.000003);
        assert_eq!(secs("10ns"), 0.00000001);
    }

    #[test]
    fn rejects_what_go_rejects_and_non_positive() {
        for bad in [
            "", "1", "h", "1d", "1 h", "-1h", "+1h", "1h ", "1..5h", "1hh", "abc", ".h",
        ] {
            assert!(
                matches!(GoDuration::parse(bad), Err(DurationError::Invalid { .. })),
                "{bad:?} should be invalid"
            );
        }
        assert_eq!(
            GoDuration::parse("0s"),
            Err(DurationError::NotPositive { input: "0s".into() })
        );
        assert!(GoDuration::parse("9999999999h").is_err());
    }

    #[test]
    fn orders_and_compares_with_ceiling() {
        assert!(GoDuration::parse("23h59m").unwrap().as_std() < MAX_GRANT_DURATION);
        assert!(GoDuration::parse("24h1s").unwrap().as_std() > MAX_GRANT_DURATION);
        assert!(GoDuration::parse("1h").unwrap() < GoDuration::parse("61m").unwrap());
    }

    #[test]
    fn displays_like_go() {
        for (input, shown) in [
            ("90m", "1h30m0s"),
            ("45s", "45s"),
            ("2m", "2m0s"),
            ("1500ms", "1.5s"),
        ] {
            assert_eq!(GoDuration::parse(input).unwrap().to_string(), shown);
        }
    }

    #[test]
    fn error_messages_name_the_input_and_the_fix() {
        let msg = GoDuration::parse("1d").unwrap_err().to_string();
        assert!(msg.contains("\"1d\"") && msg.contains("2h"), "{msg}");
    }
}
