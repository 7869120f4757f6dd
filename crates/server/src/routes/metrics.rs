//! Prometheus metrics at `/metrics`: HTTP responses by status class, messages by channel and
//! state, mailings by state, provider send latency and where the workers' time goes, in the
//! text exposition format. Message and mailing figures are read from the database when
//! scraped (from the report counters, not the deliveries table), so every process reports the
//! shared queue; the other counters are per process (see [`crate::counters`]).

use std::fmt::Write;
use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, get, web};
use sea_orm::{ConnectionTrait, Statement};

use crate::counters::{
    PASSWORD_REFUSALS, PASSWORD_RUNS, PHASE_MICROS, Phases, RESPONSES, SEND_FAILURES, SEND_MICROS,
    SENDS,
};
use crate::engine::Lane;
use crate::entity::mailing_stat;
use crate::error::{ApiError, Result};
use crate::state::AppState;

/// Metrics in Prometheus' text format, for the operator's scraper: served only with
/// `Authorization: Bearer <metrics_token>` (401 otherwise), and not at all (404) when no
/// `metrics_token` is configured.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, description = "No metrics token, or a wrong one", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Metrics are not served: no `metrics_token` is configured", body = loyalcast_dto::Problem, content_type = "application/problem+json"),
    ),
    security(("metrics" = []))
)]
#[get("/metrics")]
pub async fn metrics(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse> {
    authorize(&state, &req)?;
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
        "uncertain",
        "repeats",
    ]
    .map(|c| format!("CAST(COALESCE(SUM({c}), 0) AS BIGINT) AS {c}"))
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
        // The sums over all mailings, read as one channel's counters, give the figures the
        // mailing reports show.
        let summed = mailing_stat::Model {
            mailing_id: uuid::Uuid::nil(),
            channel: row.try_get("", "channel")?,
            total: row.try_get("", "total")?,
            sent: row.try_get("", "sent")?,
            delivered: row.try_get("", "delivered")?,
            opened: row.try_get("", "opened")?,
            failed: row.try_get("", "failed")?,
            unsubscribed: row.try_get("", "unsubscribed")?,
            opted_out_after: row.try_get("", "opted_out_after")?,
            cancelled: row.try_get("", "cancelled")?,
            uncertain: row.try_get("", "uncertain")?,
            repeats: row.try_get("", "repeats")?,
            credits_reserved: 0,
            credits_used: 0,
            sandbox: 0,
        };
        let c = crate::mailings::counts(&summed);
        for (state, n) in [
            ("queued", c.queued),
            ("sent", c.sent),
            ("delivered", c.delivered),
            ("opened", c.opened),
            ("failed", c.failed),
            ("unsubscribed", c.unsubscribed),
            ("cancelled", c.cancelled),
            ("uncertain", c.uncertain),
            ("repeats", c.repeats),
        ] {
            let _ = writeln!(
                out,
                "loyalcast_deliveries{{channel=\"{}\",state=\"{state}\"}} {n}",
                summed.channel
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
    for lane in Lane::ALL {
        let i = lane.index();
        let channel = lane;
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
    for (name, counter) in Phases::NAMES.iter().zip(PHASE_MICROS.iter()) {
        let _ = writeln!(
            out,
            "loyalcast_worker_phase_seconds_total{{phase=\"{name}\"}} {:.6}",
            counter.load(Ordering::Relaxed) as f64 / 1e6
        );
    }
    for (name, help, counter) in [
        (
            "loyalcast_password_hashes_total",
            "Argon2 runs (password hashes and verifications) started by this process.",
            &PASSWORD_RUNS,
        ),
        (
            "loyalcast_password_hashes_refused_total",
            "Requests refused because every password-hashing slot stayed taken (this process).",
            &PASSWORD_REFUSALS,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out))
}

fn authorize(state: &AppState, req: &actix_web::HttpRequest) -> Result<()> {
    let Some(expected) = &state.config.metrics_token else {
        return Err(ApiError::NotFound);
    };
    if !crate::auth::bearer_is(req, expected) {
        return Err(ApiError::Unauthorized(
            "Send the metrics token as `Authorization: Bearer <token>`.",
        ));
    }
    Ok(())
}
