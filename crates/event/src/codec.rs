//! A batch as bytes, for disk buffers: the OTLP export request's protobuf (so the
//! resource → scope → record grouping survives) behind a small header carrying what
//! sinks need from [`BatchMeta`](crate::BatchMeta): the receive time and the promoted
//! attribute names. Acknowledgement notifiers are not stored: a record read back from
//! disk gets the notifier of the buffer that holds it.
//!
//! Layout (little-endian): `version u8 = 1`, `signal u8` (0 logs, 1 traces, 2
//! metrics), `received_unix_nano u64`, `promote u16` (0 = none, else count + 1) and
//! per pattern `len u16` + UTF-8 bytes, then the protobuf of
//! `Export{Logs,Trace,Metrics}ServiceRequest` (for logs written in one pass by
//! `wire`, where resource and scope lengths are padded varints: still protobuf, and
//! read back by prost).

use std::sync::Arc;
use std::time::Instant;

use prost::Message;

use crate::otlp::collector::logs::v1::ExportLogsServiceRequest;
use crate::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::otlp::collector::trace::v1::ExportTraceServiceRequest;
use crate::{Batch, BatchMeta, Payload, Promote};

const VERSION: u8 = 1;

/// Why bytes could not be read back as a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The header is cut short or names an unknown version or signal.
    #[error("bad batch header: {0}")]
    Header(&'static str),
    /// The protobuf part does not decode.
    #[error("bad batch payload: {0}")]
    Payload(String),
}

/// Appends `batch` to `out`.
pub fn encode(batch: &Batch, out: &mut Vec<u8>) {
    let signal = match &batch.payload {
        Payload::Logs(_) => 0u8,
        Payload::Traces(_) => 1,
        Payload::Metrics(_) => 2,
    };
    out.push(VERSION);
    out.push(signal);
    out.extend_from_slice(&batch.meta.received_unix_nano.to_le_bytes());
    match &batch.meta.promote {
        None => out.extend_from_slice(&0u16.to_le_bytes()),
        Some(p) => {
            let patterns = &p.patterns()[..p.patterns().len().min(u16::MAX as usize - 1)];
            out.extend_from_slice(&(patterns.len() as u16 + 1).to_le_bytes());
            for pattern in patterns {
                let bytes = &pattern.as_bytes()[..pattern.len().min(u16::MAX as usize)];
                out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
                out.extend_from_slice(bytes);
            }
        }
    }
    // The export request is `repeated Resource* = 1`: encoding each element as field 1
    // writes the request without moving the resources into one.
    match &batch.payload {
        // Logs, the bulk of what disk buffers hold, in one pass (see `wire`).
        Payload::Logs(rs) => rs.iter().for_each(|r| crate::wire::resource_logs(r, out)),
        Payload::Traces(rs) => rs.iter().for_each(|r| prost::encoding::message::encode(1, r, out)),
        Payload::Metrics(rs) => rs.iter().for_each(|r| prost::encoding::message::encode(1, r, out)),
    }
}

/// Reads a batch written by [`encode`]. Its `received_at` is now (the monotonic
/// clock of another process means nothing here).
pub fn decode(bytes: &[u8]) -> Result<Batch, DecodeError> {
    let mut r = Reader { bytes };
    if r.u8()? != VERSION {
        return Err(DecodeError::Header("unknown version"));
    }
    let signal = r.u8()?;
    let received_unix_nano = u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
    let promote = match r.u16()? {
        0 => None,
        n => {
            let mut patterns = Vec::with_capacity(n as usize - 1);
            for _ in 1..n {
                let len = r.u16()? as usize;
                let text = std::str::from_utf8(r.take(len)?).map_err(|_| DecodeError::Header("pattern not UTF-8"))?;
                patterns.push(text.to_string());
            }
            Some(Arc::new(Promote::new(patterns)))
        }
    };
    let body = r.bytes;
    let payload_err = |e: prost::DecodeError| DecodeError::Payload(e.to_string());
    let payload = match signal {
        0 => Payload::Logs(ExportLogsServiceRequest::decode(body).map_err(payload_err)?.resource_logs),
        1 => Payload::Traces(ExportTraceServiceRequest::decode(body).map_err(payload_err)?.resource_spans),
        2 => Payload::Metrics(ExportMetricsServiceRequest::decode(body).map_err(payload_err)?.resource_metrics),
        _ => return Err(DecodeError::Header("unknown signal")),
    };
    let meta = BatchMeta { received_at: Instant::now(), received_unix_nano, promote, ..BatchMeta::default() };
    Ok(Batch { payload, meta })
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::Header("cut short"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::common::v1::{AnyValue, any_value::Value};
    use crate::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    #[test]
    fn round_trips_payload_time_and_promote() {
        let record = LogRecord {
            body: Some(AnyValue { value: Some(Value::StringValue("hello".into())) }),
            ..Default::default()
        };
        let mut batch = Batch::logs(vec![ResourceLogs {
            scope_logs: vec![ScopeLogs { log_records: vec![record; 3], ..Default::default() }],
            ..Default::default()
        }]);
        batch.meta.promote = Some(Arc::new(Promote::new(["service.name".to_string(), "k8s.*".to_string()])));
        let mut bytes = Vec::new();
        encode(&batch, &mut bytes);
        let back = decode(&bytes).unwrap();
        assert_eq!(back, batch);
        assert_eq!(back.meta.received_unix_nano, batch.meta.received_unix_nano);
        assert_eq!(back.meta.promote, batch.meta.promote);
        assert!(decode(&bytes[..5]).is_err());
        let mut bad = bytes.clone();
        bad[1] = 9;
        assert_eq!(decode(&bad).unwrap_err(), DecodeError::Header("unknown signal"));
    }
}
