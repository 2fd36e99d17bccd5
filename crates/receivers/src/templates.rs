//! Notification templates: Alertmanager-compatible defaults plus the user's `templates:`
//! files.

use std::path::Path;

/// The template files of a configuration.
#[derive(Debug, Default)]
pub struct Templates {
    files: Vec<(String, String)>,
}

impl Templates {
    /// Only the built-in defaults.
    pub fn builtin() -> Templates {
        Templates::default()
    }

    /// The defaults plus every file matching the `templates:` globs; relative globs are
    /// resolved against `base_dir` (the directory of `alertmanager.yml`).
    pub fn load(globs: &[String], base_dir: &Path) -> Result<Templates, String> {
        let mut files = Vec::new();
        for g in globs {
            let pattern =
                if Path::new(g).is_absolute() { g.clone() } else { base_dir.join(g).to_string_lossy().into_owned() };
            let paths = glob::glob(&pattern).map_err(|e| format!("invalid template glob {g:?}: {e}"))?;
            for p in paths {
                let p = p.map_err(|e| format!("template glob {g:?}: {e}"))?;
                let text =
                    std::fs::read_to_string(&p).map_err(|e| format!("cannot read template {}: {e}", p.display()))?;
                files.push((p.display().to_string(), text));
            }
        }
        Ok(Templates { files })
    }

    /// The loaded files (name, text).
    pub fn files(&self) -> &[(String, String)] {
        &self.files
    }
}
