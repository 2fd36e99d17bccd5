//! The routing tree (`dispatch/route.go`): settings inherited down the tree, depth-first
//! matching with `continue`, and the route keys that name aggregation groups.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lookout_template::quote::go_quote;

use crate::config::{GroupBy, RouteConfig};
use crate::matcher::Matchers;

/// Which labels form a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupLabels {
    /// `...`: every label.
    All,
    /// These names.
    Only(BTreeSet<String>),
}

/// The effective settings of one route, after inheritance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteOpts {
    /// Receiver name.
    pub receiver: String,
    /// Grouping.
    pub group_by: GroupLabels,
    /// `group_wait`.
    pub group_wait: Duration,
    /// `group_interval`.
    pub group_interval: Duration,
    /// `repeat_interval`.
    pub repeat_interval: Duration,
    /// `mute_time_intervals` (not inherited, as in Alertmanager).
    pub mute_time_intervals: Vec<String>,
    /// `active_time_intervals` (not inherited).
    pub active_time_intervals: Vec<String>,
}

impl Default for RouteOpts {
    /// Alertmanager's `DefaultRouteOpts`.
    fn default() -> Self {
        RouteOpts {
            receiver: String::new(),
            group_by: GroupLabels::Only(BTreeSet::new()),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
        }
    }
}

/// One route of the tree.
#[derive(Debug, Clone)]
pub struct Route {
    /// Effective settings.
    pub opts: RouteOpts,
    /// Its own matchers, sorted.
    pub matchers: Matchers,
    /// `continue`.
    pub continue_matching: bool,
    /// Indices of its children in the tree.
    pub children: Vec<usize>,
    /// `parent.key + "/" + {matchers}`: the prefix of its groups' keys.
    pub key: String,
}

impl Route {
    /// The labels of `labels` that name the alert's group on this route.
    pub fn group_labels(&self, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        match &self.opts.group_by {
            GroupLabels::All => labels.clone(),
            GroupLabels::Only(names) => {
                labels.iter().filter(|(k, _)| names.contains(*k)).map(|(k, v)| (k.clone(), v.clone())).collect()
            }
        }
    }
}

/// A built routing tree; route 0 is the root.
#[derive(Debug, Clone)]
pub struct RouteTree {
    routes: Vec<Route>,
}

impl RouteTree {
    /// Builds the tree from the validated config.
    pub fn new(root: &RouteConfig) -> RouteTree {
        let mut tree = RouteTree { routes: Vec::new() };
        tree.add(root, None);
        tree
    }

    fn add(&mut self, cfg: &RouteConfig, parent: Option<usize>) -> usize {
        let mut opts = match parent {
            Some(p) => self.routes[p].opts.clone(),
            None => RouteOpts::default(),
        };
        if let Some(r) = cfg.receiver.as_ref().filter(|r| !r.value.is_empty()) {
            opts.receiver = r.value.clone();
        }
        match &cfg.group_by {
            Some(GroupBy::All) => opts.group_by = GroupLabels::All,
            // An empty list inherits, as in Alertmanager (its GroupBy stays nil).
            Some(GroupBy::Labels(l)) if !l.is_empty() => opts.group_by = GroupLabels::Only(l.iter().cloned().collect()),
            _ => {}
        }
        if let Some(d) = cfg.group_wait {
            opts.group_wait = d.0;
        }
        if let Some(d) = cfg.group_interval {
            opts.group_interval = d.0;
        }
        if let Some(d) = cfg.repeat_interval {
            opts.repeat_interval = d.0;
        }
        opts.mute_time_intervals = cfg.mute_time_intervals.iter().map(|s| s.value.clone()).collect();
        opts.active_time_intervals = cfg.active_time_intervals.iter().map(|s| s.value.clone()).collect();
        let matchers = cfg.all_matchers();
        let key = match parent {
            Some(p) => format!("{}/{}", self.routes[p].key, matchers),
            None => matchers.to_string(),
        };
        let idx = self.routes.len();
        self.routes.push(Route { opts, matchers, continue_matching: cfg.continue_matching, children: Vec::new(), key });
        for child in &cfg.routes {
            let c = self.add(&child.value, Some(idx));
            self.routes[idx].children.push(c);
        }
        idx
    }

    /// A route by index.
    pub fn get(&self, idx: usize) -> &Route {
        &self.routes[idx]
    }

    /// Every route, root first (depth-first order).
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The routes an alert with these labels is delivered through (`Route.Match`).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> Vec<usize> {
        self.match_from(0, labels)
    }

    fn match_from(&self, idx: usize, labels: &BTreeMap<String, String>) -> Vec<usize> {
        let r = &self.routes[idx];
        if !r.matchers.matches(labels) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for &c in &r.children {
            let m = self.match_from(c, labels);
            let matched = !m.is_empty();
            all.extend(m);
            if matched && !self.routes[c].continue_matching {
                break;
            }
        }
        if all.is_empty() {
            all.push(idx);
        }
        all
    }
}

/// A label set printed like Go's `model.LabelSet.String()`: `{a="1", b="2"}`.
pub fn labels_string(labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={}", go_quote(v))).collect();
    format!("{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_config;

    fn ls(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const CFG: &str = "
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['severity=\"critical\"']
      receiver: pager
      group_wait: 1s
      continue: true
    - match: { team: db }
      receiver: db
      group_by: ['...']
      routes:
        - match_re: { env: 'prod|staging' }
          receiver: db-prod
    - receiver: fallback-never
receivers: [{name: default}, {name: pager}, {name: db}, {name: db-prod}, {name: fallback-never}]
";

    #[test]
    fn matching_inheritance_and_keys() {
        let cfg = parse_config("am.yml", CFG).unwrap();
        let tree = RouteTree::new(&cfg.route);
        let names = |l: &BTreeMap<String, String>| -> Vec<String> {
            tree.matches(l).into_iter().map(|i| tree.get(i).opts.receiver.clone()).collect()
        };
        assert_eq!(names(&ls(&[("severity", "critical"), ("team", "db"), ("env", "prod")])), ["pager", "db-prod"]);
        assert_eq!(names(&ls(&[("team", "db")])), ["db"]);
        // The catch-all child without matchers stops the search.
        assert_eq!(names(&ls(&[("team", "web")])), ["fallback-never"]);
        let pager = tree.get(1);
        assert_eq!(pager.key, r#"{}/{severity="critical"}"#);
        assert_eq!(pager.opts.group_wait, Duration::from_secs(1));
        assert_eq!(pager.opts.group_interval, Duration::from_secs(300));
        assert_eq!(pager.opts.group_by, GroupLabels::Only(["alertname".to_string()].into()));
        let db_prod = tree.get(3);
        assert_eq!(db_prod.key, r#"{}/{team="db"}/{env=~"prod|staging"}"#);
        assert_eq!(db_prod.opts.group_by, GroupLabels::All);
        let l = ls(&[("alertname", "A"), ("x", "y")]);
        assert_eq!(labels_string(&tree.get(0).group_labels(&l)), r#"{alertname="A"}"#);
    }
}
