//! node-postgres: parameterised and named prepared statements, a pool, checked by running the real client against the endpoint
//! (the program is in `tests/clients/`; `scripts/install-clients.sh` installs the client).

mod support;

#[tokio::test(flavor = "multi_thread")]
async fn node_pg_client_passes_every_check() {
    let endpoint = support::start().await;
    let out = support::run_client(&endpoint, r#"node "$CLIENTS/node_pg_test.mjs""#).await;
    println!("{out}");
}
