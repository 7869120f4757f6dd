//! The editable form of a segment rule: a tree of groups and conditions, each field its own
//! signal so that typing in one input never re-renders the others. `rule()` reads the tree
//! (tracked) into the DTO [`SegmentRule`], or says what is still missing.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{Datelike, Duration, NaiveDate, Utc};
use leptos::prelude::*;
use loyalcast_dto::{Channel, Comparison, SegmentRule};
use uuid::Uuid;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Every kind of condition a segment can test, in the order the dropdown lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Visits,
    Points,
    LastVisitWithinDays,
    NoVisitForDays,
    LastVisitBefore,
    LastVisitAfter,
    BirthdayToday,
    BirthdayWithinDays,
    BirthdayMonth,
    HasTag,
    HoldsCard,
    OptedIn,
    HasPhone,
    HasEmail,
    CreatedWithinDays,
    CreatedBefore,
    CreatedAfter,
}

/// What a condition asks for beside its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Number,
    Days,
    Date,
    Month,
    Tag,
    Card,
    Channel,
    YesNo,
    Nothing,
}

impl Kind {
    pub const ALL: [Kind; 17] = [
        Kind::Visits,
        Kind::Points,
        Kind::LastVisitWithinDays,
        Kind::NoVisitForDays,
        Kind::LastVisitBefore,
        Kind::LastVisitAfter,
        Kind::BirthdayToday,
        Kind::BirthdayWithinDays,
        Kind::BirthdayMonth,
        Kind::HasTag,
        Kind::HoldsCard,
        Kind::OptedIn,
        Kind::HasPhone,
        Kind::HasEmail,
        Kind::CreatedWithinDays,
        Kind::CreatedBefore,
        Kind::CreatedAfter,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Kind::Visits => "visits",
            Kind::Points => "points",
            Kind::LastVisitWithinDays => "last_visit_within_days",
            Kind::NoVisitForDays => "no_visit_for_days",
            Kind::LastVisitBefore => "last_visit_before",
            Kind::LastVisitAfter => "last_visit_after",
            Kind::BirthdayToday => "birthday_today",
            Kind::BirthdayWithinDays => "birthday_within_days",
            Kind::BirthdayMonth => "birthday_month",
            Kind::HasTag => "has_tag",
            Kind::HoldsCard => "holds_card",
            Kind::OptedIn => "opted_in",
            Kind::HasPhone => "has_phone",
            Kind::HasEmail => "has_email",
            Kind::CreatedWithinDays => "created_within_days",
            Kind::CreatedBefore => "created_before",
            Kind::CreatedAfter => "created_after",
        }
    }

    pub fn from_key(key: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.key() == key)
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Visits => "Number of visits",
            Kind::Points => "Points balance",
            Kind::LastVisitWithinDays => "Visited within the last…",
            Kind::NoVisitForDays => "Has not visited for…",
            Kind::LastVisitBefore => "Last visit before",
            Kind::LastVisitAfter => "Last visit on or after",
            Kind::BirthdayToday => "Birthday is today",
            Kind::BirthdayWithinDays => "Birthday within the next…",
            Kind::BirthdayMonth => "Birthday in month",
            Kind::HasTag => "Has tag",
            Kind::HoldsCard => "Holds card",
            Kind::OptedIn => "Can be reached on",
            Kind::HasPhone => "Has a phone number",
            Kind::HasEmail => "Has an email address",
            Kind::CreatedWithinDays => "Joined within the last…",
            Kind::CreatedBefore => "Joined before",
            Kind::CreatedAfter => "Joined on or after",
        }
    }

    /// The group the dropdown shows the kind under.
    pub fn section(self) -> &'static str {
        match self {
            Kind::Visits | Kind::Points => "Activity",
            Kind::LastVisitWithinDays
            | Kind::NoVisitForDays
            | Kind::LastVisitBefore
            | Kind::LastVisitAfter => "Visits",
            Kind::BirthdayToday | Kind::BirthdayWithinDays | Kind::BirthdayMonth => "Birthday",
            Kind::HasTag | Kind::HoldsCard => "Tags and cards",
            Kind::OptedIn | Kind::HasPhone | Kind::HasEmail => "Contact",
            Kind::CreatedWithinDays | Kind::CreatedBefore | Kind::CreatedAfter => "Joined",
        }
    }

    pub fn input(self) -> Input {
        match self {
            Kind::Visits | Kind::Points => Input::Number,
            Kind::LastVisitWithinDays
            | Kind::NoVisitForDays
            | Kind::BirthdayWithinDays
            | Kind::CreatedWithinDays => Input::Days,
            Kind::LastVisitBefore
            | Kind::LastVisitAfter
            | Kind::CreatedBefore
            | Kind::CreatedAfter => Input::Date,
            Kind::BirthdayMonth => Input::Month,
            Kind::BirthdayToday => Input::Nothing,
            Kind::HasTag => Input::Tag,
            Kind::HoldsCard => Input::Card,
            Kind::OptedIn => Input::Channel,
            Kind::HasPhone | Kind::HasEmail => Input::YesNo,
        }
    }
}

pub const COMPARISONS: [Comparison; 6] = [
    Comparison::Gte,
    Comparison::Gt,
    Comparison::Eq,
    Comparison::Ne,
    Comparison::Lte,
    Comparison::Lt,
];

pub fn comparison_key(cmp: Comparison) -> &'static str {
    match cmp {
        Comparison::Eq => "eq",
        Comparison::Ne => "ne",
        Comparison::Gt => "gt",
        Comparison::Gte => "gte",
        Comparison::Lt => "lt",
        Comparison::Lte => "lte",
    }
}

pub fn comparison_label(cmp: Comparison) -> &'static str {
    match cmp {
        Comparison::Eq => "= exactly",
        Comparison::Ne => "≠ not",
        Comparison::Gt => "> more than",
        Comparison::Gte => "≥ at least",
        Comparison::Lt => "< less than",
        Comparison::Lte => "≤ at most",
    }
}

pub fn parse_comparison(key: &str) -> Option<Comparison> {
    COMPARISONS.into_iter().find(|c| comparison_key(*c) == key)
}

pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// One condition. Each kind of input keeps its own value, so switching the kind back and
/// forth does not lose what was typed.
#[derive(Debug, Clone, Copy)]
pub struct Condition {
    pub id: u64,
    pub kind: RwSignal<Kind>,
    pub cmp: RwSignal<Comparison>,
    pub number: RwSignal<String>,
    pub days: RwSignal<String>,
    pub date: RwSignal<String>,
    pub month: RwSignal<u32>,
    pub tag: RwSignal<String>,
    pub card: RwSignal<String>,
    pub channel: RwSignal<Channel>,
    pub yes: RwSignal<bool>,
}

/// A group: all of its items (AND) or any of them (OR).
#[derive(Debug, Clone, Copy)]
pub struct Group {
    pub id: u64,
    pub any: RwSignal<bool>,
    pub items: RwSignal<Vec<Item>>,
}

#[derive(Debug, Clone, Copy)]
pub enum Item {
    Condition(Condition),
    Group(Group),
}

impl Item {
    pub fn id(&self) -> u64 {
        match self {
            Item::Condition(c) => c.id,
            Item::Group(g) => g.id,
        }
    }

    fn rule(&self) -> Result<SegmentRule, String> {
        match self {
            Item::Condition(c) => c.rule(),
            Item::Group(g) => g.rule(),
        }
    }
}

impl Condition {
    /// A new condition with sensible starting values: it is valid as soon as it is added.
    pub fn new(kind: Kind) -> Self {
        let today = Utc::now().date_naive();
        Condition {
            id: next_id(),
            kind: RwSignal::new(kind),
            cmp: RwSignal::new(Comparison::Gte),
            number: RwSignal::new("1".to_owned()),
            days: RwSignal::new("30".to_owned()),
            date: RwSignal::new((today - Duration::days(30)).format("%Y-%m-%d").to_string()),
            month: RwSignal::new(today.month()),
            tag: RwSignal::new(String::new()),
            card: RwSignal::new(String::new()),
            channel: RwSignal::new(Channel::Sms),
            yes: RwSignal::new(true),
        }
    }

    fn with(kind: Kind, set: impl FnOnce(&Condition)) -> Self {
        let c = Condition::new(kind);
        set(&c);
        c
    }

    /// What is wrong with what was typed in this condition (tracked): shown at the
    /// condition itself; nothing while its input is still empty.
    pub fn typed_problem(&self) -> Option<String> {
        let typed = match self.kind.get().input() {
            Input::Number => self.number.with(|v| !v.trim().is_empty()),
            Input::Days => self.days.with(|v| !v.trim().is_empty()),
            Input::Tag => self.tag.with(|v| !v.trim().is_empty()),
            _ => false,
        };
        if typed { self.rule().err() } else { None }
    }

    /// The condition as a rule (tracked), or what is missing.
    pub fn rule(&self) -> Result<SegmentRule, String> {
        let kind = self.kind.get();
        let label = kind.label().trim_end_matches('…');
        // The bounds the server checks, said before it is asked.
        let number = || {
            self.number.get().trim().parse::<i64>().map_err(|_| {
                format!("{label}: enter a whole number up to 9,223,372,036,854,775,807.")
            })
        };
        let max_days = if kind == Kind::BirthdayWithinDays {
            366
        } else {
            3650
        };
        let days = || match self.days.get().trim().parse::<u32>() {
            Ok(d) if (1..=max_days).contains(&d) => Ok(d),
            _ => Err(format!("{label}: enter 1 to {max_days} days.")),
        };
        let date = || {
            NaiveDate::parse_from_str(self.date.get().trim(), "%Y-%m-%d")
                .map_err(|_| format!("{label}: choose a date."))
        };
        Ok(match kind {
            Kind::Visits => SegmentRule::Visits {
                cmp: self.cmp.get(),
                value: number()?,
            },
            Kind::Points => SegmentRule::Points {
                cmp: self.cmp.get(),
                value: number()?,
            },
            Kind::LastVisitWithinDays => SegmentRule::LastVisitWithinDays { days: days()? },
            Kind::NoVisitForDays => SegmentRule::NoVisitForDays { days: days()? },
            Kind::LastVisitBefore => SegmentRule::LastVisitBefore { date: date()? },
            Kind::LastVisitAfter => SegmentRule::LastVisitAfter { date: date()? },
            Kind::BirthdayToday => SegmentRule::BirthdayToday,
            Kind::BirthdayWithinDays => SegmentRule::BirthdayWithinDays { days: days()? },
            Kind::BirthdayMonth => SegmentRule::BirthdayMonth {
                month: self.month.get(),
            },
            Kind::HasTag => {
                let tag = self.tag.get();
                if tag.trim().is_empty() {
                    return Err("Has tag: choose or type a tag.".to_owned());
                }
                let tag = crate::components::tags::check_tag(&tag)
                    .map_err(|e| format!("Has tag: {e}"))?;
                SegmentRule::HasTag { tag }
            }
            Kind::HoldsCard => {
                let card_id = Uuid::parse_str(self.card.get().trim())
                    .map_err(|_| "Holds card: choose a card.".to_owned())?;
                SegmentRule::HoldsCard { card_id }
            }
            Kind::OptedIn => SegmentRule::OptedIn {
                channel: self.channel.get(),
            },
            Kind::HasPhone => SegmentRule::HasPhone {
                value: self.yes.get(),
            },
            Kind::HasEmail => SegmentRule::HasEmail {
                value: self.yes.get(),
            },
            Kind::CreatedWithinDays => SegmentRule::CreatedWithinDays { days: days()? },
            Kind::CreatedBefore => SegmentRule::CreatedBefore { date: date()? },
            Kind::CreatedAfter => SegmentRule::CreatedAfter { date: date()? },
        })
    }
}

impl Group {
    pub fn new(any: bool, items: Vec<Item>) -> Self {
        Group {
            id: next_id(),
            any: RwSignal::new(any),
            items: RwSignal::new(items),
        }
    }

    /// The group as a rule (tracked), or the first thing missing in it.
    pub fn rule(&self) -> Result<SegmentRule, String> {
        let rules = self
            .items
            .get()
            .iter()
            .map(Item::rule)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if self.any.get() {
            SegmentRule::Or { rules }
        } else {
            SegmentRule::And { rules }
        })
    }

    pub fn push(&self, item: Item) {
        self.items.update(|items| items.push(item));
    }

    pub fn remove(&self, id: u64) {
        self.items.update(|items| items.retain(|i| i.id() != id));
    }

    /// The editable tree of a saved rule. A rule that is not a group becomes the one
    /// condition of an AND group.
    pub fn from_rule(rule: &SegmentRule) -> Group {
        match rule {
            SegmentRule::And { rules } => {
                Group::new(false, rules.iter().map(Item::from_rule).collect())
            }
            SegmentRule::Or { rules } => {
                Group::new(true, rules.iter().map(Item::from_rule).collect())
            }
            other => Group::new(false, vec![Item::from_rule(other)]),
        }
    }
}

impl Item {
    pub fn from_rule(rule: &SegmentRule) -> Item {
        let date_text = |d: &NaiveDate| d.format("%Y-%m-%d").to_string();
        let c = match rule {
            SegmentRule::And { .. } | SegmentRule::Or { .. } => {
                return Item::Group(Group::from_rule(rule));
            }
            SegmentRule::Visits { cmp, value } => Condition::with(Kind::Visits, |c| {
                c.cmp.set(*cmp);
                c.number.set(value.to_string());
            }),
            SegmentRule::Points { cmp, value } => Condition::with(Kind::Points, |c| {
                c.cmp.set(*cmp);
                c.number.set(value.to_string());
            }),
            SegmentRule::LastVisitBefore { date } => {
                Condition::with(Kind::LastVisitBefore, |c| c.date.set(date_text(date)))
            }
            SegmentRule::LastVisitAfter { date } => {
                Condition::with(Kind::LastVisitAfter, |c| c.date.set(date_text(date)))
            }
            SegmentRule::LastVisitWithinDays { days } => {
                Condition::with(Kind::LastVisitWithinDays, |c| c.days.set(days.to_string()))
            }
            SegmentRule::NoVisitForDays { days } => {
                Condition::with(Kind::NoVisitForDays, |c| c.days.set(days.to_string()))
            }
            SegmentRule::BirthdayMonth { month } => {
                Condition::with(Kind::BirthdayMonth, |c| c.month.set((*month).clamp(1, 12)))
            }
            SegmentRule::BirthdayToday => Condition::new(Kind::BirthdayToday),
            SegmentRule::BirthdayWithinDays { days } => {
                Condition::with(Kind::BirthdayWithinDays, |c| c.days.set(days.to_string()))
            }
            SegmentRule::HasTag { tag } => {
                Condition::with(Kind::HasTag, |c| c.tag.set(tag.clone()))
            }
            SegmentRule::HoldsCard { card_id } => {
                Condition::with(Kind::HoldsCard, |c| c.card.set(card_id.to_string()))
            }
            SegmentRule::HasPhone { value } => {
                Condition::with(Kind::HasPhone, |c| c.yes.set(*value))
            }
            SegmentRule::HasEmail { value } => {
                Condition::with(Kind::HasEmail, |c| c.yes.set(*value))
            }
            SegmentRule::OptedIn { channel } => {
                Condition::with(Kind::OptedIn, |c| c.channel.set(*channel))
            }
            SegmentRule::CreatedBefore { date } => {
                Condition::with(Kind::CreatedBefore, |c| c.date.set(date_text(date)))
            }
            SegmentRule::CreatedAfter { date } => {
                Condition::with(Kind::CreatedAfter, |c| c.date.set(date_text(date)))
            }
            SegmentRule::CreatedWithinDays { days } => {
                Condition::with(Kind::CreatedWithinDays, |c| c.days.set(days.to_string()))
            }
        };
        Item::Condition(c)
    }
}

/// A sentence for a saved rule, for the segment list: "Visits ≥ 5 and birthday in March".
pub fn describe(rule: &SegmentRule) -> String {
    fn inner(rule: &SegmentRule, nested: bool) -> String {
        match rule {
            SegmentRule::And { rules } | SegmentRule::Or { rules } => {
                let any = matches!(rule, SegmentRule::Or { .. });
                if rules.is_empty() {
                    return if any {
                        "nobody".to_owned()
                    } else {
                        "everyone".to_owned()
                    };
                }
                let joined = rules
                    .iter()
                    .map(|r| inner(r, true))
                    .collect::<Vec<_>>()
                    .join(if any { " or " } else { " and " });
                if nested && rules.len() > 1 {
                    format!("({joined})")
                } else {
                    joined
                }
            }
            SegmentRule::Visits { cmp, value } => format!("visits {} {value}", cmp.symbol()),
            SegmentRule::Points { cmp, value } => format!("points {} {value}", cmp.symbol()),
            SegmentRule::LastVisitBefore { date } => format!("last visit before {date}"),
            SegmentRule::LastVisitAfter { date } => format!("last visit since {date}"),
            SegmentRule::LastVisitWithinDays { days } => format!("visited in the last {days} days"),
            SegmentRule::NoVisitForDays { days } => format!("no visit for {days} days"),
            SegmentRule::BirthdayMonth { month } => {
                let name = usize::try_from(*month)
                    .ok()
                    .and_then(|m| m.checked_sub(1))
                    .and_then(|i| MONTHS.get(i))
                    .copied()
                    .unwrap_or("?");
                format!("birthday in {name}")
            }
            SegmentRule::BirthdayToday => "birthday today".to_owned(),
            SegmentRule::BirthdayWithinDays { days } => format!("birthday within {days} days"),
            SegmentRule::HasTag { tag } => format!("tagged “{tag}”"),
            SegmentRule::HoldsCard { .. } => "holds a card".to_owned(),
            SegmentRule::HasPhone { value } => {
                if *value { "has a phone" } else { "no phone" }.to_owned()
            }
            SegmentRule::HasEmail { value } => {
                if *value { "has an email" } else { "no email" }.to_owned()
            }
            SegmentRule::OptedIn { channel } => format!("reachable by {}", channel.label()),
            SegmentRule::CreatedBefore { date } => format!("joined before {date}"),
            SegmentRule::CreatedAfter { date } => format!("joined since {date}"),
            SegmentRule::CreatedWithinDays { days } => format!("joined in the last {days} days"),
        }
    }
    let text = inner(rule, false);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SegmentRule {
        SegmentRule::And {
            rules: vec![
                SegmentRule::Visits {
                    cmp: Comparison::Gte,
                    value: 5,
                },
                SegmentRule::Or {
                    rules: vec![
                        SegmentRule::BirthdayMonth { month: 3 },
                        SegmentRule::HasTag {
                            tag: "vip".to_owned(),
                        },
                        SegmentRule::OptedIn {
                            channel: Channel::Telegram,
                        },
                    ],
                },
                SegmentRule::LastVisitBefore {
                    date: NaiveDate::from_ymd_opt(2026, 1, 31).unwrap_or_default(),
                },
                SegmentRule::HasEmail { value: false },
                SegmentRule::HoldsCard {
                    card_id: Uuid::nil(),
                },
                SegmentRule::BirthdayToday,
                SegmentRule::CreatedWithinDays { days: 30 },
            ],
        }
    }

    #[test]
    fn a_saved_rule_round_trips_through_the_editor() {
        let rule = sample();
        assert_eq!(Group::from_rule(&rule).rule(), Ok(rule));
    }

    #[test]
    fn a_single_condition_becomes_an_and_group() {
        let rule = SegmentRule::Points {
            cmp: Comparison::Lt,
            value: 100,
        };
        assert_eq!(
            Group::from_rule(&rule).rule(),
            Ok(SegmentRule::And { rules: vec![rule] })
        );
    }

    #[test]
    fn incomplete_conditions_say_what_is_missing() {
        let group = Group::new(false, vec![Item::Condition(Condition::new(Kind::Visits))]);
        let Some(Item::Condition(c)) = group.items.get_untracked().first().copied() else {
            panic!("one condition");
        };
        c.number.set("many".to_owned());
        assert!(group.rule().is_err());
        c.number.set(" 12 ".to_owned());
        assert_eq!(
            group.rule(),
            Ok(SegmentRule::And {
                rules: vec![SegmentRule::Visits {
                    cmp: Comparison::Gte,
                    value: 12
                }]
            })
        );
        c.kind.set(Kind::HasTag);
        assert_eq!(
            group.rule(),
            Err("Has tag: choose or type a tag.".to_owned())
        );
        c.kind.set(Kind::HoldsCard);
        assert!(group.rule().is_err());
    }

    #[test]
    fn what_the_server_would_refuse_is_said_at_the_condition() {
        let c = Condition::new(Kind::Visits);
        assert_eq!(c.typed_problem(), None, "nothing typed yet");
        c.number.set("99999999999999999999".to_owned());
        assert!(
            c.typed_problem()
                .is_some_and(|p| p.contains("whole number"))
        );
        c.number.set("9223372036854775807".to_owned());
        assert_eq!(c.typed_problem(), None);
        c.kind.set(Kind::NoVisitForDays);
        for bad in ["0", "3651", "-1"] {
            c.days.set(bad.to_owned());
            assert!(
                c.typed_problem()
                    .is_some_and(|p| p.contains("1 to 3650 days")),
                "{bad}"
            );
        }
        c.days.set("3650".to_owned());
        assert_eq!(c.typed_problem(), None);
        c.kind.set(Kind::BirthdayWithinDays);
        c.days.set("367".to_owned());
        assert!(
            c.typed_problem()
                .is_some_and(|p| p.contains("1 to 366 days"))
        );
        c.kind.set(Kind::HasTag);
        c.tag.set("vip!".to_owned());
        assert!(c.typed_problem().is_some());
        c.tag.set(" VIP ".to_owned());
        assert_eq!(
            c.rule(),
            Ok(SegmentRule::HasTag {
                tag: "vip".to_owned()
            })
        );
    }

    #[test]
    fn every_kind_has_a_distinct_key() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_key(kind.key()), Some(kind));
        }
        for cmp in COMPARISONS {
            assert_eq!(parse_comparison(comparison_key(cmp)), Some(cmp));
        }
    }

    #[test]
    fn rules_read_as_sentences() {
        assert_eq!(describe(&SegmentRule::everyone()), "Everyone");
        assert_eq!(
            describe(&sample()),
            "Visits ≥ 5 and (birthday in March or tagged “vip” or reachable by Telegram) and last visit before 2026-01-31 and no email and holds a card and birthday today and joined in the last 30 days"
        );
    }
}
