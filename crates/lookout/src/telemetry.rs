//! Lookout's own logs and traces: `tracing` to stderr, and optionally Lookout's spans
//! over OTLP through `tracing-opentelemetry`.

use anyhow::Context;
use lookout_config::TelemetryConfig;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Keeps the span exporter alive; flushes it on drop.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// Installs the global subscriber. `RUST_LOG` overrides the configured level.
pub fn init(config: &TelemetryConfig) -> anyhow::Result<TelemetryGuard> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log_level))
        .with_context(|| format!("invalid log level `{}`", config.log_level))?;
    let fmt = match config.log_format.as_str() {
        "json" => tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr).boxed(),
        "text" => tracing_subscriber::fmt::layer().with_writer(std::io::stderr).boxed(),
        other => anyhow::bail!("unknown log format `{other}` (use `text` or `json`)"),
    };
    let mut provider = None;
    let otel = match &config.otlp_traces_endpoint {
        Some(endpoint) => {
            use opentelemetry_otlp::WithExportConfig;
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .build()
                .context("cannot build the OTLP span exporter")?;
            let p = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(opentelemetry_sdk::Resource::builder().with_service_name("lookout").build())
                .build();
            let tracer = p.tracer("lookout");
            provider = Some(p);
            // Only Lookout's own spans go out; never the exporter's, or it would trace itself.
            Some(tracing_opentelemetry::layer().with_tracer(tracer).with_filter(EnvFilter::new("lookout=info,warn")))
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel)
        .try_init()
        .context("cannot install the logger")?;
    Ok(TelemetryGuard { provider })
}
