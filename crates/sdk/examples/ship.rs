//! Ships a few events to a running server:
//! `cargo run -p loginsight-sdk --example ship -- http://127.0.0.1:4317`, then
//! `psql … -c "SELECT * FROM logs WHERE service = 'sdk-example'"`.

use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:4317".into());
    let (layer, shipper) =
        loginsight_sdk::layer(loginsight_sdk::Config::new(endpoint, "sdk-example"));
    tracing_subscriber::registry().with(layer).init();
    tracing::info!(user = "ada", "signed in");
    tracing::warn!(latency_ms = 912, "slow checkout");
    tracing::error!(order = 42, "payment failed: card declined");
    let (sent, dropped) = shipper.shutdown().await;
    println!("sent {sent}, dropped {dropped}");
}
