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
/// with an unknown variable, is a field error.
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
    for channel in channels {
        match channel {
            Channel::Sms => match &content.sms {
                Some(c) => prepared.sms = template(fields, "content.sms.body", &c.body, 1600),
                None => fields.push("content.sms", "required", "SMS is chosen but has no text"),
            },
            Channel::Email => match &content.email {
                Some(c) => {
                    let subject = template(fields, "content.email.subject", &c.subject, 200);
                    let body = template(fields, "content.email.body", &c.body, 50_000);
                    prepared.email = subject.zip(body);
                }
                None => fields.push(
                    "content.email",
                    "required",
                    "Email is chosen but has no content",
                ),
            },
            Channel::Telegram => match &content.telegram {
                Some(c) => {
                    prepared.telegram = template(fields, "content.telegram.text", &c.text, 4096)
                }
                None => fields.push(
                    "content.telegram",
                    "required",
                    "Telegram is chosen but has no text",
                ),
            },
            Channel::Messenger => match &content.messenger {
                Some(c) => {
                    prepared.messenger = template(fields, "content.messenger.text", &c.text, 2000)
                }
                None => fields.push(
                    "content.messenger",
                    "required",
                    "Messenger is chosen but has no text",
                ),
            },
        }
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
}
