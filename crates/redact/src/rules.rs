//! The built-in rules, in the order they claim text.
//!
//! Structured rules come first (PEM blocks, URL credentials, labelled values, HTTP headers):
//! they know exactly which part is the secret and keep the label, which is evidence in its
//! own right. Shape-based rules (token formats, card numbers, emails, IPs) come after and
//! only get text nobody explained yet. Every pattern is ASCII-only where it can be: log
//! secrets are ASCII, and ASCII classes keep the lazy DFA small and fast.
//!
//! Where a shape alone is ambiguous (`Bearer token missing`, `session: opened`, a 16-digit
//! order id), a check on the match decides. Checks only let text through when it is clearly
//! not a secret: a label that says "secret" wins over a value that looks harmless.

use regex::{Captures, Regex};

/// Decides on one match: `text` is the whole input (for looking at the neighbours), `caps`
/// the match.
pub(crate) type Check = fn(text: &str, caps: &Captures<'_>) -> bool;

/// A cheap test on the whole input that must pass for the rule to be worth running.
#[derive(Debug, Clone)]
pub(crate) enum Quick {
    Fn(fn(text: &str) -> bool),
    /// For rules without a literal the regex engine could skip ahead to: a small
    /// literal-only regex is several times faster than the rule itself.
    Re(Regex),
}

impl Quick {
    pub fn passes(&self, text: &str) -> bool {
        match self {
            Quick::Fn(f) => f(text),
            Quick::Re(re) => re.is_match(text),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub kind: &'static str,
    pub re: Regex,
    /// Capture groups holding the secret, alternatives of one another: the first that took
    /// part in the match is replaced. Empty: the whole match.
    pub groups: &'static [&'static str],
    pub check: Option<Check>,
    pub quick: Option<Quick>,
}

impl Rule {
    fn new(kind: &'static str, pattern: &str) -> Rule {
        Rule {
            kind,
            // The patterns are constants of this file; `Redactor::new` with the default config
            // is unit-tested, so this cannot fail at run time.
            re: Regex::new(pattern).expect("built-in redaction pattern must compile"),
            groups: &[],
            check: None,
            quick: None,
        }
    }

    fn groups(mut self, groups: &'static [&'static str]) -> Rule {
        self.groups = groups;
        self
    }

    fn check(mut self, check: Check) -> Rule {
        self.check = Some(check);
        self
    }

    fn quick(mut self, quick: fn(&str) -> bool) -> Rule {
        self.quick = Some(Quick::Fn(quick));
        self
    }

    fn quick_re(mut self, pattern: &str) -> Rule {
        self.quick = Some(Quick::Re(
            Regex::new(pattern).expect("built-in redaction pattern must compile"),
        ));
        self
    }
}

/// A separator between a label and its value: `=`, `:`, `=>`, with optional quotes (also
/// JSON-escaped ones, `\"`, for JSON logged inside a string) closing the label.
const SEP: &str = r#"(?:\\?["'])?(?P<sep>[ \t]*(?:=>|[:=])[ \t]*)"#;

/// Labels whose value is a secret, lower-case, matched case-insensitively as the whole label
/// or its last `_`/`-`/`.` component (`db_password`, `spring.datasource.password`,
/// `X-Auth-Token`). Longer alternatives first so `password` is not read as `pass`.
const KEYS: &str = "password|passwd|passphrase|pwd|pass\
    |client_?secret|secret_?access_?key|secret_?key_?base|secret_?key|secret\
    |access_?token|refresh_?token|auth_?token|token\
    |x-api-key|api[_-]?key|private_?key\
    |auth|session_?id|session|cookie";

/// The same labels as the last word of a camelCase label (`dbPassword`, `clientSecret`).
const CAMEL_KEYS: &str = "Password|Passwd|Passphrase|Pwd|Pass\
    |ClientSecret|SecretAccessKey|SecretKeyBase|SecretKey|Secret\
    |AccessToken|RefreshToken|AuthToken|Token\
    |ApiKey|APIKey|PrivateKey|Auth|SessionId|SessionID|Session|Cookie";

/// Labels that are also ordinary words in log prose (`session: opened`, `Token: expired`).
/// `secret:` and `cookie:` are not: after those, even a plain word is more likely a value.
const WEAK_KEYS: [&str; 4] = ["auth", "session", "pass", "token"];

const IPV4: &str = r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";

/// The built-in rules in claim order; the IP rules only when `ips` is set.
pub(crate) fn builtin(ips: bool) -> Vec<Rule> {
    let mut rules = vec![
        // Whole block, multi-line, also with `\n` escapes inside a JSON string. A block cut
        // off before its END line (truncated log line) is taken up to the end of the key
        // material rather than left out.
        Rule::new(
            "private_key",
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\:,.-]*)",
        )
        .quick(|t| t.contains("PRIVATE KEY")),
        // The password of `scheme://user:password@host`; greedy up to the last `@` of the
        // authority, as unencoded `@` in passwords is common in hand-written DSNs.
        Rule::new(
            "password",
            r#"(?-u:\b)[A-Za-z][A-Za-z0-9+.-]*://[^\x00-\x20/?#@\[\]:"'<>]*:(?P<v>[^\x00-\x20/?#"'<>]+)@"#,
        )
        .groups(&["v"])
        .quick(|t| t.contains("://")),
        Rule::new(
            "aws_secret",
            &format!(
                r"(?i-u:(?:aws_?)?secret_?access_?key|aws_?secret_?key){SEP}(?:\\?[\x22'])?(?P<v>[A-Za-z0-9/+]{{40}})(?:[^A-Za-z0-9/+=]|$)"
            ),
        )
        .groups(&["v"]),
        // `Authorization: <scheme> <credentials>`: the scheme is kept, the credentials go.
        // Without a known scheme the value must look like a credential, so prose such as
        // `authorization: failed for user` survives.
        Rule::new(
            "token",
            &format!(
                r"(?i-u:\b(?:proxy-)?authorization){SEP}(?:\\?[\x22'])?(?:(?P<scheme>(?i-u:bearer|basic|token|negotiate|ntlm|apikey|sso-key|bot|aws4-hmac-sha256))[ \t]+)?(?P<v>[^\x00-\x20\x22',;\\]+)"
            ),
        )
        .groups(&["v"])
        .check(|_, caps| {
            caps.name("scheme").is_some() || caps.name("v").is_some_and(|v| looks_like_token(v.as_str()))
        }),
        // A cookie header is all secrets (session ids of every service behind the domain), so
        // the whole rest of the line goes; `cookie=...` pairs are the key=value rule's.
        Rule::new(
            "secret",
            r#"(?i-u:\b(?:set-)?cookie)[ \t]*:[ \t]*(?P<v>[^\x00-\x20"'\\](?:[^\r\n"'\\]*[^\x00-\x20"'\\])?)"#,
        )
        .groups(&["v"]),
        Rule::new("secret", &key_value())
            .groups(&["v1", "v2", "v3", "v4", "v5"])
            .check(key_value_check)
            .quick_re("(?i-u)pass|pwd|secret|key|token|auth|session|cookie"),
        Rule::new(
            "jwt",
            r"(?-u:\b)eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
        )
        .quick(|t| t.contains("eyJ")),
        // `bearer <token>` / `Basic <base64>` outside an Authorization header.
        Rule::new(
            "token",
            r"(?i-u:\b(?P<scheme>bearer|basic))[ \t]+(?P<v>[A-Za-z0-9._~+/-]+=*)",
        )
        .groups(&["v"])
        .check(|_, caps| {
            let (Some(scheme), Some(v)) = (caps.name("scheme"), caps.name("v")) else {
                return false;
            };
            if scheme.as_str().eq_ignore_ascii_case("basic") {
                is_basic_credentials(v.as_str())
            } else {
                looks_like_token(v.as_str())
            }
        }),
        // Vendor token formats, recognisable anywhere by their prefix.
        Rule::new(
            "token",
            concat!(
                r"(?-u:\b)(?:",
                r"sk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{20,}",
                r"|gh[pousr]_[A-Za-z0-9]{36,}",
                r"|github_pat_[A-Za-z0-9_]{22,}",
                r"|xox[abprs]-[A-Za-z0-9-]{10,}",
                r"|xapp-[0-9]-[A-Za-z0-9-]{10,}",
                r"|[rsp]k_(?:live|test)_[A-Za-z0-9]{10,}",
                r"|AIza[A-Za-z0-9_-]{35}",
                r"|glpat-[A-Za-z0-9_-]{20,}",
                r"|npm_[A-Za-z0-9]{36}",
                r"|hf_[A-Za-z0-9]{30,}",
                r"|SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
                r")",
            ),
        )
        // `sk-` is also an ordinary word prefix (`sk-learn-...`); real keys are random and
        // carry digits.
        .check(|_, caps| {
            let m = caps.get(0).map_or("", |m| m.as_str());
            !m.starts_with("sk-") || m.bytes().any(|b| b.is_ascii_digit())
        }),
        Rule::new(
            "aws_key",
            r"(?-u:\b)(?:A3T[A-Z0-9]|AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}(?-u:\b)",
        ),
        // 13-19 digits, contiguous or in the usual 4-4-4-x and 4-6-5/4-6-4 groups.
        Rule::new(
            "card",
            r"(?-u:\b)(?:[0-9]{4}[ -][0-9]{4}[ -][0-9]{4}[ -][0-9]{1,7}|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5}|[0-9]{13,19})(?-u:\b)",
        )
        .check(card_check)
        .quick(|t| count_digits(t) >= 13),
        // Also URL-encoded (`user%40example.com` in paths and query strings). The local part
        // is lazy so that in `https://me%40mail.com@host` the host survives.
        Rule::new(
            "email",
            r"(?-u:\b)[A-Za-z0-9][A-Za-z0-9._%+-]*?(?:@|%40)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?-u:\b)",
        )
        .quick(|t| t.contains('@') || t.contains("%40")),
    ];
    if ips {
        // IPv6 first: its IPv4-suffixed forms would otherwise lose their tail to the IPv4
        // rule. Alternatives with more groups come first (leftmost-first, not longest).
        let h = "[0-9A-Fa-f]{1,4}";
        let v6 = format!(
            "(?:(?:{h}:){{7}}{h}|(?:{h}:){{6}}{IPV4}|::(?:[fF]{{4}}(?::0{{1,4}})?:)?{IPV4}|(?:{h}:){{1,4}}:{IPV4}|(?:{h}:){{1,6}}(?::{h}){{1,6}}|(?:{h}:){{1,7}}:|:(?::{h}){{1,7}})(?:%[0-9A-Za-z]+)?"
        );
        rules.push(
            Rule::new("ip", &v6)
                .check(ipv6_check)
                .quick(|t| t.contains("::") || count_byte(t, b':') >= 7),
        );
        rules.push(
            Rule::new("ip", &format!(r"(?-u:\b){IPV4}(?-u:\b)"))
                .check(ipv4_check)
                .quick(|t| count_byte(t, b'.') >= 3),
        );
    }
    rules
}

/// `label<sep>value` where label is one of [`KEYS`]; the value may be quoted (also with
/// JSON-escaped quotes), bracketed or bare. Bare values end at whitespace, `,;&)}]` and
/// quotes; an auth scheme (`auth: Bearer x`) is kept as a word of the label.
fn key_value() -> String {
    let bare_first = r#"[^\x00-\x20,;&)}\]'"\[{\\]"#;
    let bare_rest = r#"(?:[^\x00-\x20,;&)}\]'"\\]|\\[^"\x00-\x20])"#;
    format!(
        concat!(
            r"(?-u:\b)(?P<k>(?i-u:(?:[a-z0-9]+[._-])*(?:{keys}))|[A-Za-z0-9]*[a-z0-9](?:{camel})){sep}",
            r#"(?:\\"(?P<v1>(?:[^"\\\r\n]|\\[^"\r\n])+)(?:\\")?"#,
            r#"|"(?P<v2>(?:[^"\\\r\n]|\\.)+)"?"#,
            r"|'(?P<v3>[^'\r\n]+)'?",
            r"|(?:(?P<scheme>(?i-u:bearer|basic))[ \t]+)?",
            r#"(?:\[(?P<v4>[^\[\]\x00-\x20"']+)\]|(?P<v5>{bare_first}{bare_rest}*)))"#,
        ),
        keys = KEYS,
        camel = CAMEL_KEYS,
        sep = SEP,
        bare_first = bare_first,
        bare_rest = bare_rest,
    )
}

fn key_value_check(text: &str, caps: &Captures<'_>) -> bool {
    let Some(value) = ["v1", "v2", "v3", "v4", "v5"]
        .iter()
        .find_map(|g| caps.name(g))
        .map(|m| m.as_str())
    else {
        return false;
    };
    // Flags and placeholders are not secrets, and `"password": null` is useful evidence.
    // YAML block indicators (`private_key: |`) announce a value on the next lines.
    if ["null", "true", "false", "none", "nil", "undefined"]
        .iter()
        .any(|w| value.eq_ignore_ascii_case(w))
        || value.bytes().all(|b| b == b'*')
        || value
            .bytes()
            .all(|b| matches!(b, b'|' | b'>' | b'-' | b'+'))
    {
        return false;
    }
    // `session: opened for user`, `Token: expired`, `stream/token: com.apple.xpc/4505`: a
    // one-word label after `:` is prose when a plain word follows (real tokens have digits
    // or symbols, or are long) or when the label ends a path.
    let Some(label) = caps.name("k") else {
        return false;
    };
    let weak_label = WEAK_KEYS
        .iter()
        .any(|w| label.as_str().eq_ignore_ascii_case(w));
    let colon = caps.name("sep").is_some_and(|s| s.as_str().contains(':'));
    let bare = caps.name("v5").is_some() && caps.name("scheme").is_none();
    let plain_word = value.len() < 20 && value.bytes().all(|b| b.is_ascii_alphabetic());
    let in_path = label.start() > 0 && text.as_bytes()[label.start() - 1] == b'/';
    !(weak_label && colon && bare && (plain_word || in_path))
}

/// Opaque tokens are random: long, and almost surely with a digit somewhere. Words are not.
fn looks_like_token(s: &str) -> bool {
    (s.len() >= 8 && s.bytes().any(|b| b.is_ascii_digit())) || s.len() >= 20
}

/// `Basic` credentials are base64 of `user:password`; decoding tells them from the English
/// word (`basic authentication failed`).
fn is_basic_credentials(s: &str) -> bool {
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut colon = false;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return false,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            let byte = (acc >> bits) & 0xff;
            acc &= (1 << bits) - 1;
            match byte {
                0x3a => colon = true,
                0x00..=0x1f | 0x7f => return false,
                _ => {}
            }
        }
    }
    colon
}

/// A card number stands alone: digits glued to a sign, a decimal point or more digit groups
/// are part of something else (`blk_-5633587983998853189` is an HDFS block id, `+4915...` a
/// phone number, `0.4111...` a fraction).
fn card_check(text: &str, caps: &Captures<'_>) -> bool {
    let Some(m) = caps.get(0) else { return false };
    let b = text.as_bytes();
    let glued_before = m.start() > 0 && matches!(b[m.start() - 1], b'-' | b'+' | b'.');
    let glued_after = matches!(b.get(m.end()), Some(b'-' | b'.'))
        && b.get(m.end() + 1).is_some_and(u8::is_ascii_digit);
    !glued_before && !glued_after && is_card_number(m.as_str())
}

/// A card number is Luhn-valid and has a length its network issues. The network check keeps
/// out most digit runs that happen to pass Luhn (one in ten does): 13-digit epoch
/// milliseconds and 19-digit nanoseconds start with 1, ids rarely have a network's length.
pub(crate) fn is_card_number(s: &str) -> bool {
    let digits = || {
        s.bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| u32::from(b - b'0'))
    };
    let len = digits().count();
    let mut lead = digits();
    let (first, second) = (lead.next().unwrap_or(0), lead.next().unwrap_or(0));
    let network_length = match (first, second) {
        // Visa.
        (4, _) => matches!(len, 13 | 16 | 19),
        // Amex.
        (3, 4 | 7) => len == 15,
        // Diners.
        (3, 0 | 6 | 8 | 9) => (14..=19).contains(&len),
        // JCB.
        (3, 5) => (16..=19).contains(&len),
        // Mastercard 2-series.
        (2, _) => len == 16,
        // Mastercard, Maestro, Discover, UnionPay.
        (5 | 6, _) => (16..=19).contains(&len),
        _ => false,
    };
    // All-same digits (0000 0000 ...) pass Luhn for some lengths but are fillers, not cards.
    network_length && !digits().all(|d| d == first) && luhn(digits())
}

/// How many times `byte` occurs in `t`. A full count (no early exit) is vectorised by the
/// compiler: a fraction of the cost of running a regex over the line.
fn count_byte(t: &str, byte: u8) -> usize {
    t.bytes().filter(|&b| b == byte).count()
}

fn count_digits(t: &str) -> usize {
    t.bytes().filter(u8::is_ascii_digit).count()
}

/// Luhn checksum over digits given most significant first.
fn luhn(digits: impl DoubleEndedIterator<Item = u32>) -> bool {
    let sum: u32 = digits
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Version strings (`1.2.3.4.5`) and dotted numbers: an address must not continue with more
/// dot-separated digits on either side.
fn ipv4_check(text: &str, caps: &Captures<'_>) -> bool {
    let Some(m) = caps.get(0) else { return false };
    let b = text.as_bytes();
    let dotted_before =
        m.start() >= 2 && b[m.start() - 1] == b'.' && b[m.start() - 2].is_ascii_digit();
    let dotted_after =
        b.get(m.end()) == Some(&b'.') && b.get(m.end() + 1).is_some_and(u8::is_ascii_digit);
    !dotted_before && !dotted_after
}

/// The IPv6 shapes also fit `std::io`-style paths and hex words (`dead::beef`): an address
/// stands alone, has at least two colons, a digit, and at most one `::`.
fn ipv6_check(text: &str, caps: &Captures<'_>) -> bool {
    let Some(m) = caps.get(0) else { return false };
    let b = text.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b':' || c == b'_';
    let alone_before = m.start() == 0 || !word(b[m.start() - 1]);
    let alone_after = b.get(m.end()).is_none_or(|&c| !word(c));
    let s = m.as_str();
    alone_before
        && alone_after
        && s.bytes().filter(|&c| c == b':').count() >= 2
        && s.bytes().any(|c| c.is_ascii_digit())
        && s.matches("::").count() <= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_values() {
        assert!(is_card_number("4111111111111111"));
        assert!(is_card_number("4111 1111 1111 1111"));
        assert!(is_card_number("5555-5555-5555-4444"));
        assert!(is_card_number("378282246310005"));
        assert!(!is_card_number("4111111111111112"));
        assert!(!is_card_number("1700000000005")); // epoch ms shape
        assert!(!is_card_number("4444444444444444"));
        assert!(!is_card_number("411111111111"));
        assert!(is_card_number("30569309025904")); // Diners, 14
        assert!(is_card_number("6011111111111117")); // Discover
        assert!(is_card_number("2223003122003222")); // Mastercard 2-series
        assert!(!is_card_number("41111111111111113")); // Visa has no 17-digit numbers
    }

    #[test]
    fn basic_credentials_need_a_colon() {
        assert!(is_basic_credentials("dXNlcjpwYXNzd29yZA==")); // user:password
        assert!(is_basic_credentials("YWxhZGRpbjpvcGVuc2VzYW1l")); // aladdin:opensesame
        assert!(!is_basic_credentials("authentication"));
        assert!(!is_basic_credentials("realm"));
        assert!(!is_basic_credentials("a.b"));
    }
}
