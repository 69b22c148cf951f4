//! Failure kinds: recognising a common root cause from one message and its stack trace.
//!
//! Classification is a list of rules, each a case-insensitive regular expression for one
//! [`Category`], tried in a fixed precedence order; the first rule that matches anywhere in
//! the message (first line, stack frames, `Caused by:` lines) wins. All rules run at once
//! in one [`RegexSet`] pass, so the order costs nothing at run time.
//!
//! Precedence, and why:
//! 1. **Circuit open.** A breaker message is about the breaker; it often also names the
//!    failures that tripped it ("after 5 timeouts"), which are reported on their own.
//! 2. **Resource and environment causes**: pool exhausted, out of memory, disk full, TLS,
//!    DNS, permission denied. These name the real cause even when they arrive wrapped in a
//!    timeout or a crash: HikariPool's "Connection is not available, request timed out after
//!    30000ms" is an exhausted pool, not a timeout; Rust's "panicked ... No space left on
//!    device" is a full disk, not a panic. A TLS *handshake timeout* is the one exception and
//!    is a timeout (the peer is slow, the certificate is not the problem).
//! 3. **Rate limited**, before 5xx and timeouts: a 429 is a precise statement of why.
//! 4. **Null dereference** before the generic crash, which it usually causes.
//! 5. **Caller-side symptoms**: connection refused, then timeout, then upstream 5xx; the
//!    earlier is the more specific ("connect ... refused after 3 attempts, giving up on
//!    timeout" is a refusal).
//! 6. **Panic / crash** without a more specific reason.
//! 7. **Validation**, last: words such as "invalid" appear in many messages of other kinds
//!    ("invalid memory address or nil pointer dereference").

use std::sync::LazyLock;

use regex::RegexSet;

/// A recognised kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// The peer refused (or reset) the TCP connection: nothing listening, or restarting.
    ConnectionRefused,
    /// A connection pool (database, HTTP client) had no free connection.
    PoolExhausted,
    /// A call or I/O did not complete in time.
    Timeout,
    /// A process or store ran out of memory.
    OutOfMemory,
    /// A file system is full.
    DiskFull,
    /// TLS handshake or certificate failure.
    Tls,
    /// Host-name resolution failed.
    Dns,
    /// The operating system or a service refused access.
    PermissionDenied,
    /// Null / nil / None / undefined dereferenced.
    NullDereference,
    /// A crash: panic, uncaught exception, traceback, fatal signal.
    Panic,
    /// A peer answered with a 5xx status.
    Upstream5xx,
    /// A peer (or this service) rejected calls for exceeding a rate or quota.
    RateLimited,
    /// A circuit breaker is open and calls are not even attempted.
    CircuitOpen,
    /// Input failed validation.
    Validation,
    /// None of the above.
    Unknown,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 15] = [
        Category::ConnectionRefused,
        Category::PoolExhausted,
        Category::Timeout,
        Category::OutOfMemory,
        Category::DiskFull,
        Category::Tls,
        Category::Dns,
        Category::PermissionDenied,
        Category::NullDereference,
        Category::Panic,
        Category::Upstream5xx,
        Category::RateLimited,
        Category::CircuitOpen,
        Category::Validation,
        Category::Unknown,
    ];

    /// Stable snake_case name, e.g. `"pool_exhausted"`, for output and storage.
    pub fn name(self) -> &'static str {
        match self {
            Category::ConnectionRefused => "connection_refused",
            Category::PoolExhausted => "pool_exhausted",
            Category::Timeout => "timeout",
            Category::OutOfMemory => "out_of_memory",
            Category::DiskFull => "disk_full",
            Category::Tls => "tls",
            Category::Dns => "dns",
            Category::PermissionDenied => "permission_denied",
            Category::NullDereference => "null_dereference",
            Category::Panic => "panic",
            Category::Upstream5xx => "upstream_5xx",
            Category::RateLimited => "rate_limited",
            Category::CircuitOpen => "circuit_open",
            Category::Validation => "validation",
            Category::Unknown => "unknown",
        }
    }

    /// Short human label for sentences, e.g. `"connection pool exhausted"`.
    pub fn label(self) -> &'static str {
        match self {
            Category::ConnectionRefused => "connection refused",
            Category::PoolExhausted => "connection pool exhausted",
            Category::Timeout => "timeout",
            Category::OutOfMemory => "out of memory",
            Category::DiskFull => "disk full",
            Category::Tls => "TLS / certificate failure",
            Category::Dns => "DNS resolution failure",
            Category::PermissionDenied => "permission denied",
            Category::NullDereference => "null dereference",
            Category::Panic => "crash / panic",
            Category::Upstream5xx => "upstream 5xx",
            Category::RateLimited => "rate limited",
            Category::CircuitOpen => "circuit breaker open",
            Category::Validation => "validation error",
            Category::Unknown => "unrecognised error",
        }
    }

    /// Whether this kind is usually a *symptom* seen by callers of a failing service
    /// (timeout, upstream 5xx, connection refused, circuit open, rate limited) rather than
    /// something that *causes* an incident (pool exhausted, OOM, disk full, TLS, DNS,
    /// permission, null dereference, panic). Validation and unknown errors are neither and
    /// return `false`.
    pub fn is_symptom(self) -> bool {
        matches!(
            self,
            Category::Timeout
                | Category::Upstream5xx
                | Category::ConnectionRefused
                | Category::CircuitOpen
                | Category::RateLimited
        )
    }

    /// Whether this kind is usually the *cause* of an incident.
    pub fn is_cause(self) -> bool {
        matches!(
            self,
            Category::PoolExhausted
                | Category::OutOfMemory
                | Category::DiskFull
                | Category::Tls
                | Category::Dns
                | Category::PermissionDenied
                | Category::NullDereference
                | Category::Panic
        )
    }

    /// One plain sentence: what this kind usually means.
    pub fn explanation(self) -> &'static str {
        match self {
            Category::ConnectionRefused => {
                "Nothing accepted the connection at the peer's address: the peer is down, restarting, or listening elsewhere."
            }
            Category::PoolExhausted => {
                "Every connection in the pool was busy, so requests queued until they gave up; usually slow queries, leaked connections or a pool too small for the load."
            }
            Category::Timeout => {
                "A call did not answer in time; usually a symptom of a slow or overloaded peer further down the call chain."
            }
            Category::OutOfMemory => {
                "A process or data store hit its memory limit and refused work or was killed."
            }
            Category::DiskFull => "A file system ran out of space (or inodes), so writes fail.",
            Category::Tls => {
                "A TLS handshake failed: a certificate expired, is not trusted, or does not match the host name."
            }
            Category::Dns => {
                "A host name could not be resolved: the name is wrong, the record is missing, or the resolver is unreachable."
            }
            Category::PermissionDenied => {
                "The operating system or a service refused access with the credentials or file permissions in use."
            }
            Category::NullDereference => {
                "The code used a value that was null, nil, None or undefined: a bug, often triggered by unexpected input or a missing field."
            }
            Category::Panic => {
                "The process crashed on an unhandled error (panic, uncaught exception, fatal signal)."
            }
            Category::Upstream5xx => {
                "A peer answered with a server error; the fault is in that peer or further down its call chain."
            }
            Category::RateLimited => "Calls were rejected for exceeding a rate limit or quota.",
            Category::CircuitOpen => {
                "A circuit breaker opened after repeated failures of a peer, so calls to it now fail fast."
            }
            Category::Validation => {
                "Input was rejected as invalid; usually a client or data problem rather than an outage."
            }
            Category::Unknown => "The error did not match a known failure kind.",
        }
    }

    /// One plain sentence: what to check or fix first.
    pub fn suggested_fix(self) -> &'static str {
        match self {
            Category::ConnectionRefused => {
                "Check that the peer is running and healthy (restarts, crash loops, deploys) and that the address and port are right."
            }
            Category::PoolExhausted => {
                "Look for slow queries and connections not returned to the pool, then compare the pool size with the database's connection limit."
            }
            Category::Timeout => {
                "Find the peer that is slow (its own errors, latency, saturation) before raising any timeout."
            }
            Category::OutOfMemory => {
                "Check memory limits against usage and look for a leak or an unbounded cache; for Redis, check maxmemory and the eviction policy."
            }
            Category::DiskFull => {
                "Free space (old logs, segments, temp files), then add capacity or retention so it cannot fill again."
            }
            Category::Tls => {
                "Check the certificate's expiry date, chain and host name, and the trust store of the client."
            }
            Category::Dns => {
                "Check the host name in the configuration, the DNS record, and that the resolver is reachable from the service."
            }
            Category::PermissionDenied => {
                "Check the credentials, role or policy in use and the file or directory permissions the error names."
            }
            Category::NullDereference => {
                "Find the field that was missing in the stack trace and guard it; check whether a recent deploy or input change introduced it."
            }
            Category::Panic => {
                "Read the first frames of the stack trace for the failing line, and check for a recent deploy or new input."
            }
            Category::Upstream5xx => {
                "Look at the named peer's own errors: the root cause is there or further down."
            }
            Category::RateLimited => {
                "Check the limit or quota against the current traffic and look for a retry storm or a client misbehaving."
            }
            Category::CircuitOpen => {
                "Look at the peer the breaker protects: its failures tripped the breaker."
            }
            Category::Validation => {
                "Check which client sends the rejected input, and whether a recent change made the validation stricter."
            }
            Category::Unknown => {
                "Read the example messages and the stack trace for the failing component."
            }
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Only this much of a message is examined. Causes are named at the top of a message or of a
/// `Caused by:` section; a megabyte of stack trace adds nothing but cost.
const MAX_SCAN_BYTES: usize = 64 * 1024;

/// The rules in precedence order (see the module docs). Patterns are written in lower case
/// and matched against the lower-cased message.
const RULES: &[(Category, &str)] = &[
    (
        Category::CircuitOpen,
        r"circuit[ _-]?breaker\b.{0,200}\b(is |now |was )*(open|opened|opening)\b|circuit (is )?open\b|callnotpermittedexception|short-circuited|brokencircuitexception|circuit_open|breaker (is )?open\b",
    ),
    (
        Category::PoolExhausted,
        r"pool (is )?exhausted|pool (is )?full|connection is not available|too many (open )?connections|too many clients|remaining connection slots are reserved|timeout waiting for (idle object|connection)|unable to acquire (jdbc )?connection|could not get (jdbc )?connection|pool timed out|queuepool limit|connection pool.{0,80}(exhausted|full|timed out|timeout|limit)|no (available|free|idle) connections?|failed to acquire (a )?connection|max_connections",
    ),
    (
        Category::OutOfMemory,
        r"out\s*of\s*memory|\boom\b.{0,20}\b(command not allowed|kill)|oomkill|oom-kill|cannot allocate memory|memory limit|\benomem\b|memory allocation of \d+ bytes failed|\bmemoryerror\b|heap limit|heap out of memory|maxmemory|memory exhausted|insufficient memory",
    ),
    (
        Category::DiskFull,
        r"\benospc\b|no space left|disk (is )?full|disk quota exceeded|\bedquot\b|storagefull|not enough space on the disk|file ?system (is )?full|out of disk|disk space",
    ),
    (Category::Timeout, r"handshake (timeout|timed out)"),
    (
        Category::Tls,
        r"x509|\bpkix\b|certificate|\bcert_|\btls: |tls handshake.{0,120}(fail|error|alert)|tls (alert|error)|handshake failure|handshake_failure|\bssl(handshake|exception|error|_error|: | error| routines|v3)|ssl handshake|self[- ]signed|unable to get local issuer|wrong version number|unknown ca\b|bad record mac",
    ),
    (
        Category::Dns,
        r"no such host|nxdomain|name or service not known|\benotfound\b|\beai_again\b|unknownhostexception|name resolution|could not resolve|couldn't resolve|nodename nor servname|servfail|failed to lookup address|dns (lookup|resolution|error|failure|query)|could not translate host name|getaddrinfo|unknown host|resolve host|unable to resolve",
    ),
    (
        Category::PermissionDenied,
        r"permission denied|\beacces\b|\beperm\b|operation not permitted|access ?denied|accessdeniedexception|not authori[sz]ed|unauthori[sz]ed|\bforbidden\b|(status|code|http|returned|got|error)[^a-z0-9]{0,3}403\b|insufficient (privilege|permission)|must be owner of",
    ),
    (
        Category::RateLimited,
        r"too many requests|rate[ _-]?limit|ratelimit|throttl|(status|code|http|returned|got|error)[^a-z0-9]{0,3}429\b|\b429 too many|\(429\)|quota exceeded|request limit exceeded|\bslowdown\b",
    ),
    (
        Category::NullDereference,
        r"nullpointerexception|null pointer|nil pointer|nil map|cannot (read|set) propert(y|ies) of (undefined|null)|(undefined|null) is not an object|nonetype|unwrap\(\)` on a `none` value|nullreferenceexception|object reference not set to an instance|attempt to index a nil value|null reference|is null or undefined",
    ),
    (
        Category::ConnectionRefused,
        r"econnrefused|connection refused|connectexception|actively refused|connect.{0,80}\brefused|\brefused.{0,20}connect|econnreset|connection reset|failed to connect|could not connect|unable to connect|cannot connect|can't connect|no connection could be made|upstream connect error",
    ),
    (
        Category::Timeout,
        r"timed? ?out|timeout|deadline[ _]?exceeded|took too long",
    ),
    (
        Category::Upstream5xx,
        r"(status|code|http|returned|got|received|responded with|response)[^a-z0-9]{0,3}(code[^a-z0-9]{0,3})?5\d\d\b|\b5\d\d (bad gateway|service unavailable|internal server error|gateway timeout|server error)|bad gateway|service unavailable|internal server error|server error|code = (unavailable|internal)|\bunavailable:",
    ),
    (
        Category::Panic,
        r"\bpanic:|\bpanicked\b|traceback|fatal error|segmentation fault|\bsigsegv\b|\bsigabrt\b|\bsigbus\b|core dumped|unhandled exception|uncaught exception|unhandled ?promise ?rejection|exception in thread|fatal exception|crashloopbackoff|process crashed|\bpanic\b",
    ),
    (
        Category::Validation,
        r"validat|is not allowed|\binvalid|malformed|bad request|is required|must (not )?be\b|unprocessable|constraint violation|illegalargumentexception|(status|code)[^a-z0-9]{0,3}(400|422)\b|failed to parse|parse error",
    ),
];

static RULE_SET: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(RULES.iter().map(|(_, re)| *re)).expect("classification rules are valid regexes")
});

/// Classifies a message: its first line and any stack-trace lines, case-insensitively.
/// Returns [`Category::Unknown`] when no rule matches. See the module docs for precedence.
pub fn classify(message: &str) -> Category {
    let scanned = truncate(message, MAX_SCAN_BYTES).to_lowercase();
    RULE_SET
        .matches(&scanned)
        .iter()
        .next()
        .map_or(Category::Unknown, |i| RULES[i].0)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(message: &str, expected: Category) {
        assert_eq!(classify(message), expected, "message: {message:?}");
    }

    #[test]
    fn names_are_unique_snake_case() {
        let mut names: Vec<&str> = Category::ALL.iter().map(|c| c.name()).collect();
        for n in &names {
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{n}"
            );
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Category::ALL.len());
        assert_eq!(Category::PoolExhausted.name(), "pool_exhausted");
        assert_eq!(Category::Upstream5xx.to_string(), "upstream_5xx");
    }

    #[test]
    fn every_category_is_explained() {
        for c in Category::ALL {
            assert!(c.explanation().ends_with('.'), "{c}");
            assert!(c.suggested_fix().ends_with('.'), "{c}");
            assert!(!c.label().is_empty());
            assert!(!(c.is_cause() && c.is_symptom()), "{c}");
        }
        assert!(Category::Timeout.is_symptom());
        assert!(Category::CircuitOpen.is_symptom());
        assert!(!Category::PoolExhausted.is_symptom());
        assert!(!Category::Validation.is_symptom() && !Category::Validation.is_cause());
        assert!(!Category::Unknown.is_symptom() && !Category::Unknown.is_cause());
    }

    #[test]
    fn connection_refused() {
        use Category::ConnectionRefused as C;
        check(
            "Error: connect ECONNREFUSED 10.0.3.7:6379\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)",
            C,
        );
        check("dial tcp 10.0.0.12:5432: connect: connection refused", C);
        check(
            "org.springframework.web.client.ResourceAccessException: I/O error on POST request for \"http://payments:8080/charge\": Connection refused\nCaused by: java.net.ConnectException: Connection refused\n\tat java.base/sun.nio.ch.Net.connect0(Native Method)",
            C,
        );
        check(
            "psycopg2.OperationalError: could not connect to server: Connection refused\n\tIs the server running on host \"db\" and accepting TCP/IP connections on port 5432?",
            C,
        );
        check("connect to postgres-proxy:5432 refused", C);
        check(
            "reqwest::Error { kind: Request, source: hyper::Error(Connect, ConnectError(\"tcp connect error\", Os { code: 111, kind: ConnectionRefused, message: \"Connection refused\" })) }",
            C,
        );
    }

    #[test]
    fn pool_exhausted_wins_over_the_timeout_it_mentions() {
        use Category::PoolExhausted as C;
        check(
            "java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.\n\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)\nCaused by: java.net.SocketTimeoutException: Read timed out",
            C,
        );
        check(
            "connection pool exhausted: 64 of 64 connections in use, waited 2300ms",
            C,
        );
        check("FATAL: sorry, too many clients already", C);
        check(
            "pq: remaining connection slots are reserved for non-replication superuser connections",
            C,
        );
        check("ERROR 1040 (HY000): Too many connections", C);
        check("pool timed out while waiting for an open connection", C);
        check(
            "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00",
            C,
        );
    }

    #[test]
    fn timeouts() {
        use Category::Timeout as C;
        check(
            "upstream payments timed out after 3000ms (request_id=ab12)",
            C,
        );
        check(
            "rpc error: code = DeadlineExceeded desc = context deadline exceeded",
            C,
        );
        check(
            "Error: connect ETIMEDOUT 10.1.2.3:443\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1595:16)",
            C,
        );
        check(
            "java.net.SocketTimeoutException: Read timed out\n\tat java.base/java.net.SocketInputStream.socketRead0(Native Method)\n\tat okhttp3.internal.http1.Http1ExchangeCodec.readResponseHeaders(Http1ExchangeCodec.kt:180)",
            C,
        );
        check(
            "Get \"https://api.acme.io/v1\": net/http: TLS handshake timeout",
            C,
        );
        check(
            "Traceback (most recent call last):\n  File \"/app/client.py\", line 12, in fetch\nrequests.exceptions.ReadTimeout: HTTPSConnectionPool(host='x', port=443): Read timed out. (read timeout=5)",
            C,
        );
        check("call to orders failed: status=504 Gateway Timeout", C);
    }

    #[test]
    fn out_of_memory() {
        use Category::OutOfMemory as C;
        check(
            "Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space\n\tat java.util.Arrays.copyOf(Arrays.java:3236)",
            C,
        );
        check(
            "OOM command not allowed when used memory > 'maxmemory' (used=812mb)",
            C,
        );
        check("container app was OOMKilled (exit code 137)", C);
        check("fork: Cannot allocate memory", C);
        check(
            "fatal error: runtime: out of memory\n\ngoroutine 1 [running]:",
            C,
        );
        check(
            "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
            C,
        );
        check("memory allocation of 1073741824 bytes failed", C);
        check("Query exceeded memory limit for query 20m", C);
        check(
            "Traceback (most recent call last):\n  File \"etl.py\", line 3, in <module>\nMemoryError",
            C,
        );
    }

    #[test]
    fn disk_full_wins_over_the_panic_it_causes() {
        use Category::DiskFull as C;
        check(
            "disk full: write /var/lib/inventory/segment-12.log: no space left on device\nthread 'tokio-runtime-worker' panicked at src/segment.rs:77:14:\ncalled `Result::unwrap()` on an `Err` value: Os { code: 28, kind: StorageFull, message: \"No space left on device\" }",
            C,
        );
        check("Error: ENOSPC: no space left on device, write", C);
        check("java.io.IOException: No space left on device", C);
        check(
            "could not extend file \"base/16384/2619\": No space left on device",
            C,
        );
    }

    #[test]
    fn tls() {
        use Category::Tls as C;
        check(
            "TLS handshake with acquirer failed: certificate has expired (notAfter=2026-11-03)",
            C,
        );
        check(
            "Get \"https://api.internal\": x509: certificate signed by unknown authority",
            C,
        );
        check(
            "javax.net.ssl.SSLHandshakeException: PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target",
            C,
        );
        check(
            "requests.exceptions.SSLError: HTTPSConnectionPool(host='x', port=443): Max retries exceeded with url: / (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self signed certificate')))",
            C,
        );
        check(
            "Error: certificate has expired\n    at TLSSocket.onConnectSecure (node:_tls_wrap:1674:34)",
            C,
        );
        check("remote error: tls: bad certificate", C);
    }

    #[test]
    fn dns() {
        use Category::Dns as C;
        check(
            "dial tcp: lookup redis-cache on 10.96.0.10:53: no such host",
            C,
        );
        check("Error: getaddrinfo ENOTFOUND payments.internal", C);
        check(
            "java.net.UnknownHostException: orders-db: Name or service not known\n\tat java.base/java.net.Inet6AddressImpl.lookupAllHostAddr(Native Method)",
            C,
        );
        check(
            "socket.gaierror: [Errno -3] Temporary failure in name resolution",
            C,
        );
        check("query for api.example.com returned NXDOMAIN", C);
        check("Error: getaddrinfo EAI_AGAIN db", C);
    }

    #[test]
    fn permission_denied() {
        use Category::PermissionDenied as C;
        check("open /var/run/app.sock: permission denied", C);
        check("Error: EACCES: permission denied, open '/data/x.json'", C);
        check(
            "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied",
            C,
        );
        check("GET /admin/users 403 Forbidden", C);
        check(
            "com.amazonaws.services.s3.model.AmazonS3Exception: Access Denied (Service: Amazon S3; Status Code: 403)",
            C,
        );
    }

    #[test]
    fn null_dereference() {
        use Category::NullDereference as C;
        check(
            "panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b2c]\n\ngoroutine 1 [running]:\nmain.(*Handler).ServeHTTP(0xc000012345, {0x9a1b40, 0xc0001b6000})",
            C,
        );
        check(
            "java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"s\" is null\n\tat io.shop.Orders.total(Orders.java:42)",
            C,
        );
        check(
            "TypeError: Cannot read properties of undefined (reading 'id')\n    at /app/src/handler.js:17:22",
            C,
        );
        check(
            "Traceback (most recent call last):\n  File \"/app/main.py\", line 9, in handle\n    return user.name\nAttributeError: 'NoneType' object has no attribute 'name'",
            C,
        );
        check(
            "thread 'main' panicked at src/main.rs:4:37:\ncalled `Option::unwrap()` on a `None` value\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
            C,
        );
    }

    #[test]
    fn panics() {
        use Category::Panic as C;
        check(
            "thread 'main' panicked at src/main.rs:10:5:\nindex out of bounds: the len is 3 but the index is 7",
            C,
        );
        check(
            "Traceback: KeyError: 'sku' while serialising order ord_1a2b3c4d\nTraceback (most recent call last):\n  File \"/app/orders/serialize.py\", line 88, in to_json\n    \"sku\": item[\"sku\"],\nKeyError: 'sku'",
            C,
        );
        check(
            "panic: assignment to entry in closed channel\n\ngoroutine 7 [running]:",
            C,
        );
        check("fatal error: concurrent map writes", C);
        check("Segmentation fault (core dumped)", C);
        check("worker exited on signal SIGSEGV", C);
        check(
            "Exception in thread \"main\" java.lang.IllegalStateException: boom\n\tat io.shop.Main.main(Main.java:5)",
            C,
        );
    }

    #[test]
    fn upstream_5xx() {
        use Category::Upstream5xx as C;
        check("call to payments failed: status=503 Service Unavailable", C);
        check("upstream returned 502 Bad Gateway", C);
        check("inventory returned 500", C);
        check("HTTP 500 Internal Server Error from catalog", C);
        check("Service Unavailable", C);
        check(
            "rpc error: code = Unavailable desc = upstream returned no healthy hosts",
            C,
        );
    }

    #[test]
    fn rate_limited() {
        use Category::RateLimited as C;
        check("call to search failed: status=429", C);
        check("429 Too Many Requests", C);
        check("rate limit exceeded for key api:42, retry after 30s", C);
        check(
            "botocore.exceptions.ClientError: An error occurred (ThrottlingException) when calling the PutRecord operation: Rate exceeded",
            C,
        );
    }

    #[test]
    fn circuit_open_wins_over_the_failures_that_tripped_it() {
        use Category::CircuitOpen as C;
        check(
            "circuit breaker for payments is now OPEN after 12 failures",
            C,
        );
        check(
            "io.github.resilience4j.circuitbreaker.CallNotPermittedException: CircuitBreaker 'inventory' is OPEN and does not permit further calls",
            C,
        );
        check("circuit breaker opened after 5 consecutive timeouts", C);
        // A closing breaker is good news, not a failure of this kind.
        assert_ne!(
            classify("circuit breaker for payments is now CLOSED"),
            Category::CircuitOpen
        );
    }

    #[test]
    fn validation() {
        use Category::Validation as C;
        check(
            "validation failed for field \"email\": value \"a\\\"b\" is not allowed",
            C,
        );
        check("invalid request: quantity must be positive", C);
        check(
            "ValidationError: 1 validation error for Order\nquantity\n  value is not a valid integer",
            C,
        );
    }

    #[test]
    fn unknown() {
        check("something odd happened", Category::Unknown);
        check("", Category::Unknown);
        check("GET /healthz completed status=200", Category::Unknown);
    }

    #[test]
    fn odd_input_never_panics() {
        let long = "x".repeat(MAX_SCAN_BYTES + 3);
        let long_multibyte = "é".repeat(MAX_SCAN_BYTES);
        let inputs = [
            "",
            "\n\n\n",
            "\0\0",
            "🙂🙂🙂 timed out",
            "İ", // lower-cases to two characters
            "\u{FEFF}panic:",
            long.as_str(),
            long_multibyte.as_str(),
            "\\x00 \\u0000 %s %n {} {{}}",
        ];
        for s in inputs {
            let _ = classify(s);
        }
        // A cause beyond the scanned prefix is not seen; that is the documented bound.
        let late = format!("{long} out of memory");
        assert_eq!(classify(&late), Category::Unknown);
        assert_eq!(truncate("é", 1), "");
    }
}
