//! The gRPC side of `max_body_memory`: request bodies held at once, over every connection,
//! share one [`MemoryBudget`] with HTTP.
//!
//! HTTP admits a request by its `Content-Length` before reading it. gRPC bodies have none: a
//! call is a stream of length-prefixed messages (a flag byte and a big-endian `u32` length,
//! then the message) on an HTTP/2 stream. So this layer wraps each call's body and, when a
//! message's prefix arrives, takes room for its declared length before handing the bytes to
//! tonic. Until the room is there the body is not read, which HTTP/2 flow control turns into
//! back-pressure on the sender; after `admit_wait` the call ends with `RESOURCE_EXHAUSTED`
//! and that message is not stored. Admitting whole messages, not frames, means two calls
//! never each hold half of what both need.
//!
//! The prefix is only read, never consumed: decoding (and rejecting a message larger than
//! `max_body_bytes`) stays with tonic. A unary call's room is held until its response is
//! made, through the commit, as on HTTP. A streaming call commits message by message and asks
//! for the next one only after the commit, so the room of earlier messages is given back when
//! the next prefix arrives: a stream holds room for one message, however long it runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use tokio::sync::OwnedSemaphorePermit;
use tonic::Status;
use tonic::body::Body;

use crate::metrics::Metrics;
use crate::pipeline::{MemoryBudget, PipelineError};

/// Permits of one call, shared by its body (which takes them) and its response future (which
/// drops them when the call is answered).
type Held = Arc<Mutex<Vec<OwnedSemaphorePermit>>>;

type Admission = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, PipelineError>> + Send>>;

/// Wraps every gRPC call's body in a [`Metered`] one.
#[derive(Clone)]
pub struct BodyBudgetLayer {
    pub budget: MemoryBudget,
    pub wait: Duration,
    /// The largest message tonic decodes: a prefix declaring more is tonic's to refuse, and
    /// never waits for more room than this.
    pub max_message_bytes: usize,
    pub metrics: Metrics,
}

impl<S> tower_layer::Layer<S> for BodyBudgetLayer {
    type Service = BodyBudget<S>;

    fn layer(&self, inner: S) -> BodyBudget<S> {
        BodyBudget {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct BodyBudget<S> {
    inner: S,
    layer: BodyBudgetLayer,
}

impl<S, R> tower_service::Service<http::Request<Body>> for BodyBudget<S>
where
    S: tower_service::Service<http::Request<Body>, Response = R>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = R;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<R, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let held = Held::default();
        // A refused message of a unary call never reaches its handler, so it is counted here;
        // the streaming handler counts its own outcome.
        let path = request.uri().path();
        let unary = if path.starts_with("/opentelemetry.") {
            Some("otlp")
        } else if path.ends_with("/Stream") {
            None
        } else {
            Some("grpc")
        };
        let layer = self.layer.clone();
        let request = request.map(|body| {
            Body::new(Metered {
                inner: body,
                prefix: Prefix::default(),
                waiting: None,
                held: held.clone(),
                layer,
                unary,
            })
        });
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            drop(held);
            response
        })
    }
}

/// A call's body that takes room for each message before passing its bytes on.
struct Metered {
    inner: Body,
    prefix: Prefix,
    /// A frame held back until its messages have room.
    waiting: Option<(Frame<Bytes>, Admission)>,
    held: Held,
    layer: BodyBudgetLayer,
    /// The source to count a refusal against, for unary calls.
    unary: Option<&'static str>,
}

impl Metered {
    fn permits(&self) -> std::sync::MutexGuard<'_, Vec<OwnedSemaphorePermit>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl http_body::Body for Metered {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        if let Some((_, admission)) = &mut this.waiting {
            let admitted = ready!(admission.as_mut().poll(cx));
            let (frame, _) = this.waiting.take().expect("a frame waits");
            return Poll::Ready(Some(match admitted {
                Ok(permit) => {
                    this.permits().push(permit);
                    Ok(frame)
                }
                Err(err) => {
                    this.layer.metrics.overloaded.inc();
                    if let Some(source) = this.unary {
                        this.layer.metrics.record_request(source, false);
                    }
                    Err(super::status(super::IngestError::NoRoom(err)))
                }
            }));
        }
        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            other => return Poll::Ready(other),
        };
        let Some(declared) = frame.data_ref().and_then(|data| this.prefix.declared(data)) else {
            return Poll::Ready(Some(Ok(frame)));
        };
        let declared = declared.min(this.layer.max_message_bytes);
        // A new message: the ones before it are committed (see the module doc).
        this.permits().clear();
        let budget = this.layer.budget.clone();
        let wait = this.layer.wait;
        this.waiting = Some((
            frame,
            Box::pin(async move { budget.admit(declared, Some(wait)).await }),
        ));
        // Poll the admission at once: it is ready when there is room.
        Pin::new(this).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.waiting.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Where a body is in its length-prefixed messages.
#[derive(Default)]
struct Prefix {
    /// The prefix bytes seen of the next message.
    bytes: [u8; 5],
    seen: usize,
    /// Message bytes still to come before the next prefix.
    left: usize,
}

impl Prefix {
    /// The summed declared lengths of the messages whose prefix completes in `data`, `None`
    /// when none does (a message of length 0 is `Some(0)`).
    fn declared(&mut self, mut data: &[u8]) -> Option<usize> {
        let mut total = None;
        while !data.is_empty() {
            if self.left > 0 {
                let skip = self.left.min(data.len());
                self.left -= skip;
                data = &data[skip..];
                continue;
            }
            let take = (5 - self.seen).min(data.len());
            self.bytes[self.seen..self.seen + take].copy_from_slice(&data[..take]);
            self.seen += take;
            data = &data[take..];
            if self.seen == 5 {
                let [_, a, b, c, d] = self.bytes;
                let length = u32::from_be_bytes([a, b, c, d]) as usize;
                total = Some(total.unwrap_or(0usize).saturating_add(length));
                self.left = length;
                self.seen = 0;
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::Prefix;

    fn message(length: u32) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&length.to_be_bytes());
        out.extend(std::iter::repeat_n(7u8, length as usize));
        out
    }

    #[test]
    fn a_message_is_declared_once_whatever_the_frames() {
        let mut body = message(300);
        body.extend(message(20));
        body.extend(message(0));
        for frame in [1usize, 2, 3, 5, 7, 64, 4096] {
            let mut prefix = Prefix::default();
            let mut declared = Vec::new();
            for chunk in body.chunks(frame) {
                declared.extend(prefix.declared(chunk));
            }
            let total: usize = declared.iter().sum();
            assert_eq!(total, 320, "frames of {frame}: {declared:?}");
            assert!(declared.len() <= 3, "frames of {frame}: {declared:?}");
        }
    }

    #[test]
    fn a_prefix_split_over_frames_is_read_whole() {
        let mut prefix = Prefix::default();
        // Flag 0, then the length 256 (0x00000100) split after its second byte.
        assert_eq!(prefix.declared(&[0, 0, 0]), None);
        assert_eq!(prefix.declared(&[1, 0, 9]), Some(256));
        assert_eq!(prefix.left, 255);
    }
}
