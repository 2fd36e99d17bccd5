//! The first Gorilla decoder (bit by bit), kept to check the buffered one against on
//! random and corrupt chunks.

use super::{CorruptChunk, DOD_BUCKETS};
use crate::Sample;

// === impl BitReader ===

struct BitReader<'a> {
    buf: &'a [u8],
    /// Next bit to read.
    pos: usize,
}

impl BitReader<'_> {
    fn read_bit(&mut self) -> Result<bool, CorruptChunk> {
        Ok(self.read_bits(1)? == 1)
    }

    fn read_bits(&mut self, mut n: u8) -> Result<u64, CorruptChunk> {
        let mut out = 0u64;
        while n > 0 {
            let byte = *self.buf.get(self.pos / 8).ok_or(CorruptChunk("bit stream ends early"))?;
            let avail = 8 - (self.pos % 8) as u8;
            let take = n.min(avail);
            let bits = (byte >> (avail - take)) & (((1u16 << take) - 1) as u8);
            out = (out << take) | u64::from(bits);
            self.pos += usize::from(take);
            n -= take;
        }
        Ok(out)
    }

    fn read_varint(&mut self) -> Result<i64, CorruptChunk> {
        let mut u = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.read_bits(8)?;
            if shift == 63 && byte > 1 {
                return Err(CorruptChunk("varint overflows 64 bits"));
            }
            u |= (byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(((u >> 1) as i64) ^ -((u & 1) as i64));
            }
        }
        Err(CorruptChunk("varint too long"))
    }
}

/// Sign-extends the low `bits` bits of `v`.
fn sign_extend(v: u64, bits: u8) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

// === impl Iter ===

/// Decodes a chunk's samples, oldest first; stops at the first corrupt bit (and then
/// [`Iter::error`] says why).
pub(super) struct Iter<'a> {
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
    pub(super) fn new(n: u16, body: &'a [u8]) -> Iter<'a> {
        Iter {
            r: BitReader { buf: body, pos: 0 },
            left: n,
            read: 0,
            t: 0,
            delta: 0,
            v: 0,
            leading: 0,
            trailing: 0,
            error: None,
        }
    }

    /// Why decoding stopped early, if it did.
    pub(super) fn error(&self) -> Option<&CorruptChunk> {
        self.error.as_ref()
    }

    fn step(&mut self) -> Result<Sample, CorruptChunk> {
        match self.read {
            0 => {
                self.t = self.r.read_varint()?;
                self.v = self.r.read_bits(64)?;
            }
            1 => {
                self.delta = self.r.read_varint()?;
                self.t = self.t.wrapping_add(self.delta);
                self.read_value()?;
            }
            _ => {
                let dod = self.read_dod()?;
                self.delta = self.delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.delta);
                self.read_value()?;
            }
        }
        Ok(Sample { t: self.t, v: f64::from_bits(self.v) })
    }

    fn read_dod(&mut self) -> Result<i64, CorruptChunk> {
        if !self.r.read_bit()? {
            return Ok(0);
        }
        for (_, _, vbits) in DOD_BUCKETS {
            if !self.r.read_bit()? {
                return Ok(sign_extend(self.r.read_bits(vbits)?, vbits));
            }
        }
        Ok(self.r.read_bits(64)? as i64)
    }

    fn read_value(&mut self) -> Result<(), CorruptChunk> {
        if !self.r.read_bit()? {
            return Ok(());
        }
        if self.r.read_bit()? {
            self.leading = self.r.read_bits(5)? as u8;
            let sig = match self.r.read_bits(6)? as u8 {
                0 => 64,
                s => s,
            };
            if u16::from(self.leading) + u16::from(sig) > 64 {
                return Err(CorruptChunk("value window wider than 64 bits"));
            }
            self.trailing = 64 - self.leading - sig;
        } else if self.read == 1 {
            // A window reuse needs a window; the second sample never has one.
            return Err(CorruptChunk("value window reused before it was set"));
        }
        let sig = 64 - self.leading - self.trailing;
        let bits = self.r.read_bits(sig)?;
        self.v ^= bits << self.trailing;
        Ok(())
    }
}

impl Iterator for Iter<'_> {
    type Item = Sample;

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
