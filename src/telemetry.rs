//! Logging and tracing set-up shared by every role: text for people, JSON for log pipelines,
//! and the spans that carry a command's trace across the queues (see [`crate::trace`]).
//!
//! `RUST_LOG` picks what is shown (default `info`, quieter for sqlx and the AWS SDK); `FULFIL_LOG_FORMAT` picks the shape.
//! Spans are exported over OTLP (HTTP, protobuf) only when `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set; otherwise they only give the logs their
//! trace ids and the messages their `traceparent`.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, Layer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Keeps the span exporter alive; dropping it flushes the spans not yet sent (a role's
/// last seconds are often the interesting ones).
#[must_use = "spans are flushed when this is dropped"]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

impl Telemetry {
    /// A handle that sends the spans ended so far; see [`SpanFlush`].
    pub fn flusher(&self) -> SpanFlush {
        SpanFlush {
            provider: self.provider.clone(),
        }
    }
}

/// Sends the spans ended so far without waiting for the exporter's schedule. A Lambda
/// function needs it after every invocation: between invocations its environment is frozen,
/// so spans left in the batch would go out minutes late, or never if it is not thawed again.
#[derive(Clone)]
pub struct SpanFlush {
    provider: SdkTracerProvider,
}

impl SpanFlush {
    /// Flushes on a blocking thread (the batch exporter's flush waits for its export) and
    /// waits for it at most `within`: a collector that hangs must not hold an invocation's
    /// answer (the exporter's own flush wait is 5 s). A failure or a flush still running is
    /// logged, never returned: spans are not worth failing an invocation for.
    pub async fn flush(&self, within: std::time::Duration) {
        let provider = self.provider.clone();
        let flushing = tokio::task::spawn_blocking(move || provider.force_flush());
        match tokio::time::timeout(within, flushing).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::warn!(%error, "spans could not be flushed"),
            Ok(Err(error)) => tracing::warn!(%error, "the span flush did not finish"),
            Err(_) => tracing::warn!(?within, "the span flush is still running; not waiting"),
        }
    }
}

/// Installs the global subscriber; logs go to stderr so stdout stays for command output.
/// `service` names the process in exported spans unless `OTEL_SERVICE_NAME` does.
pub fn init(format: LogFormat, service: &str) -> Telemetry {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let logs = match format {
        LogFormat::Text => logs.boxed(),
        LogFormat::Json => logs.json().boxed(),
    };
    let provider = tracer_provider(service);
    // Only the cross-queue spans become OpenTelemetry spans: one trace per command, not one
    // per process lifetime under a poller's span.
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("fulfil"))
        .with_filter(Targets::new().with_target(crate::trace::TARGET, tracing::Level::TRACE));
    let _ = tracing_subscriber::registry()
        .with(filter())
        .with(logs)
        .with(spans)
        .try_init();
    Telemetry { provider }
}

/// `RUST_LOG`, or the default; either way the cross-queue spans stay on (they carry the
/// trace on, and cost nothing in the logs: spans print no lines of their own) unless
/// `RUST_LOG` says otherwise about `fulfil::trace`.
fn filter() -> EnvFilter {
    let wanted = std::env::var("RUST_LOG").unwrap_or_default();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,aws_config=warn"));
    if wanted.contains(crate::trace::TARGET) {
        return filter;
    }
    match format!("{}=info", crate::trace::TARGET).parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// A tracer provider that exports over OTLP when an endpoint is configured, and only
/// makes span contexts otherwise.
fn tracer_provider(service: &str) -> SdkTracerProvider {
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service.to_owned());
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    if !otlp_configured() {
        return builder.build();
    }
    match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(exporter) => builder.with_batch_exporter(exporter).build(),
        Err(error) => {
            eprintln!("warning: spans will not be exported: {error}");
            builder.build()
        }
    }
}

fn otlp_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|key| std::env::var(key).is_ok_and(|v| !v.trim().is_empty()))
}

static METRICS: std::sync::OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
    std::sync::OnceLock::new();

/// Installs the Prometheus recorder once per process (later calls reuse it).
pub fn install_metrics() {
    METRICS.get_or_init(|| {
        let seconds = [
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ];
        let sizes = [1.0, 2.0, 3.0, 5.0, 8.0, 10.0];
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Suffix("seconds".into()),
                &seconds,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("size".into()),
                    &sizes,
                )
            })
            .and_then(|b| b.install_recorder())
            .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
            .ok()
    });
}

/// The Prometheus text exposition of every metric recorded so far.
pub fn render_metrics() -> String {
    METRICS
        .get()
        .and_then(Option::as_ref)
        .map(|h| h.render())
        .unwrap_or_default()
}
