//! When automated messages go out, in a customer's local time: a time of day on a date
//! (across daylight-saving changes), quiet hours that defer a send to the next allowed
//! minute, delays counted in local calendar days, and the install dates whose anniversary
//! falls on a day. The scheduler's SQL takes its constants from here, so every calendar
//! rule is checked without a database.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Minutes in a day: a time of day is `0..MINUTES_PER_DAY`.
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// `HH:MM` (00:00 to 23:59) as minutes past midnight.
pub fn parse_time_of_day(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Minutes past midnight as `HH:MM`.
pub fn time_of_day(minute: u16) -> String {
    let minute = minute % MINUTES_PER_DAY;
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// The instant that is `minute` past midnight on `date` in `tz`. When the clocks skip that
/// time (spring forward), the first minute after the gap that exists; when they repeat it
/// (fall back), its first occurrence.
pub fn local_instant(date: NaiveDate, minute: u16, tz: Tz) -> DateTime<Utc> {
    let start = date.and_time(NaiveTime::MIN) + Duration::minutes(i64::from(minute));
    // A gap is at most a few hours (the largest on record is a day, when Samoa crossed the
    // date line): look forward a day and a half before giving up on the local time.
    for step in 0..(36 * 60) {
        let local = start + Duration::minutes(step);
        match tz.from_local_datetime(&local) {
            LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => {
                return at.with_timezone(&Utc);
            }
            LocalResult::None => {}
        }
    }
    Utc.from_utc_datetime(&start)
}

/// The date it is in `tz` at `at`.
pub fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Hours in which automated messages wait: from `start` (inclusive) to `end` (exclusive),
/// minutes past local midnight; across midnight when `start > end`; none when equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: u16,
    pub end: u16,
}

impl QuietHours {
    /// 21:00 to 08:00.
    pub const DEFAULT: QuietHours = QuietHours {
        start: 21 * 60,
        end: 8 * 60,
    };

    /// Whether `minute` past midnight is quiet.
    pub fn contains(self, minute: u16) -> bool {
        match self.start.cmp(&self.end) {
            std::cmp::Ordering::Equal => false,
            std::cmp::Ordering::Less => self.start <= minute && minute < self.end,
            std::cmp::Ordering::Greater => minute >= self.start || minute < self.end,
        }
    }

    /// When a send due at `at` may go out in `tz`: `at` itself outside quiet hours, else the
    /// minute they end (the next morning for a send due before midnight). Never earlier
    /// than `at`: deferring never drops a send nor brings it forward.
    pub fn next_allowed(self, at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let local = at.with_timezone(&tz);
        let minute = u16::try_from(
            local
                .time()
                .signed_duration_since(NaiveTime::MIN)
                .num_minutes(),
        )
        .unwrap_or(0);
        if !self.contains(minute) {
            return at;
        }
        let mut date = local.date_naive();
        if self.start > self.end && minute >= self.start {
            date = date.succ_opt().unwrap_or(date);
        }
        local_instant(date, self.end, tz).max(at)
    }
}

/// `at` plus a delay of `minutes`. Whole days (a delay that is a multiple of 1,440 minutes)
/// are counted on the local calendar, so "3 days after a 10:00 visit" is 10:00 local even
/// across a daylight-saving change; shorter delays are elapsed time.
pub fn after_delay(at: DateTime<Utc>, minutes: i64, tz: Tz) -> DateTime<Utc> {
    let day = i64::from(MINUTES_PER_DAY);
    if minutes <= 0 || minutes % day != 0 {
        return at + Duration::minutes(minutes.max(0));
    }
    let local = at.with_timezone(&tz);
    let date = local
        .date_naive()
        .checked_add_signed(Duration::days(minutes / day))
        .unwrap_or(local.date_naive());
    let minute = u16::try_from(
        local
            .time()
            .signed_duration_since(NaiveTime::MIN)
            .num_minutes(),
    )
    .unwrap_or(0);
    local_instant(date, minute, tz).max(at)
}

fn is_leap(year: i32) -> bool {
    NaiveDate::from_ymd_opt(year, 2, 29).is_some()
}

/// The dates a yearly occurrence of `original` (a birthday, an install date) falls on in
/// `year`: the same day, and 28 February for 29 February in a common year.
pub fn yearly_on(original: NaiveDate, year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, original.month(), original.day()).or_else(|| {
        (original.month() == 2 && original.day() == 29)
            .then(|| NaiveDate::from_ymd_opt(year, 2, 28))
            .flatten()
    })
}

/// The install dates, `years` back at most, whose anniversary falls on `date`: the same
/// day in each earlier year, and 29 February of leap years when `date` is 28 February of
/// a common year. Newest first; the install date itself (zero years) is not one.
pub fn anniversary_dates(date: NaiveDate, years: u32) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    for back in 1..=i32::try_from(years).unwrap_or(0) {
        let year = date.year() - back;
        if let Some(same) = NaiveDate::from_ymd_opt(year, date.month(), date.day()) {
            out.push(same);
        }
        if date.month() == 2
            && date.day() == 28
            && !is_leap(date.year())
            && let Some(leap) = NaiveDate::from_ymd_opt(year, 2, 29)
        {
            out.push(leap);
        }
    }
    out
}

/// `[start, end)` of `date` in `tz`, as instants.
pub fn day_bounds(date: NaiveDate, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let next = date.succ_opt().unwrap_or(date);
    (local_instant(date, 0, tz), local_instant(next, 0, tz))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    const NEW_YORK: Tz = chrono_tz::America::New_York;
    const BERLIN: Tz = chrono_tz::Europe::Berlin;

    #[test]
    fn times_of_day_parse_and_print() {
        assert_eq!(parse_time_of_day("09:30"), Some(570));
        assert_eq!(parse_time_of_day("00:00"), Some(0));
        assert_eq!(parse_time_of_day("23:59"), Some(1439));
        for bad in ["24:00", "9:30", "09:60", "0930", "", "aa:bb", "-1:00"] {
            assert_eq!(parse_time_of_day(bad), None, "{bad}");
        }
        assert_eq!(time_of_day(570), "09:30");
    }

    #[test]
    fn nine_local_is_nine_local_on_both_sides_of_a_change() {
        // New York: EDT (UTC-4) before 2 November 2025, EST (UTC-5) after.
        assert_eq!(
            local_instant(date(2025, 11, 1), 540, NEW_YORK),
            utc("2025-11-01T13:00:00Z")
        );
        assert_eq!(
            local_instant(date(2025, 11, 3), 540, NEW_YORK),
            utc("2025-11-03T14:00:00Z")
        );
        // Berlin springs forward on 30 March 2025.
        assert_eq!(
            local_instant(date(2025, 3, 29), 540, BERLIN),
            utc("2025-03-29T08:00:00Z")
        );
        assert_eq!(
            local_instant(date(2025, 3, 30), 540, BERLIN),
            utc("2025-03-30T07:00:00Z")
        );
    }

    #[test]
    fn a_time_the_clocks_skip_moves_forward_and_a_repeated_one_is_its_first() {
        // 02:30 does not exist in New York on 9 March 2025: 03:00 EDT is the first minute.
        assert_eq!(
            local_instant(date(2025, 3, 9), 150, NEW_YORK),
            utc("2025-03-09T07:00:00Z")
        );
        // 01:30 happens twice on 2 November 2025: the first (EDT) one.
        assert_eq!(
            local_instant(date(2025, 11, 2), 90, NEW_YORK),
            utc("2025-11-02T05:30:00Z")
        );
    }

    #[test]
    fn quiet_hours_defer_across_midnight_and_never_drop() {
        let q = QuietHours::DEFAULT;
        // 22:15 in New York (EST) waits for 08:00 the next morning.
        assert_eq!(
            q.next_allowed(utc("2025-12-10T03:15:00Z"), NEW_YORK),
            utc("2025-12-10T13:00:00Z")
        );
        // 03:00 waits for 08:00 the same day.
        assert_eq!(
            q.next_allowed(utc("2025-12-10T08:00:00Z"), NEW_YORK),
            utc("2025-12-10T13:00:00Z")
        );
        // 08:00 and 20:59 go at once; 21:00 waits.
        for t in ["2025-12-10T13:00:00Z", "2025-12-11T01:59:00Z"] {
            assert_eq!(q.next_allowed(utc(t), NEW_YORK), utc(t));
        }
        assert_eq!(
            q.next_allowed(utc("2025-12-11T02:00:00Z"), NEW_YORK),
            utc("2025-12-11T13:00:00Z")
        );
        // The night the clocks fall back: 08:00 is EST again.
        assert_eq!(
            q.next_allowed(utc("2025-11-02T03:00:00Z"), NEW_YORK),
            utc("2025-11-02T13:00:00Z")
        );
        // Quiet hours within a day, and none at all.
        let lunch = QuietHours {
            start: 12 * 60,
            end: 13 * 60,
        };
        assert!(lunch.contains(12 * 60) && !lunch.contains(13 * 60) && !lunch.contains(0));
        let none = QuietHours { start: 0, end: 0 };
        assert!((0..MINUTES_PER_DAY).all(|m| !none.contains(m)));
        // Every minute of a day either goes at once or at the end of quiet hours, later.
        let day = utc("2025-06-01T04:00:00Z");
        for m in 0..i64::from(MINUTES_PER_DAY) {
            let at = day + Duration::minutes(m);
            let allowed = q.next_allowed(at, NEW_YORK);
            assert!(allowed >= at);
            let local = allowed.with_timezone(&NEW_YORK);
            let minute = u16::try_from(
                local
                    .time()
                    .signed_duration_since(NaiveTime::MIN)
                    .num_minutes(),
            )
            .unwrap_or(0);
            assert!(!q.contains(minute), "{at} deferred into quiet hours");
            assert!(allowed - at < Duration::hours(12));
        }
    }

    #[test]
    fn whole_day_delays_keep_the_local_time() {
        // A 10:00 visit the day before New York falls back: three days later is 10:00 EST.
        assert_eq!(
            after_delay(utc("2025-11-01T14:00:00Z"), 3 * 1440, NEW_YORK),
            utc("2025-11-04T15:00:00Z")
        );
        // Shorter delays are elapsed time.
        assert_eq!(
            after_delay(utc("2025-11-02T05:00:00Z"), 90, NEW_YORK),
            utc("2025-11-02T06:30:00Z")
        );
        assert_eq!(
            after_delay(utc("2025-11-02T05:00:00Z"), 0, NEW_YORK),
            utc("2025-11-02T05:00:00Z")
        );
    }

    #[test]
    fn leap_days_fall_on_the_28th_in_common_years() {
        let leap = date(2000, 2, 29);
        assert_eq!(yearly_on(leap, 2027), Some(date(2027, 2, 28)));
        assert_eq!(yearly_on(leap, 2028), Some(date(2028, 2, 29)));
        assert_eq!(
            yearly_on(date(1990, 12, 31), 2026),
            Some(date(2026, 12, 31))
        );
    }

    #[test]
    fn anniversaries_of_a_day() {
        assert_eq!(
            anniversary_dates(date(2027, 3, 1), 3),
            vec![date(2026, 3, 1), date(2025, 3, 1), date(2024, 3, 1)]
        );
        // 28 February 2027 is also the anniversary of 29 February 2024.
        assert_eq!(
            anniversary_dates(date(2027, 2, 28), 3),
            vec![
                date(2026, 2, 28),
                date(2025, 2, 28),
                date(2024, 2, 28),
                date(2024, 2, 29)
            ]
        );
        // In a leap year, 29 February is its own day and the 28th is only the 28th.
        assert_eq!(
            anniversary_dates(date(2028, 2, 29), 4),
            vec![date(2024, 2, 29)]
        );
        assert_eq!(
            anniversary_dates(date(2028, 2, 28), 1),
            vec![date(2027, 2, 28)]
        );
    }

    #[test]
    fn a_day_in_a_zone_is_23_24_or_25_hours() {
        let (start, end) = day_bounds(date(2025, 3, 9), NEW_YORK);
        assert_eq!(end - start, Duration::hours(23));
        let (start, end) = day_bounds(date(2025, 11, 2), NEW_YORK);
        assert_eq!(end - start, Duration::hours(25));
        let (start, end) = day_bounds(date(2025, 6, 2), NEW_YORK);
        assert_eq!(start, utc("2025-06-02T04:00:00Z"));
        assert_eq!(end - start, Duration::hours(24));
        assert_eq!(
            local_date(utc("2025-06-02T03:59:00Z"), NEW_YORK),
            date(2025, 6, 1)
        );
    }
}
