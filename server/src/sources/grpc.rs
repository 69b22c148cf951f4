//! The gRPC source (tonic) on `--grpc-addr` (default `127.0.0.1:4317`, the OTLP port): our own
//! `loginsight.v1.LogService` (unary `Push`, client-streaming `Stream`) and the OpenTelemetry
//! `opentelemetry.proto.collector.logs.v1.LogsService/Export`.
//!
//! A call returns only after its records are committed, as on HTTP. With bearer tokens
//! configured, calls carry `authorization: Bearer …` metadata (`UNAUTHENTICATED` without it,
//! `PERMISSION_DENIED` with a wrong one); a switched-off service answers `UNIMPLEMENTED`. gRPC status codes are
//! chosen in one place, [`status`]: bad input is `INVALID_ARGUMENT` with the record that is
//! wrong, a server shutting down is `UNAVAILABLE` (retryable), a failed commit `INTERNAL`.
//! Every call's body is read against the request-body budget it shares with HTTP
//! ([`budget`]): a message with no room gets `RESOURCE_EXHAUSTED`.

use loginsight_proto::v1::log_service_server::{LogService, LogServiceServer};
use loginsight_proto::v1::{LogBatch, PushResponse};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status, Streaming};

use crate::metrics::Metrics;
use crate::pipeline::{MemoryBudget, Pipeline, PipelineError};

mod budget;
use normalise::json::{PayloadErrors, objects_to_batch, with_size};
use normalise::otlp::{entry_objects, otlp_objects};

/// Why a call stored nothing.
enum IngestError {
    Malformed(PayloadErrors),
    Pipeline(PipelineError),
    /// A message found no room in the request-body budget ([`budget`]).
    NoRoom(PipelineError),
}

/// The one place gRPC status codes are decided.
fn status(err: IngestError) -> Status {
    match err {
        IngestError::Malformed(errors) => {
            let first = errors
                .errors
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_default();
            Status::invalid_argument(format!(
                "{} malformed record(s), nothing stored; first: {first}",
                errors.count
            ))
        }
        IngestError::Pipeline(PipelineError::Closed) => {
            Status::unavailable("the server is shutting down; nothing stored")
        }
        IngestError::Pipeline(PipelineError::Overloaded) => Status::resource_exhausted(format!(
            "{}; nothing stored, retry later",
            PipelineError::Overloaded
        )),
        IngestError::Pipeline(err @ PipelineError::DiskFull(_)) => {
            Status::unavailable(format!("{err}; nothing stored, retry later"))
        }
        IngestError::Pipeline(err) => Status::internal(format!("{err}; nothing stored")),
        IngestError::NoRoom(PipelineError::Overloaded) => Status::resource_exhausted(
            "the server is busy: request bodies fill max_body_memory; this message was not \
             stored, retry later",
        ),
        IngestError::NoRoom(err) => status(IngestError::Pipeline(err)),
    }
}

#[derive(Clone)]
pub struct GrpcSource {
    pipeline: Pipeline,
    metrics: Metrics,
}

impl GrpcSource {
    async fn store(
        &self,
        objects: Vec<serde_json::Value>,
        source: &'static str,
    ) -> Result<usize, IngestError> {
        let received_at = chrono::Utc::now().timestamp_micros();
        let batch = tokio::task::spawn_blocking(move || {
            objects_to_batch(
                objects.into_iter().map(with_size),
                received_at,
                source,
                "log record",
            )
        })
        .await
        .map_err(|e| IngestError::Pipeline(PipelineError::Build(e.to_string())))?
        .map_err(IngestError::Malformed)?;
        self.pipeline
            .submit(batch)
            .await
            .map_err(IngestError::Pipeline)
    }

    /// Counts the call's outcome for `/metrics`.
    fn counted<T>(&self, source: &'static str, result: Result<T, Status>) -> Result<T, Status> {
        self.metrics.record_request(source, result.is_ok());
        result
    }
}

#[tonic::async_trait]
impl LogService for GrpcSource {
    async fn push(&self, request: Request<LogBatch>) -> Result<Response<PushResponse>, Status> {
        let objects = entry_objects(request.get_ref());
        let accepted = self.store(objects, "grpc").await.map_err(status);
        let accepted = self.counted("grpc", accepted)?;
        Ok(Response::new(PushResponse {
            accepted: accepted as u64,
        }))
    }

    async fn stream(
        &self,
        request: Request<Streaming<LogBatch>>,
    ) -> Result<Response<PushResponse>, Status> {
        let mut stream = request.into_inner();
        let mut accepted = 0u64;
        // Each batch is committed as it arrives; an error ends the call, and what was
        // committed before it stays (the count in the error says how much).
        let result = async {
            while let Some(batch) = stream.message().await? {
                let objects = entry_objects(&batch);
                match self.store(objects, "grpc").await {
                    Ok(n) => accepted += n as u64,
                    Err(err) => {
                        let s = status(err);
                        return Err(Status::new(
                            s.code(),
                            format!(
                                "{} ({accepted} records of earlier batches were stored)",
                                s.message()
                            ),
                        ));
                    }
                }
            }
            Ok(())
        }
        .await;
        self.counted("grpc", result)?;
        Ok(Response::new(PushResponse { accepted }))
    }
}

#[tonic::async_trait]
impl LogsService for GrpcSource {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let objects = otlp_objects(request.get_ref());
        let stored = self.store(objects, "otlp").await.map_err(status);
        self.counted("otlp", stored)?;
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

/// What the gRPC source needs besides its listener.
pub struct GrpcOptions {
    pub pipeline: Pipeline,
    pub max_message_bytes: usize,
    pub metrics: Metrics,
    /// Accepted bearer tokens (`authorization` metadata); empty: no check.
    pub tokens: std::sync::Arc<Vec<String>>,
    /// Sources switched off: `grpc` (loginsight.v1) and `otlp` are left out of the server.
    pub disabled: Vec<String>,
    /// Room for request bodies (`max_body_memory`), shared with HTTP.
    pub bodies: MemoryBudget,
    /// How long a message waits for that room before the call gets `RESOURCE_EXHAUSTED`.
    pub admit_wait: std::time::Duration,
}

/// Serves the enabled services on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    options: GrpcOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let source = GrpcSource {
        pipeline: options.pipeline,
        metrics: options.metrics.clone(),
    };
    let enabled = |name: &str| !options.disabled.iter().any(|d| d == name);
    let limit = options.max_message_bytes;
    let auth = |name: &'static str| {
        let tokens = options.tokens.clone();
        let metrics = options.metrics.clone();
        move |request: Request<()>| -> Result<Request<()>, Status> {
            let given = request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                });
            let checked = if tokens.is_empty() {
                Ok(request)
            } else {
                match given {
                    None => Err(Status::unauthenticated(
                        "missing authorization: Bearer token",
                    )),
                    Some(t) if tokens.iter().any(|k| k == t.trim()) => Ok(request),
                    Some(_) => Err(Status::permission_denied("invalid bearer token")),
                }
            };
            if checked.is_err() {
                metrics.record_request(name, false);
            }
            checked
        }
    };
    let own = enabled("grpc").then(|| {
        InterceptedService::new(
            LogServiceServer::new(source.clone()).max_decoding_message_size(limit),
            auth("grpc"),
        )
    });
    let otlp = enabled("otlp").then(|| {
        InterceptedService::new(
            LogsServiceServer::new(source).max_decoding_message_size(limit),
            auth("otlp"),
        )
    });
    tonic::transport::Server::builder()
        .layer(budget::BodyBudgetLayer {
            budget: options.bodies,
            wait: options.admit_wait,
            max_message_bytes: limit,
            metrics: options.metrics,
        })
        .add_optional_service(own)
        .add_optional_service(otlp)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown,
        )
        .await
}
