//! The e2e scenario as text: the ceilings, one line per rate, where the time went, the
//! roles' profile, the DLQs and the check.

use std::fmt::Write;

use super::e2e_report::{E2eReport, RateStep, FLAT_FACTOR, FLAT_SLACK_MS};

pub(super) fn render(out: &mut String, e: &E2eReport) {
    let _ = writeln!(
        out,
        "\ne2e scenario{}: SNS -> SQS -> {} workers x {} polls -> write DB -> relay ({} steps in flight) -> SNS -> SQS -> projector ({} polls) -> read DB; open loop, {:.0} s per rate\n",
        if e.quick { " (QUICK: a smoke run, not a measurement)" } else { "" },
        e.workers, e.worker_concurrency, e.relay_steps, e.projector_concurrency, e.seconds_per_rate
    );
    let _ = writeln!(
        out,
        "  LocalStack: {}\n",
        e.localstack_settings
            .as_deref()
            .unwrap_or("settings not given (FULFIL_BENCH_LOCALSTACK_SETTINGS)")
    );
    let _ = writeln!(
        out,
        "  (i)  bare SNS PublishBatch -> SQS                       {:>6.0} msgs/s",
        e.sns_publish_per_s
    );
    let _ = writeln!(
        out,
        "  (ii) bare pipeline, no DB or Redis (publish, receive,  {:>6.0} commands/s",
        e.bare_pipeline_per_s
    );
    let _ = writeln!(
        out,
        "       delete; publish event, receive, delete; {} msgs)\n",
        e.ceiling_messages
    );
    let _ = writeln!(
        out,
        "  {:<9} {:>5} {:>8} {:>8} {:>8} {:>8} {:>9} {:>7} {:>17} {:>15} {:>5}  all done",
        "queues",
        "rate",
        "offered",
        "decided",
        "relayed",
        "project.",
        "of (ii)",
        "orders",
        "lag p50/p99/max",
        "p99 1st/last",
        "flat"
    );
    for r in e.rates.iter().chain(&e.standard) {
        render_rate(out, r);
    }
    let _ = writeln!(
        out,
        "  (per second over the middle two thirds of each run; lag = decided -> projected, ms;\n   flat: last third's p99 <= {FLAT_FACTOR} x first third's + {FLAT_SLACK_MS} ms)\n"
    );
    let _ = writeln!(out, "  where the time went, p50 / p99 ms: published -> decided | decided -> relayed | relayed -> projected");
    for r in e.rates.iter().chain(&e.standard) {
        let s = &r.stages;
        let pair = |p: (f64, f64)| format!("{:.0} / {:.0}", p.0, p.1);
        let _ = writeln!(
            out,
            "  {:<9} {:>4.0}%  {:>15} | {:>15} | {:>15}",
            r.queues,
            r.of_bare * 100.0,
            pair(s.published_to_decided),
            pair(s.decided_to_relayed),
            pair(s.relayed_to_projected)
        );
    }
    let _ = writeln!(
        out,
        "\n  projection lag p99 by tenth of the run (ms, orders by decision time)"
    );
    for r in e.rates.iter().chain(&e.standard) {
        let tenths: Vec<String> = r
            .lag_p99_by_tenth_ms
            .iter()
            .map(|v| format!("{v:.0}"))
            .collect();
        let _ = writeln!(
            out,
            "  {:<9} {:>4.0}%  {}",
            r.queues,
            r.of_bare * 100.0,
            tenths.join(" ")
        );
    }
    let _ = writeln!(out, "\n  profile (means over each run)");
    for r in e.rates.iter().chain(&e.standard) {
        render_profile(out, r);
    }
    let dlq = |n: Option<i64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let _ = writeln!(
        out,
        "\n  projector DLQ after the runs: FIFO {}, standard {}",
        dlq(e.projector_dlq_fifo),
        dlq(e.projector_dlq_standard)
    );
    let _ = writeln!(
        out,
        "  check: {}",
        match e.check.passed {
            true => format!(
                "ok ({} confirmed, {} rejected, counts exact per sale, every order projected, verify clean)",
                e.check.confirmed, e.check.rejected
            ),
            false => format!("FAILED: {}", e.check.problems.join("; ")),
        }
    );
}

fn render_rate(out: &mut String, r: &RateStep) {
    let done = match (r.complete(), r.drained_after_s) {
        (true, Some(after)) => format!("yes, +{after:.1} s"),
        _ => format!(
            "NO: {}/{}/{} of {}",
            r.decided, r.relayed, r.projected, r.commands
        ),
    };
    let _ = writeln!(
        out,
        "  {:<9} {:>4.0}% {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>8.0}% {:>7} {:>17} {:>15} {:>5}  {done}",
        r.queues,
        r.of_bare * 100.0,
        r.offered_per_s,
        r.decided_per_s,
        r.relayed_per_s,
        r.projected_per_s,
        r.fraction_of_ceiling * 100.0,
        r.commands,
        format!("{:.0}/{:.0}/{:.0}", r.lag_p50_ms, r.lag_p99_ms, r.lag_max_ms),
        format!("{:.0}/{:.0}", r.lag_p99_first_third_ms, r.lag_p99_last_third_ms),
        if r.lag_flat { "yes" } else { "NO" },
    );
    if r.publisher_most_behind_ms > 250.0 {
        let _ = writeln!(
            out,
            "            the publisher fell {:.0} ms behind its schedule (published {:.0}/s)",
            r.publisher_most_behind_ms, r.published_per_s
        );
    }
}

fn render_profile(out: &mut String, r: &RateStep) {
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
    let n = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
    let (rl, pj, wk) = (&r.profile.relay, &r.profile.projector, &r.profile.workers);
    let _ = writeln!(
        out,
        "  {:<9} {:>4.0}%  relay: {:.0} steps of {} rows, claim/publish/mark {}/{}/{} ms, {:.0} PublishBatch of {} ms",
        r.queues, r.of_bare * 100.0, rl.steps, n(rl.rows_per_step), ms(rl.claim_ms), ms(rl.publish_ms), ms(rl.mark_ms), rl.publish_calls, ms(rl.publish_call_ms)
    );
    let _ = writeln!(
        out,
        "                   projector: {:.0} receives of {} events, {} ms from SQS to applied, {} ms per transaction, {:.0} delete calls",
        pj.batches, n(pj.events_per_batch), ms(pj.event_age_ms), ms(pj.apply_ms), pj.delete_calls
    );
    let _ = writeln!(
        out,
        "                   workers: {:.0} receives of {} msgs, {} ms from SQS to decided, {} ms each, lock held {} ms, waited {} ms, {:.0} delete calls",
        wk.batches, n(wk.messages_per_batch), ms(wk.message_age_ms), ms(wk.batch_ms), ms(wk.lock_hold_ms), ms(wk.lock_wait_ms), wk.delete_calls
    );
}
