//! Go lib/pq: db.Query with arguments, db.Prepare, transactions, checked by running the real client against the endpoint
//! (the program is in `tests/clients/`; `scripts/install-clients.sh` installs the client).

mod support;

#[tokio::test(flavor = "multi_thread")]
async fn go_libpq_client_passes_every_check() {
    let endpoint = support::start().await;
    let out = support::run_client(&endpoint, r#"cd "$CLIENTS" && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= go build -o "$WORK/libpq_go_test" ./libpq_go_test && "$WORK/libpq_go_test""#).await;
    println!("{out}");
}
