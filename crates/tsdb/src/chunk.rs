//! Compressed sample chunks: the Gorilla encoding Prometheus uses (Facebook's "Gorilla:
//! a fast, scalable, in-memory time series database", 2015), so a regular-interval
//! series costs about 1.3 bytes per sample instead of 16.
//!
//! A chunk is `[u16 BE sample count][bit stream]`. In the bit stream:
//! - the first sample: its timestamp as a zigzag varint, its value as 64 raw bits;
//! - the second: the timestamp delta as a zigzag varint, the value XOR-encoded;
//! - later ones: the delta of deltas in one of five buckets (`0`; `10` + 7 bits;
//!   `110` + 14 bits; `1110` + 20 bits; `1111` + 64 bits), the value XOR-encoded.
//!
//! A value is XORed with the previous one: `0` when equal; `10` + the meaningful bits
//! when they fit in the previous leading/trailing-zero window; `11` + 5 bits of leading
//! zeros + 6 bits of meaningful-bit count + the bits otherwise. Values travel as raw
//! bits, so every NaN (a staleness marker included) comes back bit-exact.
//!
//! Chunks are append-only while open ([`Appender`]) and immutable once cut
//! ([`Chunk`]); [`Chunk::iter`] decodes without allocating. Our format, not Prometheus's
//! byte-for-byte (the first timestamp is signed, the buckets are plain two's
//! complement), so decoding never depends on Prometheus's historical quirks.

use crate::Sample;

/// Samples per chunk before a new one is cut (as Prometheus does): long enough to
/// amortise the first sample's 9-16 bytes, short enough that a query decodes little
/// it does not need.
pub(crate) const SAMPLES_PER_CHUNK: u16 = 120;

/// The delta-of-delta buckets: (prefix bits, prefix length, value bits). The first is
/// Gorilla's 7 bits, not Prometheus's 14: scrape jitter of a few ms then costs 9 bits a
/// sample instead of 16.
const DOD_BUCKETS: [(u64, u8, u8); 3] = [(0b10, 2, 7), (0b110, 3, 14), (0b1110, 4, 20)];

/// Why a chunk cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt chunk: {0}")]
pub struct CorruptChunk(pub &'static str);

// === impl BitWriter ===

#[derive(Debug, Clone, Default)]
struct BitWriter {
    buf: Vec<u8>,
    /// Unused low bits of the last byte.
    free: u8,
}

impl BitWriter {
    fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `n` bits of `v`, most significant first.
    fn write_bits(&mut self, v: u64, mut n: u8) {
        while n > 0 {
            if self.free == 0 {
                self.buf.push(0);
                self.free = 8;
            }
            let take = n.min(self.free);
            let bits = ((v >> (n - take)) & ((1u64 << take) - 1)) as u8;
            let last = self.buf.last_mut().expect("a byte was pushed");
            *last |= bits << (self.free - take);
            self.free -= take;
            n -= take;
        }
    }

    fn write_varint(&mut self, v: i64) {
        let mut u = ((v << 1) ^ (v >> 63)) as u64;
        loop {
            let byte = (u & 0x7f) as u8;
            u >>= 7;
            if u == 0 {
                self.write_bits(u64::from(byte), 8);
                return;
            }
            self.write_bits(u64::from(byte | 0x80), 8);
        }
    }
}

// === impl BitReader ===

/// Reads a bit stream through a 64-bit buffer: bits are loaded eight bytes at a time
/// and taken from the top, so a read is a compare, two shifts and a subtraction
/// instead of a loop over bytes. Reading past the end yields zeros and sets
/// `overrun`, checked once per sample, so the hot path carries no `Result`.
#[derive(Clone, Copy)]
struct BitReader<'a> {
    buf: &'a [u8],
    /// The next byte of `buf` to load.
    next: usize,
    /// Loaded bits, the next one at the top; only the top `n` are meaningful.
    acc: u64,
    n: u32,
    /// A read went past the end of the stream.
    overrun: bool,
}

impl<'a> BitReader<'a> {
    fn new(buf: &'a [u8]) -> BitReader<'a> {
        BitReader { buf, next: 0, acc: 0, n: 0, overrun: false }
    }

    /// Loads whole bytes until at least 57 bits are held or the stream ends.
    #[inline]
    fn refill(&mut self) {
        // Bits below the top `n` are stale: cleared before new ones are added.
        let kept = if self.n == 0 { 0 } else { self.acc & (!0u64 << (64 - self.n)) };
        if let Some(word) = self.buf.get(self.next..self.next + 8) {
            let word = u64::from_be_bytes(word.try_into().expect("eight bytes"));
            let bytes = (64 - self.n) / 8;
            self.acc = kept | (word >> self.n);
            self.next += bytes as usize;
            self.n += bytes * 8;
            return;
        }
        self.acc = kept;
        while self.n <= 56 {
            let Some(&b) = self.buf.get(self.next) else { return };
            self.acc |= u64::from(b) << (56 - self.n);
            self.next += 1;
            self.n += 8;
        }
    }

    /// Reads 1 to 56 bits (zeros past the end, setting `overrun`).
    #[inline(always)]
    fn read_short(&mut self, k: u32) -> u64 {
        debug_assert!((1..=56).contains(&k));
        if self.n < k {
            self.refill();
            if self.n < k {
                self.overrun = true;
                return 0;
            }
        }
        let v = self.acc >> (64 - k);
        self.acc <<= k;
        self.n -= k;
        v
    }

    /// Drops `k` bits known to be held.
    #[inline(always)]
    fn skip(&mut self, k: u32) {
        debug_assert!(k <= self.n);
        self.acc <<= k;
        self.n -= k;
    }

    #[inline(always)]
    fn read_bit(&mut self) -> bool {
        self.read_short(1) == 1
    }

    /// Reads 0 to 64 bits.
    #[inline(always)]
    fn read_bits(&mut self, k: u8) -> u64 {
        match u32::from(k) {
            0 => 0,
            k @ 1..=56 => self.read_short(k),
            k => {
                let high = self.read_short(k - 32);
                (high << 32) | self.read_short(32)
            }
        }
    }

    /// `what`, unless the stream had already ended (which the bit-by-bit reader would
    /// have stopped at first).
    fn fail(&self, what: &'static str) -> CorruptChunk {
        CorruptChunk(if self.overrun { ENDS_EARLY } else { what })
    }

    #[inline(always)]
    fn read_varint(&mut self) -> Result<i64, CorruptChunk> {
        // The common case: one byte.
        let first = self.read_short(8);
        if first & 0x80 == 0 {
            return Ok(((first >> 1) as i64) ^ -((first & 1) as i64));
        }
        let mut u = first & 0x7f;
        for shift in (7..70).step_by(7) {
            let byte = self.read_short(8);
            if shift == 63 && byte > 1 {
                return Err(self.fail("varint overflows 64 bits"));
            }
            u |= (byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(((u >> 1) as i64) ^ -((u & 1) as i64));
            }
        }
        Err(self.fail("varint too long"))
    }
}

const ENDS_EARLY: &str = "bit stream ends early";

/// How a sample's value is written.
enum Control {
    /// `0`: as the previous one.
    Same,
    /// `10`: XOR bits in the previous window.
    Reuse,
    /// `11`: a new window (5 bits of leading zeros, 6 of length), then the bits.
    New(u64),
}

/// Sign-extends the low `bits` bits of `v`.
fn sign_extend(v: u64, bits: u8) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

// === impl Appender ===

/// An open chunk taking samples in time order.
#[derive(Debug, Clone)]
pub(crate) struct Appender {
    w: BitWriter,
    n: u16,
    min_t: i64,
    t: i64,
    delta: i64,
    v: u64,
    /// The previous XOR's leading zeros and trailing zeros; `u8::MAX` before any.
    leading: u8,
    trailing: u8,
}

impl Default for Appender {
    fn default() -> Self {
        Appender { w: BitWriter::default(), n: 0, min_t: 0, t: 0, delta: 0, v: 0, leading: u8::MAX, trailing: 0 }
    }
}

impl Appender {
    /// Samples so far.
    pub(crate) fn len(&self) -> u16 {
        self.n
    }

    /// The first sample's timestamp (meaningless when empty).
    pub(crate) fn min_t(&self) -> i64 {
        self.min_t
    }

    /// The last sample's timestamp (meaningless when empty).
    pub(crate) fn max_t(&self) -> i64 {
        self.t
    }

    /// Appends a sample newer than the last one (the caller keeps the order).
    pub(crate) fn append(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        match self.n {
            0 => {
                self.w.write_varint(t);
                self.w.write_bits(bits, 64);
                self.min_t = t;
            }
            1 => {
                self.delta = t.wrapping_sub(self.t);
                self.w.write_varint(self.delta);
                self.write_value(bits);
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                let dod = delta.wrapping_sub(self.delta);
                self.write_dod(dod);
                self.delta = delta;
                self.write_value(bits);
            }
        }
        self.t = t;
        self.v = bits;
        self.n += 1;
    }

    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.w.write_bit(false);
            return;
        }
        for (prefix, plen, vbits) in DOD_BUCKETS {
            let lim = 1i64 << (vbits - 1);
            if (-lim..lim).contains(&dod) {
                self.w.write_bits(prefix, plen);
                self.w.write_bits(dod as u64, vbits);
                return;
            }
        }
        self.w.write_bits(0b1111, 4);
        self.w.write_bits(dod as u64, 64);
    }

    fn write_value(&mut self, bits: u64) {
        let xor = bits ^ self.v;
        if xor == 0 {
            self.w.write_bit(false);
            return;
        }
        self.w.write_bit(true);
        // 5 bits hold the leading zeros, so at most 31 are recorded.
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != u8::MAX && leading >= self.leading && trailing >= self.trailing {
            self.w.write_bit(false);
            let sig = 64 - self.leading - self.trailing;
            self.w.write_bits(xor >> self.trailing, sig);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        let sig = 64 - leading - trailing;
        self.w.write_bit(true);
        self.w.write_bits(u64::from(leading), 5);
        // 64 meaningful bits do not fit in 6 bits: written as 0 (0 never happens).
        self.w.write_bits(u64::from(sig & 63), 6);
        self.w.write_bits(xor >> trailing, sig);
    }

    /// The samples so far, as an immutable chunk (the appender stays usable).
    pub(crate) fn snapshot(&self) -> Chunk {
        let mut bytes = Vec::with_capacity(2 + self.w.buf.len());
        bytes.extend_from_slice(&self.n.to_be_bytes());
        bytes.extend_from_slice(&self.w.buf);
        Chunk { min_t: self.min_t, max_t: self.t, bytes: bytes.into() }
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.w.buf.capacity()
    }

    /// Decodes the samples so far.
    pub(crate) fn iter(&self) -> Iter<'_> {
        Iter::new(self.n, &self.w.buf)
    }
}

// === impl Chunk ===

/// An immutable chunk with its time range.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chunk {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    /// `[u16 BE count][bit stream]`; shared, so handing a chunk to a block writer
    /// copies nothing.
    pub(crate) bytes: std::sync::Arc<[u8]>,
}

impl Chunk {
    /// Decodes `bytes` (as written by [`Appender::snapshot`]).
    pub(crate) fn iter_bytes(bytes: &[u8]) -> Result<Iter<'_>, CorruptChunk> {
        let (head, body) = bytes.split_at_checked(2).ok_or(CorruptChunk("shorter than its header"))?;
        Ok(Iter::new(u16::from_be_bytes([head[0], head[1]]), body))
    }

    /// Its samples.
    pub(crate) fn iter(&self) -> Iter<'_> {
        Chunk::iter_bytes(&self.bytes).unwrap_or_else(|_| Iter::new(0, &[]))
    }

    /// Sample count.
    pub(crate) fn len(&self) -> u16 {
        self.bytes.get(..2).map_or(0, |h| u16::from_be_bytes([h[0], h[1]]))
    }
}

// === impl Iter ===

/// Decodes a chunk's samples, oldest first; stops at the first corrupt bit
/// ([`Iter::decode_into`] says why).
pub(crate) struct Iter<'a> {
    r: BitReader<'a>,
    left: u16,
    read: u16,
    t: i64,
    delta: i64,
    v: u64,
    leading: u8,
    trailing: u8,
    error: Option<CorruptChunk>,
}

impl<'a> Iter<'a> {
    fn new(n: u16, body: &'a [u8]) -> Iter<'a> {
        Iter { r: BitReader::new(body), left: n, read: 0, t: 0, delta: 0, v: 0, leading: 0, trailing: 0, error: None }
    }

    /// Why decoding stopped early, if it did.
    #[cfg(test)]
    pub(crate) fn error(&self) -> Option<&CorruptChunk> {
        self.error.as_ref()
    }

    #[inline(always)]
    fn step(&mut self) -> Result<Sample, CorruptChunk> {
        match self.read {
            0 => {
                self.t = self.r.read_varint()?;
                self.v = self.r.read_bits(64);
            }
            1 => {
                self.delta = self.r.read_varint()?;
                self.t = self.t.wrapping_add(self.delta);
                self.read_value()?;
            }
            _ => {
                let dod = self.read_dod();
                self.delta = self.delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.delta);
                self.read_value()?;
            }
        }
        if self.r.overrun {
            return Err(CorruptChunk(ENDS_EARLY));
        }
        Ok(Sample { t: self.t, v: f64::from_bits(self.v) })
    }

    #[inline(always)]
    fn read_dod(&mut self) -> i64 {
        // A regular interval: one `0` bit.
        if !self.r.read_bit() {
            return 0;
        }
        for (_, _, vbits) in DOD_BUCKETS {
            if !self.r.read_bit() {
                return sign_extend(self.r.read_short(u32::from(vbits)), vbits);
            }
        }
        self.r.read_bits(64) as i64
    }

    #[inline(always)]
    fn read_value(&mut self) -> Result<(), CorruptChunk> {
        if !self.r.read_bit() {
            return Ok(());
        }
        if self.r.read_bit() {
            self.leading = self.r.read_short(5) as u8;
            let sig = match self.r.read_short(6) as u8 {
                0 => 64,
                s => s,
            };
            if u16::from(self.leading) + u16::from(sig) > 64 {
                return Err(self.r.fail("value window wider than 64 bits"));
            }
            self.trailing = 64 - self.leading - sig;
        } else if self.read == 1 {
            // A window reuse needs a window; the second sample never has one.
            return Err(self.r.fail("value window reused before it was set"));
        }
        let sig = 64 - self.leading - self.trailing;
        let bits = self.r.read_bits(sig);
        self.v ^= bits << self.trailing;
        Ok(())
    }

    /// Appends the samples with `mint <= t <= maxt` to `out`, stopping past `maxt`
    /// (a chunk is in time order); returns why it stopped early at a corrupt bit, if
    /// it did. The same samples as iterating, faster: after the first two, the state
    /// lives in locals and the loop knows how many samples are left.
    pub(crate) fn decode_into(mut self, mint: i64, maxt: i64, out: &mut Vec<Sample>) -> Option<CorruptChunk> {
        out.reserve(usize::from(self.left));
        while self.read < 2 {
            let Some(s) = self.next() else { return self.error };
            if s.t > maxt {
                return None;
            }
            if s.t >= mint {
                out.push(s);
            }
        }
        let mut r = self.r;
        let (mut t, mut delta, mut v) = (self.t, self.delta, self.v);
        let (mut leading, mut trailing) = (self.leading, self.trailing);
        for _ in 0..self.left {
            if r.n < 14 {
                r.refill();
            }
            // The value's control bits: `0` when unchanged; `10` + bits in the last
            // window; `11` + a new window (5 bits of leading zeros, 6 of length) + bits.
            let control = if r.n >= 14 && r.acc >> 63 == 0 {
                // A regular interval (a `0` delta of deltas) and the control bits, taken
                // from the buffer at once.
                let head = r.acc;
                match head >> 61 {
                    0b000 | 0b001 => {
                        r.skip(2);
                        Control::Same
                    }
                    0b010 => {
                        r.skip(3);
                        Control::Reuse
                    }
                    _ => {
                        r.skip(14);
                        Control::New((head >> 50) & 0x7ff)
                    }
                }
            } else {
                if r.read_bit() {
                    let mut dod = None;
                    for (_, _, vbits) in DOD_BUCKETS {
                        if !r.read_bit() {
                            dod = Some(sign_extend(r.read_short(u32::from(vbits)), vbits));
                            break;
                        }
                    }
                    delta = delta.wrapping_add(dod.unwrap_or_else(|| r.read_bits(64) as i64));
                }
                if !r.read_bit() {
                    Control::Same
                } else if !r.read_bit() {
                    Control::Reuse
                } else {
                    Control::New(r.read_short(11))
                }
            };
            t = t.wrapping_add(delta);
            match control {
                Control::Same => {}
                Control::Reuse => v ^= r.read_bits(64 - leading - trailing) << trailing,
                Control::New(window) => {
                    leading = (window >> 6) as u8;
                    let sig = match (window & 63) as u8 {
                        0 => 64,
                        s => s,
                    };
                    if u16::from(leading) + u16::from(sig) > 64 {
                        return Some(r.fail("value window wider than 64 bits"));
                    }
                    trailing = 64 - leading - sig;
                    v ^= r.read_bits(sig) << trailing;
                }
            }
            if r.overrun {
                return Some(CorruptChunk(ENDS_EARLY));
            }
            if t > maxt {
                return None;
            }
            if t >= mint {
                out.push(Sample { t, v: f64::from_bits(v) });
            }
        }
        None
    }
}

impl Iterator for Iter<'_> {
    type Item = Sample;

    #[inline(always)]
    fn next(&mut self) -> Option<Sample> {
        if self.left == 0 || self.error.is_some() {
            return None;
        }
        match self.step() {
            Ok(s) => {
                self.left -= 1;
                self.read += 1;
                Some(s)
            }
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }
}

#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{STALE_NAN_BITS, stale_nan};

    fn round_trip(samples: &[(i64, f64)]) -> Chunk {
        let mut a = Appender::default();
        for &(t, v) in samples {
            a.append(t, v);
        }
        let c = a.snapshot();
        let got: Vec<(i64, u64)> = c.iter().map(|s| (s.t, s.v.to_bits())).collect();
        let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(got, want, "chunk round trip");
        let open: Vec<(i64, u64)> = a.iter().map(|s| (s.t, s.v.to_bits())).collect();
        assert_eq!(open, want, "open chunk round trip");
        assert_eq!(usize::from(c.len()), samples.len());
        c
    }

    #[test]
    fn special_values_are_bit_exact() {
        let odd_nan = f64::from_bits(0x7ff8_dead_beef_0001);
        let c = round_trip(&[
            (-5_000, 1.0),
            (-4_000, stale_nan()),
            (0, f64::NAN),
            (1, f64::INFINITY),
            (2, f64::NEG_INFINITY),
            (3, -0.0),
            (4, 0.0),
            (10, odd_nan),
            (11, stale_nan()),
            (12, f64::MIN_POSITIVE),
            (13, f64::MAX),
            (14, f64::MIN),
            (15, 5e-324),
        ]);
        let v: Vec<u64> = c.iter().map(|s| s.v.to_bits()).collect();
        assert_eq!(v[1], STALE_NAN_BITS);
        assert_eq!(v[7], 0x7ff8_dead_beef_0001);
        assert_eq!(v[5], (-0.0f64).to_bits());
    }

    #[test]
    fn irregular_and_extreme_timestamps() {
        round_trip(&[(i64::MIN / 2, 1.0)]);
        round_trip(&[(0, 1.0), (1, 2.0)]);
        round_trip(&[(-100, 1.0), (-99, 1.0), (5_000, 1.0), (5_001, 1.0), (1 << 40, 3.0), ((1 << 40) + 1, 3.0)]);
        // Every delta-of-delta bucket, both signs, at its edges.
        let mut t = 1_000_000_000_000i64;
        let mut delta = 1_000_000i64;
        let mut samples = vec![(t, 0.0)];
        for dod in [0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, -8193, 524_287, -524_288, 524_288, -524_289] {
            delta += dod;
            t += delta;
            samples.push((t, 1.5));
        }
        samples.push((i64::MAX - 10, 2.0));
        round_trip(&samples);
    }

    #[test]
    fn random_round_trips() {
        let mut rng = fastrand::Rng::with_seed(7);
        for case in 0..500 {
            let n = rng.usize(1..=usize::from(SAMPLES_PER_CHUNK));
            let mut t = rng.i64(-1 << 50..1 << 50);
            let mut v = rng.f64() * 1000.0;
            let mut samples = Vec::with_capacity(n);
            for _ in 0..n {
                samples.push((t, v));
                t += match case % 4 {
                    0 => 15_000,
                    1 => 15_000 + rng.i64(-50..50),
                    2 => rng.i64(1..1 << 30),
                    _ => rng.i64(1..3),
                };
                v = match rng.u8(0..6) {
                    0 => v,
                    1 => v + 1.0,
                    2 => f64::from_bits(rng.u64(..)),
                    3 => rng.f64(),
                    4 => stale_nan(),
                    _ => (v * 1.1).round(),
                };
            }
            round_trip(&samples);
        }
    }

    /// The buffered decoder gives what the bit-by-bit one gave, sample for sample and
    /// error for error, on random chunks and on random damage to them.
    #[test]
    fn decoder_agrees_with_the_reference_decoder() {
        let mut rng = fastrand::Rng::with_seed(11);
        let decode = |bytes: &[u8]| {
            let (n, body) = (u16::from_be_bytes([bytes[0], bytes[1]]), &bytes[2..]);
            let mut new = Iter::new(n, body);
            let got: Vec<(i64, u64)> = new.by_ref().map(|s| (s.t, s.v.to_bits())).collect();
            let mut old = reference::Iter::new(n, body);
            let want: Vec<(i64, u64)> = old.by_ref().map(|s| (s.t, s.v.to_bits())).collect();
            assert_eq!(got, want);
            assert_eq!(new.error(), old.error());
            // The fast loop: everything, then a window in the middle.
            let mut all = Vec::new();
            let error = Iter::new(n, body).decode_into(i64::MIN, i64::MAX, &mut all);
            assert_eq!(all.iter().map(|s| (s.t, s.v.to_bits())).collect::<Vec<_>>(), want);
            assert_eq!(error.as_ref(), old.error());
            if let (Some(first), Some(last)) = (want.first(), want.last()) {
                let (mint, maxt) = (first.0 / 2 + last.0 / 2, last.0 / 4 * 3 + first.0 / 4);
                let mut window = Vec::new();
                let _ = Iter::new(n, body).decode_into(mint, maxt, &mut window);
                let inside: Vec<(i64, u64)> =
                    want.iter().copied().take_while(|s| s.0 <= maxt).filter(|s| s.0 >= mint).collect();
                assert_eq!(window.iter().map(|s| (s.t, s.v.to_bits())).collect::<Vec<_>>(), inside);
            }
        };
        for case in 0..2000 {
            let n = rng.usize(1..=usize::from(SAMPLES_PER_CHUNK));
            let mut a = Appender::default();
            let mut t = rng.i64(-1 << 50..1 << 50);
            let mut v = rng.f64() * 1e6;
            for _ in 0..n {
                a.append(t, v);
                t += match case % 5 {
                    0 => 15_000,
                    1 => 15_000 + rng.i64(-50..50),
                    2 => rng.i64(1..1 << 40),
                    3 => rng.i64(1..1 << 52),
                    _ => rng.i64(1..3),
                };
                v = match rng.u8(0..6) {
                    0 => v,
                    1 => v + 1.0,
                    2 => f64::from_bits(rng.u64(..)),
                    3 => rng.f64(),
                    4 => stale_nan(),
                    _ => (v * 1.1).round(),
                };
            }
            let bytes = a.snapshot().bytes.to_vec();
            decode(&bytes);
            let mut damaged = bytes.clone();
            match rng.u8(0..3) {
                0 => damaged.truncate(rng.usize(2..=damaged.len())),
                1 => {
                    let i = rng.usize(2..damaged.len());
                    damaged[i] ^= 1 << rng.u8(0..8);
                }
                _ => damaged[2..].iter_mut().for_each(|b| *b = rng.u8(..)),
            }
            decode(&damaged);
        }
    }

    #[test]
    fn a_regular_counter_is_compact() {
        let samples: Vec<(i64, f64)> = (0..120).map(|i| (1_700_000_000_000 + i * 15_000, (i * 3) as f64)).collect();
        let c = round_trip(&samples);
        let per_sample = c.bytes.len() as f64 / 120.0;
        assert!(per_sample < 2.0, "{per_sample} bytes/sample");
        let constant: Vec<(i64, f64)> = (0..120).map(|i| (i * 10_000, 1.0)).collect();
        assert!(round_trip(&constant).bytes.len() < 48, "two bits a sample");
    }

    #[test]
    fn corrupt_bytes_stop_decoding_without_panicking() {
        let samples: Vec<(i64, f64)> = (0..100).map(|i| (i * 1000 + (i % 7), i as f64 * 0.37)).collect();
        let c = round_trip(&samples);
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..2000 {
            let mut bytes = c.bytes.to_vec();
            match rng.u8(0..3) {
                0 => bytes.truncate(rng.usize(0..bytes.len())),
                1 => {
                    let i = rng.usize(..bytes.len());
                    bytes[i] ^= 1 << rng.u8(0..8);
                }
                _ => bytes.iter_mut().for_each(|b| *b = rng.u8(..)),
            }
            if let Ok(mut it) = Chunk::iter_bytes(&bytes) {
                let n = it.by_ref().count();
                assert!(n <= usize::from(u16::MAX));
            }
        }
        let mut short = c.bytes.to_vec();
        short.truncate(10);
        let mut it = Chunk::iter_bytes(&short).unwrap();
        assert!(it.by_ref().count() < 100);
        assert!(it.error().is_some());
    }
}
