"""Exports logs with the OpenTelemetry Python SDK to a Log Insight server, over OTLP/gRPC and
OTLP/HTTP, from inside a span so each record carries a trace id.

usage: otel_export.py GRPC_ADDR HTTP_URL TOKEN
Prints the trace id (32 hex digits) of the span the records were logged in.
"""

import logging
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

grpc_addr, http_url, token = sys.argv[1:4]
resource = Resource.create({"service.name": "checkout-py", "host.name": "py-host-1"})
trace.set_tracer_provider(TracerProvider(resource=resource))
tracer = trace.get_tracer("otel_export")

providers = []
for transport, exporter in [
    ("grpc", GrpcExporter(endpoint=grpc_addr, insecure=True,
                          headers=(("authorization", f"Bearer {token}"),))),
    ("http", HttpExporter(endpoint=http_url, headers={"authorization": f"Bearer {token}"})),
]:
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    providers.append(provider)
    log = logging.getLogger(f"otel.{transport}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))

with tracer.start_as_current_span("checkout") as span:
    trace_id = format(span.get_span_context().trace_id, "032x")
    for transport in ["grpc", "http"]:
        log = logging.getLogger(f"otel.{transport}")
        log.error("payment declined via %s", transport)
        log.warning("retrying payment via %s", transport)

for provider in providers:
    provider.force_flush()
    provider.shutdown()
print(trace_id)
