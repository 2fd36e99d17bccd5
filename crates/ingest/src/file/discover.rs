//! Which files the source follows: the `include` globs minus the `exclude` globs.

use std::collections::BTreeSet;
use std::path::PathBuf;

/// Compiled `include` / `exclude` patterns.
#[derive(Debug, Clone)]
pub struct Globs {
    include: Vec<String>,
    exclude: Vec<glob::Pattern>,
}

impl Globs {
    /// Checks every pattern; the error names the bad one.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Globs, String> {
        for p in include {
            glob::Pattern::new(p).map_err(|e| format!("`include` pattern {p:?}: {e}"))?;
        }
        let exclude = exclude
            .iter()
            .map(|p| glob::Pattern::new(p).map_err(|e| format!("`exclude` pattern {p:?}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Globs { include: include.to_vec(), exclude })
    }

    /// The regular files matching now, sorted and without duplicates. Unreadable
    /// directories are skipped: a path that cannot be listed has nothing to tail.
    pub fn scan(&self) -> BTreeSet<PathBuf> {
        let mut found = BTreeSet::new();
        for pattern in &self.include {
            let Ok(paths) = glob::glob(pattern) else { continue };
            for path in paths.flatten() {
                if self.exclude.iter().any(|x| x.matches_path(&path)) {
                    continue;
                }
                if std::fs::metadata(&path).map(|m| m.is_file()).unwrap_or(false) {
                    found.insert(path);
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_minus_exclude_only_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in ["a.log", "b.log", "b.log.1", "skip.log", "c.txt"] {
            std::fs::write(d.join(name), "x\n").unwrap();
        }
        std::fs::create_dir(d.join("dir.log")).unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/d.log"), "x\n").unwrap();
        let include = vec![format!("{}/*.log", d.display()), format!("{}/**/*.log", d.display())];
        let exclude = vec![format!("{}/skip*", d.display())];
        let globs = Globs::new(&include, &exclude).unwrap();
        let names: Vec<_> = globs.scan().iter().map(|p| p.strip_prefix(d).unwrap().display().to_string()).collect();
        assert_eq!(names, ["a.log", "b.log", "sub/d.log"]);
    }

    #[test]
    fn bad_pattern_is_named() {
        let err = Globs::new(&["/var/log/[a.log".into()], &[]).unwrap_err();
        assert!(err.contains("/var/log/[a.log"), "{err}");
        let err = Globs::new(&["/x/*.log".into()], &["/x/***".into()]).unwrap_err();
        assert!(err.starts_with("`exclude`"), "{err}");
    }
}
