//! Trace context across the queues. A command's trace starts where it is published (`fulfil
//! publish` starts one per command) and travels as a W3C `traceparent` message attribute:
//! SNS hands it to SQS (raw delivery keeps attributes), the worker continues it in a span of
//! its own, writes that span's context beside the command's events in the outbox, the relay
//! sends it on with each event, and the projector continues it again. So one trace id names
//! a command in every role's logs, and, when an OTLP endpoint is configured (see
//! [`crate::telemetry`]), in the tracing backend as one trace.
//!
//! A message without the attribute, or with one that is not a valid `traceparent`, starts a
//! new trace: tracing is never a reason to refuse or retry a message.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The message attribute (on SNS and SQS) that carries the context, named as W3C names the
/// HTTP header.
pub const ATTRIBUTE: &str = "traceparent";

/// The target of the spans that cross the queues. The telemetry set-up records them
/// whatever `RUST_LOG` says (they carry the context on); `RUST_LOG` only decides whether
/// they show in the logs (`fulfil::trace=debug` shows a line per command and event).
pub const TARGET: &str = "fulfil::trace";

/// Makes `span` continue the trace of `traceparent` (a new trace when there is none or it
/// does not parse), records the trace id in the span's `trace_id` field (declared `Empty`),
/// and returns the `traceparent` to send on: this span's own context. `None` when no
/// tracing layer is installed (a library user's process, a unit test).
pub fn continue_from(span: &tracing::Span, traceparent: Option<&str>) -> Option<String> {
    if let Some(parent) = traceparent.and_then(remote_parent) {
        // Fails only when no OpenTelemetry layer is installed: then there is no trace.
        let _ = span.set_parent(parent);
    }
    let context = span.context();
    let trace_id = context.span().span_context().trace_id();
    if !context.span().span_context().is_valid() {
        return None;
    }
    span.record("trace_id", tracing::field::display(trace_id));
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(ATTRIBUTE)
}

/// The remote span a valid `traceparent` names.
fn remote_parent(traceparent: &str) -> Option<opentelemetry::Context> {
    let carrier = HashMap::from([(ATTRIBUTE.to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    context.span().span_context().is_valid().then_some(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_names_its_remote_span() {
        let context = remote_parent(PARENT).expect("a valid traceparent");
        let span = context.span();
        assert_eq!(
            span.span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(span.span_context().is_remote());
    }

    #[test]
    fn a_malformed_or_all_zero_traceparent_names_nothing() {
        for bad in [
            "",
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert!(remote_parent(bad).is_none(), "{bad:?} was taken");
        }
    }

    /// A subscriber with the OpenTelemetry layer and no exporter, as every role runs by default.
    fn with_layer<T>(f: impl FnOnce() -> T) -> T {
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::layer::SubscriberExt;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f)
    }

    fn fields(traceparent: &str) -> Vec<String> {
        traceparent.split('-').map(str::to_owned).collect()
    }

    #[test]
    fn a_continued_trace_keeps_the_trace_id_under_a_span_of_its_own() {
        let sent = with_layer(|| {
            let span =
                tracing::info_span!(target: TARGET, "unit", trace_id = tracing::field::Empty);
            continue_from(&span, Some(PARENT))
        });
        let sent = fields(&sent.expect("a context to send on"));
        let parent = fields(PARENT);
        assert_eq!(sent[0], "00", "W3C version");
        assert_eq!(sent[1], parent[1], "the trace id goes on");
        assert_ne!(sent[2], parent[2], "the span is the worker's own");
        assert_eq!(sent[3], "01", "sampled, as the parent asked");
    }

    #[test]
    fn no_or_an_unreadable_traceparent_starts_a_new_trace_each_time() {
        let (a, b) = with_layer(|| {
            let start = |given: Option<&str>| {
                let span = tracing::info_span!(target: TARGET, parent: None, "unit", trace_id = tracing::field::Empty);
                continue_from(&span, given).expect("a new trace")
            };
            (start(None), start(Some("garbage")))
        });
        assert_ne!(fields(&a)[1], fields(&b)[1]);
        assert_ne!(fields(&a)[1], "0".repeat(32));
    }

    #[test]
    fn without_a_tracing_layer_there_is_no_context_to_send_on() {
        let span = tracing::info_span!(target: TARGET, "unit", trace_id = tracing::field::Empty);
        assert_eq!(continue_from(&span, Some(PARENT)), None);
    }
}
