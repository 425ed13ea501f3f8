//! Value types written in zeta-bench's files: durations (`90s`, `5m`,
//! `1h30m`, `250ms`), rates (`100/s`, `600/m`) and percentages (`90%`).
//!
//! Durations are printed back in Prometheus' own format, because rendered
//! stack configs (scrape intervals, rule `for`, Alertmanager timers) are
//! read by Prometheus and Alertmanager.

use std::time::Duration;

const UNITS: &[(&str, u128)] = &[
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

pub const DURATION_EXPECTED: &str = "a duration like \"90s\", \"5m\" or \"1h30m\"";
pub const RATE_EXPECTED: &str = "a rate like \"100/s\" or \"600/m\"";
pub const PERCENT_EXPECTED: &str = "a percentage like \"90%\"";

/// Parse `1h30m`, `90s`, `1.5s`, `250ms`. Units: ms, s, m, h, d, w.
/// The longest duration any input may give: a year. Longer is a typo or
/// an attack, and would overflow sums of durations.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// The time scales a run accepts: at most 1000 times faster or slower
/// than real time. Past that, scaled durations leave what a run can keep
/// (a 5-minute window at K = 1e-300 is longer than the universe).
pub const TIME_SCALE_MIN: f64 = 0.001;
pub const TIME_SCALE_MAX: f64 = 1000.0;

/// A time scale within [`TIME_SCALE_MIN`, `TIME_SCALE_MAX`], or the words
/// for what is wrong.
pub fn check_time_scale(k: f64) -> Result<f64, String> {
    if k.is_finite() && (TIME_SCALE_MIN..=TIME_SCALE_MAX).contains(&k) {
        Ok(k)
    } else {
        Err(format!(
            "expected a number from {TIME_SCALE_MIN} to {TIME_SCALE_MAX}, found {}",
            show_number(k)
        ))
    }
}

/// A number as a message shows it: plainly, or in exponent form when it
/// is very large or very small (`1e-300`, not three hundred zeros).
pub fn show_number(n: f64) -> String {
    if n != 0.0 && n.is_finite() && !(1e-4..1e9).contains(&n.abs()) {
        format!("{n:e}")
    } else {
        format!("{n}")
    }
}

/// Seconds as a duration when they are one: finite, not negative, at most
/// [`MAX_DURATION`]. Every number of seconds read from a file or flag goes
/// through this (or [`saturating_secs`] for display), never through
/// `Duration::from_secs_f64`, which panics on the rest.
pub fn checked_secs(s: f64) -> Option<Duration> {
    (s.is_finite() && s >= 0.0 && s <= MAX_DURATION.as_secs_f64())
        .then(|| Duration::from_secs_f64(s))
}

/// Seconds as a duration, clamped into [0, [`MAX_DURATION`]] (NaN as 0):
/// for printing numbers that may come from a hand-edited result.
pub fn saturating_secs(s: f64) -> Duration {
    if s.is_nan() {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(s.clamp(0.0, MAX_DURATION.as_secs_f64()))
}

/// Requests per second one load engine can send (it measures about 100k/s
/// on one core); more needs `--shard`.
pub const MAX_ENGINE_RATE: f64 = 200_000.0;

/// A duration within [`MAX_DURATION`], or the words for what is wrong.
pub fn parse_duration_checked(text: &str) -> Result<Duration, String> {
    let Some(ms) = parse_duration_ms(text) else {
        return Err(format!("expected {DURATION_EXPECTED}, found {text:?}"));
    };
    if ms > MAX_DURATION.as_secs_f64() * 1000.0 {
        return Err(format!(
            "{text:?} is longer than the {}-day limit for any duration",
            MAX_DURATION.as_secs() / 86_400
        ));
    }
    Ok(Duration::from_micros((ms * 1000.0).round() as u64))
}

/// A duration like `90s`, `5m` or `1h30m`, at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Option<Duration> {
    parse_duration_checked(text).ok()
}

fn parse_duration_ms(text: &str) -> Option<f64> {
    let s = text.trim();
    if s.is_empty() {
        return None;
    }
    let mut rest = s;
    let mut total_ms: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let factor = UNITS.iter().find(|(u, _)| *u == unit)?.1;
        total_ms += number * factor as f64;
    }
    if !total_ms.is_finite() || total_ms < 0.0 {
        return None;
    }
    Some(total_ms)
}

/// Print a duration the way Prometheus writes one (`1h30m`, `6s`,
/// `1s500ms`). Sub-millisecond parts are rounded to the millisecond, which
/// is Prometheus' resolution.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, factor) in UNITS {
        // Prometheus accepts w and d, but h/m/s read better in reports.
        if matches!(*unit, "w" | "d") {
            continue;
        }
        if ms >= *factor {
            out.push_str(&format!("{}{}", ms / factor, unit));
            ms %= factor;
        }
    }
    out
}

/// Human form for reports: `4m12s`, `850ms`, `1.2s`.
/// [`human_duration`] of a number of seconds (negative ones as 0).
pub fn human_seconds(s: f64) -> String {
    human_duration(saturating_secs(s))
}

pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        let s = d.as_secs_f64().round() as u64;
        let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
        if h > 0 {
            format!("{h}h{m:02}m{s:02}s")
        } else {
            format!("{m}m{s:02}s")
        }
    }
}

/// A request rate, always held per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
}

pub fn parse_rate(text: &str) -> Option<Rate> {
    let (n, unit) = text.trim().split_once('/')?;
    let n: f64 = n.trim().parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let per = match unit.trim() {
        "s" | "sec" | "second" => 1.0,
        "m" | "min" | "minute" => 60.0,
        "h" | "hour" => 3600.0,
        other => parse_duration(other)?.as_secs_f64(),
    };
    if per <= 0.0 {
        return None;
    }
    Some(Rate {
        per_second: n / per,
    })
}

/// `90%` → 0.9. A bare number is not accepted: `0.9` and `90` are both
/// plausible and mean different things.
pub fn parse_percent(text: &str) -> Option<f64> {
    let n: f64 = text.trim().strip_suffix('%')?.trim().parse().ok()?;
    (n.is_finite() && (0.0..=100.0).contains(&n)).then_some(n / 100.0)
}

/// `Duration` as seconds (f64) in JSON.
pub mod serde_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        super::checked_secs(secs).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected seconds from 0 to {}, found {secs}",
                super::MAX_DURATION.as_secs()
            ))
        })
    }
}

/// `Option<Duration>` as seconds (f64) or null in JSON.
pub mod opt_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<f64>::deserialize(d)? {
            None => Ok(None),
            Some(secs) => super::checked_secs(secs).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "expected seconds from 0 to {}, found {secs}",
                    super::MAX_DURATION.as_secs()
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
        for bad in ["", "five", "5", "5x", "m5", "-5s", "5m s"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn durations_print_like_prometheus() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format_duration(Duration::from_secs(6)), "6s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        for ms in [1u64, 999, 1000, 61_001, 3_600_000, 90_061_001] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Some(d), "{ms}");
        }
    }

    #[test]
    fn rates_and_percentages() {
        assert_eq!(parse_rate("100/s").unwrap().per_second, 100.0);
        assert_eq!(parse_rate("600/m").unwrap().per_second, 10.0);
        assert_eq!(parse_rate("30/10s").unwrap().per_second, 3.0);
        assert!(parse_rate("100").is_none());
        assert!(parse_rate("x/s").is_none());
        assert_eq!(parse_percent("90%"), Some(0.9));
        assert_eq!(parse_percent("100 %"), Some(1.0));
        assert!(parse_percent("0.9").is_none());
        assert!(parse_percent("120%").is_none());
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(human_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(human_duration(Duration::from_secs(252)), "4m12s");
    }
}

#[cfg(test)]
mod checked_tests {
    use super::*;

    #[test]
    fn seconds_out_of_range_are_refused_or_clamped_never_a_panic() {
        for bad in [f64::NAN, f64::INFINITY, -1.0, 1e300, -0.5] {
            assert_eq!(checked_secs(bad), None, "{bad}");
            let _ = saturating_secs(bad);
            let _ = human_seconds(bad);
        }
        assert_eq!(saturating_secs(1e300), MAX_DURATION);
        assert_eq!(saturating_secs(f64::NAN), Duration::ZERO);
        assert_eq!(checked_secs(1.5), Some(Duration::from_millis(1500)));
        assert_eq!(checked_secs(MAX_DURATION.as_secs_f64()), Some(MAX_DURATION));
    }

    #[test]
    fn time_scales_at_and_past_their_bounds() {
        assert!(check_time_scale(TIME_SCALE_MIN).is_ok());
        assert!(check_time_scale(TIME_SCALE_MAX).is_ok());
        for bad in [0.0, 1e-300, 1000.5, f64::NAN, f64::INFINITY, -1.0] {
            let e = check_time_scale(bad).unwrap_err();
            assert!(e.contains("from 0.001 to 1000"), "{e}");
        }
    }
}
