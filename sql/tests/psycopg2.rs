//! psycopg2 (libpq): parameters, types, session statements, errors, checked by running the real client against the endpoint
//! (the program is in `tests/clients/`; `scripts/install-clients.sh` installs the client).

mod support;

#[tokio::test(flavor = "multi_thread")]
async fn psycopg2_client_passes_every_check() {
    let endpoint = support::start().await;
    let out = support::run_client(&endpoint, r#"python3 "$CLIENTS/psycopg2_test.py""#).await;
    println!("{out}");
}
