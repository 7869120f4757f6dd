//! Prometheus metrics at `/metrics`: HTTP responses by status class, messages by channel and
//! state, mailings by state, provider send latency and where the workers' time goes, in the
//! text exposition format. Message and mailing figures are read from the database when
//! scraped (from the report counters, not the deliveries table), so every process reports the
//! shared queue; the other counters are per process.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::{HttpResponse, get, web};
use sea_orm::{ConnectionTrait, Statement};

use crate::engine::channel_of;
use crate::error::Result;
use crate::state::AppState;

/// HTTP responses by status class (1xx … 5xx).
pub static RESPONSES: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// Provider sends by channel code: count, failures and total seconds (as microseconds).
pub static SENDS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
pub static SEND_FAILURES: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
pub static SEND_MICROS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// Worker step phases (upkeep, claim, prepare, send, settle): total microseconds.
pub static PHASE_MICROS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];
const PHASES: [&str; 5] = ["upkeep", "claim", "prepare", "send", "settle"];

pub fn record_phases(phases: &crate::engine::worker::Phases) {
    for (counter, spent) in PHASE_MICROS.iter().zip([
        phases.upkeep,
        phases.claim,
        phases.prepare,
        phases.send,
        phases.settle,
    ]) {
        counter.fetch_add(
            u64::try_from(spent.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

pub fn record_response(status: u16) {
    let class = usize::from(status / 100).clamp(1, 5) - 1;
    RESPONSES[class].fetch_add(1, Ordering::Relaxed);
}

pub fn record_send(channel: i16, micros: u64, ok: bool) {
    let Ok(i) = usize::try_from(channel) else {
        return;
    };
    if i < 4 {
        SENDS[i].fetch_add(1, Ordering::Relaxed);
        SEND_MICROS[i].fetch_add(micros, Ordering::Relaxed);
        if !ok {
            SEND_FAILURES[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Metrics in Prometheus' text format.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP loyalcast_http_responses_total HTTP responses by status class."
    );
    let _ = writeln!(out, "# TYPE loyalcast_http_responses_total counter");
    for (i, counter) in RESPONSES.iter().enumerate() {
        let _ = writeln!(
            out,
            "loyalcast_http_responses_total{{class=\"{}xx\"}} {}",
            i + 1,
            counter.load(Ordering::Relaxed)
        );
    }

    // From the per-mailing report counters the engine keeps in the same transactions as the
    // deliveries: a scrape reads one row per mailing and channel, never the deliveries table.
    let backend = state.db.get_database_backend();
    let sums = [
        "total",
        "sent",
        "delivered",
        "opened",
        "failed",
        "unsubscribed",
        "opted_out_after",
        "cancelled",
    ]
    .iter()
    .enumerate()
    .map(|(i, c)| format!("CAST(COALESCE(SUM({c}), 0) AS BIGINT) AS s{i}"))
    .collect::<Vec<_>>()
    .join(", ");
    let rows = state
        .db
        .query_all_raw(Statement::from_string(
            backend,
            format!("SELECT channel, {sums} FROM mailing_stats GROUP BY channel ORDER BY channel"),
        ))
        .await?;
    let _ = writeln!(
        out,
        "# HELP loyalcast_deliveries Messages of all mailings by channel and state, as in the mailing reports (queue depth is state=\"queued\"; sent counts delivered and opened ones too)."
    );
    let _ = writeln!(out, "# TYPE loyalcast_deliveries gauge");
    for row in rows {
        let channel: String = row.try_get("", "channel")?;
        let mut v = [0i64; 8];
        for (i, slot) in v.iter_mut().enumerate() {
            *slot = row.try_get("", &format!("s{i}"))?;
        }
        let [
            total,
            sent,
            delivered,
            opened,
            failed,
            unsubscribed,
            opted_out_after,
            cancelled,
        ] = v;
        let queued = total - sent - failed - unsubscribed - cancelled;
        let unsubscribed = unsubscribed + opted_out_after;
        for (state, n) in [
            ("queued", queued),
            ("sent", sent),
            ("delivered", delivered),
            ("opened", opened),
            ("failed", failed),
            ("unsubscribed", unsubscribed),
            ("cancelled", cancelled),
        ] {
            let _ = writeln!(
                out,
                "loyalcast_deliveries{{channel=\"{channel}\",state=\"{state}\"}} {}",
                n.max(0)
            );
        }
    }

    let rows = state
        .db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT status, COUNT(*) AS n FROM mailings GROUP BY status ORDER BY status",
        ))
        .await?;
    let _ = writeln!(out, "# HELP loyalcast_mailings Mailings by state.");
    let _ = writeln!(out, "# TYPE loyalcast_mailings gauge");
    for row in rows {
        let status: String = row.try_get("", "status")?;
        let n: i64 = row.try_get("", "n")?;
        let _ = writeln!(out, "loyalcast_mailings{{state=\"{status}\"}} {n}");
    }

    let _ = writeln!(
        out,
        "# HELP loyalcast_provider_sends_total Provider send attempts by channel and outcome (this process)."
    );
    let _ = writeln!(out, "# TYPE loyalcast_provider_sends_total counter");
    let _ = writeln!(
        out,
        "# HELP loyalcast_provider_send_seconds Time spent in provider sends (this process)."
    );
    let _ = writeln!(out, "# TYPE loyalcast_provider_send_seconds summary");
    for code in 0..4i16 {
        let Some(channel) = channel_of(code) else {
            continue;
        };
        let i = code as usize;
        let total = SENDS[i].load(Ordering::Relaxed);
        let failed = SEND_FAILURES[i].load(Ordering::Relaxed);
        let name = channel.as_str();
        let _ = writeln!(
            out,
            "loyalcast_provider_sends_total{{channel=\"{name}\",outcome=\"ok\"}} {}",
            total - failed.min(total)
        );
        let _ = writeln!(
            out,
            "loyalcast_provider_sends_total{{channel=\"{name}\",outcome=\"error\"}} {failed}"
        );
        let _ = writeln!(
            out,
            "loyalcast_provider_send_seconds_sum{{channel=\"{name}\"}} {:.6}",
            SEND_MICROS[i].load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "loyalcast_provider_send_seconds_count{{channel=\"{name}\"}} {total}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP loyalcast_worker_phase_seconds_total Time the delivery workers spent per phase of a step (this process)."
    );
    let _ = writeln!(out, "# TYPE loyalcast_worker_phase_seconds_total counter");
    for (name, counter) in PHASES.iter().zip(PHASE_MICROS.iter()) {
        let _ = writeln!(
            out,
            "loyalcast_worker_phase_seconds_total{{phase=\"{name}\"}} {:.6}",
            counter.load(Ordering::Relaxed) as f64 / 1e6
        );
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out))
}
