//! Which birthdays (month, day) fall in a window of days: the calendar side of the birthday
//! segment rules, kept apart from SQL so it can be checked against every day of a year.

use chrono::{Datelike, Duration, NaiveDate};

/// Days `from..=to` of `month` (1-12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub month: u32,
    pub from: u32,
    pub to: u32,
}

/// The birthdays that fall within `days` days from `today`, today included (`days` = 1 is
/// today alone). In a year without 29 February, people born on it celebrate on the 28th.
/// Consecutive days of one month are merged, so a window is at most 13 ranges.
pub fn window(today: NaiveDate, days: u32) -> Vec<DayRange> {
    let days = days.min(366);
    let mut ranges: Vec<DayRange> = Vec::new();
    for offset in 0..i64::from(days) {
        let Some(date) = today.checked_add_signed(Duration::days(offset)) else {
            break;
        };
        let (month, day) = (date.month(), date.day());
        push_day(&mut ranges, month, day);
        if month == 2 && day == 28 && !is_leap(date.year()) {
            push_day(&mut ranges, 2, 29);
        }
    }
    ranges
}

fn push_day(ranges: &mut Vec<DayRange>, month: u32, day: u32) {
    if let Some(range) = ranges
        .iter_mut()
        .find(|r| r.month == month && (r.to + 1 == day || (r.from <= day && day <= r.to)))
    {
        range.to = range.to.max(day);
        return;
    }
    if let Some(range) = ranges
        .iter_mut()
        .find(|r| r.month == month && day + 1 == r.from)
    {
        range.from = day;
        return;
    }
    ranges.push(DayRange {
        month,
        from: day,
        to: day,
    });
}

fn is_leap(year: i32) -> bool {
    NaiveDate::from_ymd_opt(year, 2, 29).is_some()
}

/// Whether a birthday falls within the window: the reference the SQL is tested against.
pub fn in_window(today: NaiveDate, days: u32, birthday: NaiveDate) -> bool {
    window(today, days)
        .iter()
        .any(|r| r.month == birthday.month() && r.from <= birthday.day() && birthday.day() <= r.to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn today_alone() {
        assert_eq!(
            window(date(2026, 5, 17), 1),
            vec![DayRange {
                month: 5,
                from: 17,
                to: 17
            }]
        );
    }

    #[test]
    fn a_window_crossing_the_new_year_splits_in_two() {
        assert_eq!(
            window(date(2026, 12, 30), 5),
            vec![
                DayRange {
                    month: 12,
                    from: 30,
                    to: 31
                },
                DayRange {
                    month: 1,
                    from: 1,
                    to: 3
                },
            ]
        );
    }

    #[test]
    fn leap_day_birthdays_are_celebrated_on_the_28th_in_common_years() {
        assert!(in_window(date(2026, 2, 28), 1, date(2000, 2, 29)));
        assert!(!in_window(date(2028, 2, 28), 1, date(2000, 2, 29)));
        assert!(in_window(date(2028, 2, 29), 1, date(2000, 2, 29)));
    }

    #[test]
    fn a_full_year_covers_every_birthday_once() {
        let ranges = window(date(2026, 3, 10), 366);
        assert!(ranges.len() <= 13);
        let mut day = date(2000, 1, 1);
        while day.year() == 2000 {
            assert!(in_window(date(2026, 3, 10), 366, day), "{day} missing");
            day = day.succ_opt().unwrap_or(day);
        }
    }

    #[test]
    fn window_matches_a_day_by_day_count() {
        let today = date(2026, 11, 29);
        for days in [1u32, 2, 7, 31, 45, 90] {
            let mut day = date(2000, 1, 1);
            while day.year() == 2000 {
                let expected = (0..i64::from(days)).any(|offset| {
                    let d = today + Duration::days(offset);
                    d.month() == day.month() && d.day() == day.day()
                });
                assert_eq!(in_window(today, days, day), expected, "{days} days, {day}");
                day = day.succ_opt().unwrap_or(day);
            }
        }
    }
}
