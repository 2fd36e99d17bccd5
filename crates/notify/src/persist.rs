//! Embedded state under `data_dir` (redb): silences, the notification log and the alerts,
//! one table each. Memory holds the authoritative copy; every change is written through a
//! background thread that batches whatever is queued into one transaction, so a burst of
//! 10k alerts costs a few commits and the async tasks never wait on `fsync`.

use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc;
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

/// Changes queued for the writer before senders wait.
const QUEUE: usize = 100_000;

/// The tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Silences,
    Nflog,
    Alerts,
}

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
    Flush(mpsc::Sender<()>),
}

/// The database and its writer thread.
pub(crate) struct StateDb {
    tx: Mutex<Option<mpsc::SyncSender<Op>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl StateDb {
    /// Opens (or creates) `dir/notify.redb` and returns it with every table's rows.
    pub(crate) fn open(dir: &Path) -> Result<(StateDb, Loaded), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join("notify.redb");
        let db = Database::create(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        // Create the tables so reads of a fresh file succeed.
        let w = db.begin_write().map_err(|e| e.to_string())?;
        for t in [Table::Silences, Table::Nflog, Table::Alerts] {
            w.open_table(t.def()).map_err(|e| e.to_string())?;
        }
        w.commit().map_err(|e| e.to_string())?;
        let read = |t: Table| -> Result<Vec<(String, Vec<u8>)>, String> {
            let r = db.begin_read().map_err(|e| e.to_string())?;
            let table = r.open_table(t.def()).map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            for row in table.iter().map_err(|e| e.to_string())? {
                let (k, v) = row.map_err(|e| e.to_string())?;
                out.push((k.value().to_string(), v.value().to_vec()));
            }
            Ok(out)
        };
        let loaded =
            Loaded { silences: read(Table::Silences)?, nflog: read(Table::Nflog)?, alerts: read(Table::Alerts)? };
        // Bounded: if the disk stalls, writers wait instead of queueing without limit.
        let (tx, rx) = mpsc::sync_channel::<Op>(QUEUE);
        let writer = std::thread::Builder::new()
            .name("notify-state".into())
            .spawn(move || write_loop(db, rx))
            .map_err(|e| format!("cannot start the state writer: {e}"))?;
        Ok((StateDb { tx: Mutex::new(Some(tx)), writer: Mutex::new(Some(writer)) }, loaded))
    }

    fn send(&self, op: Op) {
        // Clone the sender so a full queue never blocks other threads on this lock.
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(tx) = tx {
            // A closed channel means we are shutting down; the final state was flushed.
            let _ = tx.send(op);
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

    /// Waits until everything queued so far is committed.
    pub(crate) fn flush(&self) {
        let (ack, done) = mpsc::channel();
        self.send(Op::Flush(ack));
        let _ = done.recv();
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
}

fn write_loop(db: Database, rx: mpsc::Receiver<Op>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 50_000 {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut acks = Vec::new();
        if let Err(e) = commit(&db, batch, &mut acks) {
            tracing::error!(error = %e, "Failed to persist notifier state.");
        }
        for a in acks {
            let _ = a.send(());
        }
    }
}

fn commit(db: &Database, batch: Vec<Op>, acks: &mut Vec<mpsc::Sender<()>>) -> Result<(), redb::Error> {
    let w = db.begin_write()?;
    {
        let mut tables = [Table::Silences, Table::Nflog, Table::Alerts].map(|t| w.open_table(t.def()));
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
