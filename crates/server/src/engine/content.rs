//! Checking a mailing's content when it is created, and rendering it per recipient.

use loyalcast_delivery::sms;
use loyalcast_delivery::template::{Template, TemplateErrors, TemplateValues, escape_html};
use loyalcast_domain::Fields;
use loyalcast_dto::{Channel, MailingContent};

/// A mailing's templates, parsed.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub sms: Option<Template>,
    pub email: Option<(Template, Template)>,
    pub telegram: Option<Template>,
    pub messenger: Option<Template>,
}

fn template(fields: &mut Fields, field: &str, source: &str, max: usize) -> Option<Template> {
    if source.trim().is_empty() {
        fields.push(field, "required", "must not be blank");
        return None;
    }
    if source.chars().count() > max {
        fields.push(
            field,
            "too_long",
            format!("must be at most {max} characters"),
        );
        return None;
    }
    match Template::parse(source) {
        Ok(t) => Some(t),
        Err(TemplateErrors { errors }) => {
            for e in errors {
                fields.push(field, "invalid_template", e.to_string());
            }
            None
        }
    }
}

/// Parses the content of each chosen channel; a chosen channel without content, or content
/// with an unknown variable, is a field error. Content given for a channel that is not
/// chosen is checked too (and then left out): the OpenAPI document declares its shape
/// whatever the channels, and a mailing should not store text that could never be sent.
pub fn prepare(channels: &[Channel], content: &MailingContent, fields: &mut Fields) -> Prepared {
    let mut prepared = Prepared {
        sms: None,
        email: None,
        telegram: None,
        messenger: None,
    };
    if channels.is_empty() {
        fields.push("channels", "required", "choose at least one channel");
    }
    let chosen = |channel| channels.contains(&channel);
    let missing = |fields: &mut Fields, channel: Channel, field: &str, what: &str| {
        if chosen(channel) {
            fields.push(
                field,
                "required",
                format!("{} is chosen but has no {what}", channel.label()),
            );
        }
    };
    match &content.sms {
        Some(c) => {
            let sms = template(fields, "content.sms.body", &c.body, 1600);
            prepared.sms = sms.filter(|_| chosen(Channel::Sms));
        }
        None => missing(fields, Channel::Sms, "content.sms", "text"),
    }
    match &content.email {
        Some(c) => {
            let subject = template(fields, "content.email.subject", &c.subject, 200);
            let body = template(fields, "content.email.body", &c.body, 50_000);
            prepared.email = subject.zip(body).filter(|_| chosen(Channel::Email));
        }
        None => missing(fields, Channel::Email, "content.email", "content"),
    }
    match &content.telegram {
        Some(c) => {
            let text = template(fields, "content.telegram.text", &c.text, 4096);
            prepared.telegram = text.filter(|_| chosen(Channel::Telegram));
        }
        None => missing(fields, Channel::Telegram, "content.telegram", "text"),
    }
    match &content.messenger {
        Some(c) => {
            let text = template(fields, "content.messenger.text", &c.text, 2000);
            prepared.messenger = text.filter(|_| chosen(Channel::Messenger));
        }
        None => missing(fields, Channel::Messenger, "content.messenger", "text"),
    }
    prepared
}

impl Prepared {
    /// Parses stored content again (it was checked when saved).
    pub fn from_stored(content: &MailingContent) -> Prepared {
        let parse = |s: &str| Template::parse(s).ok();
        Prepared {
            sms: content.sms.as_ref().and_then(|c| parse(&c.body)),
            email: content
                .email
                .as_ref()
                .and_then(|c| parse(&c.subject).zip(parse(&c.body))),
            telegram: content.telegram.as_ref().and_then(|c| parse(&c.text)),
            messenger: content.messenger.as_ref().and_then(|c| parse(&c.text)),
        }
    }

    /// Whether the SMS text depends on the recipient (so its length does too).
    pub fn sms_is_personal(&self) -> bool {
        self.sms
            .as_ref()
            .is_some_and(|t| t.variables().next().is_some())
    }

    /// SMS segments of the text for one recipient.
    pub fn sms_segments(&self, values: &TemplateValues) -> i32 {
        self.sms
            .as_ref()
            .map(|t| {
                i32::try_from(sms::sms_length(&t.render_text(values)).segments).unwrap_or(i32::MAX)
            })
            .unwrap_or(0)
    }
}

/// Plain text as a small HTML document: paragraphs at blank lines, line breaks kept, all
/// text escaped.
pub fn html_from_text(text: &str) -> String {
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("<p>{}</p>", escape_html(p.trim()).replace('\n', "<br>")))
        .collect();
    format!(
        "<!doctype html><html><body style=\"font-family:-apple-system,Segoe UI,Roboto,sans-serif;line-height:1.5;color:#1f2933\">{}</body></html>",
        paragraphs.join("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use loyalcast_dto::{EmailContent, SmsContent};

    #[test]
    fn chosen_channels_need_valid_content() {
        let content = MailingContent {
            sms: Some(SmsContent {
                body: "Hi {firstname}".into(),
            }),
            email: Some(EmailContent {
                subject: "".into(),
                body: "Hello".into(),
            }),
            ..Default::default()
        };
        let mut fields = Fields::new();
        prepare(
            &[Channel::Sms, Channel::Email, Channel::Telegram],
            &content,
            &mut fields,
        );
        let names: Vec<String> = fields.into_errors().into_iter().map(|e| e.field).collect();
        assert_eq!(
            names,
            [
                "content.sms.body",
                "content.email.subject",
                "content.telegram"
            ]
        );
    }

    #[test]
    fn personal_sms_is_counted_per_recipient() {
        let content = MailingContent {
            sms: Some(SmsContent {
                body: format!("{}{{first_name}}", "x".repeat(155)),
            }),
            ..Default::default()
        };
        let mut fields = Fields::new();
        let prepared = prepare(&[Channel::Sms], &content, &mut fields);
        assert!(!fields.has_errors());
        assert!(prepared.sms_is_personal());
        let short = TemplateValues {
            first_name: "Al".into(),
            ..Default::default()
        };
        let long = TemplateValues {
            first_name: "Maximilian".into(),
            ..Default::default()
        };
        let unicode = TemplateValues {
            first_name: "Zoë".into(),
            ..Default::default()
        };
        assert_eq!(prepared.sms_segments(&short), 1);
        assert_eq!(prepared.sms_segments(&long), 2);
        assert_eq!(
            prepared.sms_segments(&unicode),
            3,
            "ë is not GSM-7: UCS-2, 67 a segment"
        );
    }

    #[test]
    fn email_html_is_escaped_paragraphs() {
        assert!(
            html_from_text("Hi <b>\n\nline one\nline two")
                .contains("<p>Hi &lt;b&gt;</p><p>line one<br>line two</p>")
        );
    }

    #[test]
    fn content_of_a_channel_not_chosen_is_checked_but_not_sent() {
        let content = MailingContent {
            sms: Some(SmsContent {
                body: "Hi {first_name}".into(),
            }),
            telegram: Some(loyalcast_dto::TextContent {
                text: "Hi {firstname}".into(),
            }),
            ..Default::default()
        };
        let mut fields = Fields::new();
        let prepared = prepare(&[Channel::Sms], &content, &mut fields);
        let names: Vec<String> = fields.into_errors().into_iter().map(|e| e.field).collect();
        assert_eq!(names, ["content.telegram.text"]);
        assert!(prepared.sms.is_some() && prepared.telegram.is_none());
        let fine = MailingContent {
            telegram: Some(loyalcast_dto::TextContent { text: "Hi".into() }),
            ..content
        };
        let mut fields = Fields::new();
        let prepared = prepare(&[Channel::Sms], &fine, &mut fields);
        assert!(!fields.has_errors());
        assert!(
            prepared.telegram.is_none(),
            "a channel not chosen sends nothing"
        );
    }

    #[test]
    fn the_documented_template_pattern_is_the_parser() {
        use loyalcast_delivery::template::{Template, Variable};
        assert_eq!(
            Variable::ALL.map(Variable::name),
            loyalcast_dto::text::TEMPLATE_VARIABLES
        );
        let pattern =
            regex::Regex::new(loyalcast_dto::text::TEMPLATE).unwrap_or_else(|e| panic!("{e}"));
        let valid = |text: &str| !text.trim().is_empty() && Template::parse(text).is_ok();
        let pieces = [
            "",
            "a",
            " ",
            "\n",
            "\t",
            "\u{85}",
            "\u{3000}",
            "{",
            "}",
            "{{",
            "}}",
            "{first_name}",
            "{unsubscribe_url}",
            "{firstname}",
            "{}",
            "{ first_name}",
            "{first_name",
            "first_name}",
            "{\nfirst_name}",
            "é",
            "🎉",
        ];
        // Every sequence of up to three pieces: braces meet names, blanks and each other.
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let text = format!("{a}{b}{c}");
                    assert_eq!(pattern.is_match(&text), valid(&text), "{text:?}");
                }
            }
        }
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            for text in [c.to_string(), format!("{c}a"), format!("a{c}")] {
                assert_eq!(pattern.is_match(&text), valid(&text), "{text:?}");
            }
        }
    }
}
