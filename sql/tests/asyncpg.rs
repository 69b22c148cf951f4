//! asyncpg: the extended protocol in binary, its type introspection (the recursive CTE it
//! runs for array types it has no codec for), transactions, pools and the statements its
//! connection reset sends, checked by running the real client against the endpoint (the
//! program is in `tests/clients/`; `scripts/install-clients.sh` installs the client).

mod support;

#[tokio::test(flavor = "multi_thread")]
async fn asyncpg_client_passes_every_check() {
    let endpoint = support::start().await;
    let out = support::run_client(&endpoint, r#"python3 "$CLIENTS/asyncpg_test.py""#).await;
    println!("{out}");
}
