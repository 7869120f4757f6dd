//! Live updates: one stream of the server's change feed (`GET /api/v1/changes/stream`, server-
//! sent events), opened once after sign-in and shared by every page through the context.
//!
//! A page says what it cares about with [`on_change`] (the mailing page: entries for its
//! mailing; the header figures: balances and mailings) and loads again when it comes, instead
//! of polling. The stream opens with a single-use ticket (`EventSource` cannot send the
//! session token as a header, and a token in a URL would be logged), so the browser's own
//! reconnection, which would reuse the spent ticket, is never relied on: on any error the
//! stream is closed and opened again with a fresh ticket after a backoff, resuming after the
//! last event seen (`last_event_id`), so nothing in between is missed. While it cannot connect
//! the top bar says so, and pages are told to load again every [`FALLBACK`] so that nothing
//! on screen goes stale.

use std::rc::Rc;
use std::time::Duration;

use gloo_timers::callback::{Interval, Timeout};
use leptos::prelude::*;
use leptos::task::spawn_local;
use loyalcast_dto::{ChangeEvent, ChangeTopic};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{EventSource, MessageEvent};

use crate::api::{Api, use_api};
use crate::components::icons::{Icon, IconKind};
use crate::fetch::Fetch;

/// How often pages load again while the stream is down.
pub const FALLBACK: Duration = Duration::from_secs(30);
/// The longest wait between two attempts to connect.
const MAX_BACKOFF_MS: u32 = 30_000;
/// How long a burst of changes is gathered into one reload.
const COALESCE: Duration = Duration::from_millis(300);

/// What a page is told.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Something changed.
    Change(ChangeEvent),
    /// Load everything again: the stream is back after an interruption, or is still down.
    Resync,
}

/// Whether live updates are flowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveStatus {
    Connecting,
    Live,
    /// Could not connect for a while; pages fall back to loading every [`FALLBACK`].
    Down,
}

type Listener = Rc<dyn Fn(&Notice)>;

struct Connection {
    source: EventSource,
    // Kept alive as long as the source can call them.
    _handlers: Vec<Closure<dyn FnMut(web_sys::Event)>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.source.close();
    }
}

#[derive(Default)]
struct Inner {
    connection: Option<Connection>,
    /// The resume point: the last event id the stream gave.
    last_id: Option<i64>,
    /// Failed attempts since the stream was last open.
    failures: u32,
    listeners: Vec<(u64, Listener)>,
    next_listener: u64,
    retry: Option<Timeout>,
    fallback: Option<Interval>,
    stopped: bool,
}

/// The shared stream (see the module's description). `Copy`: handlers capture it.
#[derive(Clone, Copy)]
pub struct Live {
    status: RwSignal<LiveStatus>,
    inner: StoredValue<Inner, LocalStorage>,
    api: Api,
}

impl Live {
    /// Opens the stream; it closes when the calling component (the signed-in frame) goes.
    pub fn start() -> Live {
        let live = Live {
            status: RwSignal::new(LiveStatus::Connecting),
            inner: StoredValue::new_local(Inner::default()),
            api: use_api(),
        };
        live.connect();
        on_cleanup(move || {
            live.inner.try_update_value(|inner| {
                inner.stopped = true;
                inner.connection = None;
                inner.retry = None;
                inner.fallback = None;
                inner.listeners.clear();
            });
        });
        live
    }

    /// Whether live updates are flowing (tracked).
    pub fn status(&self) -> LiveStatus {
        self.status.get()
    }

    fn stopped(&self) -> bool {
        self.inner.try_with_value(|i| i.stopped).unwrap_or(true)
    }

    fn connect(self) {
        spawn_local(async move {
            let ticket = self.api.stream_ticket().await;
            if self.stopped() {
                return;
            }
            match ticket {
                Ok(ticket) => self.open(&ticket.ticket),
                // The session is gone: the shell sends the user to sign in.
                Err(e) if e.status() == Some(401) => {}
                Err(_) => self.failed(),
            }
        });
    }

    fn open(self, ticket: &str) {
        let mut url = format!("/api/v1/changes/stream?ticket={ticket}");
        if let Some(last) = self.inner.with_value(|i| i.last_id) {
            url.push_str(&format!("&last_event_id={last}"));
        }
        let Ok(source) = EventSource::new(&url) else {
            self.failed();
            return;
        };
        let mut handlers: Vec<Closure<dyn FnMut(web_sys::Event)>> = Vec::new();
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| self.opened());
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        handlers.push(on_open);
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| self.failed());
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        handlers.push(on_error);
        for topic in ChangeTopic::ALL {
            let on_event =
                Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
                    if let Ok(message) = event.dyn_into::<MessageEvent>() {
                        self.received(&message);
                    }
                });
            let _ = source.add_event_listener_with_callback(
                topic.as_str(),
                on_event.as_ref().unchecked_ref(),
            );
            handlers.push(on_event);
        }
        self.inner.update_value(|i| {
            i.connection = Some(Connection {
                source,
                _handlers: handlers,
            });
        });
    }

    fn opened(self) {
        let was_down = self.inner.with_value(|i| i.failures > 0);
        self.inner.update_value(|i| {
            i.failures = 0;
            i.fallback = None;
        });
        self.status.set(LiveStatus::Live);
        if was_down {
            // Whatever happened while it was down (the stream resumes after the last event,
            // but a page may have shown a fallback's answer): show what is true now.
            self.dispatch(&Notice::Resync);
        }
    }

    fn received(self, message: &MessageEvent) {
        let Some(data) = message.data().as_string() else {
            return;
        };
        // An event this version cannot read is skipped; the resume point still moves on.
        if let Ok(last) = message.last_event_id().parse::<i64>() {
            self.inner.update_value(|i| i.last_id = Some(last));
        }
        if let Ok(event) = serde_json::from_str::<ChangeEvent>(&data) {
            self.dispatch(&Notice::Change(event));
        }
    }

    /// The stream failed to open, or broke: close it (the browser would retry with the spent
    /// ticket) and try again with a new one, later each time.
    fn failed(self) {
        if self.stopped() {
            return;
        }
        let failures = self.inner.with_value(|i| i.failures) + 1;
        self.inner.update_value(|i| {
            i.connection = None;
            i.failures = failures;
        });
        // One quick reconnection (the server ended a stream, a deploy) goes unmentioned.
        if failures >= 2 {
            self.status.set(LiveStatus::Down);
            if self.inner.with_value(|i| i.fallback.is_none()) {
                let fallback = Interval::new(FALLBACK.as_millis() as u32, move || {
                    self.dispatch(&Notice::Resync)
                });
                self.inner.update_value(|i| i.fallback = Some(fallback));
            }
        } else {
            self.status.set(LiveStatus::Connecting);
        }
        let retry = Timeout::new(backoff_ms(failures, js_sys::Math::random()), move || {
            if !self.stopped() {
                self.connect();
            }
        });
        self.inner.update_value(|i| i.retry = Some(retry));
    }

    fn dispatch(self, notice: &Notice) {
        // Called outside the borrow: a listener may add or remove listeners.
        let listeners: Vec<Listener> = self
            .inner
            .try_with_value(|i| i.listeners.iter().map(|(_, l)| l.clone()).collect())
            .unwrap_or_default();
        for listener in listeners {
            listener(notice);
        }
    }

    fn add(self, listener: Listener) -> u64 {
        let mut id = 0;
        self.inner.update_value(|i| {
            id = i.next_listener;
            i.next_listener += 1;
            i.listeners.push((id, listener));
        });
        id
    }

    fn remove(self, id: u64) {
        self.inner
            .try_update_value(|i| i.listeners.retain(|(l, _)| *l != id));
    }
}

/// Waits of about 1, 2, 4 … s up to 30 s, each between half and all of that (so that a
/// restarted server is not met by every dashboard at once).
fn backoff_ms(failures: u32, random: f64) -> u32 {
    let full = 1_000u32
        .saturating_mul(1 << failures.clamp(1, 6).saturating_sub(1))
        .min(MAX_BACKOFF_MS);
    let half = full / 2;
    half + (f64::from(half) * random.clamp(0.0, 1.0)) as u32
}

/// Opens the shared stream for the signed-in frame and its pages.
pub fn provide_live() {
    provide_context(Live::start());
}

pub fn use_live() -> Option<Live> {
    use_context::<Live>()
}

/// Calls `listener` with every notice while the calling component lives.
pub fn on_change(listener: impl Fn(&Notice) + 'static) {
    if let Some(live) = use_live() {
        let id = live.add(Rc::new(listener));
        on_cleanup(move || live.remove(id));
    }
}

/// A reload of `fetch` that gathers a burst of calls (a mailing settling batch after batch)
/// into one request.
pub fn reload_soon<T: Send + Sync + 'static>(fetch: Fetch<T>) -> impl Fn() + Clone + 'static {
    let scheduled = StoredValue::new(false);
    move || {
        if scheduled.try_get_value() != Some(false) {
            return;
        }
        scheduled.set_value(true);
        set_timeout(
            move || {
                if scheduled.try_set_value(false).is_none() {
                    fetch.reload();
                }
            },
            COALESCE,
        );
    }
}

/// Says so, discreetly, when live updates are not flowing. (Its `data-status` tells tests and
/// the curious whether they are.)
#[component]
pub fn LiveIndicator() -> impl IntoView {
    let live = use_live();
    let status = move || live.map(|l| l.status()).unwrap_or(LiveStatus::Down);
    let label = move || match status() {
        LiveStatus::Connecting => "connecting",
        LiveStatus::Live => "live",
        LiveStatus::Down => "down",
    };
    view! {
        <div class="live" data-testid="live" data-status=label>
            {move || (status() == LiveStatus::Down).then(|| view! {
                <p class="live-down" role="status" data-testid="live-down" title="Figures are loaded again every 30 seconds until live updates are back.">
                    <Icon kind=IconKind::Alert size=14/>
                    "Live updates interrupted · reconnecting"
                </p>
            })}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn the_backoff_grows_to_half_a_minute_with_jitter() {
        assert_eq!(backoff_ms(1, 1.0), 1_000);
        assert_eq!(backoff_ms(1, 0.0), 500);
        assert_eq!(backoff_ms(2, 1.0), 2_000);
        assert_eq!(backoff_ms(5, 1.0), 16_000);
        assert_eq!(backoff_ms(6, 1.0), 30_000);
        assert_eq!(backoff_ms(60, 0.5), 22_500);
    }
}
