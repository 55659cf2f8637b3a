//! Kubernetes identity of a container log file, from its path (kubelet's layout):
//!
//! * `/var/log/pods/<namespace>_<pod>_<pod uid>/<container>/<restart>.log`
//! * `/var/log/containers/<pod>_<namespace>_<container>-<container id>.log` (symlinks to the above)
//!
//! Namespace and pod names cannot hold `_` (they are DNS labels), which makes both unambiguous.

use std::collections::BTreeMap;
use std::path::Path;

/// `namespace`, `pod`, `container` (and `pod_uid` or `container_id`) for a kubelet log path;
/// empty for any other path.
pub fn labels_from_path(path: &Path) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let parts: Vec<&str> = path.iter().filter_map(|c| c.to_str()).collect();
    let n = parts.len();
    let mut put = |k: &str, v: &str| {
        labels.insert(k.to_string(), v.to_string());
    };
    // …/pods/<ns>_<pod>_<uid>/<container>/<n>.log
    if n >= 4 && parts[n - 4] == "pods" {
        let file = parts[n - 1];
        let restart =
            file.strip_suffix(".log").filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()));
        let pod_dir: Vec<&str> = parts[n - 3].split('_').collect();
        if let (Some(_), [ns, pod, uid]) = (restart, pod_dir.as_slice()) {
            if !ns.is_empty() && !pod.is_empty() && !uid.is_empty() && !parts[n - 2].is_empty() {
                put("namespace", ns);
                put("pod", pod);
                put("pod_uid", uid);
                put("container", parts[n - 2]);
            }
        }
        return labels;
    }
    // …/containers/<pod>_<ns>_<container>-<id>.log
    if n >= 2 && parts[n - 2] == "containers" {
        let Some(stem) = parts[n - 1].strip_suffix(".log") else { return labels };
        let fields: Vec<&str> = stem.splitn(3, '_').collect();
        if let [pod, ns, rest] = fields.as_slice() {
            if let Some((container, id)) = rest.rsplit_once('-') {
                let is_id = id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit());
                if is_id && !pod.is_empty() && !ns.is_empty() && !container.is_empty() {
                    put("namespace", ns);
                    put("pod", pod);
                    put("container", container);
                    put("container_id", id);
                }
            }
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Vec<(String, String)> {
        labels_from_path(Path::new(path)).into_iter().collect()
    }

    #[test]
    fn pods_and_containers_paths() {
        let l = get("/var/log/pods/shop_web-7d9f_0b1c2d3e-aaaa-bbbb-cccc-0123456789ab/nginx/3.log");
        assert_eq!(
            l,
            vec![
                ("container".into(), "nginx".into()),
                ("namespace".into(), "shop".into()),
                ("pod".into(), "web-7d9f".into()),
                ("pod_uid".into(), "0b1c2d3e-aaaa-bbbb-cccc-0123456789ab".into()),
            ]
        );
        let id = "4f6a2b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a";
        let l = get(&format!("/var/log/containers/web-7d9f_shop_istio-proxy-{id}.log"));
        assert_eq!(
            l,
            vec![
                ("container".into(), "istio-proxy".into()),
                ("container_id".into(), id.into()),
                ("namespace".into(), "shop".into()),
                ("pod".into(), "web-7d9f".into()),
            ]
        );
    }

    #[test]
    fn other_paths_have_no_labels() {
        assert!(get("/var/log/syslog").is_empty());
        assert!(get("/var/log/pods/shop_web_uid/nginx/0.log.20261126-100000").is_empty());
        assert!(get("/var/log/pods/not-a-pod-dir/nginx/0.log").is_empty());
        assert!(get("/var/log/containers/plain.log").is_empty());
    }
}
