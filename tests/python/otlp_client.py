"""Send logs, spans and metrics to Lookout with the OpenTelemetry Python SDK.

A real OTLP client for Lookout's end-to-end tests: the same SDK and exporters an
application would use, over gRPC or HTTP/protobuf, gzip on, optionally over TLS
(`--ca-file`) with a client certificate (`--client-cert`, `--client-key`). Every log record and
span carries a `seq` attribute so the test can check each arrives exactly once.
Exits non-zero if any export failed.
"""

import argparse
import logging
import os
import sys

from opentelemetry import metrics, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor


def read(path):
    with open(path, "rb") as f:
        return f.read()


def exporters(protocol, endpoint, tls):
    """`tls`: (CA file, client certificate file, client key file), each possibly None;
    with a CA file the exporters speak TLS and trust only that CA."""
    ca, cert, key = tls
    if protocol == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        gz = grpc.Compression.Gzip
        if ca:
            creds = grpc.ssl_channel_credentials(
                root_certificates=read(ca),
                private_key=read(key) if key else None,
                certificate_chain=read(cert) if cert else None,
            )
            kw = dict(insecure=False, credentials=creds)
        else:
            kw = dict(insecure=True)
        return (
            OTLPLogExporter(endpoint=endpoint, compression=gz, **kw),
            OTLPSpanExporter(endpoint=endpoint, compression=gz, **kw),
            OTLPMetricExporter(endpoint=endpoint, compression=gz, **kw),
        )
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    gz = Compression.Gzip
    kw = dict(certificate_file=ca, client_certificate_file=cert, client_key_file=key) if ca else {}
    if ca:
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (set on many machines) override
        # the CA a session was given: point them at ours too.
        os.environ["REQUESTS_CA_BUNDLE"] = ca
        os.environ.pop("CURL_CA_BUNDLE", None)
    return (
        OTLPLogExporter(endpoint=f"{endpoint}/v1/logs", compression=gz, **kw),
        OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", compression=gz, **kw),
        OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", compression=gz, **kw),
    )


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--protocol", choices=["grpc", "http"], required=True)
    p.add_argument("--endpoint", required=True, help="grpc: http://127.0.0.1:4317, http: http://127.0.0.1:4318")
    p.add_argument("--service", default="checkout")
    p.add_argument("--logs", type=int, default=100)
    p.add_argument("--spans", type=int, default=10)
    p.add_argument("--points", type=int, default=5, help="counter increments / histogram records")
    p.add_argument("--ca-file", help="TLS: trust this CA (PEM); the endpoint is then https://")
    p.add_argument("--client-cert", help="mTLS: client certificate (PEM)")
    p.add_argument("--client-key", help="mTLS: client key (PEM)")
    a = p.parse_args()

    resource = Resource.create({"service.name": a.service, "host.name": "e2e-host", "k8s.pod.name": "pod-1"})
    log_exp, span_exp, metric_exp = exporters(a.protocol, a.endpoint, (a.ca_file, a.client_cert, a.client_key))
    failures = []

    def watch(exporter, name):
        inner = exporter.export

        def export(batch, *args, **kwargs):
            result = inner(batch, *args, **kwargs)
            if getattr(result, "name", "SUCCESS") != "SUCCESS":
                failures.append(f"{name}: {result}")
            return result

        exporter.export = export

    watch(log_exp, "logs")
    watch(span_exp, "spans")
    watch(metric_exp, "metrics")

    # Large queues: the SDK silently drops records when its queue overflows.
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(
        BatchLogRecordProcessor(log_exp, max_queue_size=max(2048, a.logs * 2), max_export_batch_size=512)
    )
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(span_exp, max_queue_size=max(2048, a.spans * 2)))
    reader = PeriodicExportingMetricReader(metric_exp, export_interval_millis=3_600_000)
    mp = MeterProvider(resource=resource, metric_readers=[reader])

    logger = logging.getLogger("e2e")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=lp))
    tracer = tp.get_tracer("e2e-tracer", "1.0")
    meter = mp.get_meter("e2e-meter")
    counter = meter.create_counter("e2e.requests", unit="1", description="requests")
    hist = meter.create_histogram("e2e.duration", unit="ms")

    for i in range(a.spans):
        with tracer.start_as_current_span(f"op-{i % 3}", attributes={"seq": i}) as span:
            if i % 5 == 0:
                span.set_status(trace.Status(trace.StatusCode.ERROR, "boom"))
    for i in range(a.logs):
        level = logging.ERROR if i % 10 == 0 else logging.INFO
        logger.log(level, "user 42 paid with card 4111 1111 1111 1111 (mail bob@example.com) #%d", i, extra={"seq": i})
    for i in range(a.points):
        counter.add(1, {"route": "/pay"})
        hist.record(10.0 * (i + 1), {"route": "/pay"})

    ok = lp.force_flush(30_000) and tp.force_flush(30_000)
    mp.force_flush(30_000)
    lp.shutdown()
    tp.shutdown()
    mp.shutdown()
    if not ok or failures:
        print("export failed: " + "; ".join(failures or ["flush timed out"]), file=sys.stderr)
        sys.exit(1)
    print(f"sent {a.logs} logs, {a.spans} spans, {a.points} metric updates over {a.protocol}")


if __name__ == "__main__":
    main()
