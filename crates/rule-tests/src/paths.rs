//! Go's `path/filepath` behaviour that shows in promtool's output: `Dir`, `Join` (which
//! cleans: `./a/../b` is `b`) and `Glob` (a pattern without metacharacters matches
//! itself if it exists).

use std::path::PathBuf;

/// `filepath.Clean`, lexically.
pub fn go_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

/// `filepath.Dir`: everything before the last `/`, cleaned.
pub fn go_dir(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => go_clean(&p[..=i]),
        None => ".".to_string(),
    }
}

/// `filepath.Join(a, b)`.
pub fn go_join(a: &str, b: &str) -> String {
    if a.is_empty() {
        return go_clean(b);
    }
    go_clean(&format!("{a}/{b}"))
}

fn has_meta(p: &str) -> bool {
    p.contains(['*', '?', '[', '\\'])
}

/// `filepath.Glob`: sorted matches; `*` does not cross `/`; a pattern without
/// metacharacters is returned when the path exists.
pub fn go_glob(pattern: &str) -> Result<Vec<PathBuf>, crate::error::PatternError> {
    if !has_meta(pattern) {
        return Ok(if std::fs::symlink_metadata(pattern).is_ok() { vec![PathBuf::from(pattern)] } else { vec![] });
    }
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    // Go negates a class with `^`; the glob crate with `!`.
    let translated = pattern.replace("[^", "[!");
    let paths = glob::glob_with(&translated, opts).map_err(|_| crate::error::PatternError)?;
    let mut out: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_dir_join_like_go() {
        assert_eq!(go_dir("t1.yml"), ".");
        assert_eq!(go_dir("/tmp/x/t.yml"), "/tmp/x");
        assert_eq!(go_dir("/t.yml"), "/");
        assert_eq!(go_join(".", "rules.yml"), "rules.yml");
        assert_eq!(go_join("a/b", "../r.yml"), "a/r.yml");
        assert_eq!(go_join("..", "../r.yml"), "../../r.yml");
        assert_eq!(go_clean("/../a//b/./"), "/a/b");
    }

    #[test]
    fn globs_like_go() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        for f in ["b.yml", "a.yml", ".h.yml", "c.txt"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let names = |p: &str| -> Vec<String> {
            go_glob(p).unwrap().iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
        };
        assert_eq!(names(&format!("{d}/*.yml")), vec![".h.yml", "a.yml", "b.yml"]);
        assert_eq!(names(&format!("{d}/[^a].yml")), vec!["b.yml"]);
        assert_eq!(names(&format!("{d}/c.txt")), vec!["c.txt"]);
        assert!(names(&format!("{d}/none.yml")).is_empty());
        assert!(names(&format!("{d}/*/x")).is_empty());
    }
}
