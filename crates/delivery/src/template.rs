//! Message templates: the merchant's text with `{variable}` placeholders.
//!
//! A template is parsed once, when the mailing (or automation) is saved, and refused with
//! every problem and its position if it names an unknown variable or has an unbalanced brace.
//! A parsed [`Template`] cannot fail to render. `{{` and `}}` stand for literal braces.
//!
//! Rendering is raw for SMS, Telegram, Messenger and the email text part, and HTML-escaped for
//! the email HTML part: the merchant's own markup is kept, the customer's values (a first name
//! like `<b>Bob</b>`) are escaped.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A variable the merchant can use in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variable {
    FirstName,
    LastName,
    CardName,
    Points,
    Visits,
    MerchantName,
    UnsubscribeUrl,
}

impl Variable {
    /// Every variable, in the order the composer lists them.
    pub const ALL: [Variable; 7] = [
        Variable::FirstName,
        Variable::LastName,
        Variable::CardName,
        Variable::Points,
        Variable::Visits,
        Variable::MerchantName,
        Variable::UnsubscribeUrl,
    ];

    /// The name written between the braces.
    pub fn name(self) -> &'static str {
        match self {
            Variable::FirstName => "first_name",
            Variable::LastName => "last_name",
            Variable::CardName => "card_name",
            Variable::Points => "points",
            Variable::Visits => "visits",
            Variable::MerchantName => "merchant_name",
            Variable::UnsubscribeUrl => "unsubscribe_url",
        }
    }

    /// The variable with this name, if there is one (names are case-sensitive).
    pub fn from_name(name: &str) -> Option<Variable> {
        Variable::ALL.into_iter().find(|v| v.name() == name)
    }
}

impl fmt::Display for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.name())
    }
}

/// What is wrong at one place in a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TemplateErrorKind {
    /// `{something}` where `something` is not a known variable.
    UnknownVariable { name: String },
    /// `{}`.
    EmptyVariable,
    /// A `{` with no `}` before the end of the text, the end of the line or the next `{`.
    UnclosedBrace,
    /// A `}` that closes nothing (write `}}` for a literal brace).
    UnmatchedClosingBrace,
}

/// One problem in a template, with its place in the text.
///
/// `start` and `end` count characters (Unicode scalar values) from the beginning of the
/// template, `end` exclusive; they cover the whole `{...}` or the single stray brace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{} at character {start}", describe(kind))]
pub struct TemplateError {
    #[serde(flatten)]
    pub kind: TemplateErrorKind,
    pub start: usize,
    pub end: usize,
}

fn describe(kind: &TemplateErrorKind) -> String {
    match kind {
        TemplateErrorKind::UnknownVariable { name } => {
            let known: Vec<&str> = Variable::ALL.iter().map(|v| v.name()).collect();
            format!("unknown variable {{{name}}} (known: {})", known.join(", "))
        }
        TemplateErrorKind::EmptyVariable => "empty variable {}".to_owned(),
        TemplateErrorKind::UnclosedBrace => {
            "unclosed brace '{' (write {{ for a literal brace)".to_owned()
        }
        TemplateErrorKind::UnmatchedClosingBrace => {
            "unmatched closing brace '}' (write }} for a literal brace)".to_owned()
        }
    }
}

/// Every problem found in a template, in the order they appear. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("the template has {} problem(s); first: {}", .errors.len(), .errors[0])]
pub struct TemplateErrors {
    pub errors: Vec<TemplateError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(Variable),
}

/// A checked template, ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// The values a template is rendered with, one per [`Variable`]. A value left empty renders
/// as nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateValues {
    pub first_name: String,
    pub last_name: String,
    pub card_name: String,
    pub points: String,
    pub visits: String,
    pub merchant_name: String,
    pub unsubscribe_url: String,
}

impl TemplateValues {
    /// The value of one variable.
    pub fn get(&self, variable: Variable) -> &str {
        match variable {
            Variable::FirstName => &self.first_name,
            Variable::LastName => &self.last_name,
            Variable::CardName => &self.card_name,
            Variable::Points => &self.points,
            Variable::Visits => &self.visits,
            Variable::MerchantName => &self.merchant_name,
            Variable::UnsubscribeUrl => &self.unsubscribe_url,
        }
    }
}

impl Template {
    /// Checks a template and keeps it ready to render, or returns every problem in it.
    ///
    /// ```
    /// use loyalcast_delivery::template::{Template, TemplateErrorKind};
    ///
    /// let template = Template::parse("Hi {first_name}, you have {points} points").unwrap();
    /// assert_eq!(template.variables().count(), 2);
    ///
    /// let errors = Template::parse("Hi {firstname}").unwrap_err().errors;
    /// assert_eq!(errors[0].start, 3);
    /// assert!(matches!(errors[0].kind, TemplateErrorKind::UnknownVariable { .. }));
    /// ```
    pub fn parse(source: &str) -> Result<Template, TemplateErrors> {
        let chars: Vec<char> = source.chars().collect();
        let mut parts = Vec::new();
        let mut errors = Vec::new();
        let mut literal = String::new();
        let mut i = 0;

        while i < chars.len() {
            match chars[i] {
                '{' if chars.get(i + 1) == Some(&'{') => {
                    literal.push('{');
                    i += 2;
                }
                '}' if chars.get(i + 1) == Some(&'}') => {
                    literal.push('}');
                    i += 2;
                }
                '}' => {
                    errors.push(TemplateError {
                        kind: TemplateErrorKind::UnmatchedClosingBrace,
                        start: i,
                        end: i + 1,
                    });
                    i += 1;
                }
                '{' => {
                    // A variable name runs to the next '}'; a '{' or a line break first means
                    // this brace was never closed, and scanning resumes right after it.
                    let close = chars[i + 1..]
                        .iter()
                        .position(|&c| matches!(c, '}' | '{' | '\n' | '\r'))
                        .map(|offset| i + 1 + offset)
                        .filter(|&at| chars[at] == '}');
                    let Some(close) = close else {
                        errors.push(TemplateError {
                            kind: TemplateErrorKind::UnclosedBrace,
                            start: i,
                            end: i + 1,
                        });
                        i += 1;
                        continue;
                    };
                    let name: String = chars[i + 1..close].iter().collect();
                    let (start, end) = (i, close + 1);
                    if name.is_empty() {
                        errors.push(TemplateError {
                            kind: TemplateErrorKind::EmptyVariable,
                            start,
                            end,
                        });
                    } else if let Some(variable) = Variable::from_name(&name) {
                        if !literal.is_empty() {
                            parts.push(Part::Literal(std::mem::take(&mut literal)));
                        }
                        parts.push(Part::Variable(variable));
                    } else {
                        errors.push(TemplateError {
                            kind: TemplateErrorKind::UnknownVariable { name },
                            start,
                            end,
                        });
                    }
                    i = end;
                }
                c => {
                    literal.push(c);
                    i += 1;
                }
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }

        if errors.is_empty() {
            Ok(Template {
                source: source.to_owned(),
                parts,
            })
        } else {
            Err(TemplateErrors { errors })
        }
    }

    /// The text the template was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The variables the template uses, in order of appearance (repeats included).
    pub fn variables(&self) -> impl Iterator<Item = Variable> + '_ {
        self.parts.iter().filter_map(|part| match part {
            Part::Variable(v) => Some(*v),
            Part::Literal(_) => None,
        })
    }

    /// Whether the template uses this variable.
    pub fn uses(&self, variable: Variable) -> bool {
        self.variables().any(|v| v == variable)
    }

    /// Renders with values inserted as they are: for SMS, Telegram, Messenger and email text.
    pub fn render_text(&self, values: &TemplateValues) -> String {
        self.render(values, |out, value| out.push_str(value))
    }

    /// Renders for an HTML document: the template's own markup is kept, values are escaped.
    pub fn render_html(&self, values: &TemplateValues) -> String {
        self.render(values, |out, value| out.push_str(&escape_html(value)))
    }

    fn render(&self, values: &TemplateValues, mut insert: impl FnMut(&mut String, &str)) -> String {
        let mut out = String::with_capacity(self.source.len() + 64);
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(variable) => insert(&mut out, values.get(*variable)),
            }
        }
        out
    }
}

impl FromStr for Template {
    type Err = TemplateErrors;

    fn from_str(source: &str) -> Result<Self, Self::Err> {
        Template::parse(source)
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn values() -> TemplateValues {
        TemplateValues {
            first_name: "Ann".into(),
            last_name: "O'Neil".into(),
            card_name: "Coffee <Club>".into(),
            points: "120".into(),
            visits: "7".into(),
            merchant_name: "Bean & Leaf".into(),
            unsubscribe_url: "https://l.example/u/abc?x=1&y=2".into(),
        }
    }

    fn errors(source: &str) -> Vec<(TemplateErrorKind, usize, usize)> {
        Template::parse(source)
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| (e.kind, e.start, e.end))
            .collect()
    }

    #[test]
    fn every_known_variable_renders_its_value() {
        let template = Template::parse(
            "{first_name} {last_name}: {points} pts, {visits} visits on {card_name} at \
             {merchant_name}. Stop: {unsubscribe_url}",
        )
        .unwrap();
        assert_eq!(
            template.render_text(&values()),
            "Ann O'Neil: 120 pts, 7 visits on Coffee <Club> at Bean & Leaf. \
             Stop: https://l.example/u/abc?x=1&y=2"
        );
        assert_eq!(template.variables().count(), 7);
    }

    #[test]
    fn html_rendering_escapes_values_but_keeps_the_merchants_markup() {
        let template = Template::parse("<p>Hi <b>{first_name}</b> of {card_name}</p>").unwrap();
        let mut v = values();
        v.first_name = "<script>\"x\"</script>".into();
        assert_eq!(
            template.render_html(&v),
            "<p>Hi <b>&lt;script&gt;&quot;x&quot;&lt;/script&gt;</b> of Coffee &lt;Club&gt;</p>"
        );
        assert_eq!(
            template.render_text(&v),
            "<p>Hi <b><script>\"x\"</script></b> of Coffee <Club></p>"
        );
    }

    #[test]
    fn doubled_braces_are_literal_braces() {
        let template = Template::parse("Use {{CODE}} now, {first_name} }}{{").unwrap();
        assert_eq!(template.render_text(&values()), "Use {CODE} now, Ann }{");
        assert_eq!(
            template.variables().collect::<Vec<_>>(),
            vec![Variable::FirstName]
        );
    }

    #[test]
    fn a_template_without_variables_renders_as_itself() {
        let template = Template::parse("Plain text, ünïcode 🎉").unwrap();
        assert_eq!(
            template.render_text(&TemplateValues::default()),
            "Plain text, ünïcode 🎉"
        );
        assert_eq!(Template::parse("").unwrap().render_text(&values()), "");
    }

    #[test]
    fn an_unknown_variable_is_reported_with_its_span() {
        assert_eq!(
            errors("Hi {firstname}!"),
            vec![(
                TemplateErrorKind::UnknownVariable {
                    name: "firstname".into()
                },
                3,
                14
            )]
        );
        // Names are case-sensitive and not trimmed.
        assert_eq!(
            errors("{First_Name}")[0].0,
            TemplateErrorKind::UnknownVariable {
                name: "First_Name".into()
            }
        );
        assert_eq!(
            errors("{ points }")[0].0,
            TemplateErrorKind::UnknownVariable {
                name: " points ".into()
            }
        );
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(
            errors("Привет {имя}"),
            vec![(
                TemplateErrorKind::UnknownVariable {
                    name: "имя".into()
                },
                7,
                12
            )]
        );
    }

    #[test]
    fn every_problem_is_reported_not_only_the_first() {
        assert_eq!(
            errors("{nope} and } and {} and {first_name"),
            vec![
                (
                    TemplateErrorKind::UnknownVariable {
                        name: "nope".into()
                    },
                    0,
                    6
                ),
                (TemplateErrorKind::UnmatchedClosingBrace, 11, 12),
                (TemplateErrorKind::EmptyVariable, 17, 19),
                (TemplateErrorKind::UnclosedBrace, 24, 25),
            ]
        );
    }

    #[test]
    fn a_brace_opened_again_before_closing_is_unclosed_and_scanning_resumes() {
        assert_eq!(
            errors("{first_name{points}"),
            vec![(TemplateErrorKind::UnclosedBrace, 0, 1)]
        );
    }

    #[test]
    fn a_variable_cannot_span_lines() {
        assert_eq!(
            errors("{first\n_name}"),
            vec![
                (TemplateErrorKind::UnclosedBrace, 0, 1),
                (TemplateErrorKind::UnmatchedClosingBrace, 12, 13),
            ]
        );
    }

    #[test]
    fn errors_have_a_readable_message() {
        let err = Template::parse("Hi {firstname}").unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("unknown variable {firstname}"),
            "{message}"
        );
        assert!(message.contains("first_name"), "{message}");
        assert!(message.contains("character 3"), "{message}");
    }

    #[test]
    fn errors_serialise_for_field_errors() {
        let err = Template::parse("{x}").unwrap_err();
        let json = serde_json::to_value(&err.errors[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "unknown_variable", "name": "x", "start": 0, "end": 3})
        );
    }

    #[test]
    fn escape_html_escapes_the_five_special_characters() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
