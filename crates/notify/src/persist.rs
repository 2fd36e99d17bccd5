//! Embedded state under `data_dir` (redb): silences, the notification log and the alerts,
//! one table each. Memory holds the authoritative copy; every change is written through a
//! background thread that batches whatever is queued into one transaction, so a burst of
//! 10k alerts costs a few commits and the async tasks never wait on `fsync`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::error::StateError;

/// Changes queued for the writer before senders wait.
const QUEUE: usize = 100_000;

/// How full the writer's queue is. The queue is an unbounded channel bounded by this
/// count rather than `sync_channel(QUEUE)`, which allocates and touches every slot up
/// front (6 MiB of resident memory in every process, used or not).
#[derive(Default)]
struct Backlog {
    queued: AtomicUsize,
    /// The writer thread has ended: nobody will make room.
    writer_gone: AtomicBool,
}

/// Marks the backlog's writer as gone however the writer thread ends.
struct WriterGone(Arc<Backlog>);

impl Drop for WriterGone {
    fn drop(&mut self) {
        self.0.writer_gone.store(true, Ordering::Release);
    }
}

/// The tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Silences,
    Nflog,
    Alerts,
}

const TABLES: [Table; 3] = [Table::Silences, Table::Nflog, Table::Alerts];

impl Table {
    fn def(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        match self {
            Table::Silences => TableDefinition::new("silences"),
            Table::Nflog => TableDefinition::new("nflog"),
            Table::Alerts => TableDefinition::new("alerts"),
        }
    }
}

enum Op {
    Put(Table, String, Vec<u8>),
    Delete(Table, String),
    Flush(mpsc::Sender<Result<(), String>>),
}

/// The database and its writer thread.
pub(crate) struct StateDb {
    tx: Mutex<Option<mpsc::Sender<Op>>>,
    backlog: Arc<Backlog>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl StateDb {
    /// Opens (or creates) `dir/notify.redb` and returns it with every table's rows. A file
    /// redb reports as corrupt is moved aside to `notify.redb.corrupt-<unix time>` and the
    /// notifier starts empty ([`Loaded::moved_aside`] says so): losing silences and the log
    /// is better than a notifier that cannot start.
    pub(crate) fn open(dir: &Path) -> Result<(StateDb, Loaded), StateError> {
        std::fs::create_dir_all(dir).map_err(|source| StateError::CreateDir { path: dir.to_path_buf(), source })?;
        let path = dir.join("notify.redb");
        let (db, loaded, moved_aside) = match open_db(&path) {
            Ok((db, loaded)) => (db, loaded, None),
            Err(e) if is_corrupt(&e) => {
                let aside = move_aside(&path)?;
                tracing::error!(
                    path = %path.display(), moved_to = %aside.display(), error = %e,
                    "Notifier state file is corrupt; moved it aside and starting with empty state."
                );
                let (db, loaded) = open_db(&path).map_err(|source| StateError::Open { path: path.clone(), source })?;
                (db, loaded, Some(aside))
            }
            Err(source) => return Err(StateError::Open { path, source }),
        };
        let loaded = Loaded { moved_aside, ..loaded };
        // Bounded: if the disk stalls, writers wait instead of queueing without limit.
        let (tx, rx) = mpsc::channel::<Op>();
        let backlog = Arc::new(Backlog::default());
        let gone = WriterGone(backlog.clone());
        let writer = std::thread::Builder::new()
            .name("notify-state".into())
            .spawn(move || write_loop(db, rx, gone))
            .map_err(StateError::Writer)?;
        Ok((StateDb { tx: Mutex::new(Some(tx)), backlog, writer: Mutex::new(Some(writer)) }, loaded))
    }

    fn send(&self, op: Op) {
        // Clone the sender so a full queue never blocks other threads on this lock.
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(tx) = tx {
            while self.backlog.queued.load(Ordering::Acquire) >= QUEUE
                && !self.backlog.writer_gone.load(Ordering::Acquire)
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.backlog.queued.fetch_add(1, Ordering::AcqRel);
            // A closed channel means we are shutting down; the final state was flushed.
            if tx.send(op).is_err() {
                self.backlog.queued.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    /// Stores a row (asynchronously).
    pub(crate) fn put(&self, t: Table, key: String, value: Vec<u8>) {
        self.send(Op::Put(t, key, value));
    }

    /// Deletes a row (asynchronously).
    pub(crate) fn delete(&self, t: Table, key: String) {
        self.send(Op::Delete(t, key));
    }

    /// Waits until everything queued so far is committed to disk.
    pub(crate) fn flush(&self) -> Result<(), StateError> {
        let (ack, done) = mpsc::channel();
        self.send(Op::Flush(ack));
        done.recv().map_err(|_| StateError::Closed)?.map_err(StateError::Commit)
    }

    /// Commits what is queued and stops the writer.
    pub(crate) fn close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }
}

/// Rows read at open.
pub(crate) struct Loaded {
    pub(crate) silences: Vec<(String, Vec<u8>)>,
    pub(crate) nflog: Vec<(String, Vec<u8>)>,
    pub(crate) alerts: Vec<(String, Vec<u8>)>,
    /// Where a corrupt state file was moved before starting empty.
    pub(crate) moved_aside: Option<PathBuf>,
}

fn open_db(path: &Path) -> Result<(Database, Loaded), redb::Error> {
    let db = Database::create(path)?;
    // Create the tables so reads of a fresh file succeed.
    let w = db.begin_write()?;
    for t in TABLES {
        w.open_table(t.def())?;
    }
    w.commit()?;
    let read = |t: Table| -> Result<Vec<(String, Vec<u8>)>, redb::Error> {
        let r = db.begin_read()?;
        let table = r.open_table(t.def())?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    };
    let loaded = Loaded {
        silences: read(Table::Silences)?,
        nflog: read(Table::Nflog)?,
        alerts: read(Table::Alerts)?,
        moved_aside: None,
    };
    Ok((db, loaded))
}

/// Whether the file itself is bad, as opposed to the disk, permissions or another process
/// holding it (those must fail the start rather than lose state).
fn is_corrupt(e: &redb::Error) -> bool {
    use std::io::ErrorKind;
    match e {
        redb::Error::Corrupted(_) | redb::Error::UpgradeRequired(_) => true,
        redb::Error::Io(io) => matches!(io.kind(), ErrorKind::InvalidData | ErrorKind::UnexpectedEof),
        _ => false,
    }
}

fn move_aside(path: &Path) -> Result<PathBuf, StateError> {
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".corrupt-{unix}"));
    let aside = PathBuf::from(name);
    std::fs::rename(path, &aside).map_err(|source| StateError::MoveAside { path: path.to_path_buf(), source })?;
    Ok(aside)
}

fn write_loop(db: Database, rx: mpsc::Receiver<Op>, gone: WriterGone) {
    let backlog = &gone.0;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 50_000 {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        backlog.queued.fetch_sub(batch.len(), Ordering::AcqRel);
        let mut acks = Vec::new();
        let result = commit(&db, batch, &mut acks).map_err(|e| {
            tracing::error!(error = %e, "Failed to persist notifier state.");
            e.to_string()
        });
        for a in acks {
            let _ = a.send(result.clone());
        }
    }
}

fn commit(db: &Database, batch: Vec<Op>, acks: &mut Vec<mpsc::Sender<Result<(), String>>>) -> Result<(), redb::Error> {
    let w = db.begin_write()?;
    {
        let mut tables = TABLES.map(|t| w.open_table(t.def()));
        let idx = |t: Table| t as usize;
        for op in batch {
            match op {
                Op::Put(t, k, v) => {
                    if let Ok(table) = &mut tables[idx(t)] {
                        table.insert(k.as_str(), v.as_slice())?;
                    }
                }
                Op::Delete(t, k) => {
                    if let Ok(table) = &mut tables[idx(t)] {
                        table.remove(k.as_str())?;
                    }
                }
                Op::Flush(a) => acks.push(a),
            }
        }
        for t in tables {
            t?;
        }
    }
    w.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_file_is_moved_aside_and_state_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.redb");
        std::fs::write(&path, b"not a redb file, just garbage that is long enough to have a header".repeat(100))
            .unwrap();
        let (db, loaded) = StateDb::open(dir.path()).unwrap();
        let aside = loaded.moved_aside.expect("moved aside");
        assert!(aside.file_name().unwrap().to_str().unwrap().starts_with("notify.redb.corrupt-"), "{aside:?}");
        assert!(aside.exists());
        assert!(loaded.silences.is_empty() && loaded.nflog.is_empty() && loaded.alerts.is_empty());
        // The fresh file works.
        db.put(Table::Silences, "k".into(), b"v".to_vec());
        db.flush().unwrap();
        db.close();
        let (db, loaded) = StateDb::open(dir.path()).unwrap();
        assert!(loaded.moved_aside.is_none());
        assert_eq!(loaded.silences, [("k".to_string(), b"v".to_vec())]);
        db.close();
    }

    #[test]
    fn a_directory_that_cannot_be_created_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let Err(e) = StateDb::open(&file.join("sub")) else { panic!("opened under a file") };
        assert!(matches!(e, StateError::CreateDir { .. }), "{e}");
    }
}
