//! Reload on rule file change: watches the directories the rule globs live in and
//! reloads (debounced) when a matching file is written, created, renamed or removed —
//! editors that save through a temporary file and a rename included.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::Engine;
use crate::Error;

/// Holds the OS watch; dropping it stops watching.
pub(crate) struct RuleWatcher {
    _watcher: notify::RecommendedWatcher,
}

/// The directory a glob's matches live under: its literal prefix up to the last `/`
/// before the first wildcard; recursive when the pattern has `**`.
fn watch_root(pattern: &str) -> (PathBuf, RecursiveMode) {
    let wild = pattern.find(['*', '?', '[']).unwrap_or(pattern.len());
    let literal = &pattern[..wild];
    let dir = match literal.rfind('/') {
        Some(i) => &literal[..i.max(1)],
        None => ".",
    };
    let mode = if pattern.contains("**") { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
    let dir = if dir.is_empty() { "." } else { dir };
    (PathBuf::from(dir), mode)
}

impl RuleWatcher {
    pub(crate) fn start(patterns: &[String], engine: Engine) -> Result<RuleWatcher, Error> {
        let globs: Vec<glob::Pattern> = patterns.iter().filter_map(|p| glob::Pattern::new(p).ok()).collect();
        let cwd = std::env::current_dir().unwrap_or_default();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let matches = move |path: &Path| {
            let rel = path.strip_prefix(&cwd).unwrap_or(path);
            globs.iter().any(|g| g.matches_path(rel) || g.matches_path(path))
        };
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res
                && !ev.kind.is_access()
                && ev.paths.iter().any(|p| matches(p))
            {
                let _ = tx.send(());
            }
        })
        .map_err(|source| Error::Watch { path: None, source })?;
        let mut watched = Vec::new();
        for p in patterns {
            let (dir, mode) = watch_root(p);
            if watched.contains(&dir) {
                continue;
            }
            watcher
                .watch(&dir, mode)
                .map_err(|source| Error::Watch { path: Some(dir.display().to_string()), source })?;
            watched.push(dir);
        }
        tokio::spawn(async move {
            while rx.recv().await.is_some() {
                // Editors write in bursts: wait for quiet, then reload once.
                loop {
                    match tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                        Ok(Some(())) => continue,
                        Ok(None) => return,
                        Err(_) => break,
                    }
                }
                let e = engine.clone();
                let _ = tokio::task::spawn_blocking(move || e.reload()).await;
            }
        });
        Ok(RuleWatcher { _watcher: watcher })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_of_globs() {
        assert_eq!(watch_root("alert-rules/*.yml").0, PathBuf::from("alert-rules"));
        assert_eq!(
            watch_root("/etc/lookout/rules/**/*.yml"),
            (PathBuf::from("/etc/lookout/rules"), RecursiveMode::Recursive)
        );
        assert_eq!(watch_root("rules.yml").0, PathBuf::from("."));
        assert_eq!(watch_root("/r.yml").0, PathBuf::from("/"));
    }
}
