//! Making the message a claimed row stands for: the source's content rendered with the
//! recipient's values, its real links, and the channel's address, checked once more against
//! the customer's consent just before it is sent.

use loyalcast_delivery::message::{
    DeliveryId, EmailAddress, EmailMessage, MessageContent, MessengerMessage, OutboundMessage,
    PhoneNumber, Psid, SmsMessage, TelegramChatId, TelegramMessage, parse_web_url,
};
use loyalcast_delivery::sms;
use loyalcast_dto::Channel;

use super::content::html_from_text;
use super::links::{LinkSigner, Purpose};
use super::queue::Claimed;
use super::settle::Outcome;
use super::source::SourceInfo;
use crate::entity::customer;

/// A message ready to send, and the credits it takes as it is.
#[derive(Debug, Clone)]
pub struct Composed {
    pub message: OutboundMessage,
    pub credits: i32,
}

/// Renders messages for one server: its public URL and its link key.
#[derive(Clone)]
pub struct Composer {
    pub public_url: String,
    pub signer: LinkSigner,
}

impl Composer {
    pub fn new(public_url: &str, signer: LinkSigner) -> Self {
        Composer {
            public_url: public_url.trim_end_matches('/').to_owned(),
            signer,
        }
    }

    /// The message of `row` for customer `c` (who holds `card` first), or the outcome that
    /// stands for it when it cannot be sent (opted out, no address, no content).
    pub fn message(
        &self,
        row: &Claimed,
        info: &SourceInfo,
        c: &customer::Model,
        card: Option<&String>,
    ) -> std::result::Result<Composed, Outcome> {
        let Some(channel) = row.lane.channel() else {
            return Err(Outcome::Rejected(
                "a wallet push has no customer message".to_owned(),
            ));
        };
        let opted_out =
            || Outcome::Unsubscribed(format!("the customer opted out of {}", channel.label()));
        let missing = |what: &str| Outcome::Rejected(format!("the customer has no {what}"));
        let mut values = info.values.for_customer(c, card);
        let unsubscribe = format!(
            "{}/u/{}",
            self.public_url,
            self.signer.token(Purpose::Unsubscribe, row.id)
        );
        values.unsubscribe_url = unsubscribe.clone();
        let no_content =
            || Outcome::Rejected(format!("the mailing has no {} content", channel.label()));
        // What the message as sent costs: an SMS its segments, an email one credit.
        let mut credits = 0;
        let content = match channel {
            Channel::Sms => {
                if !c.sms_consent {
                    return Err(opted_out());
                }
                let phone = c.phone.as_deref().ok_or_else(|| missing("phone number"))?;
                let to = PhoneNumber::parse(phone).map_err(|e| Outcome::Rejected(e.to_string()))?;
                let body = info
                    .prepared
                    .sms
                    .as_ref()
                    .ok_or_else(no_content)?
                    .render_text(&values);
                credits = i32::try_from(sms::sms_length(&body).segments).unwrap_or(i32::MAX);
                MessageContent::Sms(SmsMessage { to, body })
            }
            Channel::Email => {
                if !c.email_consent {
                    return Err(opted_out());
                }
                let email = c.email.as_deref().ok_or_else(|| missing("email address"))?;
                let to =
                    EmailAddress::parse(email).map_err(|e| Outcome::Rejected(e.to_string()))?;
                let (subject, body) = info.prepared.email.as_ref().ok_or_else(no_content)?;
                let text = body.render_text(&values);
                credits = 1;
                let open = format!(
                    "{}/o/{}",
                    self.public_url,
                    self.signer.token(Purpose::Open, row.id)
                );
                MessageContent::Email(Box::new(EmailMessage {
                    to,
                    to_name: Some(
                        format!("{} {}", c.first_name, c.last_name)
                            .trim()
                            .to_owned(),
                    ),
                    from_name: info.values.base.merchant_name.clone(),
                    reply_to: None,
                    subject: subject.render_text(&values),
                    html: html_from_text(&text),
                    text,
                    unsubscribe_url: parse_web_url(&unsubscribe)
                        .map_err(|e| Outcome::Rejected(e.to_string()))?,
                    open_tracking_url: parse_web_url(&open).ok(),
                }))
            }
            Channel::Telegram => {
                if !c.telegram_consent {
                    return Err(opted_out());
                }
                let chat: i64 = c
                    .telegram_chat_id
                    .as_deref()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| missing("Telegram chat"))?;
                let text = info
                    .prepared
                    .telegram
                    .as_ref()
                    .ok_or_else(no_content)?
                    .render_text(&values);
                MessageContent::Telegram(TelegramMessage {
                    chat_id: TelegramChatId(chat),
                    text,
                })
            }
            Channel::Messenger => {
                if !c.messenger_consent {
                    return Err(opted_out());
                }
                let psid = c
                    .messenger_psid
                    .as_deref()
                    .ok_or_else(|| missing("Messenger id"))?;
                let psid = Psid::parse(psid).map_err(|e| Outcome::Rejected(e.to_string()))?;
                let text = info
                    .prepared
                    .messenger
                    .as_ref()
                    .ok_or_else(no_content)?
                    .render_text(&values);
                MessageContent::Messenger(MessengerMessage { psid, text })
            }
        };
        Ok(Composed {
            message: OutboundMessage::new(DeliveryId::from(row.id), content),
            credits,
        })
    }
}
