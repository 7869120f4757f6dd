//! Formatting of numbers and dates the way merchants read them.

use chrono::{DateTime, Utc};
use wasm_bindgen::{JsCast, JsValue};

/// `12480` -> `12,480`; `-1500` -> `-1,500`.
pub fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if value < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

pub fn thousands_u(value: u64) -> String {
    i64::try_from(value)
        .map(thousands)
        .unwrap_or_else(|_| value.to_string())
}

/// "5 min ago", "in 3 days", or the date when it is further than a week away.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>, time_zone: &str) -> String {
    let seconds = (now - at).num_seconds();
    let past = seconds >= 0;
    let s = seconds.unsigned_abs();
    let phrase = |n: u64, unit: &str| {
        let unit = if n == 1 {
            unit.to_owned()
        } else {
            format!("{unit}s")
        };
        if past {
            format!("{n} {unit} ago")
        } else {
            format!("in {n} {unit}")
        }
    };
    match s {
        0..45 => {
            if past {
                "just now".to_owned()
            } else {
                "in a moment".to_owned()
            }
        }
        45..3_600 => {
            let m = (s / 60).max(1);
            if past {
                format!("{m} min ago")
            } else {
                format!("in {m} min")
            }
        }
        3_600..86_400 => phrase(s / 3_600, "hour"),
        86_400..172_800 if past => "yesterday".to_owned(),
        86_400..604_800 => phrase(s / 86_400, "day"),
        _ => date_only(at, time_zone),
    }
}

/// The date and time in the merchant's time zone, e.g. "12 Mar 2026, 14:05 (Europe/Berlin)".
pub fn absolute(at: DateTime<Utc>, time_zone: &str) -> String {
    let formatted = locale_string(at, time_zone, true);
    format!("{formatted} ({time_zone})")
}

/// The date in the merchant's time zone, e.g. "12 Mar 2026".
pub fn date_only(at: DateTime<Utc>, time_zone: &str) -> String {
    locale_string(at, time_zone, false)
}

fn locale_string(at: DateTime<Utc>, time_zone: &str, with_time: bool) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(at.timestamp_millis() as f64));
    let options = js_sys::Object::new();
    let set = |key: &str, value: &str| {
        // Setting a property on a fresh plain object cannot fail.
        let _ = js_sys::Reflect::set(&options, &JsValue::from_str(key), &JsValue::from_str(value));
    };
    set("timeZone", time_zone);
    set("day", "numeric");
    set("month", "short");
    set("year", "numeric");
    if with_time {
        set("hour", "2-digit");
        set("minute", "2-digit");
    }
    // An unknown time zone makes Intl throw a RangeError; call through Reflect so that the
    // exception comes back as an error instead of aborting, and fall back to UTC.
    let text = js_sys::Reflect::get(&date, &JsValue::from_str("toLocaleString"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| {
            let args = js_sys::Array::of2(&JsValue::from_str("en-GB"), &options);
            js_sys::Reflect::apply(&f, &date, &args).ok()
        })
        .and_then(|v| v.as_string());
    match text {
        Some(s) if !s.is_empty() => s,
        _ if with_time => at.format("%-d %b %Y, %H:%M UTC").to_string(),
        _ => at.format("%-d %b %Y").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(12_480), "12,480");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(-1_500), "-1,500");
    }
}

/// A calendar date (no time zone), e.g. "14 Mar 1990".
pub fn date_only_local(date: chrono::NaiveDate) -> String {
    date.format("%-d %b %Y").to_string()
}

#[cfg(test)]
mod relative_tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn recent_times_read_relative() {
        let now = Utc
            .with_ymd_and_hms(2026, 3, 10, 12, 0, 0)
            .single()
            .unwrap_or_default();
        let ago = |secs: i64| relative(now - chrono::Duration::seconds(secs), now, "UTC");
        assert_eq!(ago(10), "just now");
        assert_eq!(ago(5 * 60), "5 min ago");
        assert_eq!(ago(3 * 3600), "3 hours ago");
        assert_eq!(ago(3600), "1 hour ago");
        assert_eq!(ago(30 * 3600), "yesterday");
        assert_eq!(ago(3 * 86_400), "3 days ago");
        assert_eq!(ago(-2 * 86_400), "in 2 days");
        assert_eq!(ago(-10 * 60), "in 10 min");
    }
}
