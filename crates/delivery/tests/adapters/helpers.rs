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

/// What a misbehaving fake provider does with each connection, at the TCP level (wiremock
/// always answers, or delays an answer it will still give).
#[derive(Debug, Clone, Copy)]
pub enum Misbehaviour {
    /// Reads the whole request, then never answers, holding the connection open.
    ReadsAndNeverAnswers,
    /// Reads the whole request, then closes the connection without answering.
    ReadsAndHangsUp,
    /// Reads the whole request, answers with this status line and a body it cuts short.
    CutsTheAnswer(&'static str),
    /// Accepts the connection and never reads or writes: a TLS client waits for the
    /// server's handshake forever, so the request is never sent.
    SilentAfterAccept,
}

/// A fake provider on 127.0.0.1 that misbehaves the same way on every connection.
pub struct MisbehavingProvider {
    port: u16,
    requests_read: Arc<std::sync::atomic::AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl MisbehavingProvider {
    pub async fn start(behaviour: Misbehaviour) -> MisbehavingProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests_read = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = requests_read.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(misbehave(stream, behaviour, counter.clone()));
            }
        });
        MisbehavingProvider {
            port,
            requests_read,
            server,
        }
    }

    pub fn url(&self) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}", self.port)).unwrap()
    }

    pub fn https_url(&self) -> Url {
        Url::parse(&format!("https://127.0.0.1:{}", self.port)).unwrap()
    }

    /// Requests read to their last byte: proof that the request reached the "provider".
    pub fn requests_read(&self) -> usize {
        self.requests_read.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for MisbehavingProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn misbehave(
    mut stream: tokio::net::TcpStream,
    behaviour: Misbehaviour,
    requests_read: Arc<std::sync::atomic::AtomicUsize>,
) {
    use tokio::io::AsyncWriteExt;

    if matches!(behaviour, Misbehaviour::SilentAfterAccept) {
        std::future::pending::<()>().await;
    }
    if !read_request(&mut stream).await {
        return;
    }
    requests_read.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    match behaviour {
        Misbehaviour::ReadsAndNeverAnswers => {
            std::future::pending::<()>().await;
        }
        Misbehaviour::ReadsAndHangsUp | Misbehaviour::SilentAfterAccept => {}
        Misbehaviour::CutsTheAnswer(status) => {
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{{\"sid\": \"SM"
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.flush().await;
        }
    }
    // Dropping the stream closes the connection.
}

/// Reads one HTTP/1.1 request with a `content-length` body; false if the client left first.
async fn read_request(stream: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;

    let mut received = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map_or(0, |value| value.trim().parse().unwrap());
            if received.len() >= end + 4 + length {
                return true;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
        }
    }
}
