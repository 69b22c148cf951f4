//! Peer mentions: which known services an error message names as the peer it called.
//!
//! Callers of a failing service say so ("upstream payments timed out", "call to redis-cache
//! failed", "circuit breaker for inventory is now OPEN"), so the number of *other* services'
//! errors naming a service is strong evidence that the problem is in that service. A name is
//! matched as a whole token of `[a-z0-9._-]` characters, case-insensitively, so `pay` never
//! matches `payments` and `payments-2` (a host) is not `payments`. Two relaxations keep real
//! messages matching: a trailing `.`, `-` or `_` is sentence punctuation
//! ("... reach payments."), and a Kubernetes service DNS name
//! (`payments.shop.svc.cluster.local`) names its first label.
//!
//! Only the first line and `Caused by:` lines are read: that is where a peer is named, while
//! stack frames are full of the service's own package and file names
//! (`/src/payments/handler.go`) that would read as mentions.

use std::collections::HashMap;

use crate::classify::truncate;

/// Longest line prefix examined; a peer is named near the start of a message.
const MAX_LINE_BYTES: usize = 8 * 1024;

/// `Caused by:` lines examined per message beyond the first line.
const MAX_CAUSE_LINES: usize = 8;

/// Which of `services` this message names as a peer it called, excluding `own_service`.
/// Each service is returned once, in the order of `services`.
pub fn mentioned_peers<'a>(message: &str, own_service: &str, services: &[&'a str]) -> Vec<&'a str> {
    let matcher = Matcher::new(services);
    let mut hit = vec![false; services.len()];
    matcher.scan(message, &mut |i| hit[i] = true);
    let own = own_service.to_ascii_lowercase();
    services
        .iter()
        .zip(hit)
        .filter(|(s, h)| *h && s.to_ascii_lowercase() != own)
        .map(|(s, _)| *s)
        .collect()
}

/// For each of `services`, how many error messages of *other* services in `events`
/// (`(service, message)` pairs) name it as a peer. A message naming a service twice counts
/// once. Every service in `services` is a key, with 0 when nobody names it; the result is
/// what [`crate::PatternStat::mentioned_by`] wants for each pattern's service.
pub fn count_mentions(events: &[(String, String)], services: &[&str]) -> HashMap<String, u64> {
    let matcher = Matcher::new(services);
    let lower: Vec<String> = services.iter().map(|s| s.to_ascii_lowercase()).collect();
    let mut counts = vec![0u64; services.len()];
    let mut seen = vec![false; services.len()];
    let mut touched: Vec<usize> = Vec::new();
    for (service, message) in events {
        let own = service.to_ascii_lowercase();
        matcher.scan(message, &mut |i| {
            if !seen[i] {
                seen[i] = true;
                touched.push(i);
            }
        });
        for i in touched.drain(..) {
            seen[i] = false;
            if lower[i] != own {
                counts[i] += 1;
            }
        }
    }
    let mut out: HashMap<String, u64> = HashMap::with_capacity(services.len());
    for (name, n) in services.iter().zip(counts) {
        // Duplicate names in `services` share one count; keep the largest, not a sum.
        let e = out.entry((*name).to_string()).or_insert(0);
        *e = (*e).max(n);
    }
    out
}

/// Lower-cased service name → indices into the caller's `services`.
struct Matcher {
    names: HashMap<String, Vec<usize>>,
}

impl Matcher {
    fn new(services: &[&str]) -> Self {
        let mut names: HashMap<String, Vec<usize>> = HashMap::with_capacity(services.len());
        for (i, s) in services.iter().enumerate() {
            let s = s.to_ascii_lowercase();
            // An empty name or one that can never be a whole token would match nothing
            // meaningful (or, for "", everything); skip it.
            if !s.is_empty() && s.bytes().all(is_name_byte) {
                names.entry(s).or_default().push(i);
            }
        }
        Self { names }
    }

    /// Calls `hit(index)` for every service named in the scanned lines of `message`
    /// (possibly more than once per service).
    fn scan(&self, message: &str, hit: &mut dyn FnMut(usize)) {
        if self.names.is_empty() {
            return;
        }
        let mut lines = message.lines();
        if let Some(first) = lines.next() {
            self.scan_line(first, hit);
        }
        let causes = lines
            .filter(|l| {
                let t = l.trim_start().as_bytes();
                t.len() >= 9 && t[..9].eq_ignore_ascii_case(b"caused by")
            })
            .take(MAX_CAUSE_LINES);
        for line in causes {
            self.scan_line(line, hit);
        }
    }

    fn scan_line(&self, line: &str, hit: &mut dyn FnMut(usize)) {
        let line = truncate(line, MAX_LINE_BYTES).to_ascii_lowercase();
        for token in line.split(|c: char| !c.is_ascii() || !is_name_byte(c as u8)) {
            if token.is_empty() {
                continue;
            }
            let trimmed = token.trim_end_matches(['.', '-', '_']);
            if self.lookup(trimmed, hit) {
                continue;
            }
            if let Some((head, rest)) = trimmed.split_once('.') {
                // `payments.shop.svc.cluster.local` names `payments`; `payments.go` or
                // `orders.id` (a file, a column) do not.
                let is_service_dns = rest.split('.').any(|l| l == "svc")
                    || rest.ends_with("local")
                    || rest.ends_with("internal");
                if is_service_dns {
                    self.lookup(head, hit);
                }
            }
        }
    }

    fn lookup(&self, token: &str, hit: &mut dyn FnMut(usize)) -> bool {
        match self.names.get(token) {
            Some(idx) => {
                idx.iter().for_each(|&i| hit(i));
                true
            }
            None => false,
        }
    }
}

/// Characters a service name is made of.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICES: &[&str] = &[
        "gateway",
        "payments",
        "pay",
        "redis-cache",
        "postgres-proxy",
        "orders",
        "inventory",
        "api.v2",
    ];

    #[track_caller]
    fn check(message: &str, own: &str, expected: &[&str]) {
        assert_eq!(
            mentioned_peers(message, own, SERVICES),
            expected,
            "message: {message:?}"
        );
    }

    #[test]
    fn names_the_peer_called() {
        check(
            "upstream payments timed out after 3000ms (request_id=ab)",
            "checkout",
            &["payments"],
        );
        check(
            "call to redis-cache failed: status=503",
            "auth",
            &["redis-cache"],
        );
        check(
            "connect to postgres-proxy:5432 refused",
            "orders",
            &["postgres-proxy"],
        );
        check(
            "circuit breaker for Inventory is now OPEN after 12 failures",
            "gateway",
            &["inventory"],
        );
        check(
            "POST http://payments:8080/charge failed",
            "gateway",
            &["payments"],
        );
        check("could not reach payments.", "gateway", &["payments"]);
        check(
            "dial tcp: lookup payments.shop.svc.cluster.local: no such host",
            "gateway",
            &["payments"],
        );
        check("call to api.v2 failed", "gateway", &["api.v2"]);
    }

    #[test]
    fn whole_names_only() {
        check("payment service unavailable", "gateway", &[]);
        check("paypal declined", "gateway", &[]);
        check("connect to payments-2:8080 refused", "gateway", &[]);
        check("see /src/payments.go", "gateway", &[]);
        check("call to pay failed", "gateway", &["pay"]);
        check("redis timed out", "gateway", &[]);
    }

    #[test]
    fn own_service_and_duplicates_excluded() {
        check("payments: upstream payments timed out", "payments", &[]);
        check(
            "orders -> payments -> orders: payments failed",
            "gateway",
            &["payments", "orders"],
        );
    }

    #[test]
    fn stack_frames_are_not_mentions_but_causes_are() {
        check(
            "panic: boom\ngoroutine 1 [running]:\n\t/src/payments/handler.go:12 +0x1d4\n\tat io.shop.orders.Repo.q(Repo.java:3)",
            "gateway",
            &[],
        );
        check(
            "org.springframework.web.client.ResourceAccessException: I/O error\nCaused by: java.net.ConnectException: connect to inventory:8080 refused\n\tat x.y(Z.java:1)",
            "orders",
            &["inventory"],
        );
    }

    #[test]
    fn counts_other_services_messages_once_each() {
        let ev = |s: &str, m: &str| (s.to_string(), m.to_string());
        let events = vec![
            ev("gateway", "upstream payments timed out"),
            ev("gateway", "payments: call to payments failed"),
            ev("orders", "circuit breaker for payments is now OPEN"),
            ev("payments", "payments is sad"),
            ev("orders", "validation failed"),
            ev("gateway", "call to orders failed: status=503"),
        ];
        let counts = count_mentions(&events, &["payments", "orders", "gateway"]);
        assert_eq!(counts["payments"], 3);
        assert_eq!(counts["orders"], 1);
        assert_eq!(counts["gateway"], 0);
        assert_eq!(counts.len(), 3);
    }

    #[test]
    fn odd_input_never_panics() {
        let long = "payments ".repeat(5000);
        let inputs = [
            "",
            "\n",
            "🙂payments🙂",
            "...---___",
            "payments\u{0}orders",
            "İpayments",
            long.as_str(),
        ];
        for s in inputs {
            let _ = mentioned_peers(s, "", SERVICES);
            let _ = mentioned_peers(s, "payments", &["", "PAYMENTS", "payments", "a b"]);
        }
        assert_eq!(mentioned_peers("🙂payments🙂", "", SERVICES), ["payments"]);
        assert!(mentioned_peers("anything", "x", &[""]).is_empty());
        assert!(count_mentions(&[], &[]).is_empty());
    }
}
