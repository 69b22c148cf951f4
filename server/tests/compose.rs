//! `docker-compose.yml` and the Grafana provisioning it mounts, checked without Docker: every
//! build context, bind mount and dependency resolves, the services that others wait on have
//! health checks, ports are the documented ones and bound to loopback, and Grafana's data
//! source points at the compose service with the password the server is given.
//!
//! YAML is read by `python3` with PyYAML (printed as JSON for `serde_json`): the workspace has
//! no YAML crate, and one test is not worth adding it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `path` (relative to the repository) parsed by PyYAML's `safe_load`.
fn yaml(path: &str) -> Value {
    let file = repo().join(path);
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("python3 is needed to read YAML ({e})"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'yaml'"),
        "this test reads YAML with python3 and PyYAML, which is missing: install the Debian \
         package python3-yaml (or `pip install PyYAML`); scripts/install-clients.sh should do it"
    );
    assert!(out.status.success(), "cannot parse {path}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The strings of a list, or the keys of a map (compose accepts both for `depends_on`,
/// `environment`).
fn names(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap().to_string())
            .collect(),
        Value::Object(map) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// A service's environment variable (map or `KEY=value` list form).
fn env<'a>(service: &'a Value, key: &str) -> Option<&'a str> {
    match service.get("environment")? {
        Value::Object(map) => map.get(key)?.as_str(),
        Value::Array(items) => items.iter().find_map(|i| {
            let (k, v) = i.as_str()?.split_once('=')?;
            (k == key).then_some(v)
        }),
        _ => None,
    }
}

/// (host path or volume name, container path) of each volume entry, short or long syntax.
fn volumes(service: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for v in service
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match v {
            Value::String(s) => {
                let mut parts = s.split(':');
                let source = parts.next().unwrap().to_string();
                let target = parts.next().unwrap_or_default().to_string();
                out.push((source, target));
            }
            Value::Object(m) => out.push((
                m["source"].as_str().unwrap().to_string(),
                m["target"].as_str().unwrap().to_string(),
            )),
            other => panic!("unexpected volume entry {other}"),
        }
    }
    out
}

/// (host IP, host port, container port) of each published port, short syntax.
fn ports(service: &Value) -> Vec<(String, u16, u16)> {
    service
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let s = p.as_str().expect("ports in short syntax");
            let parts: Vec<&str> = s.split(':').collect();
            assert_eq!(parts.len(), 3, "{s}: publish as IP:host:container");
            (
                parts[0].to_string(),
                parts[1].parse().unwrap(),
                parts[2].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn compose_file_is_consistent() {
    let compose = yaml("docker-compose.yml");
    let services = compose["services"].as_object().expect("services");
    let declared_volumes: BTreeSet<String> = compose
        .get("volumes")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for name in [
        "kafka",
        "postgres",
        "loginsight",
        "worker",
        "grafana",
        "loggen",
    ] {
        assert!(services.contains_key(name), "no {name} service");
    }

    for (name, service) in services {
        // Build contexts and their Dockerfiles exist.
        if let Some(build) = service.get("build") {
            let (context, dockerfile) = match build {
                Value::String(c) => (c.as_str(), "Dockerfile"),
                Value::Object(m) => (
                    m.get("context").and_then(Value::as_str).unwrap_or("."),
                    m.get("dockerfile")
                        .and_then(Value::as_str)
                        .unwrap_or("Dockerfile"),
                ),
                other => panic!("{name}: build {other}"),
            };
            let context = repo().join(context);
            assert!(context.is_dir(), "{name}: no build context {context:?}");
            assert!(
                context.join(dockerfile).is_file(),
                "{name}: no {dockerfile} in {context:?}"
            );
        } else {
            assert!(
                service.get("image").is_some(),
                "{name}: neither build nor image"
            );
        }

        // Bind mounts exist in the repository; named volumes are declared.
        for (source, target) in volumes(service) {
            assert!(target.starts_with('/'), "{name}: volume target {target}");
            if source.starts_with("./") || source.starts_with("../") {
                let path = repo().join(&source);
                assert!(path.exists(), "{name}: bind mount {source} does not exist");
            } else {
                assert!(
                    !source.starts_with('/'),
                    "{name}: absolute host path {source} ties the file to one machine"
                );
                assert!(
                    declared_volumes.contains(&source),
                    "{name}: volume {source} is not declared"
                );
            }
        }

        // Dependencies name services, and wait for what they can observe.
        if let Some(depends) = service.get("depends_on") {
            for dep in names(depends) {
                let target = services
                    .get(&dep)
                    .unwrap_or_else(|| panic!("{name} depends on unknown service {dep}"));
                let condition = depends
                    .get(&dep)
                    .and_then(|d| d.get("condition"))
                    .and_then(Value::as_str);
                match condition {
                    Some("service_healthy") => assert!(
                        target.get("healthcheck").is_some(),
                        "{name} waits for {dep} to be healthy, but {dep} has no healthcheck"
                    ),
                    Some("service_completed_successfully") | Some("service_started") => {}
                    other => panic!("{name} → {dep}: condition {other:?}; say what to wait for"),
                }
            }
        }

        // Every published port is on loopback; exposing further is an explicit choice.
        for (ip, host, _) in ports(service) {
            assert_eq!(
                ip, "127.0.0.1",
                "{name}: port {host} is published beyond loopback"
            );
        }
    }

    for name in ["kafka", "postgres", "loginsight", "grafana"] {
        let check = services[name].get("healthcheck");
        let test = check.and_then(|h| h.get("test"));
        assert!(
            test.is_some_and(|t| !t.is_null()),
            "{name} has no healthcheck"
        );
    }

    // The documented ports: HTTP, SQL and gRPC on the server, 3000 on Grafana, nothing else.
    let published = |name: &str| -> Vec<(u16, u16)> {
        ports(&services[name])
            .into_iter()
            .map(|(_, h, c)| (h, c))
            .collect()
    };
    assert_eq!(
        published("loginsight"),
        [(8080, 8080), (5433, 5433), (4317, 4317)]
    );
    assert_eq!(published("grafana"), [(3000, 3000)]);
    for (name, _) in services {
        if name != "loginsight" && name != "grafana" {
            assert!(published(name).is_empty(), "{name} publishes ports");
        }
    }

    // The server listens where the ports point, and Kafka and PostgreSQL are wired in.
    let loginsight = &services["loginsight"];
    let command = names(&loginsight["command"]);
    assert_eq!(command.first().map(String::as_str), Some("serve"));
    for (flag, value) in [
        ("--http-addr", "0.0.0.0:8080"),
        ("--pg-addr", "0.0.0.0:5433"),
        ("--grpc-addr", "0.0.0.0:4317"),
    ] {
        let at = command.iter().position(|a| a == flag);
        let given = at.and_then(|i| command.get(i + 1)).map(String::as_str);
        assert_eq!(given, Some(value), "serve {flag}");
    }
    assert_eq!(env(loginsight, "LOGINSIGHT_BROKERS"), Some("kafka:9092"));
    assert!(
        env(loginsight, "LOGINSIGHT_INSIGHTS_URL").is_some_and(|u| u.contains("@postgres:5432/")),
        "insights go to the postgres service"
    );
    // Beyond loopback the SQL endpoint needs a password; Grafana must know the same one.
    let password = env(loginsight, "LOGINSIGHT_SQL_PASSWORD").expect("a SQL password");
    assert!(!password.is_empty());
    assert_eq!(
        env(&services["grafana"], "LOGINSIGHT_SQL_PASSWORD"),
        Some(password)
    );

    // Workers scale: no fixed name, no ports, and they reach the SQL endpoint with the password.
    let worker = &services["worker"];
    assert_eq!(
        names(&worker["command"]).first().map(String::as_str),
        Some("worker")
    );
    assert!(
        worker.get("container_name").is_none(),
        "--scale needs unnamed containers"
    );
    let sql_url = env(worker, "LOGINSIGHT_SQL_URL").expect("worker LOGINSIGHT_SQL_URL");
    assert_eq!(
        sql_url,
        format!("postgres://loginsight:{password}@loginsight:5433/loginsight"),
        "worker SQL URL"
    );

    // The generator runs once, after the server is up.
    let loggen = &services["loggen"];
    assert_eq!(
        loggen["depends_on"]["loginsight"]["condition"].as_str(),
        Some("service_healthy")
    );
    assert_ne!(
        loggen.get("restart").and_then(Value::as_str),
        Some("always")
    );
}

#[test]
fn grafana_provisioning_matches_compose() {
    let compose = yaml("docker-compose.yml");
    let services = &compose["services"];
    let grafana = &services["grafana"];
    assert!(
        grafana["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("grafana/grafana-oss:")),
        "Grafana image {}",
        grafana["image"]
    );
    let mounts = volumes(grafana);
    let mounted = |source: &str| {
        mounts
            .iter()
            .find(|(s, _)| s == source)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("grafana does not mount {source}"))
    };
    assert_eq!(
        mounted("./grafana/provisioning"),
        "/etc/grafana/provisioning"
    );
    let dashboards_in_container = mounted("./grafana/dashboards");

    // The dashboard provider loads from where the dashboards are mounted, and there are some.
    let provider = yaml("grafana/provisioning/dashboards/loginsight.yaml");
    let path = provider["providers"][0]["options"]["path"].as_str();
    assert_eq!(path, Some(dashboards_in_container.as_str()));
    let dashboards: Vec<PathBuf> = std::fs::read_dir(repo().join("grafana/dashboards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert!(!dashboards.is_empty());
    let home = grafana_env(grafana, "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH");
    if let Some(home) = home {
        let file = home
            .strip_prefix(&format!("{dashboards_in_container}/"))
            .expect("the home dashboard is a provisioned one");
        assert!(
            repo().join("grafana/dashboards").join(file).is_file(),
            "{home}"
        );
    }

    // The data source: the compose service, its SQL port, database and user, the password
    // from the environment Grafana is given.
    let datasources = yaml("grafana/provisioning/datasources/loginsight.yaml");
    let ds = &datasources["datasources"][0];
    assert_eq!(ds["type"], "grafana-postgresql-datasource");
    let uid = ds["uid"].as_str().unwrap();
    assert_eq!(uid, "loginsight");
    let url = ds["url"].as_str().unwrap();
    let (host, port) = url.split_once(':').expect("url is host:port");
    let server = &services[host];
    assert!(
        server.is_object(),
        "the data source host {host} is not a service"
    );
    let pg_port: u16 = port.parse().unwrap();
    let command = names(&server["command"]);
    let pg_addr = command
        .iter()
        .position(|a| a == "--pg-addr")
        .and_then(|i| command.get(i + 1))
        .expect("--pg-addr");
    assert!(
        pg_addr.ends_with(&format!(":{pg_port}")),
        "{pg_addr} vs {url}"
    );
    assert_eq!(ds["jsonData"]["database"], "loginsight");
    assert_eq!(ds["user"], "loginsight");
    assert_eq!(
        ds["secureJsonData"]["password"],
        "${LOGINSIGHT_SQL_PASSWORD}"
    );
    assert!(grafana_env(grafana, "LOGINSIGHT_SQL_PASSWORD").is_some());
    assert_eq!(ds["jsonData"]["timescaledb"], false);
    let sslmode = ds["jsonData"]["sslmode"].as_str();
    assert!(
        matches!(
            sslmode,
            Some("disable" | "require" | "verify-ca" | "verify-full")
        ),
        "sslmode {sslmode:?}"
    );

    // Every panel and variable of every dashboard uses this data source.
    for path in dashboards {
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let mut uids = Vec::new();
        datasource_uids(&dashboard, &mut uids);
        assert!(!uids.is_empty(), "{path:?} names no data source");
        for found in uids {
            assert!(
                found == uid || found == "-- Grafana --",
                "{path:?}: data source {found}"
            );
        }
    }
}

fn grafana_env(service: &Value, key: &str) -> Option<String> {
    env(service, key).map(str::to_string)
}

fn datasource_uids(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Array(items) => items.iter().for_each(|i| datasource_uids(i, out)),
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v.get("uid").and_then(Value::as_str)) {
                    ("datasource", Some(uid)) => out.push(uid.to_string()),
                    _ => datasource_uids(v, out),
                }
            }
        }
        _ => {}
    }
}
