//! One merchant's stream of the feed, as frames for a server-sent-events body: first what the
//! client missed (read from the outbox after its `Last-Event-ID`), then what the listener
//! publishes, with keep-alives between.
//!
//! Nothing is sent twice and nothing is skipped: the [`Subscription`] says which entries the
//! listener had published before the stream subscribed (those come from the outbox) and which
//! it publishes from then on (those come live). Each frame's `id` is the stream's resume
//! point, the largest id sent so far: an entry that committed late and arrives after a larger
//! id carries none, so that resuming neither repeats nor skips anything.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use loyalcast_dto::ChangeEvent;
use sea_orm::DatabaseConnection;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Interval, interval_at};

use super::Entry;
use super::listener::Subscription;
use super::tickets::{self, Grant};
use crate::clock::SharedClock;

/// How often a quiet stream sends a comment, so that proxies and browsers keep it open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often a stream checks that its credentials still stand.
pub const RECHECK: Duration = Duration::from_secs(60);
/// Outbox rows per read while catching up.
const PAGE: u64 = 500;

/// What the stream sends next.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// The first frame: the stream is open.
    Open,
    /// An entry; `id` is the new resume point, `None` for an entry that came late.
    Event { id: Option<i64>, event: ChangeEvent },
    /// Nothing happened for a while.
    KeepAlive,
}

/// Where a stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Only what happens from now on.
    Now,
    /// After this entry, the last one the client saw.
    After(i64),
}

/// The frames of `grant`'s stream; the stream ends when the credentials no longer stand, the
/// listener stops, or the client falls too far behind (it then resumes from the outbox).
pub fn frames(
    db: DatabaseConnection,
    clock: SharedClock,
    grant: Grant,
    subscription: Subscription,
    start: Start,
) -> impl Stream<Item = Frame> {
    let Subscription {
        entries,
        position,
        late,
    } = subscription;
    let (replay, resume_point) = match start {
        Start::Now => (None, position),
        Start::After(last) => ((last < position).then_some(last), last),
    };
    let state = State {
        db,
        clock,
        grant,
        entries,
        late: late.into_iter().collect(),
        replay,
        up_to: position,
        // Live entries at or below this were published before the stream subscribed (or,
        // when this process lags behind the client, the client has them already).
        floor: position.max(resume_point),
        resume_point,
        buffer: VecDeque::new(),
        keep_alive: every(KEEP_ALIVE),
        recheck: every(RECHECK),
        opened: false,
        done: false,
    };
    futures::stream::unfold(state, |mut state| async move {
        let frame = state.next().await?;
        Some((frame, state))
    })
}

fn every(period: Duration) -> Interval {
    let mut interval = interval_at(tokio::time::Instant::now() + period, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

struct State {
    db: DatabaseConnection,
    clock: SharedClock,
    grant: Grant,
    entries: tokio::sync::broadcast::Receiver<Arc<Entry>>,
    late: HashSet<i64>,
    /// Still to read from the outbox: after this id, up to `up_to`.
    replay: Option<i64>,
    up_to: i64,
    floor: i64,
    resume_point: i64,
    buffer: VecDeque<Entry>,
    keep_alive: Interval,
    recheck: Interval,
    opened: bool,
    done: bool,
}

impl State {
    async fn next(&mut self) -> Option<Frame> {
        if self.done {
            return None;
        }
        if !self.opened {
            self.opened = true;
            return Some(Frame::Open);
        }
        loop {
            if let Some(entry) = self.buffer.pop_front() {
                return Some(self.frame(&entry));
            }
            if let Some(after) = self.replay {
                let rows =
                    super::of_merchant(&self.db, self.grant.merchant_id, after, self.up_to, PAGE)
                        .await;
                let rows = match rows {
                    Ok(rows) => rows,
                    Err(err) => {
                        // The client reconnects and resumes from what it got.
                        tracing::warn!(error = %crate::error::loggable(&err), "a change stream could not read the outbox; ending it");
                        self.done = true;
                        return None;
                    }
                };
                self.replay = match rows.last() {
                    Some((last, _)) if rows.len() as u64 == PAGE => Some(*last),
                    _ => None,
                };
                let late = &self.late;
                self.buffer.extend(
                    rows.into_iter()
                        .filter(|(id, _)| !late.contains(id))
                        .filter_map(|(_, entry)| entry),
                );
                continue;
            }
            tokio::select! {
                received = self.entries.recv() => match received {
                    Ok(entry) => {
                        if entry.merchant_id != self.grant.merchant_id {
                            continue;
                        }
                        if entry.id > self.floor || self.late.remove(&entry.id) {
                            return Some(self.frame(&entry));
                        }
                    }
                    // Too far behind to catch up from memory, or the listener stopped: end,
                    // and the client resumes from the outbox.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => {
                        self.done = true;
                        return None;
                    }
                },
                _ = self.keep_alive.tick() => return Some(Frame::KeepAlive),
                _ = self.recheck.tick() => {
                    match tickets::still_valid(&self.db, &self.grant, self.clock.now()).await {
                        Ok(true) => {}
                        Ok(false) => {
                            self.done = true;
                            return None;
                        }
                        // A database that does not answer for a moment is no reason to cut
                        // every stream; the next check decides.
                        Err(err) => tracing::warn!(error = %crate::error::loggable(&err), "a change stream could not check its credentials"),
                    }
                }
            }
        }
    }

    fn frame(&mut self, entry: &Entry) -> Frame {
        let id = (entry.id > self.resume_point).then_some(entry.id);
        if let Some(id) = id {
            self.resume_point = id;
        }
        Frame::Event {
            id,
            event: entry.event(),
        }
    }
}
