//! What a routing file would have sent: a deterministic replay of alert updates through
//! the routing tree, aggregation groups (`group_by`, `group_wait`, `group_interval`,
//! `repeat_interval`, `continue`), inhibition and the notification log's dedup rule, in
//! virtual time. `lookout rules backtest --alertmanager-config` feeds it the alerts the
//! rule engine would have sent.
//!
//! The same decisions as the live notifier, minus what depends on the outside world:
//! every delivery succeeds, there are no silences, and time-interval muting is not
//! applied. A receiver without integrations (a "blackhole") receives nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use lookout_receivers::labels_fingerprint;
use serde_json::{Value as Json, json};

use crate::config::AlertmanagerConfig;
use crate::matcher::Matchers;
use crate::route::{RouteTree, labels_string};

/// An alert update as the rule engine sends it, at `at_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    /// When it reached the notifier.
    pub at_ms: i64,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// `startsAt`.
    pub starts_at_ms: i64,
    /// `endsAt`: past it the alert counts as resolved.
    pub ends_at_ms: i64,
}

/// One notification to one receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// When it was sent.
    pub at_ms: i64,
    /// The receiver.
    pub receiver: String,
    /// The group's labels.
    pub group: BTreeMap<String, String>,
    /// Firing alerts in it.
    pub firing: usize,
    /// Resolved alerts in it.
    pub resolved: usize,
}

/// The outcome of a simulation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Simulation {
    /// Every notification, in time order.
    pub notifications: Vec<Notification>,
    /// Alert updates muted by an inhibition rule at a flush (per alert per flush).
    pub inhibited: usize,
}

#[derive(Clone)]
struct Stored {
    labels: BTreeMap<String, String>,
    ends_at_ms: i64,
}

struct Group {
    route: usize,
    labels: BTreeMap<String, String>,
    key: String,
    alerts: HashMap<u64, Stored>,
    next_flush_ms: i64,
    has_flushed: bool,
}

/// What the log remembers of the last notification of a group.
struct LogEntry {
    firing: HashSet<u64>,
    resolved: HashSet<u64>,
    at_ms: i64,
}

struct Inhibit {
    source: Matchers,
    target: Matchers,
    equal: Vec<String>,
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Replays `arrivals` (any order) through `cfg` until `until_ms`.
pub fn simulate(cfg: &AlertmanagerConfig, arrivals: &[Arrival], until_ms: i64) -> Simulation {
    let tree = RouteTree::new(&cfg.route);
    let inhibits: Vec<Inhibit> = cfg
        .inhibit_rules
        .iter()
        .map(|r| Inhibit { source: r.source(), target: r.target(), equal: r.equal.clone() })
        .collect();
    // Per receiver: whether it has integrations, and whether any wants resolutions.
    let receivers: HashMap<&str, (bool, bool)> = cfg
        .receivers
        .iter()
        .map(|r| {
            let resolved = r
                .webhook_configs
                .iter()
                .map(|c| c.send_resolved)
                .chain(r.email_configs.iter().map(|c| c.send_resolved))
                .chain(r.pagerduty_configs.iter().map(|c| c.send_resolved))
                .chain(r.opsgenie_configs.iter().map(|c| c.send_resolved))
                .chain(r.slack_configs.iter().map(|c| c.send_resolved))
                .chain(r.console_configs.iter().map(|c| c.send_resolved))
                .collect::<Vec<bool>>();
            (r.name.as_str(), (!resolved.is_empty(), resolved.iter().any(|b| *b)))
        })
        .collect();
    let mut arrivals: Vec<&Arrival> = arrivals.iter().collect();
    arrivals.sort_by_key(|a| a.at_ms);
    let mut all: HashMap<u64, Stored> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<(usize, u64), usize> = HashMap::new();
    let mut log: HashMap<String, LogEntry> = HashMap::new();
    let mut sim = Simulation::default();
    let mut next_arrival = 0;
    loop {
        let flush = groups.iter().enumerate().map(|(i, g)| (g.next_flush_ms, i)).min();
        let arrival_at = arrivals.get(next_arrival).map(|a| a.at_ms);
        // Arrivals first at equal times: an alert arriving at a flush is in it.
        let (t, flush_group) = match (arrival_at, flush) {
            (Some(a), Some((f, _))) if a <= f => (a, None),
            (Some(a), None) => (a, None),
            (_, Some((f, i))) => (f, Some(i)),
            (None, None) => break,
        };
        if t > until_ms {
            break;
        }
        let Some(gi) = flush_group else {
            let a = arrivals[next_arrival];
            next_arrival += 1;
            let fp = labels_fingerprint(&a.labels);
            let stored = Stored { labels: a.labels.clone(), ends_at_ms: a.ends_at_ms };
            all.insert(fp, stored.clone());
            for r in tree.matches(&a.labels) {
                let route = tree.get(r);
                let labels = route.group_labels(&a.labels);
                let key = (r, labels_fingerprint(&labels));
                let gi = *index.entry(key).or_insert_with(|| {
                    groups.push(Group {
                        route: r,
                        key: format!("{}:{}", route.key, labels_string(&labels)),
                        labels,
                        alerts: HashMap::new(),
                        next_flush_ms: t.saturating_add(ms(route.opts.group_wait)),
                        has_flushed: false,
                    });
                    groups.len() - 1
                });
                let g = &mut groups[gi];
                g.alerts.insert(fp, stored.clone());
                // An alert older than group_wait makes a new group flush at once.
                if !g.has_flushed && a.starts_at_ms.saturating_add(ms(route.opts.group_wait)) < t {
                    g.next_flush_ms = t;
                }
            }
            continue;
        };
        let opts = &tree.get(groups[gi].route).opts;
        groups[gi].next_flush_ms = t.saturating_add(ms(opts.group_interval));
        groups[gi].has_flushed = true;
        let (mut firing, mut resolved) = (HashSet::new(), HashSet::new());
        for (fp, a) in &groups[gi].alerts {
            let active = |s: &Stored| s.ends_at_ms > t;
            // As the live inhibitor: a muted target stays muted once resolved.
            let muted = inhibits.iter().any(|r| {
                r.target.matches(&a.labels)
                    && all.values().any(|src| {
                        active(src)
                            && r.source.matches(&src.labels)
                            && !(r.source.matches(&a.labels) && r.target.matches(&src.labels))
                            && r.equal.iter().all(|n| src.labels.get(n) == a.labels.get(n))
                    })
            });
            if muted {
                sim.inhibited += 1;
            } else if active(a) {
                firing.insert(*fp);
            } else {
                resolved.insert(*fp);
            }
        }
        let (has_integrations, send_resolved) =
            receivers.get(opts.receiver.as_str()).copied().unwrap_or((false, false));
        let entry = log.get(&groups[gi].key);
        let needs = match entry {
            None => !firing.is_empty(),
            Some(e) if !firing.is_subset(&e.firing) => true,
            Some(e) if firing.is_empty() => !e.firing.is_empty(),
            Some(e) if send_resolved && !resolved.is_subset(&e.resolved) => true,
            Some(e) => e.at_ms < t.saturating_sub(ms(opts.repeat_interval)),
        };
        if needs {
            // Only resolutions and no interest in them: logged, not sent.
            if has_integrations && (!firing.is_empty() || send_resolved) {
                sim.notifications.push(Notification {
                    at_ms: t,
                    receiver: opts.receiver.clone(),
                    group: groups[gi].labels.clone(),
                    firing: firing.len(),
                    resolved: if send_resolved { resolved.len() } else { 0 },
                });
            }
            log.insert(groups[gi].key.clone(), LogEntry { firing, resolved: resolved.clone(), at_ms: t });
        }
        // Reported resolutions leave the group; an empty group is dropped (as
        // Alertmanager's maintenance does), and a later alert starts a new one.
        groups[gi].alerts.retain(|fp, _| !resolved.contains(fp));
        all.retain(|_, a| a.ends_at_ms > t.saturating_sub(ms(cfg.global.resolve_timeout.0)));
        if groups[gi].alerts.is_empty() {
            let g = groups.swap_remove(gi);
            index.remove(&(g.route, labels_fingerprint(&g.labels)));
            if let Some(moved) = groups.get(gi) {
                index.insert((moved.route, labels_fingerprint(&moved.labels)), gi);
            }
        }
    }
    sim
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

impl Simulation {
    /// Notifications per receiver, by name.
    pub fn per_receiver(&self) -> BTreeMap<&str, usize> {
        let mut out = BTreeMap::new();
        for n in &self.notifications {
            *out.entry(n.receiver.as_str()).or_insert(0) += 1;
        }
        out
    }

    /// `{receivers: {name: count}, notifications: [...]}`.
    pub fn to_json(&self) -> Json {
        json!({
            "receivers": self.per_receiver(),
            "inhibited": self.inhibited,
            "notifications": self.notifications.iter().map(|n| json!({
                "at": rfc3339(n.at_ms),
                "receiver": n.receiver,
                "group": n.group,
                "firing": n.firing,
                "resolved": n.resolved,
            })).collect::<Vec<_>>(),
        })
    }

    /// Per receiver its count, then one line per notification.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let per = self.per_receiver();
        if per.is_empty() {
            out.push_str("No notifications would have been sent.\n");
        }
        for (r, n) in &per {
            let _ = writeln!(out, "Receiver {r:?}: {n} notification(s).");
        }
        for n in &self.notifications {
            let _ = writeln!(
                out,
                "{}  {}  {}  firing={} resolved={}",
                rfc3339(n.at_ms),
                n.receiver,
                labels_string(&n.group),
                n.firing,
                n.resolved
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000;

    fn cfg(extra: &str) -> AlertmanagerConfig {
        let text = format!(
            "route:\n  receiver: team\n  group_by: [alertname]\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 1h\n{extra}receivers:\n  - name: team\n    webhook_configs: [{{url: 'http://127.0.0.1:9/'}}]\n  - name: page\n    webhook_configs: [{{url: 'http://127.0.0.1:9/', send_resolved: false}}]\n  - name: blackhole\n"
        );
        crate::parse_config("am.yml", &text).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// A firing alert re-sent every minute from `from` until `to` (minutes), then resolved.
    fn firing(l: &BTreeMap<String, String>, from: i64, to: i64) -> Vec<Arrival> {
        let mut out: Vec<Arrival> = (from..to)
            .map(|m| Arrival { at_ms: m * M, labels: l.clone(), starts_at_ms: from * M, ends_at_ms: (m + 4) * M })
            .collect();
        out.push(Arrival { at_ms: to * M, labels: l.clone(), starts_at_ms: from * M, ends_at_ms: to * M });
        out
    }

    fn times(s: &Simulation) -> Vec<(i64, &str, usize, usize)> {
        s.notifications.iter().map(|n| (n.at_ms / 1000, n.receiver.as_str(), n.firing, n.resolved)).collect()
    }

    #[test]
    fn group_wait_interval_repeat_and_resolution() {
        let a = labels(&[("alertname", "A"), ("job", "x")]);
        let s = simulate(&cfg(""), &firing(&a, 0, 130), 200 * M);
        // 30s after the first alert, then nothing new until the repeat interval (1h,
        // checked at group_interval ticks), then the resolution at the next tick.
        assert_eq!(times(&s), [(30, "team", 1, 0), (30 + 65 * 60, "team", 1, 0), (30 + 130 * 60, "team", 0, 1)]);
        assert_eq!(s.per_receiver()["team"], 3);
    }

    #[test]
    fn grouping_continue_inhibition_and_blackholes() {
        let extra = "  routes:\n    - matchers: [severity=\"page\"]\n      receiver: page\n      continue: true\n    - matchers: [severity=\"page\"]\n      receiver: blackhole\ninhibit_rules:\n  - source_matchers: [severity=\"page\"]\n    target_matchers: [severity=\"info\"]\n    equal: [job]\n";
        let page = labels(&[("alertname", "Down"), ("job", "x"), ("severity", "page")]);
        let page2 = labels(&[("alertname", "Down"), ("job", "y"), ("severity", "page")]);
        let info = labels(&[("alertname", "Slow"), ("job", "x"), ("severity", "info")]);
        let info_other = labels(&[("alertname", "Slow"), ("job", "z"), ("severity", "info")]);
        let mut arrivals = firing(&page, 0, 20);
        arrivals.extend(firing(&page2, 2, 20));
        arrivals.extend(firing(&info, 1, 10));
        arrivals.extend(firing(&info_other, 1, 10));
        let s = simulate(&cfg(extra), &arrivals, 60 * M);
        // Both pages in one group (by alertname): the first flush has one, the second
        // tick adds the other; no resolution to `page` (send_resolved: false); the
        // blackhole gets nothing; the info alert of job x is inhibited, job z's is sent.
        assert_eq!(times(&s), [(30, "page", 1, 0), (90, "team", 1, 0), (330, "page", 2, 0), (690, "team", 0, 1)]);
        assert!(s.inhibited > 0);
        let j = s.to_json();
        assert_eq!(j["receivers"]["page"], 2);
        assert!(s.table().contains("Receiver \"team\": 2 notification(s)."));
    }
}
