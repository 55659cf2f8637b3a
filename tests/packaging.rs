//! Packaging: the container image (built from the cargo-built binary on `FROM scratch`, with the
//! real dockerd of `scripts/services/dockerd.sh`) and the Kubernetes manifests in
//! `deploy/kubernetes/` (read by the real kubectl; with no cluster on this machine, kubectl talks
//! to a stub that only answers API discovery and "not found", which is all
//! `apply --dry-run=client` asks).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Kubernetes manifests.

/// Answers kubectl's discovery requests for the kinds the manifests use; 404 for anything else.
fn discovery_stub() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    format!("http://{addr}")
}

fn resource(name: &str, kind: &str, namespaced: bool) -> Value {
    json!({"name": name, "singularName": kind.to_lowercase(), "namespaced": namespaced, "kind": kind,
           "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
}

fn serve(mut stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).map_or(true, |n| n == 0) || header == "\r\n" {
            break;
        }
    }
    let path = request.split(' ').nth(1).unwrap_or("/").split('?').next().unwrap_or("/");
    let found = match path {
        "/api" => Some(json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})),
        "/apis" => Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{"name": "apps",
            "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]})),
        "/api/v1" => Some(json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            resource("namespaces", "Namespace", false), resource("configmaps", "ConfigMap", true),
            resource("secrets", "Secret", true), resource("serviceaccounts", "ServiceAccount", true)]})),
        "/apis/apps/v1" => Some(json!({"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": [
            resource("daemonsets", "DaemonSet", true), resource("deployments", "Deployment", true)]})),
        _ => None,
    };
    let (status, body) = match found {
        Some(b) => ("200 OK", b),
        None => (
            "404 Not Found",
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
        ),
    };
    let body = body.to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// The objects of a manifest file as kubectl reads them (`apply --dry-run=client -o json`).
fn objects(file: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: stub, cluster: {{server: \"{}\"}}}}]\ncontexts: [{{name: stub, context: {{cluster: stub, namespace: default}}}}]\ncurrent-context: stub\nusers: []\n",
            discovery_stub()
        ),
    )
    .unwrap();
    let kubectl = ["/usr/bin/kubectl", "kubectl"]
        .into_iter()
        .find(|k| Command::new(k).arg("version").arg("--client").output().is_ok_and(|o| o.status.success()));
    let Some(kubectl) = kubectl else {
        // No kubectl: the same checks on the YAML as written.
        let text = std::fs::read_to_string(file).unwrap();
        return serde_saphyr::from_multiple::<Value>(&text)
            .unwrap()
            .into_iter()
            .filter(|d| !d.is_null())
            .collect();
    };
    let out = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .args(["apply", "--dry-run=client", "--validate=false", "-o", "json", "-f", file])
        .output()
        .unwrap();
    assert!(out.status.success(), "kubectl rejects {file}: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    match v["kind"].as_str() {
        Some("List") => v["items"].as_array().unwrap().clone(),
        _ => vec![v],
    }
}

fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects.iter().find(|o| o["kind"] == kind).unwrap_or_else(|| panic!("no {kind} in {objects:#?}"))
}

fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["containers"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()
}

fn args(c: &Value) -> Vec<&str> {
    c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect()
}

fn arg_after<'a>(c: &'a Value, flag: &str) -> &'a str {
    let a = args(c);
    let i = a.iter().position(|x| *x == flag).unwrap_or_else(|| panic!("no {flag} in {a:?}"));
    a[i + 1]
}

fn env<'a>(c: &'a Value, name: &str) -> &'a Value {
    c["env"].as_array().unwrap().iter().find(|e| e["name"] == name).unwrap_or_else(|| panic!("no env {name}"))
}

fn mount<'a>(c: &'a Value, volume: &str) -> &'a Value {
    c["volumeMounts"].as_array().unwrap().iter().find(|m| m["name"] == volume).unwrap()
}

fn volume<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == name).unwrap()
}

/// The container port a probe's `port` names (a number or a port name).
fn probe_port(c: &Value, probe: &str) -> u64 {
    let port = &c[probe]["httpGet"]["port"];
    port.as_u64().unwrap_or_else(|| {
        let ports = c["ports"].as_array().unwrap();
        ports.iter().find(|p| p["name"] == *port).unwrap()["containerPort"].as_u64().unwrap()
    })
}

/// Checks what every faultline container must have; returns its config (validated by the
/// binary's own `check --config` and parsed) and the path its config is mounted at.
fn check_faultline(pod: &Value, objects: &[Value]) -> faultline::config::WatchConfig {
    let c = container(pod, "faultline");
    assert_eq!(args(c)[0], "watch");
    // Health endpoint: probes on the port --listen serves, reachable from the kubelet.
    let listen = arg_after(c, "--listen");
    assert!(listen.starts_with("0.0.0.0:"), "{listen}: kubelet probes come from outside the pod");
    let port: u64 = listen.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(port, 9464);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(probe_port(c, "livenessProbe"), port);
    assert_eq!(probe_port(c, "readinessProbe"), port);
    // Requests and limits.
    for k in ["cpu", "memory"] {
        assert!(c["resources"]["requests"][k].is_string(), "requests.{k}");
        assert!(c["resources"]["limits"][k].is_string(), "limits.{k}");
    }
    // Nothing more than needed.
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    // Checkpoints on a volume (the root filesystem is read-only).
    let state = env(c, "STATE_DIRECTORY")["value"].as_str().unwrap();
    let state_mount = c["volumeMounts"].as_array().unwrap().iter().find(|m| m["mountPath"] == state);
    assert!(state_mount.is_some_and(|m| m["readOnly"] != true), "state dir {state} is a writable volume");
    // The config: mounted where --config says, and valid for this binary.
    let config_path = Path::new(arg_after(c, "--config"));
    let config_mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| config_path.starts_with(m["mountPath"].as_str().unwrap()))
        .unwrap();
    let cm_name = volume(pod, config_mount["name"].as_str().unwrap())["configMap"]["name"].as_str().unwrap();
    let cm = objects.iter().find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == cm_name).unwrap();
    let key = config_path.file_name().unwrap().to_str().unwrap();
    let text = cm["data"][key].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(key);
    std::fs::write(&file, text).unwrap();
    let out = Command::new(common::bin()).arg("check").arg("--config").arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    faultline::config::parse(text, key).unwrap()
}

fn file_paths(cfg: &faultline::config::WatchConfig) -> Vec<String> {
    cfg.sources
        .iter()
        .flat_map(|s| match s {
            faultline::config::SourceSpec::File(f) => f.paths.clone(),
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn the_daemonset_reads_pod_logs_read_only_on_every_node_and_keeps_state_on_the_node() {
    let objects = objects("deploy/kubernetes/daemonset.yaml");
    let ds = find(&objects, "DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    let cfg = check_faultline(pod, &objects);
    let c = container(pod, "faultline");
    // Every node: a toleration for every taint.
    let tolerations = pod["tolerations"].as_array().unwrap();
    assert!(
        tolerations.iter().any(|t| t["operator"] == "Exists" && t["key"].is_null() && t["effect"].is_null())
    );
    // /var/log/pods from the host, read-only; the config follows files under it.
    assert_eq!(volume(pod, "pod-logs")["hostPath"]["path"], "/var/log/pods");
    let logs = mount(c, "pod-logs");
    assert_eq!((logs["mountPath"].as_str(), &logs["readOnly"]), (Some("/var/log/pods"), &json!(true)));
    let paths = file_paths(&cfg);
    assert!(!paths.is_empty() && paths.iter().all(|p| p.starts_with("/var/log/pods/")), "{paths:?}");
    // State in a hostPath directory (a new pod on the node resumes from the checkpoints).
    let state = env(c, "STATE_DIRECTORY")["value"].as_str().unwrap();
    let state_volume =
        c["volumeMounts"].as_array().unwrap().iter().find(|m| m["mountPath"] == state).unwrap();
    assert!(volume(pod, state_volume["name"].as_str().unwrap())["hostPath"]["path"].is_string());
    // Findings to Alertmanager, named after the node.
    assert!(arg_after(c, "--alertmanager").starts_with("http"));
    assert_eq!(env(c, "FAULTLINE_HOST")["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName");
}

#[test]
fn the_sidecar_shares_an_empty_dir_with_the_app_and_needs_no_privilege() {
    let objects = objects("deploy/kubernetes/sidecar.yaml");
    let deploy = find(&objects, "Deployment");
    let pod = &deploy["spec"]["template"]["spec"];
    let cfg = check_faultline(pod, &objects);
    let c = container(pod, "faultline");
    let app = container(pod, "app");
    // The log volume: an emptyDir both mount, read-only for faultline.
    let shared: Vec<&Value> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| app["volumeMounts"].as_array().unwrap().iter().any(|a| a["name"] == m["name"]))
        .collect();
    assert_eq!(shared.len(), 1, "one volume shared with the app");
    let shared = shared[0];
    assert!(volume(pod, shared["name"].as_str().unwrap())["emptyDir"].is_object());
    assert_eq!(shared["readOnly"], true);
    let mount_path = shared["mountPath"].as_str().unwrap();
    let paths = file_paths(&cfg);
    assert!(!paths.is_empty() && paths.iter().all(|p| p.starts_with(&format!("{mount_path}/"))), "{paths:?}");
    // Non-root.
    assert_eq!(c["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["runAsUser"], 65532);
    // Findings to a webhook whose URL comes from a Secret.
    assert_eq!(arg_after(c, "--webhook"), "$(WEBHOOK_URL)");
    let secret_ref = &env(c, "WEBHOOK_URL")["valueFrom"]["secretKeyRef"];
    let secret = find(&objects, "Secret");
    assert_eq!(secret["metadata"]["name"], secret_ref["name"]);
    let key = secret_ref["key"].as_str().unwrap();
    assert!(secret["stringData"][key].is_string() || secret["data"][key].is_string());
}

// ---------------------------------------------------------------------------------------------
// The image.

/// `ENTRYPOINT`, `CMD`, `USER` and `ENV` of each stage of the Dockerfile.
fn stage_settings(dockerfile: &str) -> Vec<(String, Vec<String>)> {
    let mut stages: Vec<(String, Vec<String>)> = Vec::new();
    for line in dockerfile.lines() {
        if let Some(from) = line.strip_prefix("FROM ") {
            stages.push((from.split(" AS ").nth(1).unwrap_or("").trim().to_string(), Vec::new()));
        } else if ["ENTRYPOINT ", "CMD ", "USER ", "ENV "].iter().any(|k| line.starts_with(k)) {
            stages.last_mut().unwrap().1.push(line.to_string());
        }
    }
    stages
}

#[test]
fn the_public_build_and_the_prebuilt_target_make_the_same_image() {
    let dockerfile = std::fs::read_to_string("Dockerfile").unwrap();
    let stages = stage_settings(&dockerfile);
    let get =
        |name: &str| &stages.iter().find(|s| s.0 == name).unwrap_or_else(|| panic!("no stage {name}")).1;
    assert_eq!(get("prebuilt"), get("runtime"));
    assert_eq!(stages.last().unwrap().0, "runtime", "`docker build .` builds the public-base image");
    assert_eq!(stages[0].0, "prebuilt", "builders without BuildKit build only it for --target prebuilt");
    assert!(get("runtime").contains(&r#"ENTRYPOINT ["/usr/local/bin/faultline"]"#.to_string()));
    let ignore = std::fs::read_to_string(".dockerignore").unwrap();
    assert!(ignore.lines().any(|l| l == "target/*") && ignore.lines().any(|l| l == "!target/image-root"));
}

struct Image {
    host: String,
    tag: String,
}

impl Image {
    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker").env("DOCKER_HOST", &self.host).args(args).output().unwrap()
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = self.docker(&["rmi", "-f", &self.tag]);
    }
}

#[test]
fn the_image_from_the_cargo_binary_runs_on_scratch_with_an_exec_form_entrypoint() {
    let host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| {
        panic!("this test needs a Docker engine: run scripts/test.sh, or first `eval \"$(scripts/services/dockerd.sh start)\"`")
    });
    let ctx = tempfile::tempdir().unwrap();
    let rootfs = ctx.path().join("target/image-root");
    let staged = Command::new("scripts/image-rootfs.sh").arg(common::bin()).arg(&rootfs).output().unwrap();
    assert!(staged.status.success(), "{}", String::from_utf8_lossy(&staged.stderr));
    let image = Image { host, tag: format!("faultline-test:{}", std::process::id()) };
    let dockerfile = PathBuf::from("Dockerfile").canonicalize().unwrap();
    let built = image.docker(&[
        "build",
        "--quiet",
        "--target",
        "prebuilt",
        "-f",
        dockerfile.to_str().unwrap(),
        "-t",
        &image.tag,
        ctx.path().to_str().unwrap(),
    ]);
    assert!(built.status.success(), "docker build: {}", String::from_utf8_lossy(&built.stderr));

    // What the entrypoint-misconfigured playbook recommends checking.
    let run = image.docker(&["run", "--rm", "--network", "none", &image.tag, "--version"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        format!("faultline {}", env!("CARGO_PKG_VERSION"))
    );
    let inspect = image.docker(&["inspect", "--format", "{{json .Config}}", &image.tag]);
    let config: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(config["Entrypoint"], json!(["/usr/local/bin/faultline"]), "exec form");
    assert_eq!(config["Cmd"], json!(["watch", "--config", "/etc/faultline/faultline.yaml"]));
    assert_eq!(config["User"], "65532:65532");

    // No shell at run time.
    let sh = image.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/bin/sh",
        &image.tag,
        "-c",
        "true",
    ]);
    assert!(!sh.status.success());

    // The default command runs as the non-root user on a read-only root filesystem, with its
    // state in the image's state directory mounted as a volume.
    let name = format!("faultline-test-{}", std::process::id());
    let state = format!("{}:/var/lib/faultline", ctx.path().join("state").display());
    std::fs::create_dir(ctx.path().join("state")).unwrap();
    std::fs::set_permissions(ctx.path().join("state"), std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .unwrap();
    let started = image.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--read-only",
        "-v",
        &state,
        "--name",
        &name,
        &image.tag,
    ]);
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    let mut logs = String::new();
    common::wait_until("the default command to start watching", || {
        let out = image.docker(&["logs", &name]);
        logs = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
        logs.contains("Watching.")
    });
    let _ = image.docker(&["rm", "-f", &name]);
    assert!(logs.contains("state_dir=/var/lib/faultline"), "{logs}");
    assert!(ctx.path().join("state/checkpoints").is_dir(), "the state directory is used: {logs}");
}
