//! Seeded secrets in typical log lines: each case gives the exact expected output, so both
//! "the secret is gone" and "the rest of the line survived" are checked.
//!
//! Vendor-format tokens are assembled with `concat!` so that no literal in this file looks
//! like a live credential to secret scanners.

use std::borrow::Cow;

use super::*;

fn redactor() -> Redactor {
    Redactor::new(&RedactConfig::default()).expect("default config builds")
}

fn with_ips() -> Redactor {
    Redactor::new(&RedactConfig {
        ips: true,
        extra: Vec::new(),
    })
    .expect("ips config builds")
}

/// Checks every `(input, secret, expected)`: exact output, secret gone, and that redacting
/// the output again changes nothing (markers are not re-matched).
#[track_caller]
fn expect_all(r: &Redactor, cases: &[(&str, &str, &str)]) {
    for &(input, secret, expected) in cases {
        let out = r.redact(input);
        assert_eq!(out, expected, "input: {input}");
        assert!(!out.contains(secret), "{secret:?} survived in {out:?}");
        assert!(
            input.contains(secret),
            "bad case: {secret:?} not in {input:?}"
        );
        assert!(
            matches!(r.redact(&out), Cow::Borrowed(_)),
            "not idempotent: {out:?}"
        );
    }
}

/// Lines that must come back untouched, and borrowed.
#[track_caller]
fn expect_untouched(r: &Redactor, lines: &[&str]) {
    for &line in lines {
        let out = r.redact(line);
        assert!(
            matches!(out, Cow::Borrowed(_)),
            "changed: {line:?} -> {out:?}"
        );
        assert_eq!(r.count(line), 0, "{line:?}");
    }
}

#[test]
fn default_and_ip_redactors_build() {
    redactor();
    with_ips();
}

#[test]
fn text_without_secrets_is_borrowed() {
    expect_untouched(
        &redactor(),
        &[
            "",
            "2024-05-01T12:00:00.123Z INFO server started on 0.0.0.0:8080 in 35ms",
            "GET /api/v1/users?page=2 200 1532 bytes 12.4ms",
            "connecting to http://db.internal:5432/li",
            "user bob logged in from 10.1.2.3 (session opened)",
            "java.lang.NullPointerException: at com.example.Foo.bar(Foo.java:42)",
            "ERROR disk /dev/sda1 is 97% full",
        ],
    );
}

#[test]
fn aws_access_key_ids() {
    expect_all(
        &redactor(),
        &[
            (
                "2024-05-01 INFO using credentials AKIAIOSFODNN7EXAMPLE for s3://logs-bucket",
                "AKIAIOSFODNN7EXAMPLE",
                "2024-05-01 INFO using credentials [REDACTED:aws_key] for s3://logs-bucket",
            ),
            (
                r#"{"AccessKeyId":"ASIAY34FZKBOKMUTVV7A","Expiration":"2024-05-01T13:00:00Z"}"#,
                "ASIAY34FZKBOKMUTVV7A",
                r#"{"AccessKeyId":"[REDACTED:aws_key]","Expiration":"2024-05-01T13:00:00Z"}"#,
            ),
            (
                "assumed role AROAJ2UCCR6DPEXAMPLE, group AGPAIOSFODNN7EXAMPLE",
                "AROAJ2UCCR6DPEXAMPLE",
                "assumed role [REDACTED:aws_key], group [REDACTED:aws_key]",
            ),
        ],
    );
    // Too long to be a key id: part of some other identifier.
    expect_untouched(
        &redactor(),
        &["id=XAKIAIOSFODNN7EXAMPLE AKIAIOSFODNN7EXAMPLEXX"],
    );
}

#[test]
fn aws_secret_access_keys_when_labelled() {
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    expect_all(
        &redactor(),
        &[
            (
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                secret,
                "aws_secret_access_key = [REDACTED:aws_secret]",
            ),
            (
                r#"env: {"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS_REGION": "eu-west-1"}"#,
                secret,
                r#"env: {"AWS_SECRET_ACCESS_KEY": "[REDACTED:aws_secret]", "AWS_REGION": "eu-west-1"}"#,
            ),
            (
                "export MY_AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY; run",
                secret,
                "export MY_AWS_SECRET_ACCESS_KEY=[REDACTED:aws_secret]; run",
            ),
            (
                r#"sts response SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY""#,
                secret,
                r#"sts response SecretAccessKey: "[REDACTED:aws_secret]""#,
            ),
            // Not 40 characters: still a labelled secret.
            (
                "aws_secret_access_key=shortsecret123",
                "shortsecret123",
                "aws_secret_access_key=[REDACTED:secret]",
            ),
        ],
    );
}

#[test]
fn bearer_and_basic_credentials() {
    expect_all(
        &redactor(),
        &[
            (
                "GET /api/v1/users 401 Authorization: Bearer 8f14e45fceea167a5a36dedd4bea2543 ua=curl/8.1",
                "8f14e45fceea167a5a36dedd4bea2543",
                "GET /api/v1/users 401 Authorization: Bearer [REDACTED:token] ua=curl/8.1",
            ),
            (
                r#"headers={"authorization": "bearer ya29.a0AfH6SMBx-3kq9", "accept": "*/*"}"#,
                "ya29.a0AfH6SMBx-3kq9",
                r#"headers={"authorization": "bearer [REDACTED:token]", "accept": "*/*"}"#,
            ),
            (
                "retrying upstream with bearer 0a1b2c3d4e5f6a7b8c9d after 401",
                "0a1b2c3d4e5f6a7b8c9d",
                "retrying upstream with bearer [REDACTED:token] after 401",
            ),
            (
                "Proxy-Authorization: Basic dXNlcjpwYXNzd29yZA==",
                "dXNlcjpwYXNzd29yZA==",
                "Proxy-Authorization: Basic [REDACTED:token]",
            ),
            (
                "upstream sent Basic YWxhZGRpbjpvcGVuc2VzYW1l, rejected",
                "YWxhZGRpbjpvcGVuc2VzYW1l",
                "upstream sent Basic [REDACTED:token], rejected",
            ),
            (
                "Authorization: 9f86d081884c7d659a2feaa0c55ad015",
                "9f86d081884c7d659a2feaa0c55ad015",
                "Authorization: [REDACTED:token]",
            ),
        ],
    );
    expect_untouched(
        &redactor(),
        &[
            "basic authentication failed for user bob",
            "401: Bearer token missing or expired",
            "authorization: failed for user bob",
            r#"{"token_type": "bearer", "expires_in": 3600}"#,
            "Authorization: Digest realm=api",
        ],
    );
}

#[test]
fn jwts_anywhere() {
    let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    let r = redactor();
    let line = format!("forwarding {jwt} to upstream billing-svc");
    assert_eq!(
        r.redact(&line),
        "forwarding [REDACTED:jwt] to upstream billing-svc"
    );
    let json = format!(r#"{{"id_token":"{jwt}"}}"#);
    assert!(!r.redact(&json).contains(jwt));
    // Unsigned (alg none) tokens end in a bare dot.
    let unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ.";
    assert_eq!(
        r.redact(&format!("got {unsigned} from client")),
        "got [REDACTED:jwt] from client"
    );
}

#[test]
fn labelled_values_keep_their_label() {
    expect_all(
        &redactor(),
        &[
            (
                "login failed user=bob password=hunter2 ip=10.0.0.1",
                "hunter2",
                "login failed user=bob password=[REDACTED:secret] ip=10.0.0.1",
            ),
            (
                r#"config password: "s3cr3t! with spaces" loaded"#,
                "s3cr3t! with spaces",
                r#"config password: "[REDACTED:secret]" loaded"#,
            ),
            (
                r#"{"user":"bob","password":"p@ss \"w0rd\"","remember":true}"#,
                r#"p@ss \"w0rd\""#,
                r#"{"user":"bob","password":"[REDACTED:secret]","remember":true}"#,
            ),
            (
                "{'pwd': 'abc123', 'db': 'li'}",
                "abc123",
                "{'pwd': '[REDACTED:secret]', 'db': 'li'}",
            ),
            (
                "POST /oauth/token client_secret=Zk9xQ2w3&grant_type=client_credentials",
                "Zk9xQ2w3",
                "POST /oauth/token client_secret=[REDACTED:secret]&grant_type=client_credentials",
            ),
            (
                "GET /cb?code=x&access_token=ya29.a0AfH6SMBx&state=1 302",
                "ya29.a0AfH6SMBx",
                "GET /cb?code=x&access_token=[REDACTED:secret]&state=1 302",
            ),
            (
                "refresh_token=rt_9Zk1; next",
                "rt_9Zk1",
                "refresh_token=[REDACTED:secret]; next",
            ),
            (
                "X-Api-Key: 1f2e3d4c5b6a",
                "1f2e3d4c5b6a",
                "X-Api-Key: [REDACTED:secret]",
            ),
            (
                "api-key=k-77 apikey=k-78",
                "k-7",
                "api-key=[REDACTED:secret] apikey=[REDACTED:secret]",
            ),
            (
                r#"{"api_key": "0123456789abcdef", "x-api-key": "fedcba9876543210"}"#,
                "0123456789abcdef",
                r#"{"api_key": "[REDACTED:secret]", "x-api-key": "[REDACTED:secret]"}"#,
            ),
            (
                "private_key=MIIEvQIBADAN",
                "MIIEvQIBADAN",
                "private_key=[REDACTED:secret]",
            ),
            (
                "auth=hunter22 author=bob",
                "hunter22",
                "auth=[REDACTED:secret] author=bob",
            ),
            (
                "auth: Bearer abc123def456",
                "abc123def456",
                "auth: Bearer [REDACTED:secret]",
            ),
            (
                "sessionid=8c6976e5b5410415; session: 9f86d081 ok",
                "8c6976e5b5410415",
                "sessionid=[REDACTED:secret]; session: [REDACTED:secret] ok",
            ),
            ("cookie=abc123xyz", "abc123xyz", "cookie=[REDACTED:secret]"),
            (
                "passwd=toor pass=letmein",
                "letmein",
                "passwd=[REDACTED:secret] pass=[REDACTED:secret]",
            ),
            (
                "secret: t0ps3cret",
                "t0ps3cret",
                "secret: [REDACTED:secret]",
            ),
            // After `secret:` even a plain word is taken as the value.
            (
                "secret: swordfish",
                "swordfish",
                "secret: [REDACTED:secret]",
            ),
            (
                "TOKEN=abc.def.123",
                "abc.def.123",
                "TOKEN=[REDACTED:secret]",
            ),
            (
                "DB_PASSWORD=hunter2",
                "hunter2",
                "DB_PASSWORD=[REDACTED:secret]",
            ),
            (
                "spring.datasource.password=hunter2 profile=prod",
                "hunter2",
                "spring.datasource.password=[REDACTED:secret] profile=prod",
            ),
            (
                "jdbcPassword=hunter2, clientSecret=abc9",
                "hunter2",
                "jdbcPassword=[REDACTED:secret], clientSecret=[REDACTED:secret]",
            ),
            (
                "User{name=bob, password=hunter2}",
                "hunter2",
                "User{name=bob, password=[REDACTED:secret]}",
            ),
            (
                "connect(token=abc123)",
                "abc123",
                "connect(token=[REDACTED:secret])",
            ),
            (
                "password=[hunter2] retry",
                "hunter2",
                "password=[[REDACTED:secret]] retry",
            ),
            (
                r#"msg="{\"password\":\"hunter2\",\"user\":\"bob\"}""#,
                "hunter2",
                r#"msg="{\"password\":\"[REDACTED:secret]\",\"user\":\"bob\"}""#,
            ),
            (
                r#"opts = {"password" => "hunter2"}"#,
                "hunter2",
                r#"opts = {"password" => "[REDACTED:secret]"}"#,
            ),
            // A quoted value cut off by a truncated line is still removed.
            (
                r#"{"password":"hunter2"#,
                "hunter2",
                r#"{"password":"[REDACTED:secret]"#,
            ),
        ],
    );
    expect_untouched(
        &redactor(),
        &[
            "author=bob oauth=enabled bypass=1 compass=north max_tokens=4096",
            r#"{"type": "password", "password": null, "token": "", "secret": false}"#,
            "pam_unix(sshd:session): session opened for user root by (uid=0)",
            "Token: expired",
            "Could not get event name for stream/token: com.apple.xpc.activity/4505: 132",
            "grant_type=password&username=bob",
            "password reset requested; token_count=3",
            "password=*** (masked by client)",
            "private_key: |",
        ],
    );
}

#[test]
fn cookie_headers_lose_all_values() {
    expect_all(
        &redactor(),
        &[
            (
                "Cookie: _ga=GA1.2.3; sid=8c6976e5b5410415",
                "8c6976e5b5410415",
                "Cookie: [REDACTED:secret]",
            ),
            (
                "Set-Cookie: session=abc123; Path=/; HttpOnly\nnext line",
                "abc123",
                "Set-Cookie: [REDACTED:secret]\nnext line",
            ),
        ],
    );
}

#[test]
fn urls_with_credentials_keep_user_and_host() {
    expect_all(
        &redactor(),
        &[
            (
                "connecting to postgres://app:s3cr3t@db.internal:5432/li?sslmode=require",
                "s3cr3t",
                "connecting to postgres://app:[REDACTED:password]@db.internal:5432/li?sslmode=require",
            ),
            (
                "redis://:p@ss@cache:6379/0 unreachable",
                "p@ss",
                "redis://:[REDACTED:password]@cache:6379/0 unreachable",
            ),
            (
                r#"{"url":"amqp://guest:guest123@rabbit.example.com/vhost"}"#,
                "guest123",
                r#"{"url":"amqp://guest:[REDACTED:password]@rabbit.example.com/vhost"}"#,
            ),
            (
                "mongodb+srv://admin:Pa55w0rd@cluster0.mongodb.net",
                "Pa55w0rd",
                "mongodb+srv://admin:[REDACTED:password]@cluster0.mongodb.net",
            ),
        ],
    );
    expect_untouched(
        &redactor(),
        &[
            "GET http://example.com:8080/a@b ok",
            "proxy http://[::1]:3128/ up",
        ],
    );
}

#[test]
fn vendor_token_formats_anywhere() {
    let openai = concat!("sk-", "proj-", "Xq3kT9vB2mN7pL4wR8sY1zA6cE5dF0gH_jK-uV");
    let openai_legacy = concat!("sk-", "3kT9vB2mN7pL4wR8sY1zA6cE5dF0gHjKuVxQ2wE4rT6y");
    let github = concat!("ghp", "_", "16C7e42F292c6912E7710c838347Ae178B4a");
    let github_app = concat!("ghs", "_", "16C7e42F292c6912E7710c838347Ae178B4aZZ");
    let github_pat = concat!(
        "github",
        "_pat_",
        "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"
    );
    let slack = concat!(
        "xox",
        "b-",
        "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
    );
    let stripe = concat!("sk", "_live_", "4eC39HqLyjWDarjtT1zdp7dc");
    let stripe_rk = concat!("rk", "_live_", "51H8tEr2eZvKYlo2C0123abcd");
    let stripe_pk = concat!("pk", "_live_", "51H8tEr2eZvKYlo2C0123abcd");
    let google = concat!("AI", "za", "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY");
    let r = redactor();
    for token in [
        openai,
        openai_legacy,
        github,
        github_app,
        github_pat,
        slack,
        stripe,
        stripe_rk,
        stripe_pk,
        google,
    ] {
        let line = format!("2024-05-01 WARN calling upstream with {token} (attempt 2)");
        assert_eq!(
            r.redact(&line),
            "2024-05-01 WARN calling upstream with [REDACTED:token] (attempt 2)",
            "{token}"
        );
    }
    expect_untouched(
        &r,
        &["installed sk-learn-compat-extra-package-name ok; ghp_short; xoxb-1"],
    );
}

#[test]
fn pem_private_key_blocks() {
    let begin = concat!("-----BEGIN RSA ", "PRIVATE KEY-----");
    let end = concat!("-----END RSA ", "PRIVATE KEY-----");
    let body = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\nVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n";
    let r = redactor();
    let text = format!("loaded key:\n{begin}\n{body}{end}\nnext: ok");
    assert_eq!(
        r.redact(&text),
        "loaded key:\n[REDACTED:private_key]\nnext: ok"
    );

    // As logged inside JSON, with escaped newlines.
    let pkcs8_begin = concat!("-----BEGIN ", "PRIVATE KEY-----");
    let pkcs8_end = concat!("-----END ", "PRIVATE KEY-----");
    let json = format!(
        r#"{{"type":"service_account","key":"{pkcs8_begin}\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n{pkcs8_end}\n","id":"x"}}"#
    );
    assert_eq!(
        r.redact(&json),
        r#"{"type":"service_account","key":"[REDACTED:private_key]\n","id":"x"}"#
    );

    // Cut off before the END line: the key material still goes.
    let truncated = format!("{begin}\nMIIEowIBAAKCAQEAu1SU1LfVLPHC");
    assert_eq!(r.redact(&truncated), "[REDACTED:private_key]");

    // Public keys and certificates are not secrets.
    expect_untouched(
        &r,
        &[
            "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
        ],
    );
}

#[test]
fn card_numbers_only_when_luhn_valid() {
    expect_all(
        &redactor(),
        &[
            (
                "charged card 4111 1111 1111 1111 amount=10.00 EUR",
                "4111 1111 1111 1111",
                "charged card [REDACTED:card] amount=10.00 EUR",
            ),
            (
                "pan=5555-5555-5555-4444;",
                "5555-5555-5555-4444",
                "pan=[REDACTED:card];",
            ),
            (
                "amex 378282246310005.",
                "378282246310005",
                "amex [REDACTED:card].",
            ),
            (
                "amex 3782 822463 10005 ok",
                "3782 822463 10005",
                "amex [REDACTED:card] ok",
            ),
            (
                r#"{"card":"4012888888881881"}"#,
                "4012888888881881",
                r#"{"card":"[REDACTED:card]"}"#,
            ),
        ],
    );
    expect_untouched(
        &redactor(),
        &[
            // Same shape, fails Luhn: an order id.
            "order 4111111111111112 shipped",
            "order 4111 1111 1111 1112 shipped",
            // Epoch milliseconds / nanoseconds pass Luhn now and then; never cards.
            "ts=1700000000005 ns=1714567890123456789",
            "trace 12345678901234567890123456 done",
            // Luhn-valid, but glued to a sign or decimal point: ids and numbers.
            "Deleting block blk_-4174618838156947380 and blk_-5471189807977280544",
            "hash=-4111111111111111 ratio=0.4111111111111111 tel=+4111111111111111",
        ],
    );
}

#[test]
fn email_addresses() {
    expect_all(
        &redactor(),
        &[
            (
                "password reset mail sent to jane.doe+test@example.co.uk (status=ok)",
                "jane.doe+test@example.co.uk",
                "password reset mail sent to [REDACTED:email] (status=ok)",
            ),
            (
                "from=<bob@mail.example.org>,",
                "bob@mail.example.org",
                "from=<[REDACTED:email]>,",
            ),
            (
                "GET https://13957525385%40163.com@p28-contacts.icloud.com/principal/ failed",
                "13957525385%40163.com",
                "GET https://[REDACTED:email]@p28-contacts.icloud.com/principal/ failed",
            ),
            (
                "PROPFIND /caldav/users/xpc_ben%40163.com/ 404",
                "xpc_ben%40163.com",
                "PROPFIND /caldav/users/[REDACTED:email]/ 404",
            ),
        ],
    );
    expect_untouched(
        &redactor(),
        &["npm i lodash@4.17.21 and @types/node; user@localhost"],
    );
}

#[test]
fn ip_addresses_only_when_enabled() {
    let line = "accepted from 192.168.1.20:51234 via [2001:db8::8a2e:370:7334]:443";
    assert!(matches!(redactor().redact(line), Cow::Borrowed(_)));
    expect_all(
        &with_ips(),
        &[
            (
                line,
                "192.168.1.20",
                "accepted from [REDACTED:ip]:51234 via [[REDACTED:ip]]:443",
            ),
            (
                "peer=10.0.0.1, gw=255.255.255.0",
                "10.0.0.1",
                "peer=[REDACTED:ip], gw=[REDACTED:ip]",
            ),
            (
                "listen ::1 and fe80::1%eth0",
                "fe80::1",
                "listen [REDACTED:ip] and [REDACTED:ip]",
            ),
            (
                "mapped ::ffff:192.0.2.128 ok",
                "192.0.2.128",
                "mapped [REDACTED:ip] ok",
            ),
            (
                "full 2001:0db8:85a3:0000:0000:8a2e:0370:7334 end",
                "2001:0db8:85a3",
                "full [REDACTED:ip] end",
            ),
        ],
    );
    expect_untouched(
        &with_ips(),
        &[
            "version 1.2.3 released, build 1.2.3.4.5, 10.0.0.256, 1234.1.1.1",
            "at 12:34:56 std::io::Error in a::b (dead::beef)",
            "mac 00:1a:2b:3c:4d:5e",
        ],
    );
}

#[test]
fn structured_rules_win_and_markers_are_not_rematched() {
    let r = with_ips();
    // The URL rule takes the password; the email rule must not then take `pass@host`.
    assert_eq!(
        r.redact("dsn=mysql://root:pw123@db.example.com/app"),
        "dsn=mysql://root:[REDACTED:password]@db.example.com/app"
    );
    // A labelled JWT is a labelled secret; an Authorization header keeps its scheme.
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
    assert_eq!(r.redact(&format!("token={jwt}")), "token=[REDACTED:secret]");
    assert_eq!(
        r.redact(&format!("Authorization: Bearer {jwt}")),
        "Authorization: Bearer [REDACTED:token]"
    );
    // Markers already present are kept as they are and not counted.
    let done = "password=[REDACTED:secret] url=postgres://u:[REDACTED:password]@h Cookie: [REDACTED:secret]";
    assert!(matches!(r.redact(done), Cow::Borrowed(_)));
    assert_eq!(r.count(done), 0);
}

/// Found by `fuzz/fuzz_targets/redact.rs`: an email whose local part began with a JWT. The
/// JWT rule took the token and the email rule, overlapping it, yielded, so the address was
/// left in the output, and only a second redaction removed it.
#[test]
fn a_secret_beside_a_more_specific_one_is_not_left_behind() {
    let r = redactor();
    let text = "password=hunter 2otken eyJhbGciOiJIUzI0NiJ9.eyJzdeyJhbGciOiJxe.90NiJ9.eyJzdWIiOieyJzdWIiOiIxIn5ob@example.com";
    let once = r.redact(text);
    assert!(!once.contains("@example.com"), "{once}");
    assert_eq!(r.redact(&once), once);
    assert_eq!(r.count(&once), 0);
    assert_eq!(r.count(text), 3); // the password, the JWT and the address
}

#[test]
fn count_matches_redact() {
    let r = redactor();
    let line = "user=bob password=hunter2 email=bob@example.com key=AKIAIOSFODNN7EXAMPLE";
    assert_eq!(r.count(line), 3);
    assert_eq!(
        r.redact(line),
        "user=bob password=[REDACTED:secret] email=[REDACTED:email] key=[REDACTED:aws_key]"
    );
    assert_eq!(r.count("nothing here"), 0);
}

#[test]
fn custom_patterns() {
    let r = Redactor::new(&RedactConfig {
        ips: false,
        extra: vec![
            r"EMP-[0-9]{6}".into(),
            "x*".into(),
            r"tenant [a-z]+ user \S+".into(),
        ],
    })
    .expect("valid extras");
    assert_eq!(
        r.redact("badge EMP-004211 scanned"),
        "badge [REDACTED:custom] scanned"
    );
    // `x*` matches the empty string everywhere: empty matches are not replacements.
    assert!(matches!(r.redact("nothing"), Cow::Borrowed(_)));
    // A user pattern overlapping a built-in match takes the union: nothing of it survives.
    assert_eq!(
        r.redact("tenant acme user bob@acme.io logged in"),
        "[REDACTED:custom] logged in"
    );
}

#[test]
fn invalid_custom_pattern_names_index_and_pattern() {
    let err = Redactor::new(&RedactConfig {
        ips: false,
        extra: vec!["ok".into(), "(x".into()],
    })
    .expect_err("unclosed group");
    let msg = err.to_string();
    assert!(
        msg.starts_with(r#"redaction.extra[1] "(x" is not a valid regex: "#),
        "{msg}"
    );
    assert!(matches!(err, RedactError::InvalidExtra { index: 1, .. }));
}

#[test]
fn multibyte_characters_next_to_secrets() {
    let r = with_ips();
    assert_eq!(r.redact("éAKIAIOSFODNN7EXAMPLEé"), "é[REDACTED:aws_key]é");
    assert_eq!(
        r.redact("🔑 AKIAIOSFODNN7EXAMPLE🔒"),
        "🔑 [REDACTED:aws_key]🔒"
    );
    assert_eq!(
        r.redact("mail:jane@example.com😀"),
        "mail:[REDACTED:email]😀"
    );
    assert_eq!(r.redact("é10.0.0.1é"), "é[REDACTED:ip]é");
    assert_eq!(
        r.redact("carte 4111111111111111€"),
        "carte [REDACTED:card]€"
    );
    assert_eq!(
        r.redact("mot de passe: password=héllo🙂 fin"),
        "mot de passe: password=[REDACTED:secret] fin"
    );
    assert_eq!(
        r.redact("🙂password=\"ç\"🙂"),
        "🙂password=\"[REDACTED:secret]\"🙂"
    );
}

#[test]
fn odd_inputs_never_panic() {
    let r = Redactor::new(&RedactConfig {
        ips: true,
        extra: vec![".".into(), "é+".into()],
    })
    .expect("valid extras");
    let long_digits = "4".repeat(100_000);
    let long_mixed = "a1:".repeat(30_000);
    let inputs = [
        "",
        " ",
        "\n\n\n",
        "!@#$%^&*()_+-=[]{};':\",./<>?\\|`~",
        &long_digits,
        &long_mixed,
        "password=",
        "password=\"",
        "\"password\":\"\\",
        "password=\\\"",
        "Authorization:",
        "Bearer ",
        "Basic ====",
        "://:@",
        "a://b:@c",
        "[REDACTED:",
        "[REDACTED:]",
        "[REDACTED:secret",
        "-----BEGIN PRIVATE KEY-----",
        "-----END PRIVATE KEY----------BEGIN PRIVATE KEY-----",
        "eyJ.eyJ.",
        "::::::::::::::",
        "1.1.1.1.1.1.1.1",
        "é",
        "🔑",
        "é@é.é",
        "4111 1111 1111 1111 1111 1111 1111",
        "\u{0}\u{7f}\u{feff}password=\u{0}",
    ];
    let plain = redactor();
    for input in inputs {
        for r in [&r, &plain] {
            let out = r.redact(input);
            assert_eq!(
                r.count(input) == 0,
                matches!(out, Cow::Borrowed(_)),
                "{input:?}"
            );
        }
    }
}
