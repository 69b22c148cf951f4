//! The provisioned Grafana dashboards (`grafana/dashboards/*.json`), replayed against the
//! endpoint as Grafana would run them: every panel target's `rawSql` and every variable query
//! goes through Grafana's template-variable interpolation (`SqlDatasource.interpolateVariable`),
//! its global substitutions (`sqleng.Interpolate`) and its PostgreSQL macro engine
//! (`macros.go`), for a fixed time range around the fixture rows, and is sent with the simple
//! query protocol, as pgx does.
//!
//! Two fixtures are used. The shared one of `support::start()` holds three `logs` rows and
//! their `stats`, but no `patterns` or `insights` rows, so panels reading those tables may
//! legitimately come back empty there. The fuller one built here adds more rows, their pattern
//! ids, `patterns` rows and an insight, and every panel must return rows over it.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use model::{Insight, InsightUpdate, LogBatchBuilder, LogRecord, PatternDelta, UpdateKind};
use tokio::sync::oneshot;
use tokio_postgres::NoTls;

/// The dashboard time range: 2024-05-01 11:00–13:00 UTC, around both fixtures (12:00–12:10).
const FROM: &str = "2024-05-01T11:00:00Z";
const TO: &str = "2024-05-01T13:00:00Z";
const FROM_EPOCH: i64 = 1_714_561_200;
const TO_EPOCH: i64 = 1_714_568_400;
/// `$__interval` as Grafana formats it for a one-minute interval (`gtime.FormatInterval`).
const INTERVAL: &str = "1m";
const INTERVAL_MS: &str = "60000";

// ---------------------------------------------------------------------------------------------
// Grafana's query pipeline.

/// A template variable's current value: what the dashboard user picked.
#[derive(Debug, Clone)]
struct Variable {
    /// `multi` or `includeAll`: Grafana then quotes every value as a literal, even a single one.
    quoted: bool,
    values: Vec<String>,
}

/// Grafana's front-end substitution of `$name` and `${name}` for the SQL data sources
/// (`SqlDatasource.interpolateVariable`): a multi-value or include-all variable becomes
/// `'v1','v2'` with `'` doubled; any other only has its `'` doubled, without added quotes.
/// Names that are not variables (`$__timeFilter`, `$__interval`) are left for the backend.
fn interpolate_variables(sql: &str, variables: &BTreeMap<String, Variable>) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) if braced[..end].chars().all(is_word) => (&braced[..end], end + 2),
                _ => ("", 0),
            }
        } else {
            let end = after.find(|c| !is_word(c)).unwrap_or(after.len());
            (&after[..end], end)
        };
        match variables.get(name) {
            Some(v) if v.quoted => {
                let quoted: Vec<String> = v
                    .values
                    .iter()
                    .map(|s| format!("'{}'", s.replace('\'', "''")))
                    .collect();
                out.push_str(&quoted.join(","));
            }
            Some(v) => out.push_str(&v.values.join(",").replace('\'', "''")),
            None => out.push_str(&rest[at..at + 1 + len]),
        }
        rest = &rest[at + 1 + len..];
    }
    out.push_str(rest);
    out
}

/// The backend's expansion of a query for [`FROM`]–[`TO`]: `sqleng.Interpolate`'s plain
/// replacements first, then the PostgreSQL macro engine.
fn expand(sql: &str) -> Result<String, String> {
    let sql = sql
        .replace("$__interval_ms", INTERVAL_MS)
        .replace("$__interval", INTERVAL)
        .replace("$__unixEpochFrom()", &FROM_EPOCH.to_string())
        .replace("$__unixEpochTo()", &TO_EPOCH.to_string());
    expand_macros(&sql)
}

/// Grafana's `postgresMacroEngine.Interpolate`: every match of `\$([_a-zA-Z0-9]+)\(([^\)]*)\)`
/// is replaced by its macro, arguments split on `,` and trimmed of spaces; an unknown macro
/// is an error.
fn expand_macros(sql: &str) -> Result<String, String> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let (mut i, mut copied) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        let name_end = i
            + 1
            + bytes[i + 1..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                .count();
        let close = match (bytes.get(name_end), sql[name_end..].find(')')) {
            (Some(b'('), Some(close)) if name_end > i + 1 => name_end + close,
            _ => {
                i += 1;
                continue;
            }
        };
        let whole = &sql[i..=close];
        let mut name = &sql[i + 1..name_end];
        let args: Vec<&str> = sql[name_end + 1..close]
            .split(',')
            .map(|a| a.trim_matches(' '))
            .collect();
        // Pre-5.3 dashboards wrote `$__timeGroup(…),` meaning the alias form; Grafana looks at
        // the character after the first occurrence of the same text.
        if name == "__timeGroup" {
            let first = sql.find(whole).unwrap_or(i);
            if bytes.get(first + whole.len()) == Some(&b',') {
                name = "__timeGroupAlias";
            }
        }
        out.push_str(&sql[copied..i]);
        out.push_str(&evaluate_macro(name, &args)?);
        i = close + 1;
        copied = i;
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

fn evaluate_macro(name: &str, args: &[&str]) -> Result<String, String> {
    let column = || match args.first() {
        Some(c) if !c.is_empty() => Ok(*c),
        _ => Err(format!("missing time column argument for macro {name}")),
    };
    Ok(match name {
        "__time" => format!("{} AS \"time\"", column()?),
        "__timeEpoch" => format!("extract(epoch from {}) as \"time\"", column()?),
        "__timeFilter" => format!("{} BETWEEN '{FROM}' AND '{TO}'", column()?),
        "__timeFrom" => format!("'{FROM}'"),
        "__timeTo" => format!("'{TO}'"),
        "__timeGroup" => {
            let s = group_seconds(name, args)?;
            format!("floor(extract(epoch from {})/{s})*{s}", args[0])
        }
        "__timeGroupAlias" => format!("{} AS \"time\"", evaluate_macro("__timeGroup", args)?),
        "__unixEpochFilter" => {
            let c = column()?;
            format!("{c} >= {FROM_EPOCH} AND {c} <= {TO_EPOCH}")
        }
        "__unixEpochNanoFilter" => {
            let c = column()?;
            format!(
                "{c} >= {} AND {c} <= {}",
                FROM_EPOCH * 1_000_000_000,
                TO_EPOCH * 1_000_000_000
            )
        }
        "__unixEpochNanoFrom" => (FROM_EPOCH * 1_000_000_000).to_string(),
        "__unixEpochNanoTo" => (TO_EPOCH * 1_000_000_000).to_string(),
        "__unixEpochGroup" => {
            let s = group_seconds(name, args)?;
            format!("floor(({})/{s})*{s}", args[0])
        }
        "__unixEpochGroupAlias" => {
            format!("{} AS \"time\"", evaluate_macro("__unixEpochGroup", args)?)
        }
        other => return Err(format!("unknown macro {other:?}")),
    })
}

/// The interval argument of `$__timeGroup` and `$__unixEpochGroup` in seconds, printed as Go's
/// `%v` prints a float (`300`, `1.5`), after checking the optional fill argument.
fn group_seconds(name: &str, args: &[&str]) -> Result<String, String> {
    if args.len() < 2 {
        return Err(format!(
            "macro {name} needs time column and interval and optional fill value"
        ));
    }
    let interval = args[1].trim_matches('\'');
    let digits = interval
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(interval.len());
    let number: f64 = interval[..digits]
        .parse()
        .map_err(|_| format!("error parsing interval {}", args[1]))?;
    let seconds = match &interval[digits..] {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        "d" => number * 86_400.0,
        "w" => number * 604_800.0,
        "y" => number * 31_536_000.0,
        _ => return Err(format!("error parsing interval {}", args[1])),
    };
    if let Some(fill) = args.get(2) {
        let ok = matches!(*fill, "NULL" | "previous") || fill.parse::<f64>().is_ok();
        if !ok {
            return Err(format!("error parsing fill value {fill}"));
        }
    }
    Ok(format!("{seconds}"))
}

#[test]
fn macro_expansion_matches_grafana() {
    let check = |input: &str, expected: &str| {
        assert_eq!(expand(input).as_deref(), Ok(expected), "{input}");
    };
    check(
        "WHERE $__timeFilter(ts)",
        "WHERE ts BETWEEN '2024-05-01T11:00:00Z' AND '2024-05-01T13:00:00Z'",
    );
    check(
        "SELECT $__timeGroupAlias(ts,'1m')",
        "SELECT floor(extract(epoch from ts)/60)*60 AS \"time\"",
    );
    check(
        "SELECT $__timeGroupAlias(minute, $__interval), 1",
        "SELECT floor(extract(epoch from minute)/60)*60 AS \"time\", 1",
    );
    // The pre-5.3 form: `$__timeGroup` directly followed by a comma gets the alias.
    check(
        "SELECT $__timeGroup(ts, '5m'), count(*) GROUP BY $__timeGroup(ts, '5m')",
        "SELECT floor(extract(epoch from ts)/300)*300 AS \"time\", count(*) \
         GROUP BY floor(extract(epoch from ts)/300)*300 AS \"time\"",
    );
    check(
        "GROUP BY $__timeGroup(ts,'1h')",
        "GROUP BY floor(extract(epoch from ts)/3600)*3600",
    );
    check(
        "$__unixEpochGroupAlias(e,'100ms'), $__unixEpochFilter(e)",
        "floor((e)/0.1)*0.1 AS \"time\", e >= 1714561200 AND e <= 1714568400",
    );
    check(
        "ts >= $__timeFrom() AND ts < $__timeTo() AND $__unixEpochFrom() < $__unixEpochTo()",
        "ts >= '2024-05-01T11:00:00Z' AND ts < '2024-05-01T13:00:00Z' \
         AND 1714561200 < 1714568400",
    );
    check(
        "$__time(minute), $__interval_ms",
        "minute AS \"time\", 60000",
    );
    check(
        "SELECT '$' || 'x', price$(1)",
        "SELECT '$' || 'x', price$(1)",
    );
    assert!(expand("$__nope(ts)").is_err());
    assert!(expand("$__timeGroup(ts)").is_err());
    assert!(expand("$__timeGroup(ts,'1m',sometimes)").is_err());
}

#[test]
fn variables_are_quoted_as_grafana_quotes_them() {
    let variables = BTreeMap::from([
        (
            "service".to_string(),
            Variable {
                quoted: true,
                values: vec!["checkout".into(), "o'brien".into()],
            },
        ),
        (
            "search".to_string(),
            Variable {
                quoted: false,
                values: vec!["it's".into()],
            },
        ),
    ]);
    assert_eq!(
        interpolate_variables(
            "service IN ($service) OR service IN (${service}) AND m ILIKE '%$search%' \
             AND $services AND $__timeFilter(ts) AND '$' = '$'",
            &variables
        ),
        "service IN ('checkout','o''brien') OR service IN ('checkout','o''brien') \
         AND m ILIKE '%it''s%' AND $services AND $__timeFilter(ts) AND '$' = '$'"
    );
}

// ---------------------------------------------------------------------------------------------
// The dashboards.

/// One query a dashboard makes.
#[derive(Debug)]
struct Query {
    /// `<dashboard file> / <panel title or variable name>`.
    origin: String,
    sql: String,
    /// `time_series` or `table`; variable queries are tables.
    format: String,
    /// The panel type (`timeseries`, `table`, `logs`), or `variable`.
    panel_type: String,
    /// `${__data.fields.<name>}` used by the panel's data links: result columns it needs.
    link_fields: Vec<String>,
}

/// A variable as the dashboard declares it.
#[derive(Debug)]
struct VariableDef {
    name: String,
    kind: String,
    quoted: bool,
    /// For query variables: the SQL.
    query: Option<String>,
}

struct Dashboard {
    file: String,
    json: Json,
    variables: Vec<VariableDef>,
    queries: Vec<Query>,
}

fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../grafana/dashboards")
}

fn load_dashboards() -> Vec<Dashboard> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dashboards_dir())
        .expect("grafana/dashboards exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dashboards in {:?}", dashboards_dir());
    files
        .iter()
        .map(|path| {
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(path).unwrap();
            let json =
                serde_json::from_str::<Json>(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
            let variables = json
                .at(&["templating", "list"])
                .map(Json::items)
                .unwrap_or_default()
                .iter()
                .map(|v| {
                    let flag = |k: &str| v.get(k).and_then(Json::as_bool).unwrap_or(false);
                    // The query is a string, or an object with `rawSql` in newer SQL editors.
                    let query = v
                        .get("query")
                        .and_then(|q| q.as_str().or_else(|| q.get("rawSql")?.as_str()))
                        .map(str::to_string);
                    VariableDef {
                        name: v.get("name").and_then(Json::as_str).unwrap().to_string(),
                        kind: v.get("type").and_then(Json::as_str).unwrap().to_string(),
                        quoted: flag("multi") || flag("includeAll"),
                        query,
                    }
                })
                .collect();
            let mut queries = Vec::new();
            collect_panels(&file, &json, &mut queries);
            Dashboard {
                file,
                json,
                variables,
                queries,
            }
        })
        .collect()
}

/// The targets of every panel, including those nested in rows.
fn collect_panels(file: &str, node: &Json, queries: &mut Vec<Query>) {
    for panel in node.get("panels").map(Json::items).unwrap_or_default() {
        collect_panels(file, panel, queries);
        let title = panel.get("title").and_then(Json::as_str).unwrap_or("");
        let panel_type = panel.get("type").and_then(Json::as_str).unwrap_or("");
        let mut link_fields = Vec::new();
        find_link_fields(panel, &mut link_fields);
        for target in panel.get("targets").map(Json::items).unwrap_or_default() {
            let origin = format!("{file} / {title}");
            let text = |k: &str| target.get(k).and_then(Json::as_str).map(str::to_string);
            let datasource = target.at(&["datasource", "uid"]).and_then(Json::as_str);
            assert_eq!(datasource, Some("loginsight"), "{origin}: datasource");
            assert_eq!(
                target.get("rawQuery").and_then(Json::as_bool),
                Some(true),
                "{origin}"
            );
            assert_eq!(text("editorMode").as_deref(), Some("code"), "{origin}");
            let format = text("format").unwrap_or_else(|| panic!("{origin}: no format"));
            assert!(
                format == "time_series" || format == "table",
                "{origin}: format {format}"
            );
            queries.push(Query {
                origin,
                sql: text("rawSql").unwrap_or_else(|| panic!("{title}: no rawSql")),
                format,
                panel_type: panel_type.to_string(),
                link_fields: link_fields.clone(),
            });
        }
    }
}

fn find_link_fields(node: &Json, fields: &mut Vec<String>) {
    match node {
        Json::String(s) => {
            let mut rest = s.as_str();
            while let Some(at) = rest.find("${__data.fields.") {
                rest = &rest[at + "${__data.fields.".len()..];
                let end = rest.find(['}', ':']).unwrap_or(rest.len());
                fields.push(rest[..end].to_string());
            }
        }
        Json::Array(items) => items.iter().for_each(|i| find_link_fields(i, fields)),
        Json::Object(entries) => entries
            .iter()
            .for_each(|(_, v)| find_link_fields(v, fields)),
        _ => {}
    }
}

#[test]
fn dashboards_are_wired_together() {
    let dashboards = load_dashboards();
    let mut uids = BTreeMap::new();
    for d in &dashboards {
        let uid = d.json.get("uid").and_then(Json::as_str).unwrap();
        let vars: Vec<&str> = d.variables.iter().map(|v| v.name.as_str()).collect();
        uids.insert(uid.to_string(), vars);
        assert!(
            !d.queries.is_empty(),
            "{}: no panel queries were found",
            d.file
        );
    }
    let overview = dashboards
        .iter()
        .find(|d| d.json.get("uid").and_then(Json::as_str) == Some("loginsight-overview"))
        .expect("the overview dashboard");
    let service = overview.variables.iter().find(|v| v.name == "service");
    let service = service.expect("a $service variable");
    assert_eq!(service.kind, "query");
    assert!(service.quoted, "$service is multi-value / include-all");
    assert_eq!(
        service.query.as_deref(),
        Some("SELECT DISTINCT service FROM logs ORDER BY 1")
    );
    let search = overview.variables.iter().find(|v| v.name == "search");
    assert_eq!(search.map(|v| v.kind.as_str()), Some("textbox"));
    for panel_type in ["timeseries", "table", "logs"] {
        assert!(
            overview.queries.iter().any(|q| q.panel_type == panel_type),
            "the overview has no {panel_type} panel"
        );
    }

    // Every dashboard link (`/d/<uid>/…?var-<name>=`) names a dashboard and its variable.
    let mut links = 0;
    for d in &dashboards {
        let mut urls = Vec::new();
        collect_strings(&d.json, "url", &mut urls);
        for url in urls {
            let Some(path) = url.strip_prefix("/d/") else {
                continue;
            };
            links += 1;
            let uid = path.split(['/', '?']).next().unwrap();
            let vars = uids
                .get(uid)
                .unwrap_or_else(|| panic!("{}: link to unknown dashboard {url}", d.file));
            for param in url.split(['?', '&']).skip(1) {
                if let Some(var) = param.strip_prefix("var-") {
                    let name = var.split('=').next().unwrap();
                    assert!(vars.contains(&name), "{url}: {uid} has no ${name}");
                }
            }
        }
    }
    assert!(links >= 2, "the dashboards should link to each other");
}

fn collect_strings(node: &Json, key: &str, out: &mut Vec<String>) {
    match node {
        Json::Array(items) => items.iter().for_each(|i| collect_strings(i, key, out)),
        Json::Object(entries) => {
            for (k, v) in entries {
                match v {
                    Json::String(s) if k == key => out.push(s.clone()),
                    _ => collect_strings(v, key, out),
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Replay.

/// Whether a query reads a table the shared fixture leaves empty.
fn reads_unfilled_table(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .map(str::to_ascii_lowercase)
        .collect();
    words
        .iter()
        .any(|w| w == "patterns" || w == "insights" || w == "incidents")
}

/// How the dashboard user set the variables for one replay.
#[derive(Clone, Copy, Debug)]
enum Choice {
    /// The saved defaults: "All" services, an empty search, the first insight.
    Defaults,
    /// One service (the first), a search term, the first insight.
    Narrowed,
}

/// Runs every query of every dashboard with `choice`, asserting what Grafana needs of each
/// result. `full` says whether every table has rows (else panels reading `patterns` or
/// `insights` may be empty). Returns the number of queries run.
async fn replay(port: u16, full: bool, choice: Choice, search: &str) -> usize {
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=loginsight dbname=loginsight"),
        NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let mut ran = 0;
    for dashboard in load_dashboards() {
        // Variables resolve in order, each query seeing the ones before it, as Grafana does.
        let mut variables = BTreeMap::new();
        for def in &dashboard.variables {
            let values = match (def.kind.as_str(), &def.query) {
                ("query", Some(query)) => {
                    let origin = format!("{} / ${}", dashboard.file, def.name);
                    let sql = expand(&interpolate_variables(query, &variables))
                        .unwrap_or_else(|e| panic!("{origin}: {e}"));
                    let (columns, rows, _) = support::simple(&client, &origin, &sql).await;
                    ran += 1;
                    if full || !reads_unfilled_table(&sql) {
                        assert!(!rows.is_empty(), "{origin}: no values\n{sql}");
                    }
                    // `__value` when present, else every column (Grafana's ResponseParser).
                    let wanted: Vec<usize> = match columns.iter().position(|c| c == "__value") {
                        Some(i) => vec![i],
                        None => (0..columns.len()).collect(),
                    };
                    let mut values: Vec<String> = rows
                        .iter()
                        .flat_map(|r| wanted.iter().filter_map(|&i| r[i].clone()))
                        .collect();
                    let mut seen = std::collections::HashSet::new();
                    values.retain(|v| seen.insert(v.clone()));
                    match choice {
                        Choice::Defaults if def.quoted => values,
                        _ => values.into_iter().take(1).collect(),
                    }
                }
                ("textbox", _) => match choice {
                    Choice::Defaults => vec![String::new()],
                    Choice::Narrowed => vec![search.to_string()],
                },
                (kind, _) => panic!("{}: unexpected variable type {kind}", dashboard.file),
            };
            // A variable without options interpolates as an empty string.
            let values = if values.is_empty() && !def.quoted {
                vec![String::new()]
            } else {
                values
            };
            variables.insert(
                def.name.clone(),
                Variable {
                    quoted: def.quoted,
                    values,
                },
            );
        }

        for query in &dashboard.queries {
            let origin = format!("{} ({choice:?})", query.origin);
            let sql = expand(&interpolate_variables(&query.sql, &variables))
                .unwrap_or_else(|e| panic!("{origin}: {e}"));
            assert!(!sql.contains('$'), "{origin}: left unexpanded:\n{sql}");
            let (columns, rows, tag) = support::simple(&client, &origin, &sql).await;
            ran += 1;
            assert_eq!(tag, Some(rows.len() as u64), "{origin}");
            if full || !reads_unfilled_table(&sql) {
                assert!(!rows.is_empty(), "{origin}: no rows\n{sql}");
            }
            if full {
                for field in &query.link_fields {
                    assert!(
                        columns.contains(field),
                        "{origin}: a data link uses ${{__data.fields.{field}}}, \
                         not among {columns:?}"
                    );
                }
            }
            // Time series need a `time` column, never NULL, ascending (Grafana's long-to-wide
            // conversion fails otherwise); a logs panel needs it too.
            if query.format == "time_series" || query.panel_type == "logs" {
                let Some(t) = columns.iter().position(|c| c == "time") else {
                    panic!("{origin}: no column named time in {columns:?}\n{sql}");
                };
                let times: Vec<String> = rows
                    .iter()
                    .map(|r| {
                        r[t].clone()
                            .unwrap_or_else(|| panic!("{origin}: NULL time"))
                    })
                    .collect();
                if query.format == "time_series" {
                    let ascending = times.windows(2).all(|w| {
                        match (w[0].parse::<f64>(), w[1].parse::<f64>()) {
                            (Ok(a), Ok(b)) => a <= b,
                            _ => w[0] <= w[1],
                        }
                    });
                    assert!(ascending, "{origin}: time not ascending: {times:?}");
                }
            }
        }
    }
    ran
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboards_run_on_the_shared_fixture() {
    let endpoint = support::start().await;
    for choice in [Choice::Defaults, Choice::Narrowed] {
        // "payment timed out" is a checkout record, and checkout is the first service.
        let ran = replay(endpoint.port, false, choice, "TIMED").await;
        assert!(ran >= 10, "only {ran} queries ran");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboards_return_rows_on_a_full_fixture() {
    let endpoint = start_full().await;
    for choice in [Choice::Defaults, Choice::Narrowed] {
        let ran = replay(endpoint.port, true, choice, "timed out").await;
        assert!(ran >= 10, "only {ran} queries ran");
    }
}

// ---------------------------------------------------------------------------------------------
// The full fixture: `logs` with pattern ids, their `stats`, `patterns`, one insight and its
// incident.

struct FullEndpoint {
    port: u16,
    _dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

const T0: i64 = 1_714_564_800_000_000; // 2024-05-01T12:00:00Z, as in the shared fixture
const MINUTE: i64 = 60_000_000;

async fn start_full() -> FullEndpoint {
    // (minute, level, service, message, pattern id)
    let rows: &[(i64, &str, &str, &str, &str)] = &[
        (0, "INFO", "checkout", "order 1 placed", "p-order"),
        (
            0,
            "ERROR",
            "checkout",
            "payment timed out after 30s",
            "p-timeout",
        ),
        (1, "INFO", "checkout", "order 2 placed", "p-order"),
        (
            2,
            "ERROR",
            "checkout",
            "payment timed out after 31s",
            "p-timeout",
        ),
        (2, "WARN", "search", "slow query 812ms", "p-slow"),
        (3, "DEBUG", "search", "cache hit for key k1", "p-cache"),
        (
            4,
            "ERROR",
            "checkout",
            "payment timed out after 29s",
            "p-timeout",
        ),
        (5, "FATAL", "payments", "cannot reach ledger", "p-ledger"),
        (6, "INFO", "payments", "charge 7 captured", "p-charge"),
        (7, "TRACE", "search", "scoring 12 documents", "p-score"),
        (8, "WARN", "search", "slow query 905ms", "p-slow"),
        (9, "INFO", "checkout", "order 3 placed", "p-order"),
    ];
    let mut builder = LogBatchBuilder::default();
    for (i, (minute, level, service, message, _)) in rows.iter().enumerate() {
        builder.push(&LogRecord {
            ts: T0 + minute * MINUTE + i as i64 * 1_000_000,
            received_at: T0 + minute * MINUTE + i as i64 * 1_000_000,
            level: level.to_string(),
            service: service.to_string(),
            host: Some(format!("{service}-1")),
            message: message.to_string(),
            trace_id: None,
            attributes: None,
            source: "http",
            size: 100,
        });
    }
    let (logs, stats) = builder.finish().unwrap();
    // The builder leaves `pattern_id` (the last column) to the miner; set it as it would.
    let pattern_ids: ArrayRef = Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.4)));
    let mut columns = logs.columns().to_vec();
    *columns.last_mut().unwrap() = pattern_ids;
    let logs = RecordBatch::try_new(logs.schema(), columns).unwrap();

    let mut patterns: BTreeMap<(&str, &str), PatternDelta> = BTreeMap::new();
    for (minute, level, service, message, id) in rows {
        let at = T0 + minute * MINUTE;
        let p = patterns
            .entry((id, service))
            .or_insert_with(|| PatternDelta {
                pattern_id: id.to_string(),
                service: service.to_string(),
                level: level.to_string(),
                template: message
                    .split(' ')
                    .map(|w| {
                        if w.chars().any(|c| c.is_ascii_digit()) {
                            "<*>"
                        } else {
                            w
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                count: 0,
                first_seen: at,
                last_seen: at,
                example: message.to_string(),
            });
        p.count += 1;
        p.last_seen = at;
    }

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store::Store::open(dir.path()).unwrap());
    store
        .commit(&store::Commit {
            logs: vec![logs],
            stats,
            patterns: patterns.into_values().collect(),
            ..store::Commit::default()
        })
        .unwrap();
    let insight = Insight {
        id: "ins-checkout-timeout".into(),
        created_at_us: T0 + 5 * MINUTE,
        service: "checkout".into(),
        pattern_id: "p-timeout".into(),
        severity: "high".into(),
        title: "Payment provider timeouts".into(),
        summary: "Checkout payments time out after about 30 s.".into(),
        root_cause: Some("The payment provider stops answering within the client timeout.".into()),
        suggested_fix: Some("Retry with backoff and raise the provider timeout.".into()),
        confidence: 0.7,
        model: "builtin".into(),
        status: "open".into(),
        first_seen_us: T0,
        last_seen_us: T0 + 4 * MINUTE,
        occurrences: 3,
        evidence: "{\"examples\":[\"payment timed out after 30s\"]}".into(),
    };
    store
        .apply_insights(
            &[InsightUpdate {
                insight,
                event_ids: vec!["e1".into(), "e2".into(), "e3".into()],
                kind: UpdateKind::Analysis,
                calls: 0,
                tokens: 0,
            }],
            &[],
        )
        .unwrap();
    store
        .save_incidents(
            &[store::IncidentRow {
                id: "inc-checkout".into(),
                status: "open".into(),
                severity: "error".into(),
                title: "timeout in checkout: payment timed out after <*>".into(),
                root_service: "checkout".into(),
                root_pattern: "p-timeout".into(),
                root_cause: "checkout is the likely root cause.".into(),
                symptom_services: "[\"search\"]".into(),
                symptom_patterns: "[]".into(),
                started_us: T0,
                last_seen_us: T0 + 4 * MINUTE,
                resolved_at_us: None,
                insight_count: 1,
                errors: 3,
                previous_id: None,
            }],
            &[store::PatternMark {
                service: "checkout".into(),
                pattern_id: "p-timeout".into(),
                incident_id: Some("inc-checkout".into()),
                background: false,
            }],
        )
        .unwrap();

    let ctx = Arc::new(sql::session_context(store).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(sql::serve(listener, ctx, sql::Access::default(), async {
        let _ = stopped.await;
    }));
    FullEndpoint {
        port,
        _dir: dir,
        _stop: stop,
    }
}

// ---------------------------------------------------------------------------------------------
// Dashboard JSON (serde_json), with the two accessors the checks above use.

type Json = serde_json::Value;

trait JsonExt {
    /// The value at a path of object keys.
    fn at(&self, path: &[&str]) -> Option<&Json>;
    /// The items of an array; nothing for any other value.
    fn items(&self) -> &[Json];
}

impl JsonExt for Json {
    fn at(&self, path: &[&str]) -> Option<&Json> {
        path.iter().try_fold(self, |node, key| node.get(*key))
    }

    fn items(&self) -> &[Json] {
        self.as_array().map_or(&[], Vec::as_slice)
    }
}
