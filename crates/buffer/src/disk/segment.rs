//! Segment files: numbered files of framed records, and the acknowledged position.
//!
//! A record is `len u32 | crc32 u32 | events u32 | batch` (little-endian), where `len`
//! counts the `events` field and the batch bytes and the CRC covers the same bytes.
//! A record cut short by a crash or whose CRC does not match ends what can be trusted
//! of its segment: reading moves on to the next segment and counts what was skipped.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Bytes before a record's batch: len, crc, events.
pub(crate) const HEADER: u64 = 12;
/// No record is larger (a corrupt length must not make us allocate gigabytes).
pub(crate) const MAX_RECORD: u64 = 512 << 20;

/// A position in the buffer: segment number and byte offset in it.
pub(crate) type Pos = (u64, u64);

pub(crate) fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:020}.seg"))
}

/// The segment numbers present in `dir`, ascending.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// Appends a framed record to `out`: `body` writes the batch bytes in place (no copy),
/// then the header before them is filled in.
pub(crate) fn frame_with(events: u32, out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER as usize]);
    out[start + 8..start + 12].copy_from_slice(&events.to_le_bytes());
    body(out);
    let len = (out.len() - start - 8) as u32;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// What reading one record found.
pub(crate) enum Read1 {
    /// A whole, checked record: its event count and batch bytes, and where the next starts.
    Record { events: u32, body: Vec<u8>, next: u64 },
    /// Nothing more before `limit`.
    End,
    /// The record at this offset is cut short or fails its checksum.
    Corrupt(&'static str),
}

/// Reads the record at `offset` of `file`, trusting nothing past `limit`.
pub(crate) fn read_record(file: &mut File, offset: u64, limit: u64) -> io::Result<Read1> {
    if offset + HEADER > limit {
        return Ok(if offset >= limit { Read1::End } else { Read1::Corrupt("record header cut short") });
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut header = [0u8; HEADER as usize];
    file.read_exact(&mut header)?;
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as u64;
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    if !(4..=MAX_RECORD).contains(&len) {
        return Ok(Read1::Corrupt("record length out of range"));
    }
    if offset + 8 + len > limit {
        return Ok(Read1::Corrupt("record cut short"));
    }
    // The event count is already in the header read; the body is read on its own, so
    // it needs no shifting afterwards.
    let mut body = vec![0u8; len as usize - 4];
    file.read_exact(&mut body)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[8..12]);
    hasher.update(&body);
    if hasher.finalize() != crc {
        return Ok(Read1::Corrupt("record checksum mismatch"));
    }
    let events = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    Ok(Read1::Record { events, body, next: offset + 8 + len })
}

/// Counts the records (and their events) of a segment from `offset` by their headers
/// only, stopping at the first that does not fit: what a restart finds left to send.
pub(crate) fn scan(path: &Path, offset: u64) -> io::Result<(u64, u64)> {
    let mut file = File::open(path)?;
    let limit = file.metadata()?.len();
    let (mut pos, mut records, mut events) = (offset, 0u64, 0u64);
    while pos + HEADER <= limit {
        file.seek(SeekFrom::Start(pos))?;
        let mut header = [0u8; HEADER as usize];
        file.read_exact(&mut header)?;
        let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as u64;
        if !(4..=MAX_RECORD).contains(&len) || pos + 8 + len > limit {
            break;
        }
        records += 1;
        events += u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")) as u64;
        pos += 8 + len;
    }
    Ok((records, events))
}

/// Opens a new segment for appending and makes its name durable.
pub(crate) fn create_segment(dir: &Path, segment: u64) -> io::Result<File> {
    let file = OpenOptions::new().create_new(true).append(true).open(segment_path(dir, segment))?;
    sync_dir(dir)?;
    Ok(file)
}

/// Makes the directory's entries (new or removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

const ACK_FILE: &str = "acknowledged";

/// The position up to which every record was delivered, as last saved; `None` when
/// there is none or it is damaged (then everything left is sent again).
pub(crate) fn read_ack(dir: &Path) -> Option<Pos> {
    let text = std::fs::read_to_string(dir.join(ACK_FILE)).ok()?;
    let mut parts = text.split_whitespace();
    let pos = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    match parts.next() {
        // Written by an earlier version (write-temp-and-rename, no checksum).
        None => Some(pos),
        Some(crc) => (u32::from_str_radix(crc, 16).ok()? == ack_crc(pos)).then_some(pos),
    }
}

/// The file the acknowledged position is saved in, opened once.
pub(crate) fn open_ack(dir: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(ACK_FILE))
}

/// Saves the acknowledged position by overwriting the file in place with a line of fixed
/// width and a checksum: one `pwrite`, no new file or rename (a rename over a file makes
/// ext4 write it out at once). Not fsynced: losing or tearing the newest position only
/// means sending some records again.
pub(crate) fn write_ack(file: &File, pos: Pos) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let line = format!("{:020} {:020} {:08x}\n", pos.0, pos.1, ack_crc(pos));
    file.write_all_at(line.as_bytes(), 0)
}

fn ack_crc(pos: Pos) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&pos.0.to_le_bytes());
    h.update(&pos.1.to_le_bytes());
    h.finalize()
}
