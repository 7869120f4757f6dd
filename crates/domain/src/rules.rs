//! Checking segment rules before they are saved or compiled: bounded size and depth, values
//! in range, tags normalised. Errors name the path of the offending part, e.g.
//! `rule.rules[1].month`.

use loyalcast_dto::SegmentRule;

use crate::validation::{self, Fields};

/// The deepest nesting of groups accepted.
pub const MAX_DEPTH: usize = 4;
/// The most conditions (leaves) one rule may hold.
pub const MAX_CONDITIONS: usize = 50;
/// The longest window of days a rule may name (ten years).
pub const MAX_DAYS: u32 = 3650;

/// Checks a rule and returns it normalised (tags lower-cased), or the field errors, each
/// under `prefix` (the rule's field name in the request).
pub fn check(rule: &SegmentRule, prefix: &str, fields: &mut Fields) -> SegmentRule {
    let mut conditions = 0usize;
    let checked = check_at(rule, prefix, 0, &mut conditions, fields);
    if conditions > MAX_CONDITIONS {
        fields.push(
            prefix,
            "too_many_conditions",
            format!("a rule may hold at most {MAX_CONDITIONS} conditions"),
        );
    }
    checked
}

fn check_at(
    rule: &SegmentRule,
    path: &str,
    depth: usize,
    conditions: &mut usize,
    fields: &mut Fields,
) -> SegmentRule {
    let days = |fields: &mut Fields, value: u32| {
        if value == 0 || value > MAX_DAYS {
            fields.push(
                format!("{path}.days"),
                "out_of_range",
                format!("must be between 1 and {MAX_DAYS}"),
            );
        }
    };
    match rule {
        SegmentRule::And { rules } | SegmentRule::Or { rules } => {
            if depth >= MAX_DEPTH {
                fields.push(
                    path,
                    "too_deep",
                    format!("groups may be nested at most {MAX_DEPTH} deep"),
                );
                return rule.clone();
            }
            let checked: Vec<SegmentRule> = rules
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    check_at(
                        r,
                        &format!("{path}.rules[{i}]"),
                        depth + 1,
                        conditions,
                        fields,
                    )
                })
                .collect();
            match rule {
                SegmentRule::And { .. } => SegmentRule::And { rules: checked },
                _ => SegmentRule::Or { rules: checked },
            }
        }
        leaf => {
            *conditions += 1;
            match leaf {
                SegmentRule::LastVisitWithinDays { days: d }
                | SegmentRule::NoVisitForDays { days: d }
                | SegmentRule::CreatedWithinDays { days: d } => days(fields, *d),
                SegmentRule::BirthdayWithinDays { days: d } if *d == 0 || *d > 366 => {
                    fields.push(
                        format!("{path}.days"),
                        "out_of_range",
                        "must be between 1 and 366",
                    );
                }
                SegmentRule::BirthdayMonth { month } if !(1..=12).contains(month) => {
                    fields.push(
                        format!("{path}.month"),
                        "out_of_range",
                        "must be a month from 1 to 12",
                    );
                }
                SegmentRule::HasTag { tag } => {
                    if let Some(tag) = fields.check(&format!("{path}.tag"), validation::tag(tag)) {
                        return SegmentRule::HasTag { tag };
                    }
                }
                _ => {}
            }
            leaf.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loyalcast_dto::Comparison;

    fn errors_of(rule: &SegmentRule) -> Vec<(String, String)> {
        let mut fields = Fields::new();
        check(rule, "rule", &mut fields);
        fields
            .into_errors()
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    #[test]
    fn a_sound_rule_passes_and_is_normalised() {
        let rule = SegmentRule::And {
            rules: vec![
                SegmentRule::Visits {
                    cmp: Comparison::Gte,
                    value: 3,
                },
                SegmentRule::HasTag {
                    tag: " VIP ".into(),
                },
            ],
        };
        let mut fields = Fields::new();
        let checked = check(&rule, "rule", &mut fields);
        assert!(!fields.has_errors());
        assert_eq!(
            checked,
            SegmentRule::And {
                rules: vec![
                    SegmentRule::Visits {
                        cmp: Comparison::Gte,
                        value: 3
                    },
                    SegmentRule::HasTag { tag: "vip".into() },
                ],
            }
        );
    }

    #[test]
    fn errors_name_the_path_of_the_bad_part() {
        let rule = SegmentRule::Or {
            rules: vec![
                SegmentRule::BirthdayMonth { month: 3 },
                SegmentRule::And {
                    rules: vec![SegmentRule::BirthdayMonth { month: 13 }],
                },
                SegmentRule::LastVisitWithinDays { days: 0 },
            ],
        };
        assert_eq!(
            errors_of(&rule),
            vec![
                (
                    "rule.rules[1].rules[0].month".to_owned(),
                    "out_of_range".to_owned()
                ),
                ("rule.rules[2].days".to_owned(), "out_of_range".to_owned()),
            ]
        );
    }

    #[test]
    fn depth_and_size_are_bounded() {
        let mut deep = SegmentRule::BirthdayToday;
        for _ in 0..=MAX_DEPTH {
            deep = SegmentRule::And { rules: vec![deep] };
        }
        assert_eq!(errors_of(&deep)[0].1, "too_deep");

        let wide = SegmentRule::Or {
            rules: vec![SegmentRule::BirthdayToday; MAX_CONDITIONS + 1],
        };
        assert_eq!(
            errors_of(&wide),
            vec![("rule".to_owned(), "too_many_conditions".to_owned())]
        );
    }
}
