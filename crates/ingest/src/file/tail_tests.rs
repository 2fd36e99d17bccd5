use std::io::Write;

use super::*;

fn settings(dir: &Path, start_at_end: bool, max_line_bytes: usize) -> Settings {
    Settings {
        globs: Globs::new(&[format!("{}/*.log", dir.display())], &[]).unwrap(),
        start_at_end,
        max_line_bytes,
        fingerprint_bytes: 16,
        rotate_wait: Duration::ZERO,
        merger: Merger::new(None, Duration::from_secs(1), max_line_bytes),
    }
}

fn append(path: &Path, text: &str) {
    std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

/// Polls, acknowledges everything, and returns the lines read.
fn lines(t: &mut Tailer) -> Vec<String> {
    let mut out = Vec::new();
    for r in t.poll(Instant::now()) {
        out.extend(r.entries.iter().map(|e| String::from_utf8_lossy(&e.text).into_owned()));
        t.acked(r.key, r.entries.last().unwrap().end);
    }
    out.sort();
    out
}

#[test]
fn new_files_growth_and_partial_lines() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    append(&a, "one\ntwo\r\nthr");
    let mut t = Tailer::new(settings(dir.path(), false, 100), HashMap::new());
    assert_eq!(lines(&mut t), ["one", "two"]);
    append(&a, "ee\n");
    append(&dir.path().join("b.log"), "bee\n");
    assert_eq!(lines(&mut t), ["bee", "three"]);
    assert!(lines(&mut t).is_empty());
}

#[test]
fn read_from_end_skips_only_what_existed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    append(&dir.path().join("a.log"), "old\n");
    let mut t = Tailer::new(settings(dir.path(), true, 100), HashMap::new());
    assert!(lines(&mut t).is_empty());
    append(&dir.path().join("a.log"), "new\n");
    append(&dir.path().join("b.log"), "later file\n");
    assert_eq!(lines(&mut t), ["later file", "new"]);
}

#[test]
fn rename_rotation_reads_the_old_file_to_its_end_then_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    append(&a, "1\n");
    let mut t = Tailer::new(settings(dir.path(), false, 100), HashMap::new());
    assert_eq!(lines(&mut t), ["1"]);
    // The writer still holds the old file after the rename.
    let mut old = std::fs::OpenOptions::new().append(true).open(&a).unwrap();
    std::fs::rename(&a, dir.path().join("a.log.1")).unwrap();
    old.write_all(b"2\n").unwrap();
    append(&a, "3\n");
    assert_eq!(lines(&mut t), ["2", "3"]);
    assert_eq!(t.len(), 1, "the rotated file, read to its end, is forgotten");
    // Renamed to a name the globs match: same inode, not read again.
    std::fs::rename(&a, dir.path().join("b.log")).unwrap();
    append(&a, "4\n");
    assert_eq!(lines(&mut t), ["4"]);
}

#[test]
fn copytruncate_and_replacement_read_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    append(&a, "first line of the file\nsecond\n");
    let mut t = Tailer::new(settings(dir.path(), false, 100), HashMap::new());
    assert_eq!(lines(&mut t), ["first line of the file", "second"]);
    // copytruncate, then the writer goes on: the size shrank.
    std::fs::OpenOptions::new().write(true).open(&a).unwrap().set_len(0).unwrap();
    append(&a, "after\n");
    assert_eq!(lines(&mut t), ["after"]);
    // Truncated and written past the old position before the poll: the head changed.
    std::fs::OpenOptions::new().write(true).open(&a).unwrap().set_len(0).unwrap();
    append(&a, "a different head line\nx\n");
    assert_eq!(lines(&mut t), ["a different head line", "x"]);
    // Replaced by a new file with the same name.
    std::fs::remove_file(&a).unwrap();
    append(&a, "replacement\n");
    assert_eq!(lines(&mut t), ["replacement"]);
}

#[test]
fn long_lines_are_cut_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    append(&a, "0123456789abc\nok\n0123");
    let mut t = Tailer::new(settings(dir.path(), false, 8), HashMap::new());
    let ready = t.poll(Instant::now());
    let e = &ready[0].entries;
    assert_eq!((e[0].text.as_slice(), e[0].truncated), (&b"01234567"[..], true));
    assert_eq!((e[1].text.as_slice(), e[1].truncated), (&b"ok"[..], false));
    assert_eq!(e.len(), 2);
    // A line growing past the limit across reads, without its newline yet.
    append(&a, "456789xyz");
    let ready = t.poll(Instant::now());
    assert_eq!(ready[0].entries[0].text, b"01234567");
    assert!(ready[0].entries[0].truncated);
    // Acknowledged before its newline: the position stays at the line's start.
    assert_eq!(ready[0].entries[0].end, 17);
    append(&a, "more of it\nnext\n");
    let ready = t.poll(Instant::now());
    let texts: Vec<_> = ready[0].entries.iter().map(|e| e.text.clone()).collect();
    assert_eq!(texts, [b"next".to_vec()]);
}

#[test]
fn checkpoints_resume_the_same_file_and_not_a_different_one() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    append(&a, "one\ntwo\n");
    let mut t = Tailer::new(settings(dir.path(), false, 100), HashMap::new());
    let ready = t.poll(Instant::now());
    // Only "one" was acknowledged before the crash.
    t.acked(ready[0].key, ready[0].entries[0].end);
    let saved: HashMap<_, _> = t.take_checkpoints().unwrap().into_iter().map(|c| (c.key, c)).collect();
    assert!(t.take_checkpoints().is_none(), "nothing changed since");
    drop(t);
    append(&a, "three\n");
    let mut t = Tailer::new(settings(dir.path(), true, 100), saved.clone());
    assert_eq!(lines(&mut t), ["three", "two"]);
    // Same inode, other first bytes: another file, read from 0.
    let mut other = saved.clone();
    other.values_mut().for_each(|c| c.head = Head::of(b"something else"));
    let mut t = Tailer::new(settings(dir.path(), false, 100), other);
    assert_eq!(lines(&mut t), ["one", "three", "two"]);
}

#[test]
fn a_big_file_is_read_a_budget_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let line = format!("{}\n", "x".repeat(1023));
    append(&dir.path().join("big.log"), &line.repeat(2048));
    let mut t = Tailer::new(settings(dir.path(), false, 4096), HashMap::new());
    let first = t.poll(Instant::now());
    assert_eq!(first[0].entries.len(), 1024, "1 MiB per file and poll");
    assert!(first[0].more);
    let mut total = 1024;
    for _ in 0..3 {
        total += t.poll(Instant::now()).iter().map(|r| r.entries.len()).sum::<usize>();
    }
    assert_eq!(total, 2048);
}
