//! Logging set-up shared by every role: text for people, JSON for log pipelines.
//!
//! `RUST_LOG` picks what is shown (default `info`, quieter for sqlx and the AWS SDK); `FULFIL_LOG_FORMAT` picks the shape.

use tracing_subscriber::{fmt, EnvFilter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber; logs go to stderr so stdout stays for command output.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,aws_config=warn"));
    // Colours only for a person at a terminal, never in files or log pipelines.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
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
