"""Record real exceptions with the OpenTelemetry Python SDK and send them to Lookout.

For the error-tracking end-to-end tests: a small "shop" raises real exceptions from
real functions and records them the way applications do, `span.record_exception(e)`
inside a span (OTLP/HTTP protobuf), and with `--log`, also `logger.exception(...)`
through the SDK's logging bridge. Each occurrence uses another order id, so the
messages differ while the bug (type and stack) stays the same.
Exits non-zero if any export failed.
"""

import argparse
import logging
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


# --- the application's code: two different bugs ---------------------------------------

ORDERS = {}


def load_order(order_id):
    return ORDERS[f"order-{order_id}"]  # KeyError: the order is not there


def charge(order_id):
    order = load_order(order_id)
    return order["total"]


def parse_amount(text):
    return int(text)  # ValueError: invalid literal for int()


def refund(order_id):
    return parse_amount(f"{order_id}.50 EUR")


BUGS = {"missing_order": charge, "bad_amount": refund}

# ---------------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--endpoint", required=True, help="OTLP/HTTP base URL, e.g. http://127.0.0.1:4318")
    p.add_argument("--service", default="checkout")
    p.add_argument("--version", required=True, help="service.version: the release")
    p.add_argument("--environment", default="production")
    p.add_argument("--bug", choices=sorted(BUGS), required=True)
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--first-id", type=int, default=1000)
    p.add_argument("--log", action="store_true", help="also log each exception with logger.exception")
    a = p.parse_args()

    resource = Resource.create(
        {"service.name": a.service, "service.version": a.version, "deployment.environment": a.environment}
    )
    span_exp = OTLPSpanExporter(endpoint=f"{a.endpoint}/v1/traces")
    log_exp = OTLPLogExporter(endpoint=f"{a.endpoint}/v1/logs")
    failures = []

    def watch(exporter, name):
        inner = exporter.export

        def export(batch, *args, **kwargs):
            result = inner(batch, *args, **kwargs)
            if getattr(result, "name", "SUCCESS") != "SUCCESS":
                failures.append(f"{name}: {result}")
            return result

        exporter.export = export

    watch(span_exp, "spans")
    watch(log_exp, "logs")
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(span_exp))
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(log_exp))
    logger = logging.getLogger("shop")
    logger.propagate = False
    logger.addHandler(LoggingHandler(level=logging.ERROR, logger_provider=lp))
    tracer = tp.get_tracer("shop")

    bug = BUGS[a.bug]
    for i in range(a.count):
        order_id = a.first_id + i
        with tracer.start_as_current_span(f"{a.bug}", record_exception=False, set_status_on_exception=True) as span:
            try:
                bug(order_id)
            except Exception as e:  # noqa: BLE001 - recording it is the point
                span.record_exception(e)
                span.set_status(trace.Status(trace.StatusCode.ERROR, str(e)))
                if a.log:
                    logger.exception("order %d failed", order_id)

    ok = tp.force_flush(30_000) and lp.force_flush(30_000)
    tp.shutdown()
    lp.shutdown()
    if not ok or failures:
        print("export failed: " + "; ".join(failures or ["flush timed out"]), file=sys.stderr)
        sys.exit(1)
    print(f"recorded {a.count} {a.bug} exceptions as {a.service} {a.version}")


if __name__ == "__main__":
    main()
