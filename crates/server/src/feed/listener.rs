//! One listener per `serve` process: it learns of new entries of the change feed and fans
//! them out to the process's streams, by merchant.
//!
//! On PostgreSQL it LISTENs on [`super::CHANNEL`] and reads the table when woken, plus a
//! catch-up read every [`CATCH_UP_POSTGRES`] in case a notification was lost (they are not
//! queued across a reconnect). On SQLite, which has no notifications, it reads the table
//! every [`POLL_SQLITE`]. Either way it reads by id after the last one it has read.
//!
//! Ids come from a sequence, taken when a row is inserted, not when its transaction commits:
//! on PostgreSQL an entry can become visible after one with a larger id (two settling
//! workers commit in the other order). The [`Sequencer`] handles that: an entry after a gap
//! in the ids is held back up to [`HOLD`] for the gap to fill, so streams see entries in id
//! order; a gap that stays open longer (a rolled-back transaction leaves one for good) is
//! passed, and still watched for [`WATCH_LATE`] so a late entry is delivered when it does
//! commit, out of order. SQLite has one writer and reuses a rolled-back id, so it has no gaps.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{Notify, broadcast, watch};
use tokio::time::Instant;
use uuid::Uuid;

use super::{Entry, Row};

/// How long an entry after a gap waits for the gap to fill.
pub const HOLD: Duration = Duration::from_millis(500);
/// How long a gap passed over is still watched for a late entry.
pub const WATCH_LATE: Duration = Duration::from_secs(300);
/// At most this many gaps are watched (the oldest are dropped first).
const MAX_WATCHED: usize = 1_000;
/// A jump in the ids larger than this is not tracked id by id (a sequence moved on by hand,
/// a restore): only its last ids are.
const MAX_GAP: i64 = 1_000;
/// How often SQLite is polled.
pub const POLL_SQLITE: Duration = Duration::from_millis(250);
/// How often PostgreSQL is read without a notification.
pub const CATCH_UP_POSTGRES: Duration = Duration::from_secs(2);
/// Rows per read.
const READ_BATCH: u64 = 500;
/// Entries a slow stream may fall behind by before it is ended (it resumes from the outbox).
const CAPACITY: usize = 1_024;
/// How long a new stream waits for a listener that is still starting.
const READY_WAIT: Duration = Duration::from_secs(5);

/// Puts entries read in any order, with gaps, into id order; see the module's description.
#[derive(Debug)]
pub struct Sequencer {
    /// Every id up to here was delivered or passed over.
    position: i64,
    /// The largest id read.
    read_up_to: i64,
    /// Read, waiting for a gap below them; `None` for a topic this version does not know.
    held: BTreeMap<i64, Option<Arc<Entry>>>,
    /// Ids in `(position, read_up_to]` not read yet, with when they were first missed.
    gaps: BTreeMap<i64, Instant>,
    /// Ids at or below `position` passed over unread, with when they were first missed.
    late: BTreeMap<i64, Instant>,
}

impl Sequencer {
    /// Starts after `last`: what is already in the table is nobody's news.
    pub fn new(last: i64) -> Self {
        Sequencer {
            position: last,
            read_up_to: last,
            held: BTreeMap::new(),
            gaps: BTreeMap::new(),
            late: BTreeMap::new(),
        }
    }

    pub fn position(&self) -> i64 {
        self.position
    }

    /// Where the next read starts (after this id).
    pub fn read_from(&self) -> i64 {
        self.read_up_to
    }

    /// Ids to look for besides those after [`Self::read_from`]: the open gaps.
    pub fn watched(&self) -> Vec<i64> {
        self.gaps.keys().chain(self.late.keys()).copied().collect()
    }

    /// Ids at or below [`Self::position`] that may still be delivered.
    pub fn late(&self) -> Vec<i64> {
        self.late.keys().copied().collect()
    }

    /// When a held entry stops waiting for the gap below it.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.gaps.values().min().map(|since| *since + HOLD)
    }

    /// Takes rows read at `now`; returns the entries to deliver, in order.
    pub fn accept(&mut self, rows: Vec<Row>, now: Instant) -> Vec<Arc<Entry>> {
        let mut out = Vec::new();
        let mut rows = rows;
        rows.sort_by_key(|(id, _)| *id);
        for (id, entry) in rows {
            let entry = entry.map(Arc::new);
            if id > self.read_up_to {
                for missing in (self.read_up_to + 1).max(id - MAX_GAP)..id {
                    self.gaps.insert(missing, now);
                }
                self.read_up_to = id;
                self.held.insert(id, entry);
            } else if self.gaps.remove(&id).is_some() {
                self.held.insert(id, entry);
            } else if self.late.remove(&id).is_some() {
                // It committed after it was given up on: deliver it now, out of order.
                out.extend(entry);
            }
            // Anything else was delivered already.
        }
        loop {
            let held = self.held.keys().next().copied();
            let gap = self.gaps.iter().next().map(|(id, since)| (*id, *since));
            match (held, gap) {
                (Some(id), gap) if gap.is_none_or(|(g, _)| id < g) => {
                    out.extend(self.held.remove(&id).flatten());
                    self.position = id;
                }
                (_, Some((id, since))) if now >= since + HOLD => {
                    self.gaps.remove(&id);
                    self.late.insert(id, since);
                    self.position = id;
                }
                (_, Some(_)) => break,
                (None, None) => {
                    self.position = self.read_up_to;
                    break;
                }
                // Unreachable: a held id with no gap below it is taken by the first arm.
                (Some(_), None) => break,
            }
        }
        self.late.retain(|_, since| now < *since + WATCH_LATE);
        while self.late.len() > MAX_WATCHED {
            self.late.pop_first();
        }
        out
    }
}

/// A stream's view of the feed, taken at one instant.
pub struct Subscription {
    /// The merchant's entries published from now on.
    pub entries: broadcast::Receiver<Arc<Entry>>,
    /// Every entry up to here was published before this subscription, except `late`.
    pub position: i64,
    /// Ids at or below `position` that may still be published (late commits).
    pub late: Vec<i64>,
}

/// The process's listener: cheap to clone, shared by every stream.
#[derive(Clone)]
pub struct Feed {
    inner: Arc<Inner>,
}

struct Inner {
    hub: Mutex<Hub>,
    wake: Notify,
    ready: watch::Sender<bool>,
    stop: watch::Sender<bool>,
}

struct Hub {
    /// `None` until the listener knows where the feed stands.
    sequencer: Option<Sequencer>,
    merchants: HashMap<Uuid, broadcast::Sender<Arc<Entry>>>,
}

impl Hub {
    fn publish(&mut self, entries: Vec<Arc<Entry>>) {
        for entry in entries {
            let merchant = entry.merchant_id;
            if let Some(sender) = self.merchants.get(&merchant)
                && sender.send(entry).is_err()
            {
                // Nobody of this merchant listens any more.
                self.merchants.remove(&merchant);
            }
        }
        self.merchants
            .retain(|_, sender| sender.receiver_count() > 0);
    }
}

impl Feed {
    /// Starts listening on `db` in the background (until [`Feed::stop`]).
    pub fn start(db: DatabaseConnection) -> Feed {
        let feed = Feed {
            inner: Arc::new(Inner {
                hub: Mutex::new(Hub {
                    sequencer: None,
                    merchants: HashMap::new(),
                }),
                wake: Notify::new(),
                ready: watch::Sender::new(false),
                stop: watch::Sender::new(false),
            }),
        };
        tokio::spawn(run(db, feed.inner.clone()));
        feed
    }

    /// Stops listening and ends every stream of this process.
    pub fn stop(&self) {
        self.inner.stop.send_replace(true);
    }

    /// Subscribes to a merchant's entries; `None` when the listener is stopped, or has not
    /// been able to start (the database does not answer).
    pub async fn subscribe(&self, merchant_id: Uuid) -> Option<Subscription> {
        let mut ready = self.inner.ready.subscribe();
        match tokio::time::timeout(READY_WAIT, ready.wait_for(|r| *r)).await {
            Ok(Ok(_)) => {}
            _ => return None,
        }
        if *self.inner.stop.borrow() {
            return None;
        }
        let mut hub = self.inner.lock();
        let sequencer = hub.sequencer.as_ref()?;
        let (position, late) = (sequencer.position(), sequencer.late());
        let entries = hub
            .merchants
            .entry(merchant_id)
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe();
        Some(Subscription {
            entries,
            position,
            late,
        })
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Hub> {
        // The hub holds no invariant a panicking holder could break half-way.
        self.hub.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Waits `delay`, or less when told to stop; returns whether to stop.
async fn rest(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// 1 s, 2 s, 4 s ... up to 16 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1 << (failures.clamp(1, 5) - 1))
}

async fn run(db: DatabaseConnection, inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    let postgres = crate::db::is_postgres(&db);
    // Listen before reading where the feed stands, so that nothing committed in between is
    // missed.
    let mut forwarder = None;
    if postgres {
        let mut failures = 0;
        loop {
            match listen(&db).await {
                Ok(listener) => {
                    forwarder = Some(tokio::spawn(forward(listener, inner.clone())));
                    break;
                }
                Err(err) => {
                    failures += 1;
                    tracing::warn!(error = %crate::error::loggable(&err), "the change feed cannot LISTEN yet; will retry");
                    if rest(backoff(failures), &mut stop).await {
                        return;
                    }
                }
            }
        }
    }
    let mut failures = 0;
    let start = loop {
        match super::last_id(&db).await {
            Ok(last) => break last,
            Err(err) => {
                failures += 1;
                tracing::warn!(error = %crate::error::loggable(&err), "the change feed cannot read the outbox yet; will retry");
                if rest(backoff(failures), &mut stop).await {
                    return;
                }
            }
        }
    };
    inner.lock().sequencer = Some(Sequencer::new(start));
    inner.ready.send_replace(true);

    let period = if postgres {
        CATCH_UP_POSTGRES
    } else {
        POLL_SQLITE
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = 0u32;
    loop {
        let deadline = inner
            .lock()
            .sequencer
            .as_ref()
            .and_then(Sequencer::next_deadline);
        tokio::select! {
            _ = tick.tick() => {}
            _ = inner.wake.notified() => {}
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {}
            _ = stop.changed() => break,
        }
        match catch_up(&db, &inner).await {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!("the change feed reads the outbox again");
                }
                failures = 0;
            }
            Err(err) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(error = %crate::error::loggable(&err), "the change feed cannot read the outbox; will retry");
                }
                if rest(backoff(failures), &mut stop).await {
                    break;
                }
            }
        }
    }
    // Dropping the senders ends every stream, so that a graceful shutdown is not held up by
    // connections that would otherwise stay open for ever.
    inner.lock().merchants.clear();
    if let Some(forwarder) = forwarder {
        forwarder.abort();
    }
}

async fn listen(db: &DatabaseConnection) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(db.get_postgres_connection_pool()).await?;
    listener.listen(super::CHANNEL).await?;
    Ok(listener)
}

/// Turns notifications into wake-ups of the reading loop (any number of them coalesce into
/// one read). A lost connection is made again by `try_recv`, which then answers `None`:
/// notifications sent meanwhile are lost, so that wakes the loop too, to catch up.
async fn forward(mut listener: PgListener, inner: Arc<Inner>) {
    let mut failures = 0;
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => {
                failures = 0;
                inner.wake.notify_one();
            }
            Ok(None) => {
                tracing::warn!("the change feed's LISTEN connection was lost and made again");
                inner.wake.notify_one();
            }
            Err(sea_orm::sqlx::Error::PoolClosed) => return,
            Err(err) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(error = %crate::error::loggable(&err), "the change feed's LISTEN connection failed; will retry");
                }
                inner.wake.notify_one();
                tokio::time::sleep(backoff(failures)).await;
            }
        }
    }
}

/// Reads what is new (and the open gaps), and publishes what can be delivered.
async fn catch_up(db: &DatabaseConnection, inner: &Inner) -> Result<(), DbErr> {
    loop {
        let (from, watched) = {
            let hub = inner.lock();
            match hub.sequencer.as_ref() {
                Some(s) => (s.read_from(), s.watched()),
                None => return Ok(()),
            }
        };
        let mut rows = super::after(db, from, READ_BATCH).await?;
        let more = rows.len() as u64 == READ_BATCH;
        rows.extend(super::with_ids(db, &watched).await?);
        let mut hub = inner.lock();
        let deliver = match hub.sequencer.as_mut() {
            Some(sequencer) => sequencer.accept(rows, Instant::now()),
            None => return Ok(()),
        };
        hub.publish(deliver);
        if !more {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::Topic;

    fn row(id: i64) -> Row {
        (
            id,
            Some(Entry {
                id,
                merchant_id: Uuid::nil(),
                topic: Topic::Mailing,
                subject: None,
                body: serde_json::Value::Null,
                at: chrono::DateTime::UNIX_EPOCH,
            }),
        )
    }

    fn ids(entries: &[Arc<Entry>]) -> Vec<i64> {
        entries.iter().map(|e| e.id).collect()
    }

    #[test]
    fn entries_in_order_pass_at_once() {
        let now = Instant::now();
        let mut s = Sequencer::new(10);
        assert_eq!(ids(&s.accept(vec![row(11), row(12)], now)), [11, 12]);
        assert_eq!(s.position(), 12);
        assert_eq!(s.read_from(), 12);
        assert!(s.watched().is_empty());
        // Read again (a catch-up overlapping a notification): nothing twice.
        assert!(s.accept(vec![row(12)], now).is_empty());
    }

    #[test]
    fn an_entry_after_a_gap_waits_for_the_gap_to_fill() {
        let now = Instant::now();
        let mut s = Sequencer::new(10);
        // 12 committed first; 11 is still in flight.
        assert!(s.accept(vec![row(12)], now).is_empty());
        assert_eq!(s.watched(), [11]);
        assert_eq!(s.next_deadline(), Some(now + HOLD));
        assert_eq!(s.position(), 10);
        assert_eq!(
            ids(&s.accept(vec![row(11)], now + Duration::from_millis(5))),
            [11, 12]
        );
        assert_eq!(s.position(), 12);
        assert!(s.watched().is_empty());
    }

    #[test]
    fn a_gap_that_stays_open_is_passed_and_a_late_entry_still_delivered_once() {
        let now = Instant::now();
        let mut s = Sequencer::new(10);
        assert!(s.accept(vec![row(12), row(13)], now).is_empty());
        // Nothing new: after the hold, what is behind the gap goes out.
        assert_eq!(ids(&s.accept(vec![], now + HOLD)), [12, 13]);
        assert_eq!(s.position(), 13);
        assert_eq!(s.late(), [11]);
        assert_eq!(s.watched(), [11]);
        assert_eq!(s.next_deadline(), None);
        // 11 commits after all.
        assert_eq!(
            ids(&s.accept(vec![row(11), row(14)], now + HOLD * 2)),
            [11, 14]
        );
        assert!(s.late().is_empty());
        assert!(s.accept(vec![row(11)], now + HOLD * 3).is_empty());
    }

    #[test]
    fn a_passed_gap_is_forgotten_after_a_while() {
        let now = Instant::now();
        let mut s = Sequencer::new(0);
        s.accept(vec![row(2)], now);
        s.accept(vec![], now + HOLD);
        assert_eq!(s.late(), [1]);
        s.accept(vec![], now + WATCH_LATE);
        assert!(s.late().is_empty());
        // A rolled-back id that turns up (it cannot, but) is not delivered.
        assert!(s.accept(vec![row(1)], now + WATCH_LATE).is_empty());
    }

    #[test]
    fn entries_of_unknown_topics_move_the_position_but_are_not_delivered() {
        let now = Instant::now();
        let mut s = Sequencer::new(0);
        assert_eq!(ids(&s.accept(vec![row(1), (2, None), row(3)], now)), [1, 3]);
        assert_eq!(s.position(), 3);
    }

    #[test]
    fn a_huge_jump_in_ids_is_not_tracked_id_by_id() {
        let now = Instant::now();
        let mut s = Sequencer::new(0);
        assert!(s.accept(vec![row(1_000_000)], now).is_empty());
        assert_eq!(s.watched().len(), MAX_GAP as usize);
        assert_eq!(ids(&s.accept(vec![], now + HOLD)), [1_000_000]);
        assert_eq!(s.position(), 1_000_000);
    }

    #[test]
    fn backoff_grows_to_a_cap() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(50), Duration::from_secs(16));
    }
}
