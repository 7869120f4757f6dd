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

/// An address of the shape `local@domain.tld`, one line, no spaces: what is worth asking the
/// server about.
pub fn looks_like_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// "1 recipient", "1,204 recipients".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", thousands_u(n))
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

/// How many digits a number's country calling code has, from its first digits (ITU E.164
/// assignments: 1 and 7 alone; the two-digit codes listed; every other code three).
fn calling_code_len(digits: &str) -> usize {
    const TWO: [&str; 44] = [
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    match digits.as_bytes().first() {
        Some(b'1' | b'7') => 1,
        _ if TWO.iter().any(|c| digits.starts_with(c)) => 2,
        _ => 3,
    }
}

/// A stored (E.164) phone number as people read it: "(415) 555-0134" for a North American
/// number when the merchant is in the US or Canada, otherwise the international form in
/// groups ("+44 207 946 0958"). Anything not of that shape is shown as it is.
pub fn phone(e164: &str, merchant_country: &str) -> String {
    let Some(digits) = e164.strip_prefix('+') else {
        return e164.to_owned();
    };
    if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return e164.to_owned();
    }
    let cc = calling_code_len(digits);
    let (code, national) = digits.split_at(cc);
    if code == "1" && national.len() == 10 {
        let (area, rest) = national.split_at(3);
        let (exchange, line) = rest.split_at(3);
        return if matches!(merchant_country, "US" | "CA") {
            format!("({area}) {exchange}-{line}")
        } else {
            format!("+1 {area} {exchange} {line}")
        };
    }
    // Groups of three from the front; the last has two to four digits.
    let mut groups = Vec::new();
    let mut rest = national;
    while rest.len() > 4 {
        let (head, tail) = rest.split_at(3);
        groups.push(head);
        rest = tail;
    }
    groups.push(rest);
    format!("+{code} {}", groups.join(" "))
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

    #[test]
    fn only_addresses_of_the_right_shape_are_sent() {
        for good in ["owner@demo.loyalcast.dev", "a.b+c@example.co.uk"] {
            assert!(looks_like_email(good), "{good}");
        }
        for bad in [
            "",
            "owner",
            "owner@",
            "@example.com",
            "a@b",
            "a@b@c.com",
            "a b@c.com",
            "a@.com",
            "a@com.",
        ] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }

    #[test]
    fn phone_numbers_read_as_people_write_them() {
        assert_eq!(phone("+14155550134", "US"), "(415) 555-0134");
        assert_eq!(phone("+14155550134", "DE"), "+1 415 555 0134");
        assert_eq!(phone("+442079460958", "GB"), "+44 207 946 0958");
        assert_eq!(phone("+4915123456789", "DE"), "+49 151 234 567 89");
        assert_eq!(phone("+353861234567", "IE"), "+353 861 234 567");
        assert_eq!(phone("+79161234567", "US"), "+7 916 123 4567");
        assert_eq!(phone("0155 1234", "US"), "0155 1234");
        assert_eq!(phone("+12", "US"), "+12");
    }

    #[test]
    fn plurals_read_naturally() {
        assert_eq!(plural(1, "SMS segment", "SMS segments"), "1 SMS segment");
        assert_eq!(plural(1204, "recipient", "recipients"), "1,204 recipients");
    }
}
