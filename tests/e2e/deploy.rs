//! deploy/kubernetes/ checked without a Kubernetes cluster: every manifest parses and is
//! listed in the kustomization; built-in kinds pass the Kubernetes 1.37 JSON schemas
//! (`kubernetes-validate --strict`, from PyPI, in .venv) and `kubectl kustomize` builds
//! the layout where kubectl is installed; the references between objects (selectors,
//! named ports, ConfigMaps, the KEDA trigger's Service and scaler) resolve; every
//! workload has probes, resources and a non-root, read-only security context; the
//! ConfigMaps hold the shipped pipelines byte for byte and those pass `lookout check` with
//! the Deployments' environment; and the NATS ConfigMap's server config, run by Debian's
//! nats-server three times on 127.0.0.1, forms a JetStream cluster.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{lookout_bin, python, workspace_root};

fn deploy_dir() -> PathBuf {
    workspace_root().join("deploy/kubernetes")
}

/// One object of a manifest file.
struct Object {
    file: String,
    doc: Value,
}

impl Object {
    fn kind(&self) -> &str {
        self.doc["kind"].as_str().unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.doc["metadata"]["name"].as_str().unwrap_or_default()
    }

    fn at(&self) -> String {
        format!("{}: {}/{}", self.file, self.kind(), self.name())
    }
}

/// The manifest files: every `*.yaml` of deploy/kubernetes except the kustomization.
fn manifest_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .collect();
    files.sort();
    files
}

fn parse_all(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_multiple::<Value>(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn objects() -> Vec<Object> {
    manifest_files()
        .into_iter()
        .flat_map(|file| {
            parse_all(&deploy_dir().join(&file)).into_iter().map(move |doc| Object { file: file.clone(), doc })
        })
        .collect()
}

fn find<'a>(objects: &'a [Object], kind: &str, name: &str) -> &'a Object {
    objects.iter().find(|o| o.kind() == kind && o.name() == name).unwrap_or_else(|| panic!("no {kind}/{name}"))
}

/// `selector` (a label map) picks a pod with `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector.as_object().is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

fn workloads(objects: &[Object]) -> Vec<&Object> {
    objects.iter().filter(|o| matches!(o.kind(), "Deployment" | "StatefulSet")).collect()
}

#[test]
fn manifests_parse_and_the_kustomization_lists_each_one() {
    let kustomization = &parse_all(&deploy_dir().join("kustomization.yaml"))[0];
    let listed: Vec<&str> =
        kustomization["resources"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(listed.iter().copied().collect::<std::collections::BTreeSet<_>>().len(), listed.len(), "{listed:?}");
    let mut files = manifest_files();
    let mut listed_sorted: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    listed_sorted.sort();
    files.sort();
    assert_eq!(listed_sorted, files, "kustomization.yaml `resources` must list every manifest file");

    let objects = objects();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for o in &objects {
        for key in ["apiVersion", "kind"] {
            assert!(o.doc[key].as_str().is_some_and(|s| !s.is_empty()), "{}: no {key}", o.at());
        }
        assert!(!o.name().is_empty(), "{}: no metadata.name", o.file);
        *kinds.entry(o.kind()).or_default() += 1;
    }
    let want = [
        ("Namespace", 1),
        ("ConfigMap", 3),
        ("StatefulSet", 1),
        ("Deployment", 2),
        ("Service", 3),
        ("PodDisruptionBudget", 3),
        ("ScaledObject", 1),
    ];
    assert_eq!(kinds, want.into_iter().collect::<BTreeMap<_, _>>());
}

#[test]
fn workloads_are_wired_probed_bounded_and_unprivileged() {
    let objects = objects();
    for w in workloads(&objects) {
        let spec = &w.doc["spec"];
        let pod_labels = &spec["template"]["metadata"]["labels"];
        assert!(selects(&spec["selector"]["matchLabels"], pod_labels), "{}: selector misses the pods", w.at());
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{}", w.at());
        let mut volumes: Vec<&str> =
            pod["volumes"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
        for claim in spec["volumeClaimTemplates"].as_array().into_iter().flatten() {
            volumes.push(claim["metadata"]["name"].as_str().unwrap());
        }
        for v in pod["volumes"].as_array().unwrap() {
            if let Some(cm) = v["configMap"]["name"].as_str() {
                find(&objects, "ConfigMap", cm);
            }
        }
        for c in pod["containers"].as_array().unwrap() {
            let at = format!("{} container {}", w.at(), c["name"]);
            let sc = &c["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{at}");
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{at}");
            assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]), "{at}");
            for kind in ["requests", "limits"] {
                for r in ["cpu", "memory"] {
                    assert!(c["resources"][kind][r].is_string(), "{at}: resources.{kind}.{r}");
                }
            }
            for probe in ["readinessProbe", "livenessProbe"] {
                assert!(c[probe]["httpGet"]["path"].is_string(), "{at}: {probe}");
            }
            let ports: Vec<&str> = c["ports"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
            for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
                if let Some(port) = c[probe]["httpGet"]["port"].as_str() {
                    assert!(ports.contains(&port), "{at}: {probe} names port {port}");
                }
            }
            for m in c["volumeMounts"].as_array().unwrap() {
                assert!(volumes.contains(&m["name"].as_str().unwrap()), "{at}: mount {}", m["name"]);
            }
            if c["image"] == "lookout" {
                assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/health/ready", "{at}");
                assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health", "{at}");
            }
        }
    }
    // Services and PodDisruptionBudgets select pods of some workload; named target ports exist.
    for o in objects.iter().filter(|o| matches!(o.kind(), "Service" | "PodDisruptionBudget")) {
        let selector =
            if o.kind() == "Service" { &o.doc["spec"]["selector"] } else { &o.doc["spec"]["selector"]["matchLabels"] };
        let target = workloads(&objects)
            .into_iter()
            .find(|w| selects(selector, &w.doc["spec"]["template"]["metadata"]["labels"]))
            .unwrap_or_else(|| panic!("{}: selects no workload's pods", o.at()));
        let containers = target.doc["spec"]["template"]["spec"]["containers"].as_array().unwrap();
        for p in o.doc["spec"]["ports"].as_array().into_iter().flatten() {
            let name = p["targetPort"].as_str().unwrap();
            assert!(
                containers.iter().flat_map(|c| c["ports"].as_array().unwrap()).any(|cp| cp["name"] == name),
                "{}: targetPort {name} is not a port of {}",
                o.at(),
                target.at()
            );
        }
    }
    let ingest = find(&objects, "Service", "lookout-ingest");
    let ports: Vec<u64> =
        ingest.doc["spec"]["ports"].as_array().unwrap().iter().map(|p| p["port"].as_u64().unwrap()).collect();
    assert_eq!(ports, [4317, 4318]);
    assert_eq!(find(&objects, "StatefulSet", "nats").doc["spec"]["replicas"], 3);
}

#[test]
fn the_keda_scaled_object_scales_the_processing_workers_on_lookouts_decision() {
    let objects = objects();
    let so = &find(&objects, "ScaledObject", "lookout-processing").doc["spec"];
    assert_eq!(so["scaleTargetRef"]["kind"], "Deployment");
    find(&objects, "Deployment", so["scaleTargetRef"]["name"].as_str().unwrap());
    let trigger = &so["triggers"][0];
    assert!(matches!(trigger["type"].as_str(), Some("external" | "external-push")), "{trigger}");
    // scalerAddress: a Service of ours (SERVICE.NAMESPACE.svc…:PORT) exposing that port.
    let address = trigger["metadata"]["scalerAddress"].as_str().unwrap();
    let (host, port) = address.rsplit_once(':').unwrap();
    let service = find(&objects, "Service", host.split('.').next().unwrap());
    assert!(
        service.doc["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["port"].as_u64().map(|p| p.to_string()) == Some(port.into()))
    );
    // `scaler` names a policy of the ConfigMap'd policy file, bounded as KEDA is.
    let policy = configmap_file(&objects, "lookout-processing", "processing-workers.yml");
    let policy: Value = serde_saphyr::from_str(&policy).unwrap();
    let scaler = policy["scalers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == trigger["metadata"]["scaler"])
        .unwrap_or_else(|| panic!("no scaler named {} in the policy", trigger["metadata"]["scaler"]));
    assert_eq!(scaler["actuator"]["type"], "keda");
    assert_eq!(scaler["minReplicas"], so["minReplicaCount"]);
    assert_eq!(scaler["maxReplicas"], so["maxReplicaCount"]);
    assert!(scaler["metrics"][0]["query"].as_str().unwrap().contains("lookout_nats_consumer_pending"), "{scaler}");
    assert!(policy["keda"]["address"].as_str().unwrap().ends_with(&format!(":{port}")));
}

fn configmap_file(objects: &[Object], name: &str, key: &str) -> String {
    find(objects, "ConfigMap", name).doc["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("ConfigMap {name} has no {key}"))
        .to_string()
}

/// The ConfigMaps hold the shipped files unchanged, and Lookout accepts them with the
/// environment the Deployment gives it (paths under /etc/lookout/config mapped to a temp dir).
#[test]
fn configmap_pipelines_are_the_shipped_files_and_pass_lookout_check() {
    let objects = objects();
    let root = workspace_root();
    for (configmap, deployment, files) in [
        ("lookout-ingest", "lookout-ingest", vec![("ingest-worker.yaml", "pipelines/ingest-worker.yaml")]),
        (
            "lookout-processing",
            "lookout-processing",
            vec![
                ("processing-worker.yaml", "pipelines/processing-worker.yaml"),
                ("processing-workers.yml", "scaling/scale-out/processing-workers.yml"),
            ],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        for (key, shipped) in &files {
            let text = configmap_file(&objects, configmap, key);
            assert_eq!(
                text,
                std::fs::read_to_string(root.join(shipped)).unwrap(),
                "ConfigMap {configmap} key {key} must be {shipped} byte for byte (indented by 4 under `{key}: |`)"
            );
            std::fs::write(dir.path().join(key), text).unwrap();
        }
        let container = &find(&objects, "Deployment", deployment).doc["spec"]["template"]["spec"]["containers"][0];
        let args: Vec<String> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().replace("/etc/lookout/config", &dir.path().display().to_string()))
            .collect();
        assert_eq!(args[0], "run", "{args:?}");
        let mut check = Command::new(lookout_bin());
        check.arg("check").args(&args[1..]).current_dir(dir.path());
        for e in container["env"].as_array().unwrap() {
            let value = e["value"].as_str().unwrap().replace("/etc/lookout/config", &dir.path().display().to_string());
            check.env(e["name"].as_str().unwrap(), value);
        }
        let out = check.output().unwrap();
        assert!(out.status.success(), "{configmap}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // The shipped files as they are, from the repository root (the defaults of every ${VAR}).
    for pipeline in ["pipelines/ingest-worker.yaml", "pipelines/processing-worker.yaml"] {
        let out =
            Command::new(lookout_bin()).args(["check", "--config", pipeline]).current_dir(&root).output().unwrap();
        assert!(out.status.success(), "{pipeline}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Built-in kinds against Kubernetes' JSON schemas, unknown fields refused
/// (`kubernetes-validate --strict`, installed into .venv by scripts/test.sh from PyPI).
/// The ScaledObject is KEDA's CRD, which the schemas do not have: the test above checks it.
#[test]
fn manifests_pass_the_kubernetes_schemas() {
    let validate = python().with_file_name("kubernetes-validate");
    if !validate.exists() {
        eprintln!("SKIPPED: {} is not installed (scripts/test.sh installs it)", validate.display());
        return;
    }
    let files: Vec<PathBuf> = manifest_files().into_iter().map(|f| deploy_dir().join(f)).collect();
    let out = Command::new(&validate).args(["--strict", "--no-warn"]).args(&files).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let passed = stdout.lines().filter(|l| l.contains(" passed for resource ")).count();
    let builtin = objects().iter().filter(|o| o.kind() != "ScaledObject").count();
    assert_eq!(passed, builtin, "every built-in object validated:\n{stdout}");
}

/// `kubectl kustomize` builds the layout, every object in the `lookout` namespace and the
/// image mapped; skipped (saying so) where kubectl is not installed.
#[test]
fn kustomize_builds_the_layout() {
    let out = match Command::new("kubectl").arg("kustomize").arg(deploy_dir()).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("SKIPPED: kubectl is not installed ({e})");
            return;
        }
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let built = serde_saphyr::from_multiple::<Value>(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(built.len(), objects().len());
    for o in built.iter().filter(|o| o["kind"] != "Namespace") {
        assert_eq!(o["metadata"]["namespace"], "lookout", "{}", o["metadata"]["name"]);
    }
    let images: Vec<&str> = built
        .iter()
        .filter(|o| o["kind"] == "Deployment")
        .map(|o| o["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap())
        .collect();
    assert_eq!(images, ["lookout:dev", "lookout:dev"]);
}

/// The NATS ConfigMap's `nats.conf`, run three times (ports, store dirs and the routes'
/// host names swapped for 127.0.0.1 ones), forms one JetStream cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nats_configmap_forms_a_3_server_jetstream_cluster() {
    let objects = objects();
    let conf = configmap_file(&objects, "nats-config", "nats.conf");
    let Some(nodes) = crate::nats_util::start_cluster_with(3, |p, store| {
        let mut text = conf
            .replace("$SERVER_NAME", &p.name)
            .replace("0.0.0.0:4222", &format!("127.0.0.1:{}", p.client))
            .replace("0.0.0.0:8222", &format!("127.0.0.1:{}", p.monitor))
            .replace("0.0.0.0:6222", &format!("127.0.0.1:{}", p.route))
            .replace("/data", &format!("{store:?}").replace('"', ""));
        for (i, route) in p.routes.iter().enumerate() {
            text = text.replace(&format!("nats://nats-{i}.nats:6222"), route);
        }
        assert!(!text.contains(".nats:"), "a route left unmapped:\n{text}");
        text
    })
    .await
    else {
        return;
    };
    let jsz = crate::nats_util::jsz(&nodes[1], "").await;
    assert_eq!(jsz["meta_cluster"]["name"], "lookout", "{jsz}");
    assert_eq!(jsz["config"]["max_storage"].as_u64(), Some(9 << 30), "max_file_store: 9Gi: {jsz}");
}
