use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use loyalcast_delivery::{
    DeliveryId, EmailAddress, EmailMessage, MessageContent, MessengerMessage, OutboundMessage,
    PhoneNumber, Psid, SmsMessage, TelegramChatId, TelegramMessage,
};
use url::Url;

pub fn sms(to: &str, body: &str) -> OutboundMessage {
    OutboundMessage::new(
        DeliveryId::from(1001_i64),
        MessageContent::Sms(SmsMessage {
            to: PhoneNumber::parse(to).unwrap(),
            body: body.to_owned(),
        }),
    )
}

pub fn telegram(chat_id: i64, text: &str) -> OutboundMessage {
    OutboundMessage::new(
        DeliveryId::from(1002_i64),
        MessageContent::Telegram(TelegramMessage {
            chat_id: TelegramChatId(chat_id),
            text: text.to_owned(),
        }),
    )
}

pub fn messenger(psid: &str, text: &str) -> OutboundMessage {
    OutboundMessage::new(
        DeliveryId::from(1003_i64),
        MessageContent::Messenger(MessengerMessage {
            psid: Psid::parse(psid).unwrap(),
            text: text.to_owned(),
        }),
    )
}

pub fn email(to: &str) -> EmailMessage {
    EmailMessage {
        to: EmailAddress::parse(to).unwrap(),
        to_name: Some("Ann Lee".to_owned()),
        from_name: "Bean and Leaf".to_owned(),
        reply_to: Some(EmailAddress::parse("replies+m42@in.loyalcast.test").unwrap()),
        subject: "Your card has 120 points".to_owned(),
        text: "Hi Ann,\nyou have 120 points.\n.\n.leading dot line\nUnsubscribe: https://l.loyalcast.test/u/tok".to_owned(),
        html: "<html><body><p>Hi <b>Ann</b>, you have 120 points.</p></body></html>".to_owned(),
        unsubscribe_url: Url::parse("https://l.loyalcast.test/u/tok?c=email").unwrap(),
        open_tracking_url: Some(Url::parse("https://t.loyalcast.test/o/1004.gif").unwrap()),
    }
}

pub fn email_message(id: i64, to: &str) -> OutboundMessage {
    OutboundMessage::new(
        DeliveryId::from(id),
        MessageContent::Email(Box::new(email(to))),
    )
}

/// A base URL on which nothing listens: the port was bound and released.
pub fn closed_port_url() -> Url {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    Url::parse(&format!("http://127.0.0.1:{port}")).unwrap()
}

/// Everything `tracing` writes in this test binary, at every level.
///
/// One global subscriber rather than one per test: tracing caches per call site whether
/// anyone listens, and per-thread subscribers in parallel tests make that cache racy.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn global() -> &'static CapturedLogs {
        static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = CapturedLogs::default();
            let writer = logs.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            logs
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The lines that mention this delivery.
    pub fn for_delivery(&self, id: i64) -> Vec<String> {
        let needle = format!("delivery_id={id}");
        self.text()
            .lines()
            .filter(|l| l.contains(&needle))
            .map(str::to_owned)
            .collect()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
