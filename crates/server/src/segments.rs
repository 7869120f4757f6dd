//! The segment rule compiler: a rule becomes one SQL condition over the customers table
//! (with indexed sub-selects for tags and cards), so counts and sends run in the database
//! and never load customers into memory. Sending uses the same compiler.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use loyalcast_domain::birthday;
use loyalcast_dto::{Channel, Comparison, SegmentRule};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

use crate::entity::{customer, customer_tag, pass};
use sea_orm::DbErr;

type Result<T> = std::result::Result<T, DbErr>;

/// What a rule is evaluated against: the merchant, the moment and its time zone.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub merchant_id: Uuid,
    pub now: DateTime<Utc>,
    pub time_zone: Tz,
}

impl Context {
    fn today(&self) -> NaiveDate {
        self.now.with_timezone(&self.time_zone).date_naive()
    }

    /// The first instant of a day in the merchant's time zone.
    fn start_of(&self, date: NaiveDate) -> DateTime<Utc> {
        let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        self.time_zone
            .from_local_datetime(&midnight)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            // A zone that skips midnight (a DST jump) starts the day an hour later.
            .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
    }
}

/// The condition a (checked) rule stands for, including the merchant filter.
pub fn condition(rule: &SegmentRule, ctx: &Context) -> Condition {
    Condition::all()
        .add(customer::Column::MerchantId.eq(ctx.merchant_id))
        .add(compile(rule, ctx))
}

fn always(value: bool) -> SimpleExpr {
    Expr::val(1).eq(if value { 1 } else { 0 })
}

fn compare(column: customer::Column, cmp: Comparison, value: i64) -> SimpleExpr {
    match cmp {
        Comparison::Eq => column.eq(value),
        Comparison::Ne => column.ne(value),
        Comparison::Gt => column.gt(value),
        Comparison::Gte => column.gte(value),
        Comparison::Lt => column.lt(value),
        Comparison::Lte => column.lte(value),
    }
}

fn compile(rule: &SegmentRule, ctx: &Context) -> Condition {
    use customer::Column as C;
    let leaf = |expr: SimpleExpr| Condition::all().add(expr);
    match rule {
        SegmentRule::And { rules } if rules.is_empty() => leaf(always(true)),
        SegmentRule::Or { rules } if rules.is_empty() => leaf(always(false)),
        SegmentRule::And { rules } => balanced(rules, ctx, Condition::all),
        SegmentRule::Or { rules } => balanced(rules, ctx, Condition::any),
        SegmentRule::Visits { cmp, value } => leaf(compare(C::Visits, *cmp, *value)),
        SegmentRule::Points { cmp, value } => leaf(compare(C::Points, *cmp, *value)),
        SegmentRule::LastVisitBefore { date } => leaf(C::LastVisitAt.lt(ctx.start_of(*date))),
        SegmentRule::LastVisitAfter { date } => leaf(C::LastVisitAt.gte(ctx.start_of(*date))),
        SegmentRule::LastVisitWithinDays { days } => {
            leaf(C::LastVisitAt.gte(ctx.now - Duration::days(i64::from(*days))))
        }
        SegmentRule::NoVisitForDays { days } => Condition::any()
            .add(C::LastVisitAt.is_null())
            .add(C::LastVisitAt.lt(ctx.now - Duration::days(i64::from(*days)))),
        SegmentRule::BirthdayMonth { month } => leaf(C::BirthdayMonth.eq(*month as i16)),
        SegmentRule::BirthdayToday => birthdays(ctx.today(), 1),
        SegmentRule::BirthdayWithinDays { days } => birthdays(ctx.today(), *days),
        SegmentRule::HasTag { tag } => leaf(
            C::Id.in_subquery(
                Query::select()
                    .column(customer_tag::Column::CustomerId)
                    .from(customer_tag::Entity)
                    .and_where(customer_tag::Column::MerchantId.eq(ctx.merchant_id))
                    .and_where(customer_tag::Column::Tag.eq(tag.clone()))
                    .to_owned(),
            ),
        ),
        SegmentRule::HoldsCard { card_id } => leaf(
            C::Id.in_subquery(
                Query::select()
                    .column(pass::Column::CustomerId)
                    .from(pass::Entity)
                    .and_where(pass::Column::MerchantId.eq(ctx.merchant_id))
                    .and_where(pass::Column::CardId.eq(*card_id))
                    .to_owned(),
            ),
        ),
        SegmentRule::HasPhone { value } => leaf(if *value {
            C::Phone.is_not_null()
        } else {
            C::Phone.is_null()
        }),
        SegmentRule::HasEmail { value } => leaf(if *value {
            C::Email.is_not_null()
        } else {
            C::Email.is_null()
        }),
        SegmentRule::OptedIn { channel } => {
            let (address, consent) = reachable(*channel);
            Condition::all()
                .add(address.is_not_null())
                .add(consent.eq(true))
        }
        SegmentRule::CreatedBefore { date } => leaf(C::CreatedAt.lt(ctx.start_of(*date))),
        SegmentRule::CreatedAfter { date } => leaf(C::CreatedAt.gte(ctx.start_of(*date))),
        SegmentRule::CreatedWithinDays { days } => {
            leaf(C::CreatedAt.gte(ctx.now - Duration::days(i64::from(*days))))
        }
    }
}

/// A group's rules joined as a balanced tree of small groups. SQLite parses `a AND b AND c`
/// as a left-deep tree, one level per term, and refuses expressions deeper than 1,000; in
/// halves, a group of n rules nests log2(n) deep instead of n.
fn balanced(rules: &[SegmentRule], ctx: &Context, group: fn() -> Condition) -> Condition {
    const FLAT: usize = 4;
    if rules.len() <= FLAT {
        return rules.iter().fold(group(), |c, r| c.add(compile(r, ctx)));
    }
    let (left, right) = rules.split_at(rules.len() / 2);
    group()
        .add(balanced(left, ctx, group))
        .add(balanced(right, ctx, group))
}

/// The address column and consent column of a channel.
pub fn reachable(channel: Channel) -> (customer::Column, customer::Column) {
    use customer::Column as C;
    match channel {
        Channel::Sms => (C::Phone, C::SmsConsent),
        Channel::Email => (C::Email, C::EmailConsent),
        Channel::Telegram => (C::TelegramChatId, C::TelegramConsent),
        Channel::Messenger => (C::MessengerPsid, C::MessengerConsent),
    }
}

fn birthdays(today: NaiveDate, days: u32) -> Condition {
    use customer::Column as C;
    birthday::window(today, days)
        .into_iter()
        .fold(Condition::any(), |any, range| {
            let days = if range.from == range.to {
                C::BirthdayDay.eq(range.from as i16)
            } else {
                C::BirthdayDay.between(range.from as i16, range.to as i16)
            };
            any.add(
                Condition::all()
                    .add(C::BirthdayMonth.eq(range.month as i16))
                    .add(days),
            )
        })
}

/// How many customers each of several rules matches now, in one pass over the merchant's
/// customers (a list of segments costs one scan, not one per segment).
pub async fn count_many(
    db: &impl ConnectionTrait,
    rules: &[SegmentRule],
    ctx: &Context,
) -> Result<Vec<u64>> {
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = Query::select();
    query
        .from(customer::Entity)
        .and_where(customer::Column::MerchantId.eq(ctx.merchant_id));
    for (i, rule) in rules.iter().enumerate() {
        let matches = Func::sum(Expr::case(compile(rule, ctx), 1).finally(0));
        query.expr_as(
            Func::coalesce([SimpleExpr::from(matches), Expr::val(0)]),
            Alias::new(format!("count_{i}")),
        );
    }
    let row = db
        .query_one(&query)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("an aggregate query returned no row".to_owned()))?;
    (0..rules.len())
        .map(|i| {
            let count: i64 = row.try_get_by_index(i)?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .collect()
}

/// How many customers a rule matches now.
pub async fn count(db: &impl ConnectionTrait, rule: &SegmentRule, ctx: &Context) -> Result<u64> {
    customer::Entity::find()
        .filter(condition(rule, ctx))
        .count(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};
    use sea_orm::{QueryTrait, Select};

    fn ctx() -> Context {
        Context {
            merchant_id: Uuid::nil(),
            now: Utc
                .with_ymd_and_hms(2026, 11, 29, 12, 0, 0)
                .single()
                .unwrap_or_default(),
            time_zone: chrono_tz::Europe::Berlin,
        }
    }

    fn sql(rule: &SegmentRule) -> String {
        let select: Select<customer::Entity> =
            customer::Entity::find().filter(condition(rule, &ctx()));
        select.into_query().to_string(PostgresQueryBuilder)
    }

    #[test]
    fn an_empty_and_matches_everyone_and_an_empty_or_no_one() {
        assert!(sql(&SegmentRule::everyone()).contains("1 = 1"));
        assert!(sql(&SegmentRule::Or { rules: vec![] }).contains("1 = 0"));
    }

    #[test]
    fn groups_combine_with_and_and_or() {
        let rule = SegmentRule::Or {
            rules: vec![
                SegmentRule::Visits {
                    cmp: Comparison::Gte,
                    value: 5,
                },
                SegmentRule::And {
                    rules: vec![
                        SegmentRule::HasEmail { value: true },
                        SegmentRule::BirthdayMonth { month: 3 },
                    ],
                },
            ],
        };
        let text = sql(&rule);
        assert!(
            text.contains(r#"("customers"."visits" >= 5 OR ("customers"."email" IS NOT NULL AND "customers"."birthday_month" = 3))"#),
            "{text}"
        );
    }

    #[test]
    fn a_wide_group_nests_logarithmically_not_linearly() {
        let rule = SegmentRule::And {
            rules: vec![SegmentRule::HasEmail { value: true }; 50],
        };
        let text = sql(&rule);
        assert_eq!(text.matches("\"email\" IS NOT NULL").count(), 50);
        // The deepest run of open parentheses bounds the depth SQLite has to parse.
        let (mut depth, mut deepest) = (0i32, 0i32);
        for c in text.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            deepest = std::cmp::Ord::max(deepest, depth);
        }
        assert!(deepest <= 8, "nested {deepest} deep: {text}");
    }

    #[test]
    fn dates_are_days_in_the_merchants_zone() {
        let rule = SegmentRule::LastVisitBefore {
            date: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap_or_default(),
        };
        // Midnight in Berlin in summer is 22:00 UTC the day before.
        assert!(sql(&rule).contains("2026-06-30 22:00:00"), "{}", sql(&rule));
    }

    #[test]
    fn tags_and_cards_use_sub_selects_scoped_to_the_merchant() {
        let text = customer::Entity::find()
            .filter(condition(
                &SegmentRule::HasTag { tag: "vip".into() },
                &ctx(),
            ))
            .into_query()
            .to_string(SqliteQueryBuilder);
        assert!(
            text.contains(
                r#""customers"."id" IN (SELECT "customer_id" FROM "customer_tags" WHERE "customer_tags"."merchant_id" = '00000000-0000-0000-0000-000000000000' AND "customer_tags"."tag" = 'vip')"#
            ),
            "{text}"
        );
    }

    #[test]
    fn a_birthday_window_across_new_year_is_two_ranges() {
        let c = Context {
            now: Utc
                .with_ymd_and_hms(2026, 12, 30, 12, 0, 0)
                .single()
                .unwrap_or_default(),
            ..ctx()
        };
        let text = customer::Entity::find()
            .filter(condition(&SegmentRule::BirthdayWithinDays { days: 5 }, &c))
            .into_query()
            .to_string(PostgresQueryBuilder);
        assert!(
            text.contains(r#"("customers"."birthday_month" = 12 AND ("customers"."birthday_day" BETWEEN 30 AND 31))"#),
            "{text}"
        );
        assert!(
            text.contains(r#"("customers"."birthday_month" = 1 AND ("customers"."birthday_day" BETWEEN 1 AND 3))"#),
            "{text}"
        );
    }
}
