//! Segment files: numbered files of framed records, and the acknowledged position.
//!
//! A record is `len u32 | crc32 u32 | segment u32 | events u32 | batch` (little-endian),
//! where `len` counts everything after the CRC and the CRC covers the same bytes.
//! `segment` is the low half of the segment's number: a file is reused for a later
//! segment once its records are all delivered (writing over allocated blocks, an
//! `fdatasync` has no file-system metadata to commit, which halves its cost), so the
//! old records past the new ones are told apart by their number and read as the end.
//! A record cut short by a crash or whose CRC does not match ends what can be trusted
//! of its segment: reading moves on to the next segment and counts what was skipped.
//!
//! Segments written before files were reused (`.seg`, a 12-byte header without the
//! segment number) are still read; new ones are `.seg2`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// No record is larger (a corrupt length must not make us allocate gigabytes).
pub(crate) const MAX_RECORD: u64 = 512 << 20;

/// A position in the buffer: segment number and byte offset in it.
pub(crate) type Pos = (u64, u64);

/// How a segment's records are framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// `len | crc | events`: written by versions that never reused a file.
    Legacy,
    /// `len | crc | segment | events`.
    Numbered,
}

impl Format {
    fn suffix(self) -> &'static str {
        match self {
            Format::Legacy => "seg",
            Format::Numbered => "seg2",
        }
    }

    /// Bytes before a record's batch.
    pub(crate) fn header(self) -> u64 {
        match self {
            Format::Legacy => 12,
            Format::Numbered => 16,
        }
    }
}

pub(crate) fn segment_path(dir: &Path, segment: u64, format: Format) -> PathBuf {
    dir.join(format!("{segment:020}.{}", format.suffix()))
}

/// A delivered segment's file kept for reuse, named after the segment it held.
pub(crate) fn spare_path(dir: &Path, was: u64) -> PathBuf {
    dir.join(format!("{was:020}.spare"))
}

/// The numbers of the files in `dir` named `<number>.<suffix>`, ascending.
fn numbered(dir: &Path, suffix: &str) -> io::Result<Vec<u64>> {
    let mut out: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(suffix)?.strip_suffix('.')?.parse().ok())
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// The segments present in `dir`, ascending by number.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<(u64, Format)>> {
    let mut out: Vec<(u64, Format)> = numbered(dir, Format::Legacy.suffix())?
        .into_iter()
        .map(|n| (n, Format::Legacy))
        .chain(numbered(dir, Format::Numbered.suffix())?.into_iter().map(|n| (n, Format::Numbered)))
        .collect();
    out.sort_unstable_by_key(|s| s.0);
    Ok(out)
}

/// The spare files in `dir` (numbers of the segments they held), ascending.
pub(crate) fn list_spares(dir: &Path) -> io::Result<Vec<u64>> {
    numbered(dir, "spare")
}

/// Appends a framed record of segment `segment` to `out`: `body` writes the batch bytes
/// in place (no copy), then the header before them is filled in.
pub(crate) fn frame_with(segment: u64, events: u32, out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 16]);
    out[start + 8..start + 12].copy_from_slice(&(segment as u32).to_le_bytes());
    out[start + 12..start + 16].copy_from_slice(&events.to_le_bytes());
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
    /// Nothing more before `limit`, or the old records of a reused file.
    End,
    /// The record at this offset is cut short or fails its checksum.
    Corrupt(&'static str),
}

/// A record's header, parsed.
struct Header {
    len: u64,
    crc: u32,
    events: u32,
}

impl Header {
    /// `len` covers at least the header's fields after the CRC, and at most [`MAX_RECORD`].
    fn len_in_range(&self, format: Format) -> bool {
        (format.header() - 8..=MAX_RECORD).contains(&self.len)
    }
}

/// Reads the header at the file's position: `None` when it belongs to an earlier use of
/// the file (or to never-written zeros).
fn read_header(file: &mut File, segment: u64, format: Format) -> io::Result<Option<(Header, [u8; 16])>> {
    let mut raw = [0u8; 16];
    let header = &mut raw[..format.header() as usize];
    file.read_exact(header)?;
    let word = |i: usize| u32::from_le_bytes(raw[i..i + 4].try_into().expect("4 bytes"));
    let events = match format {
        Format::Legacy => word(8),
        Format::Numbered if word(8) != segment as u32 => return Ok(None),
        Format::Numbered => word(12),
    };
    Ok(Some((Header { len: word(0) as u64, crc: word(4), events }, raw)))
}

/// Reads the record at `offset` of segment `segment`'s `file`, trusting nothing past
/// `limit`.
pub(crate) fn read_record(file: &mut File, segment: u64, format: Format, offset: u64, limit: u64) -> io::Result<Read1> {
    let header_len = format.header();
    if offset + header_len > limit {
        return Ok(if offset >= limit { Read1::End } else { Read1::Corrupt("record header cut short") });
    }
    file.seek(SeekFrom::Start(offset))?;
    let Some((header, raw)) = read_header(file, segment, format)? else { return Ok(Read1::End) };
    if !header.len_in_range(format) {
        return Ok(Read1::Corrupt("record length out of range"));
    }
    if offset + 8 + header.len > limit {
        return Ok(Read1::Corrupt("record cut short"));
    }
    // The header's fields are already read; the body is read on its own, so it needs no
    // shifting afterwards.
    let mut body = vec![0u8; (header.len + 8 - header_len) as usize];
    file.read_exact(&mut body)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&raw[8..header_len as usize]);
    hasher.update(&body);
    if hasher.finalize() != header.crc {
        return Ok(Read1::Corrupt("record checksum mismatch"));
    }
    Ok(Read1::Record { events: header.events, body, next: offset + 8 + header.len })
}

/// Counts the records (and their events) of a segment from `offset` by their headers
/// only, stopping at the first that does not fit or belongs to an earlier use of the
/// file: what a restart finds left to send.
pub(crate) fn scan(path: &Path, segment: u64, format: Format, offset: u64) -> io::Result<(u64, u64)> {
    let mut file = File::open(path)?;
    let limit = file.metadata()?.len();
    let header_len = format.header();
    let (mut pos, mut records, mut events) = (offset, 0u64, 0u64);
    while pos + header_len <= limit {
        file.seek(SeekFrom::Start(pos))?;
        let Some((header, _)) = read_header(&mut file, segment, format)? else { break };
        if !header.len_in_range(format) || pos + 8 + header.len > limit {
            break;
        }
        records += 1;
        events += header.events as u64;
        pos += 8 + header.len;
    }
    Ok((records, events))
}

/// A segment file open for writing, with direct I/O when the file system takes it.
pub(crate) struct SegmentFile {
    pub(crate) file: File,
    pub(crate) direct: bool,
}

impl SegmentFile {
    fn open(path: &Path, create_new: bool) -> io::Result<SegmentFile> {
        use std::os::unix::fs::OpenOptionsExt;
        let options = || {
            let mut o = OpenOptions::new();
            o.write(true).create_new(create_new);
            o
        };
        match options().custom_flags(libc::O_DIRECT).open(path) {
            Ok(file) => Ok(SegmentFile { file, direct: true }),
            // tmpfs and some others refuse O_DIRECT.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                Ok(SegmentFile { file: options().open(path)?, direct: false })
            }
            Err(e) => Err(e),
        }
    }

    /// Reopens the segment without direct I/O.
    pub(crate) fn buffered(&mut self, dir: &Path, segment: u64) -> io::Result<()> {
        self.file = OpenOptions::new().write(true).open(segment_path(dir, segment, Format::Numbered))?;
        self.direct = false;
        Ok(())
    }
}

/// Opens a new segment for writing and makes its name durable: the spare file
/// `spare` (the number of the segment it held) renamed, or else a new file.
pub(crate) fn create_segment(dir: &Path, segment: u64, spare: Option<u64>) -> io::Result<SegmentFile> {
    let path = segment_path(dir, segment, Format::Numbered);
    let reused = spare.is_some_and(|was| std::fs::rename(spare_path(dir, was), &path).is_ok());
    if let (Some(was), false) = (spare, reused) {
        // No longer counted anywhere: it must not hold disk space unseen.
        let _ = std::fs::remove_file(spare_path(dir, was));
    }
    let file = SegmentFile::open(&path, !reused)?;
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
