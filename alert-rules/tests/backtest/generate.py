#!/usr/bin/env python3
"""Writes incident.om: two hours of recorded metrics for the shipped rules, the data set
of `lookout rules backtest` tests (OpenMetrics text, one sample every 15 s, timestamps in
Unix seconds, so `promtool tsdb create-blocks-from openmetrics` loads it too).

Deterministic (no randomness): run it again and the file is byte-identical.

Timeline (from 2025-12-01T10:00:00Z, minutes):
- shop/checkout: 2% of requests fail, 20% from 30 to 50 (HighErrorRate);
  every request takes 0.2 s, 4 s from 70 to 90 (SlowResponses).
- orders: 12 database connection errors a minute from 60 to 63 (DatabaseConnectionErrors).
- worker/mail: 1500 jobs queued from 80 to 100 (QueueBacklog).
- host-a: memory 90% used from 15 to 40 (HighMemoryUsage);
  CPU 0.95 from 20 to 28 (too short to fire) and from 45 to 65 (HighCPU).
"""

START = 1764583200  # 2025-12-01T10:00:00Z
STEP = 15
MINUTES = 120
TIMES = [START + i * STEP for i in range(MINUTES * 60 // STEP + 1)]


def minute(t):
    return (t - START) / 60


def between(t, a, b):
    return a <= minute(t) < b


def labels(d):
    return "{" + ",".join(f'{k}="{v}"' for k, v in d.items()) + "}"


out = []


def series(name, lbls, values):
    for t, v in zip(TIMES, values):
        out.append(f"{name}{labels(lbls)} {v:g} {t}")


def counter(rate_per_s):
    """Cumulative counts from a per-second rate function of time."""
    total, values = 0.0, []
    for i, t in enumerate(TIMES):
        if i:
            total += rate_per_s(t) * STEP
        values.append(round(total, 6))
    return values


# HTTP: 10 requests/s on shop/checkout and shop/cart.
for job in ["shop/checkout", "shop/cart"]:
    base = {"job": job, "instance": f"{job.split('/')[1]}-0"}
    bad = lambda t, job=job: 0.2 if job == "shop/checkout" and between(t, 30, 50) else 0.02
    slow = lambda t, job=job: job == "shop/checkout" and between(t, 70, 90)
    for code, share in [("200", lambda t: 1 - bad(t)), ("500", bad)]:
        series("http_server_request_duration_seconds_count", {**base, "http_response_status_code": code},
               counter(lambda t: 10 * share(t)))
    for le in ["0.5", "1", "2.5", "5", "+Inf"]:
        def in_bucket(t, le=le):
            took = 4.0 if slow(t) else 0.2
            return 10.0 if le == "+Inf" or took <= float(le) else 0.0
        series("http_server_request_duration_seconds_bucket", {**base, "le": le}, counter(in_bucket))

# Log-derived database errors per service.
for service in ["orders", "billing"]:
    series("lookout_log_db_connection_errors_total", {"service": service},
           counter(lambda t, s=service: 0.2 if s == "orders" and between(t, 60, 63) else 0.0))

# Queue depth.
series("queue_jobs_pending", {"job": "worker/mail", "queue": "outbound"},
       [1500 if between(t, 80, 100) else 40 for t in TIMES])

# Host resources.
host = {"job": "node", "instance": "host-a"}
series("system_memory_utilization_ratio", {**host, "system_memory_state": "used"},
       [0.9 if between(t, 15, 40) else 0.5 for t in TIMES])
series("process_cpu_utilization_ratio", host,
       [0.95 if between(t, 20, 28) or between(t, 45, 65) else 0.3 for t in TIMES])

with open(__file__.replace("generate.py", "incident.om"), "w") as f:
    f.write("\n".join(out) + "\n# EOF\n")
