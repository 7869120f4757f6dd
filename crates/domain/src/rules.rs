//! Checking segment rules before they are saved or compiled: bounded size and depth, values
//! in range, tags normalised. Errors name the path of the offending part, e.g.
//! `rule.rules[1].month`.

use loyalcast_dto::SegmentRule;

use crate::validation::{self, Fields};

/// The deepest nesting of groups accepted.
pub const MAX_DEPTH: usize = 4;
/// The most conditions (leaves) one rule may hold.
pub const MAX_CONDITIONS: usize = 50;
/// The most parts one rule may hold in all, groups included: an empty group costs as much
/// to read and compile as a condition, so it counts too.
pub const MAX_NODES: usize = 100;
/// The most rules one `and`/`or` group may list.
pub const MAX_GROUP_WIDTH: usize = 50;
/// The longest window of days a rule may name (ten years).
pub const MAX_DAYS: u32 = 3650;

/// Checks a rule and returns it normalised (tags lower-cased), or the field errors, each
/// under `prefix` (the rule's field name in the request).
///
/// The size is checked before anything else, so an oversized rule costs no more than reading
/// it: the walk stops at the first part past [`MAX_NODES`].
pub fn check(rule: &SegmentRule, prefix: &str, fields: &mut Fields) -> SegmentRule {
    let mut size = Size::default();
    if !measure(rule, prefix, 0, &mut size, fields) {
        return rule.clone();
    }
    if size.conditions > MAX_CONDITIONS {
        fields.push(
            prefix,
            "too_many_conditions",
            format!("a rule may hold at most {MAX_CONDITIONS} conditions"),
        );
        return rule.clone();
    }
    check_at(rule, prefix, fields)
}

#[derive(Default)]
struct Size {
    nodes: usize,
    conditions: usize,
}

/// Counts the parts of a rule and checks depth and width; false (with the error recorded)
/// as soon as one bound is crossed.
fn measure(
    rule: &SegmentRule,
    path: &str,
    depth: usize,
    size: &mut Size,
    fields: &mut Fields,
) -> bool {
    size.nodes += 1;
    if size.nodes > MAX_NODES {
        fields.push(
            path,
            "too_large",
            format!("a rule may hold at most {MAX_NODES} parts, groups included"),
        );
        return false;
    }
    match rule {
        SegmentRule::And { rules } | SegmentRule::Or { rules } => {
            if depth >= MAX_DEPTH {
                fields.push(
                    path,
                    "too_deep",
                    format!("groups may be nested at most {MAX_DEPTH} deep"),
                );
                return false;
            }
            if rules.len() > MAX_GROUP_WIDTH {
                fields.push(
                    format!("{path}.rules"),
                    "too_many_items",
                    format!("a group may list at most {MAX_GROUP_WIDTH} rules"),
                );
                return false;
            }
            rules
                .iter()
                .enumerate()
                .all(|(i, r)| measure(r, &format!("{path}.rules[{i}]"), depth + 1, size, fields))
        }
        _ => {
            size.conditions += 1;
            true
        }
    }
}

/// Checks the values of a rule already known to be within bounds.
fn check_at(rule: &SegmentRule, path: &str, fields: &mut Fields) -> SegmentRule {
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
            let checked: Vec<SegmentRule> = rules
                .iter()
                .enumerate()
                .map(|(i, r)| check_at(r, &format!("{path}.rules[{i}]"), fields))
                .collect();
            match rule {
                SegmentRule::And { .. } => SegmentRule::And { rules: checked },
                _ => SegmentRule::Or { rules: checked },
            }
        }
        leaf => {
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

        let half = SegmentRule::And {
            rules: vec![SegmentRule::BirthdayToday; MAX_CONDITIONS / 2 + 1],
        };
        let too_many = SegmentRule::Or {
            rules: vec![half.clone(), half],
        };
        assert_eq!(
            errors_of(&too_many),
            vec![("rule".to_owned(), "too_many_conditions".to_owned())]
        );
    }

    #[test]
    fn a_group_lists_at_most_the_maximum_width() {
        let wide = SegmentRule::Or {
            rules: vec![SegmentRule::BirthdayToday; MAX_GROUP_WIDTH + 1],
        };
        assert_eq!(
            errors_of(&wide),
            vec![("rule.rules".to_owned(), "too_many_items".to_owned())]
        );
        let widest = SegmentRule::Or {
            rules: vec![SegmentRule::BirthdayToday; MAX_GROUP_WIDTH],
        };
        assert!(errors_of(&widest).is_empty());
    }

    #[test]
    fn empty_groups_count_toward_the_size_and_the_walk_stops_at_the_bound() {
        // Three thousand empty groups once crashed the server: each is a part of the rule.
        let empties = SegmentRule::And {
            rules: vec![SegmentRule::everyone(); 3000],
        };
        assert_eq!(
            errors_of(&empties),
            vec![("rule.rules".to_owned(), "too_many_items".to_owned())]
        );
        // Within every width, but past the total: 1 + 50 groups of one empty group each.
        let nested = SegmentRule::Or {
            rules: vec![
                SegmentRule::And {
                    rules: vec![SegmentRule::everyone()]
                };
                MAX_GROUP_WIDTH
            ],
        };
        let errors = errors_of(&nested);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].1, "too_large");
    }

    #[test]
    fn a_rule_of_the_largest_accepted_size_passes() {
        // 1 + 49 groups + 49 conditions = 99 parts; one more condition makes 100.
        let mut rules = vec![
            SegmentRule::And {
                rules: vec![SegmentRule::HasEmail { value: true }],
            };
            MAX_GROUP_WIDTH - 1
        ];
        rules.push(SegmentRule::BirthdayToday);
        let largest = SegmentRule::Or { rules };
        assert!(errors_of(&largest).is_empty());
    }
}
