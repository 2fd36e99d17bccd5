//! The driver: drains a sink's buffer into batches and sends them through the layers.

use std::time::Duration;

use futures::{FutureExt, TryFutureExt};
use lookout_component::{ComponentError, ComponentFuture, SinkContext};
use tokio::task::JoinSet;
use tower::{Service, ServiceExt};
use tracing::{info, warn};

use std::fmt::Write;

use lookout_event::FieldPath;

use super::endpoints::{EndpointSet, fnv1a};
use super::retry::{Attempt, RetryPolicy, Tally};
use super::settings::{LoadBalance, RequestSettings};
use super::{BatchAck, DeadLetters, DeliverySettings, Item, Protocol, SendError, stack};
use crate::Error;

/// [`run`] as a component: its error becomes the component's.
pub fn component<P: Protocol>(cx: SinkContext, protocol: P, settings: DeliverySettings) -> ComponentFuture {
    run(cx, protocol, settings).map_err(ComponentError::new).boxed()
}

/// The protocol's one-time preparation ([`Protocol::prepare`]) before the first request,
/// each attempt on the next endpoint in turn. Records wait in the buffer meanwhile; the
/// sink shows degraded with the reason while it retries, and stays so if it gives up.
async fn prepare<P: Protocol>(cx: &SinkContext, endpoints: &EndpointSet<P>, request: &RequestSettings) {
    let all = endpoints.endpoints();
    if all.is_empty() || endpoints.protocol().prepare(&all[0]).is_none() {
        return;
    }
    let policy = RetryPolicy::new(request);
    let mut turn = 0usize;
    let outcome = lookout_retry::retry(policy.policy(), || {
        let endpoint = &all[turn % all.len()];
        turn += 1;
        let attempt = endpoints.protocol().prepare(endpoint);
        let set = endpoints.clone();
        async move {
            let result = match attempt {
                Some(f) => f.await,
                None => Ok(()),
            };
            // A refused credential here is a missing privilege more often than a
            // rotation: say so once instead of waiting for it forever.
            result.map_err(|e| match e {
                SendError::Unauthorized(m) => SendError::Fatal(m),
                e => {
                    set.set_preparation(Some(format!("preparing the store: {e}")));
                    e
                }
            })
        }
    })
    .await;
    match outcome {
        Ok(()) => endpoints.set_preparation(None),
        Err(e) => {
            let e = e.into_last();
            tracing::error!(sink = %cx.id, error = %e, "Sink: preparing the store failed; delivering anyway.");
            endpoints.set_preparation(Some(e.to_string()));
        }
    }
}

/// Runs a network sink until its buffer closes, then sends what is left, waits for every
/// request in flight and returns.
pub async fn run<P: Protocol>(mut cx: SinkContext, protocol: P, settings: DeliverySettings) -> Result<(), Error> {
    let mut dead_letters = match &settings.dead_letter {
        Some(path) => Some(
            DeadLetters::open(std::path::Path::new(path), &cx.id)
                .map_err(|error| Error::DeadLetter { path: path.clone(), error })?,
        ),
        None => None,
    };
    let endpoints = EndpointSet::new(
        protocol,
        &settings.endpoints,
        settings.load_balance,
        settings.circuit_breaker.clone(),
        settings.request.timeout(),
        cx.health.clone(),
    );
    let checks = settings
        .health_check
        .enabled
        .then(|| endpoints.spawn_health_checks(Duration::from_secs_f64(settings.health_check.interval_secs.max(0.1))));
    let mut service = stack::requests(&settings.request, endpoints.clone());
    cx.health.ready();
    prepare(&cx, &endpoints, &settings.request).await;

    let batch = &settings.batch;
    let linger = Duration::from_millis(batch.timeout_ms);
    let hash_field = (settings.load_balance == LoadBalance::ConsistentHash)
        .then(|| FieldPath::parse(settings.hash_field.as_deref().unwrap_or("service.name")));
    let mut keys: Vec<u64> = Vec::new();
    let mut text = String::new();
    let mut pending: Vec<Item> = Vec::with_capacity(batch.max_events);
    let mut pending_bytes = 0usize;
    let mut flush_at: Option<tokio::time::Instant> = None;
    let mut in_flight: JoinSet<Tally> = JoinSet::new();
    let mut closed = false;
    while !closed {
        tokio::select! {
            received = cx.input.recv() => match received {
                Some(mut b) => {
                    cx.metrics.received_events.inc_by(b.len() as u64);
                    let finalizers = b.meta.finalizers.take();
                    let before = pending.len();
                    endpoints.protocol().encode(&b, &mut pending);
                    if let Some(ack) = BatchAck::new(finalizers, pending.len() - before) {
                        for item in &mut pending[before..] {
                            item.ack = Some(ack.clone());
                        }
                    }
                    if let Some(field) = &hash_field {
                        // One key per record, in the order the protocol made its items.
                        b.for_each(|r| {
                            text.clear();
                            if let Some(v) = r.get(field) {
                                let _ = write!(text, "{v}");
                            }
                            keys.push(fnv1a(text.as_bytes()));
                        });
                        keys.resize(pending.len(), 0);
                    }
                    pending_bytes += pending[before..].iter().map(|i| i.doc.len()).sum::<usize>();
                    if flush_at.is_none() && !pending.is_empty() {
                        flush_at = Some(tokio::time::Instant::now() + linger);
                    }
                }
                None => closed = true,
            },
            _ = async { tokio::time::sleep_until(flush_at.unwrap()).await }, if flush_at.is_some() => {
                flush_at = None;
            }
            Some(done) = in_flight.join_next() => {
                settle(&cx, done.map_err(|e| e.to_string()), &mut dead_letters);
                continue;
            }
        }
        let full = pending.len() >= batch.max_events || pending_bytes >= batch.max_bytes;
        if full || flush_at.is_none() || closed {
            flush_at = None;
            let requests: Vec<(Vec<Item>, Option<u64>)> = if hash_field.is_some() {
                // Each request holds keys of one home endpoint.
                let mut homes: Vec<(usize, Vec<Item>, u64)> = Vec::new();
                for (item, key) in pending.drain(..).zip(keys.drain(..)) {
                    let home = endpoints.rank(key)[0];
                    match homes.iter_mut().find(|(h, _, _)| *h == home) {
                        Some((_, items, _)) => items.push(item),
                        None => homes.push((home, vec![item], key)),
                    }
                }
                homes
                    .into_iter()
                    .flat_map(|(_, mut items, key)| {
                        split(&mut items, batch.max_events, batch.max_bytes).into_iter().map(move |r| (r, Some(key)))
                    })
                    .collect()
            } else {
                split(&mut pending, batch.max_events, batch.max_bytes).into_iter().map(|r| (r, None)).collect()
            };
            for (request, key) in requests {
                // Waiting for a concurrency slot here is the back-pressure: the buffer
                // fills, and upstream blocks or drops as its `when_full` says.
                let ready = service.ready().await.map_err(|e| Error::Stack(e.to_string()))?;
                let attempt = Attempt::new(request, key);
                let tally = attempt.tally.clone();
                let call = ready.call(attempt);
                in_flight.spawn(async move {
                    let _ = call.await;
                    std::mem::take(&mut *tally.lock().unwrap())
                });
            }
            pending_bytes = 0;
        }
    }
    info!(sink = %cx.id, requests = in_flight.len(), "Input closed; waiting for requests in flight.");
    while let Some(done) = in_flight.join_next().await {
        settle(&cx, done.map_err(|e| e.to_string()), &mut dead_letters);
    }
    if let Some(c) = checks {
        c.abort();
    }
    Ok(())
}

/// Splits `pending` into requests within the batch limits (an item larger than
/// `max_bytes` still goes, alone).
fn split(pending: &mut Vec<Item>, max_events: usize, max_bytes: usize) -> Vec<Vec<Item>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for item in pending.drain(..) {
        if !current.is_empty() && (current.len() >= max_events || bytes + item.doc.len() > max_bytes) {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += item.doc.len();
        current.push(item);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Counts a finished request and writes its dead letters.
fn settle(cx: &SinkContext, done: Result<Tally, String>, dead_letters: &mut Option<DeadLetters>) {
    let tally = match done {
        Ok(t) => t,
        Err(e) => {
            cx.metrics.errors.inc();
            warn!(sink = %cx.id, error = %e, "A request task failed.");
            return;
        }
    };
    let m = &cx.metrics;
    m.sent_events.inc_by(tally.delivered as u64);
    m.sent_bytes.inc_by(tally.delivered_bytes as u64);
    m.retries.inc_by(tally.attempts.saturating_sub(1) as u64);
    if let Some(oldest) = tally.oldest_delivered {
        m.latency.observe(oldest.elapsed().as_secs_f64());
    }
    if tally.refused_unidentified > 0 {
        m.failed_events.inc_by(tally.refused_unidentified);
        warn!(sink = %cx.id, events = tally.refused_unidentified, "The receiver refused records (partial success).");
    }
    if tally.kept > 0 {
        m.errors.inc();
        warn!(sink = %cx.id, events = tally.kept, "Retries ran out; the events stay with their buffer or client and will be sent again.");
    }
    if tally.dead.is_empty() {
        return;
    }
    m.failed_events.inc_by(tally.dead.len() as u64);
    m.errors.inc();
    let first = &tally.dead[0].1;
    match dead_letters.as_mut().map(|d| d.write(&tally.dead)) {
        Some(Ok(n)) => {
            m.dead_letter_events.inc_by(n as u64);
            warn!(sink = %cx.id, events = n, error = %first, "Events refused; written to the dead-letter file.");
        }
        Some(Err(e)) => {
            warn!(sink = %cx.id, events = tally.dead.len(), error = %first, dead_letter_error = %e, "Events refused and the dead-letter file cannot be written: events lost.");
        }
        None => {
            warn!(sink = %cx.id, events = tally.dead.len(), error = %first, "Events refused and no `dead_letter` file is set: events lost.");
        }
    }
}
