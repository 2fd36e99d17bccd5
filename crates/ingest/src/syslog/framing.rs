//! Syslog over TCP: octet counting (`LEN SP MSG`, RFC 6587 §3.4.1) or newline-ended
//! messages (§3.4.2), detected per message: a message that starts with digits, a space
//! and `<` is octet-counted. Messages longer than `max` are cut at `max` and the rest
//! skipped, so memory per connection stays bounded.

use bytes::{Buf, Bytes, BytesMut};

/// One message with its framing removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole message.
    Message(Bytes),
    /// The first `max` bytes of a longer message (the rest is skipped).
    Truncated(Bytes),
}

/// What is left to throw away of a message cut at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    Nothing,
    ToNewline,
    Bytes(usize),
}

/// Splits a TCP byte stream into messages.
#[derive(Debug)]
pub struct Framer {
    buf: BytesMut,
    max: usize,
    skip: Skip,
}

/// More digits than this cannot be a length (and are not waited for).
const MAX_LEN_DIGITS: usize = 10;

impl Framer {
    /// A framer cutting messages at `max` bytes.
    pub fn new(max: usize) -> Self {
        Framer { buf: BytesMut::with_capacity(8192), max: max.max(1), skip: Skip::Nothing }
    }

    /// The buffer reads go into.
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// The next whole message, if the buffer holds one.
    pub fn next_frame(&mut self) -> Option<Frame> {
        match self.skip {
            Skip::ToNewline => match memchr::memchr(b'\n', &self.buf) {
                Some(i) => {
                    self.buf.advance(i + 1);
                    self.skip = Skip::Nothing;
                }
                None => {
                    self.buf.clear();
                    return None;
                }
            },
            Skip::Bytes(n) => {
                let k = n.min(self.buf.len());
                self.buf.advance(k);
                if k < n {
                    self.skip = Skip::Bytes(n - k);
                    return None;
                }
                self.skip = Skip::Nothing;
            }
            Skip::Nothing => {}
        }
        let blank = self.buf.iter().take_while(|b| matches!(b, b'\n' | b'\r' | b'\0')).count();
        self.buf.advance(blank);
        if self.buf.is_empty() {
            return None;
        }
        let digits = self.buf.iter().take(MAX_LEN_DIGITS + 1).take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && digits <= MAX_LEN_DIGITS {
            match (self.buf.get(digits), self.buf.get(digits + 1)) {
                (None, _) | (Some(b' '), None) => return None, // wait: may be a length
                (Some(b' '), Some(b'<')) => return self.octet_counted(digits),
                _ => {}
            }
        }
        self.newline_ended()
    }

    fn octet_counted(&mut self, digits: usize) -> Option<Frame> {
        let len: usize = std::str::from_utf8(&self.buf[..digits]).ok()?.parse().ok()?;
        let start = digits + 1;
        if len > self.max {
            if self.buf.len() < start + self.max {
                return None;
            }
            self.buf.advance(start);
            let frame = self.buf.split_to(self.max).freeze();
            self.skip = Skip::Bytes(len - self.max);
            return Some(Frame::Truncated(frame));
        }
        if self.buf.len() < start + len {
            return None;
        }
        self.buf.advance(start);
        Some(Frame::Message(self.buf.split_to(len).freeze()))
    }

    fn newline_ended(&mut self) -> Option<Frame> {
        let window = &self.buf[..self.buf.len().min(self.max + 1)];
        if let Some(i) = memchr::memchr(b'\n', window) {
            let mut line = self.buf.split_to(i + 1);
            line.truncate(i);
            if line.last() == Some(&b'\r') {
                line.truncate(i - 1);
            }
            return Some(Frame::Message(line.freeze()));
        }
        if self.buf.len() > self.max {
            let frame = self.buf.split_to(self.max).freeze();
            self.skip = Skip::ToNewline;
            return Some(Frame::Truncated(frame));
        }
        None
    }

    /// At the end of the stream: what is left (a last line without its newline, a cut
    /// octet-counted frame) as one message, so nothing received is dropped.
    pub fn finish(&mut self) -> Option<Frame> {
        let rest = self.buf.split().freeze();
        let rest = rest.slice(..rest.len().min(self.max));
        let skipping = self.skip != Skip::Nothing;
        self.skip = Skip::Nothing;
        (!rest.is_empty() && !skipping && rest.iter().any(|b| !b.is_ascii_whitespace())).then_some(Frame::Message(rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(chunks: &[&[u8]], max: usize) -> Vec<Frame> {
        let mut f = Framer::new(max);
        let mut out = Vec::new();
        for c in chunks {
            f.buffer().extend_from_slice(c);
            while let Some(frame) = f.next_frame() {
                out.push(frame);
            }
        }
        out.extend(f.finish());
        out
    }

    fn msg(s: &str) -> Frame {
        Frame::Message(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn both_framings_mixed_and_split_anywhere() {
        let stream = b"<13>one\n9 <13>two\nx\r\n<13>three\r\n8 <13>four<13>five";
        let want = vec![msg("<13>one"), msg("<13>two\nx"), msg("<13>three"), msg("<13>four"), msg("<13>five")];
        assert_eq!(frames(&[stream], 1024), want);
        for cut in 1..stream.len() {
            assert_eq!(frames(&[&stream[..cut], &stream[cut..]], 1024), want, "split at {cut}");
        }
    }

    #[test]
    fn a_line_starting_with_digits_is_not_a_length() {
        assert_eq!(frames(&[b"2024 was a year\n12345\n"], 1024), vec![msg("2024 was a year"), msg("12345")]);
    }

    #[test]
    fn long_messages_are_cut_and_the_rest_skipped() {
        let out = frames(&[b"<13>abcdefghij\n<13>ok\n", b"20 <13>0123456789abcdef<13>next\n"], 8);
        assert_eq!(
            out,
            vec![
                Frame::Truncated(Bytes::from_static(b"<13>abcd")),
                msg("<13>ok"),
                Frame::Truncated(Bytes::from_static(b"<13>0123")),
                msg("<13>next"),
            ]
        );
    }

    /// Mutated RFC examples in random chunks, a few thousand times (a cheap stand-in
    /// for a fuzz target): no panic, frames never over `max`, every frame parses.
    #[test]
    fn random_streams_never_panic_and_stay_bounded() {
        let seeds: [&[u8]; 4] = [
            b"<34>1 2003-10-11T22:14:15.003Z host su - ID47 [a@1 b=\"c\\\"d\"] msg\n",
            b"58 <165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 p 8 - - %%",
            b"<34>Oct 11 22:14:15 mymachine su[12]: 'su root' failed\r\n",
            b"<30>2024-05-06T07:08:09+02:00 web nginx: \xff\xfe\n",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3000 {
            let mut stream = Vec::new();
            for _ in 0..(next() % 6) {
                stream.extend_from_slice(seeds[(next() % 4) as usize]);
            }
            for _ in 0..(next() % 8) {
                if stream.is_empty() {
                    break;
                }
                let at = (next() as usize) % stream.len();
                match next() % 3 {
                    0 => stream[at] = next() as u8,
                    1 => stream.insert(at, b"0123456789 <>[]\"\\\n:-"[(next() % 20) as usize]),
                    _ => {
                        stream.remove(at);
                    }
                }
            }
            let max = 8 + (next() % 64) as usize;
            let mut f = Framer::new(max);
            let mut rest = &stream[..];
            let mut out = Vec::new();
            while !rest.is_empty() {
                let n = 1 + (next() as usize) % rest.len();
                f.buffer().extend_from_slice(&rest[..n]);
                rest = &rest[n..];
                while let Some(frame) = f.next_frame() {
                    out.push(frame);
                }
            }
            out.extend(f.finish());
            for frame in out {
                let (Frame::Message(b) | Frame::Truncated(b)) = frame;
                assert!(b.len() <= max, "{} > {max}", b.len());
                let _ = crate::syslog::parse::parse(&b, 1_700_000_000_000_000_000);
            }
        }
    }
}
