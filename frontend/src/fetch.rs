//! Loading data: a small hook over `spawn_local` that keeps what the page needs to show
//! every state of a list (loading, loaded, failed) and keeps the last data on screen while a
//! newer request is in flight. Answers that arrive out of order are dropped, so a slow
//! response to an old search never overwrites a newer one.

use std::future::Future;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::ApiResult;

pub struct Fetch<T: Send + Sync + 'static> {
    /// The last answer: `None` until the first one arrives.
    pub data: RwSignal<Option<ApiResult<T>>>,
    /// A request is in flight.
    pub loading: RwSignal<bool>,
    reload: RwSignal<u64>,
}

impl<T: Send + Sync + 'static> Clone for Fetch<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Fetch<T> {}

impl<T: Send + Sync + 'static> Fetch<T> {
    /// Loads again with the same inputs (after a change, or from a Retry button).
    pub fn reload(&self) {
        self.reload.update(|n| *n += 1);
    }

    /// The loaded value, when the last request succeeded (tracked).
    pub fn ok(&self) -> Option<T>
    where
        T: Clone,
    {
        self.data
            .with(|d| d.as_ref().and_then(|r| r.as_ref().ok().cloned()))
    }
}

/// Runs `fetcher` with the value of `source` now and whenever `source` changes.
pub fn fetch<S, T, Fut>(
    source: impl Fn() -> S + 'static,
    fetcher: impl Fn(S) -> Fut + 'static,
) -> Fetch<T>
where
    S: 'static,
    T: Send + Sync + 'static,
    Fut: Future<Output = ApiResult<T>> + 'static,
{
    let data = RwSignal::new(None);
    let loading = RwSignal::new(true);
    let reload = RwSignal::new(0_u64);
    let latest = StoredValue::new(0_u64);
    Effect::new(move |_| {
        reload.track();
        let input = source();
        let id = latest.get_value().wrapping_add(1);
        latest.set_value(id);
        loading.set(true);
        let future = fetcher(input);
        spawn_local(async move {
            let result = future.await;
            // The page may have gone, or a newer request may have started meanwhile.
            if latest.try_get_value() == Some(id) {
                data.try_set(Some(result));
                loading.try_set(false);
            }
        });
    });
    Fetch {
        data,
        loading,
        reload,
    }
}

/// A copy of `source` that follows it once it has stopped changing for `delay`.
pub fn debounced<T>(source: Signal<T>, delay: Duration) -> ReadSignal<T>
where
    T: Clone + PartialEq + Send + Sync + 'static,
{
    let (value, set_value) = signal(source.get_untracked());
    let pending = StoredValue::new(None::<TimeoutHandle>);
    Effect::new(move |_| {
        let next = source.get();
        if let Some(handle) = pending.get_value() {
            handle.clear();
        }
        if value.with_untracked(|v| *v == next) {
            pending.set_value(None);
            return;
        }
        let handle = set_timeout_with_handle(
            move || {
                set_value.try_set(next);
            },
            delay,
        )
        .ok();
        pending.set_value(handle);
    });
    on_cleanup(move || {
        if let Some(handle) = pending.try_get_value().flatten() {
            handle.clear();
        }
    });
    value
}
