//! psycopg 3: the extended protocol with server-side prepared statements, binary cursors,
//! server-side named cursors (`DECLARE … CURSOR` with bound parameters, Describe of the
//! cursor's portal, `FETCH`), transactions and errors, checked by running the real client
//! against the endpoint (the program is in `tests/clients/`; `scripts/install-clients.sh`
//! installs the client).

mod support;

#[tokio::test(flavor = "multi_thread")]
async fn psycopg3_client_passes_every_check() {
    let endpoint = support::start().await;
    let out = support::run_client(&endpoint, r#"python3 "$CLIENTS/psycopg3_test.py""#).await;
    println!("{out}");
}
