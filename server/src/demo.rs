//! `loginsight demo`: a realistic workload with incidents, sent to a running server, so a new
//! user sees what the product is for within a minute of `serve` starting.
//!
//! The estate is a small shop: a gateway in front of checkout, catalog and auth, which call
//! orders, payments and inventory, which use a database proxy and a cache. Normal traffic
//! (requests, cache hits, jobs, the odd warning) covers the last `--minutes`, ending now, and
//! three incidents cascade through it: a root cause in one service starts first, then its
//! callers time out and fail naming it, sharing trace ids with it. So `analyze()`, the
//! insights and the dashboards have something real to show.
//!
//! Deterministic per `--seed`: the same seed gives the same records, with timestamps
//! relative to the moment the run starts. Records go to `POST /v1/logs` as gzip NDJSON, in
//! time order, paced to `--rate`.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use serde_json::json;

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// The server's HTTP address
    #[arg(long, env = "LOGINSIGHT_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Lines to send
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub lines: u64,
    /// Lines per second; 0 sends as fast as the server takes them
    #[arg(long, default_value_t = 20_000)]
    pub rate: u64,
    /// Seed of the generator: the same seed sends the same records
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Minutes of history the lines cover, ending now
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(3..=10_080))]
    pub minutes: u64,
    /// Bearer token, when the server has `--ingest-tokens`
    #[arg(long, env = "LOGINSIGHT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Service → (the services that call it, hosts).
const SERVICES: &[(&str, &[&str], usize)] = &[
    ("gateway", &[], 4),
    ("checkout", &["gateway"], 4),
    ("catalog", &["gateway"], 3),
    ("auth", &["gateway"], 2),
    ("orders", &["checkout"], 4),
    ("payments", &["checkout"], 3),
    ("inventory", &["orders", "catalog"], 3),
    ("postgres-proxy", &["orders", "payments", "inventory"], 2),
    ("redis-cache", &["checkout", "catalog", "auth"], 2),
];

const PATHS: &[&str] = &[
    "/api/v1/orders",
    "/api/v1/cart",
    "/api/v1/items/{id}",
    "/api/v1/users/me",
    "/api/v1/pay",
    "/api/v1/search",
];
const TABLES: &[&str] = &["orders", "order_items", "users", "payments", "stock"];
const FIELDS: &[&str] = &["email", "postcode", "quantity", "currency", "sku"];
const JOBS: &[&str] = &["reindex", "gc", "export", "reconcile"];
const REGIONS: &[&str] = &["eu-west-1", "eu-central-1"];

/// What can go wrong first: the service it starts in, and how it reads.
struct Cause {
    service: &'static str,
    level: &'static str,
    what: &'static str,
    trace: Option<Trace>,
}

#[derive(Clone, Copy)]
enum Trace {
    Java,
    Go,
    Rust,
    Python,
}

const CAUSES: &[Cause] = &[
    Cause {
        service: "postgres-proxy",
        level: "ERROR",
        what: "connection pool exhausted: {n} of {n} connections in use, waited {ms}ms",
        trace: Some(Trace::Java),
    },
    Cause {
        service: "redis-cache",
        level: "ERROR",
        what: "OOM command not allowed when used memory > 'maxmemory' (used={mb}mb)",
        trace: None,
    },
    Cause {
        service: "payments",
        level: "CRITICAL",
        what: "TLS handshake with acquirer failed: certificate has expired (notAfter={date})",
        trace: Some(Trace::Go),
    },
    Cause {
        service: "inventory",
        level: "ERROR",
        what: "disk full: write /var/lib/inventory/segment-{n}.log: no space left on device",
        trace: Some(Trace::Rust),
    },
    Cause {
        service: "auth",
        level: "ERROR",
        what: "panic: runtime error: invalid memory address or nil pointer dereference",
        trace: Some(Trace::Go),
    },
    Cause {
        service: "orders",
        level: "ERROR",
        what: "Traceback: KeyError: '{field}' while serialising order {order}",
        trace: Some(Trace::Python),
    },
];

/// One incident of the run: when it starts and ends (as offsets from the first line), and
/// where it spreads.
pub struct Incident {
    cause: &'static Cause,
    /// Fraction of the run at which the cause starts, and where everything is over.
    start: f64,
    end: f64,
    /// Callers, and their callers, up to the gateway.
    affected: Vec<&'static str>,
}

impl Incident {
    pub fn root_service(&self) -> &'static str {
        self.cause.service
    }
}

/// Every service that (transitively) calls `service`.
fn callers_of(service: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let mut todo = vec![service.to_string()];
    while let Some(s) = todo.pop() {
        let Some((_, callers, _)) = SERVICES.iter().find(|(name, _, _)| *name == s) else {
            continue;
        };
        for c in *callers {
            if !out.contains(c) {
                out.push(c);
                todo.push((*c).to_string());
            }
        }
    }
    out.sort_unstable();
    out
}

/// The seeded generator.
pub struct Generator {
    rng: fastrand::Rng,
    incidents: Vec<Incident>,
    lines: u64,
    first: DateTime<Utc>,
    step_ms: f64,
    next: u64,
}

impl Generator {
    /// `lines` records spread over `span`, the last one at `end`.
    pub fn new(seed: u64, lines: u64, span: Duration, end: DateTime<Utc>) -> Generator {
        let mut rng = fastrand::Rng::with_seed(seed);
        // Three different causes, in an order the seed picks; each incident takes about a
        // tenth of the run, the first one early so its insight shows up soon.
        let mut order: Vec<usize> = (0..CAUSES.len()).collect();
        rng.shuffle(&mut order);
        let incidents = order
            .into_iter()
            .take(3)
            .zip([0.08, 0.45, 0.75])
            .map(|(i, at)| {
                let start = at + rng.f64() * 0.05;
                Incident {
                    cause: &CAUSES[i],
                    start,
                    end: start + 0.1,
                    affected: callers_of(CAUSES[i].service),
                }
            })
            .collect();
        let span_ms = span.as_millis() as f64;
        Generator {
            rng,
            incidents,
            lines,
            first: end - chrono::Duration::milliseconds(span_ms as i64),
            step_ms: span_ms / lines.max(1) as f64,
            next: 0,
        }
    }

    pub fn incidents(&self) -> &[Incident] {
        &self.incidents
    }

    /// The time of line `i` of the run.
    fn time_of(&self, i: u64) -> DateTime<Utc> {
        self.first + chrono::Duration::milliseconds((i as f64 * self.step_ms) as i64)
    }

    /// The next record, or `None` after the last line.
    pub fn next_record(&mut self) -> Option<serde_json::Value> {
        if self.next >= self.lines {
            return None;
        }
        let i = self.next;
        self.next += 1;
        let at = i as f64 / self.lines as f64;
        let jitter = (self.rng.f64() * self.step_ms) as i64;
        let ts = self.time_of(i) + chrono::Duration::milliseconds(jitter);
        let trace_id = format!("{:032x}", self.rng.u128(..));
        let active = self
            .incidents
            .iter()
            .position(|inc| inc.start <= at && at < inc.end);
        let (service, level, message, attrs) = match active {
            Some(k) if self.rng.f64() < 0.35 => self.incident_line(k, at),
            _ => self.normal_line(),
        };
        let hosts = SERVICES
            .iter()
            .find(|(name, _, _)| *name == service)
            .map_or(1, |(_, _, n)| *n);
        let mut record = json!({
            "timestamp": ts.to_rfc3339_opts(SecondsFormat::Millis, true),
            "level": level,
            "service": service,
            "host": format!("{service}-{}", self.rng.usize(..hosts)),
            "message": message,
            "trace_id": trace_id,
            "region": REGIONS[self.rng.usize(..REGIONS.len())],
        });
        if let (Some(obj), serde_json::Value::Object(extra)) = (record.as_object_mut(), attrs) {
            obj.extend(extra);
        }
        Some(record)
    }

    fn normal_line(&mut self) -> (&'static str, &'static str, String, serde_json::Value) {
        let service = SERVICES[self.rng.usize(..SERVICES.len())].0;
        let r = &mut self.rng;
        // Mostly requests; rarer kinds further down, like real traffic.
        let kind = ((-r.f64().max(1e-12).ln()) / 0.35) as usize;
        let ms = r.u32(1..800);
        let (level, message, attrs) = match kind.min(11) {
            0 | 1 => {
                let path =
                    PATHS[r.usize(..PATHS.len())].replace("{id}", &r.u32(1..99_999).to_string());
                let status = if r.f64() < 0.97 { 200 } else { 404 };
                (
                    "INFO",
                    format!("GET {path} completed status={status} duration_ms={ms}"),
                    json!({"http_status": status, "duration_ms": ms, "path": path}),
                )
            }
            2 => {
                let path =
                    PATHS[r.usize(..PATHS.len())].replace("{id}", &r.u32(1..99_999).to_string());
                (
                    "INFO",
                    format!("POST {path} completed status=201 duration_ms={ms}"),
                    json!({"http_status": 201, "duration_ms": ms, "path": path}),
                )
            }
            3 => (
                "DEBUG",
                format!(
                    "cache hit key=cart:{} ttl={}s",
                    r.u32(1..1_000_000),
                    [30, 60, 300][r.usize(..3)]
                ),
                json!({}),
            ),
            4 => (
                "DEBUG",
                format!("cache miss key=item:{}", r.u32(1..1_000_000)),
                json!({}),
            ),
            5 => (
                "INFO",
                format!(
                    "user u{:06} logged in from 10.{}.{}.{}",
                    r.u32(1..999_999),
                    r.u8(..),
                    r.u8(..),
                    r.u8(1..255)
                ),
                json!({}),
            ),
            6 => {
                let total = f64::from(r.u32(100..90_000)) / 100.0;
                (
                    "INFO",
                    format!(
                        "order ord_{:08x} created total={total:.2} currency=EUR items={}",
                        r.u32(..),
                        r.u8(1..12)
                    ),
                    json!({"amount": total}),
                )
            }
            7 => (
                "WARN",
                format!(
                    "slow query took {}ms: SELECT * FROM {} WHERE id = ${}",
                    r.u32(500..5_000),
                    TABLES[r.usize(..TABLES.len())],
                    r.u8(1..9)
                ),
                json!({}),
            ),
            8 => (
                "INFO",
                format!(
                    "payment pay_{:08x} authorised amount={:.2} card=****{:04}",
                    r.u32(..),
                    f64::from(r.u32(100..90_000)) / 100.0,
                    r.u16(..10_000)
                ),
                json!({}),
            ),
            9 => (
                "INFO",
                format!(
                    "scheduled job {} finished in {ms}ms, {} rows",
                    JOBS[r.usize(..JOBS.len())],
                    r.u32(1..100_000)
                ),
                json!({}),
            ),
            10 => (
                "WARN",
                format!(
                    "validation failed for field \"{}\": value is not allowed",
                    FIELDS[r.usize(..FIELDS.len())]
                ),
                json!({"http_status": 422}),
            ),
            _ => (
                "INFO",
                format!("health check ok, uptime={}s", r.u32(1..1_000_000)),
                json!({}),
            ),
        };
        (service, level, message, attrs)
    }

    fn incident_line(
        &mut self,
        k: usize,
        at: f64,
    ) -> (&'static str, &'static str, String, serde_json::Value) {
        let inc = &self.incidents[k];
        let cause = inc.cause;
        let root = cause.service;
        // The cause alone for its first fifth; then mostly the symptoms it causes upstream.
        let cause_only = at < inc.start + (inc.end - inc.start) * 0.2;
        let r = &mut self.rng;
        if cause_only || r.f64() < 0.3 {
            let mut message = fill(cause.what, r);
            if let Some(kind) = cause.trace.filter(|_| r.f64() < 0.5) {
                message.push_str(&stack(kind, root, r));
            }
            return (root, cause.level, message, json!({}));
        }
        let caller = inc.affected[r.usize(..inc.affected.len())];
        let ms = [1_000, 3_000, 5_000][r.usize(..3)];
        let (level, message, status) = match r.usize(..10) {
            0..=4 => (
                "ERROR",
                format!(
                    "upstream {root} timed out after {ms}ms (request_id={:016x})",
                    r.u64(..)
                ),
                504,
            ),
            5..=8 => (
                "ERROR",
                format!("call to {root} failed: status=503 Service Unavailable"),
                503,
            ),
            _ => (
                "WARN",
                format!(
                    "circuit breaker for {root} is now OPEN after {} failures",
                    r.u8(5..50)
                ),
                503,
            ),
        };
        (
            caller,
            level,
            message,
            json!({"http_status": status, "upstream": root}),
        )
    }
}

fn fill(template: &str, r: &mut fastrand::Rng) -> String {
    template
        .replace("{n}", &r.u8(16..64).to_string())
        .replace("{ms}", &r.u32(1_000..30_000).to_string())
        .replace("{mb}", &r.u32(1_000..4_096).to_string())
        .replace("{date}", &format!("2026-11-{:02}", r.u8(1..29)))
        .replace("{field}", FIELDS[r.usize(..FIELDS.len())])
        .replace("{order}", &format!("ord_{:08x}", r.u32(..)))
}

/// A stack trace in the language of the failing service.
fn stack(kind: Trace, service: &str, r: &mut fastrand::Rng) -> String {
    match kind {
        Trace::Java => format!(
            "\njava.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.\n\
             \tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)\n\
             \tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)\n\
             \tat io.shop.db.Repository.query(Repository.java:{})\n\
             Caused by: java.net.SocketTimeoutException: Read timed out",
            r.u16(40..400)
        ),
        Trace::Go => format!(
            "\ngoroutine {} [running]:\nmain.(*Handler).ServeHTTP(0xc000{:05x}, {{0x9a1b40, 0xc0001b6000}})\n\
             \t/src/{service}/handler.go:{} +0x1d4\nnet/http.serverHandler.ServeHTTP(...)\n\
             \t/usr/local/go/src/net/http/server.go:2936",
            r.u16(1..900),
            r.u32(..0xF_FFFF),
            r.u16(20..300)
        ),
        Trace::Rust => format!(
            "\nthread 'tokio-runtime-worker' panicked at src/segment.rs:{}:14:\n\
             called `Result::unwrap()` on an `Err` value: Os {{ code: 28, kind: StorageFull, message: \"No space left on device\" }}\n\
             stack backtrace:\n   0: rust_begin_unwind\n   1: inventory::segment::Writer::append",
            r.u16(10..500)
        ),
        Trace::Python => format!(
            "\nTraceback (most recent call last):\n  File \"/app/orders/serialize.py\", line {}, in to_json\n\
             \x20   \"sku\": item[\"sku\"],\nKeyError: 'sku'",
            r.u16(10..200)
        ),
    }
}

/// Lines per request: small enough that a slow rate still sends several requests a second.
fn batch_size(rate: u64) -> u64 {
    if rate == 0 {
        2_000
    } else {
        (rate / 5).clamp(100, 2_000)
    }
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let base = reqwest::Url::parse(&args.url)
        .with_context(|| format!("--url {:?} is not a URL", args.url))?;
    let endpoint = base.join("/v1/logs")?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("cannot build the HTTP client")?;
    let mut generator = Generator::new(
        args.seed,
        args.lines,
        Duration::from_secs(args.minutes * 60),
        Utc::now(),
    );
    let minute = |fraction: f64| {
        (generator.time_of((fraction * args.lines as f64) as u64))
            .format("%H:%M")
            .to_string()
    };
    println!(
        "sending {} lines covering the last {} minutes to {endpoint}, with three incidents:",
        args.lines, args.minutes
    );
    for inc in generator.incidents() {
        println!(
            "  {}–{} UTC  root cause in {}, felt by {}",
            minute(inc.start),
            minute(inc.end.min(1.0)),
            inc.root_service(),
            inc.affected.join(", ")
        );
    }

    let batch = batch_size(args.rate);
    let progress = crate::progress::lines(Some(args.lines));
    let began = Instant::now();
    let mut in_flight = FuturesOrdered::new();
    let mut sent = 0u64;
    loop {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut n = 0u64;
        while n < batch {
            let Some(record) = generator.next_record() else {
                break;
            };
            serde_json::to_writer(&mut gz, &record)?;
            gz.write_all(b"\n")?;
            n += 1;
        }
        if n == 0 {
            break;
        }
        let body = gz.finish()?;
        if args.rate > 0 {
            // Paced: request k leaves when the rate says its first line is due.
            let due = began + Duration::from_secs_f64(sent as f64 / args.rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        sent += n;
        let mut request = client
            .post(endpoint.clone())
            .header("content-type", "application/x-ndjson")
            .header("content-encoding", "gzip")
            .body(body);
        if let Some(token) = &args.token {
            request = request.bearer_auth(token);
        }
        in_flight.push_back(async move { (n, send(request).await) });
        if in_flight.len() >= 4
            && let Some(done) = in_flight.next().await
        {
            finish(done, &progress, &endpoint)?;
        }
    }
    while let Some(done) = in_flight.next().await {
        finish(done, &progress, &endpoint)?;
    }
    progress.finish_and_clear();
    let secs = began.elapsed().as_secs_f64();
    println!(
        "sent {sent} lines in {secs:.1} s ({:.0} lines/s). The analyst is on it; in a few seconds:",
        sent as f64 / secs.max(1e-3)
    );
    println!(
        "  psql -h 127.0.0.1 -p 5433 -U loginsight -d loginsight \\\n    -c \"SELECT service, severity, title FROM insights ORDER BY last_seen DESC\""
    );
    println!("  loginsight tui");
    Ok(())
}

async fn send(request: reqwest::RequestBuilder) -> Result<(), String> {
    let response = request.send().await.map_err(|e| {
        if e.is_connect() {
            "cannot connect: is `loginsight serve` running there?".to_string()
        } else {
            e.to_string()
        }
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    Err(format!("answered {status}: {text}"))
}

fn finish(
    (lines, result): (u64, Result<(), String>),
    progress: &indicatif::ProgressBar,
    endpoint: &reqwest::Url,
) -> anyhow::Result<()> {
    if let Err(err) = result {
        progress.abandon();
        bail!("{endpoint}: {err}");
    }
    progress.inc(lines);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(seed: u64, n: u64) -> Vec<serde_json::Value> {
        let end = DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut g = Generator::new(seed, n, Duration::from_secs(3600), end);
        std::iter::from_fn(|| g.next_record()).collect()
    }

    #[test]
    fn the_same_seed_sends_the_same_records() {
        assert_eq!(records(3, 2_000), records(3, 2_000));
        assert_ne!(records(3, 2_000), records(4, 2_000));
    }

    #[test]
    fn records_are_in_time_order_within_the_window() {
        let all = records(1, 5_000);
        assert_eq!(all.len(), 5_000);
        let times: Vec<String> = all
            .iter()
            .map(|r| r["timestamp"].as_str().unwrap().to_string())
            .collect();
        assert!(times.first().unwrap().as_str() >= "2026-12-01T11:00:00.000Z");
        assert!(times.last().unwrap().as_str() <= "2026-12-01T12:00:00.000Z");
        // Jitter stays inside a line's own step, so the order holds.
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        for r in &all {
            for field in ["level", "service", "host", "message", "trace_id"] {
                assert!(r[field].is_string(), "{field} missing in {r}");
            }
        }
    }

    #[test]
    fn each_incident_starts_with_its_cause_and_spreads_to_the_callers() {
        let end = Utc::now();
        let n = 20_000;
        let mut g = Generator::new(11, n, Duration::from_secs(3600), end);
        let plan: Vec<(&str, f64, f64, Vec<&str>)> = g
            .incidents()
            .iter()
            .map(|i| (i.root_service(), i.start, i.end, i.affected.clone()))
            .collect();
        assert_eq!(plan.len(), 3);
        let roots: std::collections::HashSet<_> = plan.iter().map(|p| p.0).collect();
        assert_eq!(roots.len(), 3, "three different root causes");
        let all: Vec<_> = std::iter::from_fn(|| g.next_record()).collect();
        for (root, start, end, affected) in plan {
            let window = &all[(start * n as f64) as usize..(end * n as f64) as usize];
            let errors: Vec<&serde_json::Value> = window
                .iter()
                .filter(|r| matches!(r["level"].as_str(), Some("ERROR" | "CRITICAL")))
                .collect();
            // The first error of the incident is the cause, in the root service.
            assert_eq!(errors[0]["service"], root, "{}", errors[0]);
            let symptoms: Vec<_> = errors.iter().filter(|r| r["upstream"] == root).collect();
            assert!(symptoms.len() > 20, "{root}: {} symptoms", symptoms.len());
            for s in symptoms {
                let caller = s["service"].as_str().unwrap();
                assert!(affected.contains(&caller), "{caller} does not call {root}");
                assert!(s["message"].as_str().unwrap().contains(root));
            }
        }
    }

    #[test]
    fn callers_are_transitive() {
        assert_eq!(
            callers_of("postgres-proxy"),
            [
                "catalog",
                "checkout",
                "gateway",
                "inventory",
                "orders",
                "payments"
            ]
        );
        assert!(callers_of("gateway").is_empty());
    }
}
