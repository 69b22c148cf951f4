//! pgjdbc (DBeaver's driver): DatabaseMetaData, server-side prepared statements, checked by running the real client against the endpoint
//! (the program is in `tests/clients/`; `scripts/install-clients.sh` installs the client).

mod support;

#[tokio::test(flavor = "multi_thread")]
async fn jdbc_client_passes_every_check() {
    let endpoint = support::start().await;
    let out = support::run_client(&endpoint, r#"javac -d "$WORK/jdbc" -cp /usr/share/java/postgresql.jar "$CLIENTS/JdbcTest.java" && java -cp "$WORK/jdbc:/usr/share/java/postgresql.jar" JdbcTest"#).await;
    println!("{out}");
}
