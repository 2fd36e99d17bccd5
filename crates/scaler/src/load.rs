//! Loading the policy files a pipeline names: globs expanded, every file parsed, all
//! scalers and `target_health` entries merged into one [`PolicyFile`] (names and target
//! groups unique across files), every problem reported at its `FILE:LINE:COL`.

use std::path::PathBuf;

use lookout_config::{ConfigError, ConfigErrors, Position};

use crate::{PolicyFile, parse_policy_file};

/// Every policy file matching `patterns` (sorted by path), merged. `config_file` names
/// the pipeline file, where a bad pattern is reported. The first `keda:` and the first
/// `lease:` section win.
pub fn load_policy_files(patterns: &[String], config_file: &str) -> Result<PolicyFile, ConfigErrors> {
    let at = |file: &str| Position { file: file.into(), line: 1, column: 1 };
    let mut files: Vec<PathBuf> = Vec::new();
    let mut errors = Vec::new();
    for pattern in patterns {
        match glob::glob(pattern) {
            Ok(paths) => files.extend(paths.flatten()),
            Err(e) => {
                errors.push(ConfigError::new(at(config_file), format!("scaling.files: bad pattern {pattern:?}: {e}")));
            }
        }
    }
    files.sort();
    let mut merged = PolicyFile { scalers: Vec::new(), keda: None, target_health: Vec::new(), lease: None };
    for f in files {
        let name = f.display().to_string();
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                errors.push(ConfigError::new(at(&name), e.to_string()));
                continue;
            }
        };
        match parse_policy_file(&name, &text) {
            Ok(p) => {
                for s in p.scalers {
                    if merged.scalers.iter().any(|m| m.name == s.name) {
                        errors.push(ConfigError::new(
                            at(&name),
                            format!("scaler `{}` is defined in more than one policy file", s.name),
                        ));
                    } else {
                        merged.scalers.push(s);
                    }
                }
                if let Some(tls) = p.keda.as_ref().and_then(|k| k.tls.as_ref())
                    && let Err(e) = lookout_server::listener::Tls::check(tls)
                {
                    // Reported here, not at parse: `lookout scale simulate` needs no certificates.
                    errors.push(ConfigError::new(at(&name), format!("keda.{e}")));
                }
                merged.keda = merged.keda.or(p.keda);
                for t in p.target_health {
                    if merged.target_health.iter().any(|m| m.target_group_arn == t.target_group_arn) {
                        let msg = format!("target group {} is listed in more than one policy file", t.target_group_arn);
                        errors.push(ConfigError::new(at(&name), msg));
                    } else {
                        merged.target_health.push(t);
                    }
                }
                merged.lease = merged.lease.or(p.lease);
            }
            Err(e) => errors.extend(e.0),
        }
    }
    if errors.is_empty() { Ok(merged) } else { Err(ConfigErrors(errors)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: &str = "scalers:\n  - name: api\n    minReplicas: 1\n    maxReplicas: 3\n";

    #[test]
    fn merges_files_and_refuses_duplicate_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yml"), API).unwrap();
        std::fs::write(dir.path().join("b.yml"), API.replace("api", "web")).unwrap();
        let pattern = format!("{}/*.yml", dir.path().display());
        let merged = load_policy_files(std::slice::from_ref(&pattern), "pipeline.yaml").unwrap();
        assert_eq!(merged.scalers.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["api", "web"]);

        std::fs::write(dir.path().join("c.yml"), API).unwrap();
        let errors = load_policy_files(std::slice::from_ref(&pattern), "pipeline.yaml").unwrap_err();
        assert!(
            errors.to_string().contains("c.yml:1:1: scaler `api` is defined in more than one policy file"),
            "{errors}"
        );

        let errors = load_policy_files(&["[".to_string()], "pipeline.yaml").unwrap_err();
        assert!(errors.to_string().starts_with("pipeline.yaml:1:1: scaling.files: bad pattern"), "{errors}");
    }

    #[test]
    fn keda_tls_files_are_checked_next_to_the_policy_file() {
        let dir = tempfile::tempdir().unwrap();
        let keda = "keda:\n  address: 127.0.0.1:0\n  tls: { cert_file: tls/keda.crt, key_file: tls/keda.key }\n";
        std::fs::write(dir.path().join("a.yml"), format!("{API}{keda}")).unwrap();
        let pattern = format!("{}/*.yml", dir.path().display());
        let errors = load_policy_files(std::slice::from_ref(&pattern), "pipeline.yaml").unwrap_err().to_string();
        let cert = dir.path().join("tls/keda.crt");
        assert!(errors.contains("a.yml:1:1: keda.tls: cannot read cert_file"), "{errors}");
        assert!(errors.contains(&cert.display().to_string()), "{errors}");
        // Parsing alone (what `lookout scale simulate` does) needs no certificate.
        let parsed = parse_policy_file("a.yml", &format!("{API}{keda}")).unwrap();
        assert!(parsed.keda.unwrap().tls.is_some());
    }
}
