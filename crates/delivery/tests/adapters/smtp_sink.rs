//! A small but real SMTP server for tests: it speaks enough of RFC 5321 for lettre
//! (EHLO/HELO, MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP, QUIT), records
//! every message it accepts, refuses the recipients it is told to refuse, and misbehaves
//! for the recipients it is told to: stalls at RCPT, or takes the message and then stalls,
//! hangs up or answers something else than 250.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One message as it arrived: the envelope and the DATA, unstuffed, with CRLF line ends.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: String,
}

/// What the sink does once it has read a message for a recipient, instead of `250`.
#[derive(Debug, Clone)]
pub enum AfterMessage {
    /// Records the message and never answers, holding the connection open.
    Stall,
    /// Records the message and closes the connection without answering.
    HangUp,
    /// Answers with this reply line (a 4xx or 5xx) and does not record the message.
    Reply(String),
}

#[derive(Default)]
struct State {
    received: Vec<ReceivedMail>,
    /// Recipient address -> the full reply line to give its RCPT TO.
    refusals: HashMap<String, String>,
    /// Recipients whose RCPT TO is never answered.
    stalled_rcpt: Vec<String>,
    /// Recipient address -> what follows a message to it.
    after_message: HashMap<String, AfterMessage>,
    /// Close every connection right after answering a message (a relay that drops
    /// clients as soon as they go idle).
    hang_up_when_idle: bool,
    sessions: usize,
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, shared.clone()));
            }
        });
        SmtpSink {
            addr,
            state,
            server,
        }
    }

    /// Answers `RCPT TO:<address>` with `reply` (e.g. `550 5.1.1 No such user`).
    pub fn refuse(&self, address: &str, reply: &str) {
        self.state
            .lock()
            .unwrap()
            .refusals
            .insert(address.to_owned(), reply.to_owned());
    }

    /// Never answers `RCPT TO:<address>`.
    pub fn stall_rcpt(&self, address: &str) {
        self.state
            .lock()
            .unwrap()
            .stalled_rcpt
            .push(address.to_owned());
    }

    /// Misbehaves once a message to `address` has been read.
    pub fn after_message(&self, address: &str, behaviour: AfterMessage) {
        self.state
            .lock()
            .unwrap()
            .after_message
            .insert(address.to_owned(), behaviour);
    }

    /// Closes each connection after answering its first message.
    pub fn hang_up_when_idle(&self) {
        self.state.lock().unwrap().hang_up_when_idle = true;
    }

    pub fn received(&self) -> Vec<ReceivedMail> {
        self.state.lock().unwrap().received.clone()
    }

    /// Connections accepted so far.
    pub fn sessions(&self) -> usize {
        self.state.lock().unwrap().sessions
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn reply(write: &mut tokio::net::tcp::OwnedWriteHalf, text: &str) -> bool {
    write
        .write_all(format!("{text}\r\n").as_bytes())
        .await
        .is_ok()
}

/// The address inside `MAIL FROM:<a@b> SIZE=1` / `RCPT TO:<a@b>`.
fn angle_address(argument: &str) -> String {
    let start = argument.find('<').map_or(0, |i| i + 1);
    let end = argument[start..]
        .find('>')
        .map_or(argument.len(), |i| start + i);
    argument[start..end].to_owned()
}

async fn session(stream: TcpStream, state: Arc<Mutex<State>>) {
    state.lock().unwrap().sessions += 1;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if !reply(&mut write, "220 sink.test ESMTP ready").await {
        return;
    }
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end_matches(['\r', '\n']);
        let verb = command
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let answer = match verb.as_str() {
            "EHLO" => "250-sink.test greets you\r\n250-8BITMIME\r\n250 SIZE 10485760".to_owned(),
            "HELO" => "250 sink.test".to_owned(),
            "NOOP" => "250 OK".to_owned(),
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                "250 OK".to_owned()
            }
            "MAIL" => {
                mail_from = Some(angle_address(command));
                rcpt_to.clear();
                "250 OK".to_owned()
            }
            "RCPT" if mail_from.is_none() => "503 5.5.1 MAIL first".to_owned(),
            "RCPT" => {
                let address = angle_address(command);
                if state.lock().unwrap().stalled_rcpt.contains(&address) {
                    std::future::pending::<()>().await;
                }
                let refusal = state.lock().unwrap().refusals.get(&address).cloned();
                match refusal {
                    Some(refusal) => refusal,
                    None => {
                        rcpt_to.push(address);
                        "250 OK".to_owned()
                    }
                }
            }
            "DATA" if rcpt_to.is_empty() => "554 5.5.1 no valid recipients".to_owned(),
            "DATA" => {
                if !reply(&mut write, "354 End data with <CR><LF>.<CR><LF>").await {
                    return;
                }
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 4.5.2): a leading dot was doubled by the client.
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let mail = ReceivedMail {
                    mail_from: mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                };
                let (behaviour, hang_up_when_idle) = {
                    let state = state.lock().unwrap();
                    let behaviour = mail
                        .rcpt_to
                        .iter()
                        .find_map(|to| state.after_message.get(to).cloned());
                    (behaviour, state.hang_up_when_idle)
                };
                match behaviour {
                    Some(AfterMessage::Stall) => {
                        state.lock().unwrap().received.push(mail);
                        std::future::pending::<()>().await;
                        return;
                    }
                    Some(AfterMessage::HangUp) => {
                        state.lock().unwrap().received.push(mail);
                        return;
                    }
                    Some(AfterMessage::Reply(reply)) => reply,
                    None => {
                        let queued = {
                            let mut state = state.lock().unwrap();
                            state.received.push(mail);
                            state.received.len()
                        };
                        let answer = format!("250 2.0.0 Ok: queued as {queued}");
                        if hang_up_when_idle {
                            let _ = reply(&mut write, &answer).await;
                            return;
                        }
                        answer
                    }
                }
            }
            "QUIT" => {
                let _ = reply(&mut write, "221 2.0.0 Bye").await;
                return;
            }
            _ => "502 5.5.2 Command not recognised".to_owned(),
        };
        if !reply(&mut write, &answer).await {
            return;
        }
    }
}

/// A decoded MIME message, enough to check what a mail client would show.
#[derive(Debug)]
pub struct ParsedMail {
    /// Header name (lower case) -> unfolded value, in order.
    pub headers: Vec<(String, String)>,
    /// Leaf parts: (content type, decoded body).
    pub parts: Vec<(String, String)>,
}

impl ParsedMail {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn part(&self, content_type_prefix: &str) -> Option<&str> {
        self.parts
            .iter()
            .find(|(ct, _)| ct.to_ascii_lowercase().starts_with(content_type_prefix))
            .map(|(_, body)| body.as_str())
    }
}

fn split_head(entity: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = entity.split_once("\r\n\r\n").unwrap_or((entity, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            // A folded continuation of the previous header.
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    (headers, body)
}

fn decode(body: &str, transfer_encoding: Option<&str>) -> String {
    use base64::Engine;
    match transfer_encoding.map(str::to_ascii_lowercase).as_deref() {
        Some("quoted-printable") => {
            let joined = body.replace("=\r\n", "");
            let bytes = joined.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'=' && i + 2 < bytes.len() {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        }
        Some("base64") => {
            let compact: String = body.split_whitespace().collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .unwrap(),
            )
            .unwrap()
        }
        _ => body.to_owned(),
    }
}

fn parameter<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value.split(';').map(str::trim).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim_matches('"'))
    })
}

fn collect_parts(entity: &str, parts: &mut Vec<(String, String)>) {
    let (headers, body) = split_head(entity);
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let content_type = get("content-type").unwrap_or("text/plain").to_owned();
    if content_type.to_ascii_lowercase().starts_with("multipart/") {
        let boundary = parameter(&content_type, "boundary").unwrap();
        let delimiter = format!("--{boundary}");
        for chunk in body.split(&delimiter).skip(1) {
            if chunk.starts_with("--") {
                break;
            }
            let chunk = chunk.strip_prefix("\r\n").unwrap_or(chunk);
            let chunk = chunk.strip_suffix("\r\n").unwrap_or(chunk);
            collect_parts(chunk, parts);
        }
    } else {
        parts.push((content_type, decode(body, get("content-transfer-encoding"))));
    }
}

pub fn parse_mail(data: &str) -> ParsedMail {
    let (headers, _) = split_head(data);
    let mut parts = Vec::new();
    collect_parts(data, &mut parts);
    ParsedMail { headers, parts }
}
