//! The OpenAI-compatible analyst (`async-openai`): OpenAI, Azure OpenAI, Ollama, vLLM and
//! llama.cpp servers all speak this chat-completions API. The only module naming
//! `async_openai`.
//!
//! One call per group: a system prompt with the rules, a user prompt with the redacted
//! context, and a JSON schema the answer must follow (structured output). The answer is
//! validated; an invalid one gets one repair attempt, then the insight is stored as failed
//! with the reason. 429 and 5xx answers are retried by the client library (exponential
//! backoff, `Retry-After` honoured); timeouts and connection errors are retried here with the
//! shared jittered backoff ([`crate::retry`]). Calls and tokens are counted, and an hourly
//! token budget stops calls (the group then gets a failed insight that says so) until the
//! hour turns.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    CreateChatCompletionRequest, ResponseFormat, ResponseFormatJsonSchema,
};
use serde::Deserialize;
use serde_json::json;

use super::{Analysis, Analyst, AnalystError};
use crate::Group;
use crate::context::Context;
use crate::prompt;

/// Everything needed to reach an OpenAI-compatible server.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiConfig {
    /// e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1` (Ollama).
    pub base_url: String,
    pub model: String,
    pub api_key: String,
    /// Per attempt.
    pub timeout: Duration,
    /// Calls in flight at once.
    pub max_concurrency: usize,
    /// Tokens (prompt + completion) per hour; 0 = unlimited.
    pub hourly_token_budget: u64,
    /// Attempts after a timeout or connection error (429/5xx are retried by the client).
    pub max_retries: u32,
    /// Size bound of the user prompt, in tokens (about 4 characters each).
    pub context_tokens: usize,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        OpenAiConfig {
            base_url: "https://api.openai.com/v1".into(),
            model: "gpt-4o-mini".into(),
            api_key: String::new(),
            timeout: Duration::from_secs(60),
            max_concurrency: 4,
            hourly_token_budget: 200_000,
            max_retries: 3,
            context_tokens: 2_000,
        }
    }
}

/// The answer the model must give.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    title: String,
    summary: String,
    root_cause: String,
    suggested_fix: String,
    severity: String,
    confidence: f64,
    evidence: Vec<String>,
}

const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];

fn schema() -> serde_json::Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["title", "summary", "root_cause", "suggested_fix", "severity", "confidence", "evidence"],
        "properties": {
            "title": {"type": "string", "description": "One line, under 100 characters."},
            "summary": {"type": "string", "description": "What is happening, 1-3 sentences."},
            "root_cause": {"type": "string", "description": "The most likely cause; name the service and pattern you believe started it, and why."},
            "suggested_fix": {"type": "string", "description": "What to check or change first."},
            "severity": {"type": "string", "enum": SEVERITIES},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "evidence": {"type": "array", "items": {"type": "string"}, "description": "Facts from the context that support the root cause."}
        }
    })
}

const SYSTEM: &str = "You are a site-reliability engineer analysing production error logs. \
You get one error pattern of one service, the error patterns of other services in the same \
time window, counts and trends. Find the most likely root cause: prefer the pattern that \
started first and that other services' timeouts or 5xx errors point at, over symptoms. Be \
concrete and brief; do not invent facts that are not in the context. Secrets have been \
replaced by [REDACTED:...] markers. Answer with JSON only, following the given schema.";

fn validate(text: &str) -> Result<Answer, String> {
    let answer: Answer = serde_json::from_str(text.trim())
        .map_err(|e| format!("the answer is not the JSON object the schema asks for: {e}"))?;
    if answer.title.trim().is_empty() || answer.summary.trim().is_empty() {
        return Err("title and summary must not be empty".into());
    }
    if !SEVERITIES.contains(&answer.severity.as_str()) {
        return Err(format!(
            "severity {:?} is not one of {SEVERITIES:?}",
            answer.severity
        ));
    }
    if !(0.0..=1.0).contains(&answer.confidence) || answer.confidence.is_nan() {
        return Err(format!(
            "confidence {} is not between 0 and 1",
            answer.confidence
        ));
    }
    Ok(answer)
}

/// Tokens spent in the current hour.
struct Budget {
    hour_started: Instant,
    used: u64,
}

pub struct OpenAiAnalyst {
    client: Client<OpenAIConfig>,
    config: OpenAiConfig,
    permits: tokio::sync::Semaphore,
    budget: Mutex<Budget>,
    redactor: redact::Redactor,
    /// Model calls made (each attempt that reached the server counts).
    pub calls: AtomicU64,
    pub tokens: AtomicU64,
}

impl OpenAiAnalyst {
    pub fn new(config: OpenAiConfig, redactor: redact::Redactor) -> OpenAiAnalyst {
        // HTTPS model servers: reqwest is built without a crypto provider of its own (its
        // default, aws-lc-rs, is a CMake C build), so ring is installed as the process default.
        // Err means one is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let openai = OpenAIConfig::new()
            .with_api_base(config.base_url.trim_end_matches('/'))
            .with_api_key(config.api_key.clone());
        OpenAiAnalyst {
            client: Client::with_config(openai),
            permits: tokio::sync::Semaphore::new(config.max_concurrency.max(1)),
            budget: Mutex::new(Budget {
                hour_started: Instant::now(),
                used: 0,
            }),
            config,
            redactor,
            calls: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
        }
    }

    fn budget_left(&self) -> bool {
        if self.config.hourly_token_budget == 0 {
            return true;
        }
        let mut b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        if b.hour_started.elapsed() >= Duration::from_secs(3600) {
            b.hour_started = Instant::now();
            b.used = 0;
        }
        b.used < self.config.hourly_token_budget
    }

    fn spend(&self, tokens: u64) {
        self.tokens.fetch_add(tokens, Ordering::Relaxed);
        let mut b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        b.used += tokens;
    }

    /// One chat completion with timeout and jittered retries; returns the content and tokens.
    async fn complete(
        &self,
        messages: Vec<ChatCompletionRequestMessage>,
    ) -> Result<(String, u64), AnalystError> {
        let request = CreateChatCompletionRequest {
            model: self.config.model.clone(),
            messages,
            temperature: Some(0.1),
            max_completion_tokens: Some(800),
            response_format: Some(ResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    name: "root_cause_analysis".into(),
                    description: Some("Root-cause analysis of an error pattern".into()),
                    schema: schema(),
                    strict: Some(true),
                },
            }),
            ..Default::default()
        };
        // Shorter waits than the background loops': a caller (an insight, `analyze()`) waits.
        let mut backoff =
            crate::retry::Backoff::new(Duration::from_millis(250), Duration::from_secs(8));
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.calls.fetch_add(1, Ordering::Relaxed);
            let chat = self.client.chat();
            let outcome =
                tokio::time::timeout(self.config.timeout, chat.create(request.clone())).await;
            let retryable = match outcome {
                Ok(Ok(response)) => {
                    let tokens = response.usage.as_ref().map_or(0, |u| u.total_tokens as u64);
                    self.spend(tokens);
                    let content = response
                        .choices
                        .into_iter()
                        .next()
                        .and_then(|c| c.message.content)
                        .unwrap_or_default();
                    return Ok((content, tokens));
                }
                Ok(Err(OpenAIError::Reqwest(err))) => format!("transport: {err}"),
                Ok(Err(OpenAIError::ApiError(err))) if err.status_code.is_server_error() => {
                    format!("server: {err}")
                }
                Ok(Err(err)) => {
                    return Err(AnalystError::Failed(format!("model call failed: {err}")));
                }
                Err(_) => format!("no answer within {:?}", self.config.timeout),
            };
            if attempt > self.config.max_retries {
                return Err(AnalystError::Failed(format!(
                    "model call failed after {attempt} attempts: {retryable}"
                )));
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
}

#[async_trait::async_trait]
impl Analyst for OpenAiAnalyst {
    fn model(&self) -> &str {
        &self.config.model
    }

    async fn analyze(&self, group: &Group, context: &Context) -> Result<Analysis, AnalystError> {
        if !self.budget_left() {
            return Err(AnalystError::Failed(format!(
                "hourly token budget of {} tokens is spent; analysis resumes next hour",
                self.config.hourly_token_budget
            )));
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AnalystError::Failed("analyst shut down".into()))?;
        let user = prompt::render(
            group,
            context,
            &self.redactor,
            self.config.context_tokens * 4,
        );
        let mut messages: Vec<ChatCompletionRequestMessage> = vec![
            ChatCompletionRequestSystemMessage::from(SYSTEM).into(),
            ChatCompletionRequestUserMessage::from(user).into(),
        ];
        let (first, mut tokens) = self.complete(messages.clone()).await?;
        let (answer, calls) = match validate(&first) {
            Ok(a) => (a, 1),
            Err(reason) => {
                // One repair attempt: show the model its answer and what is wrong with it.
                messages.push(ChatCompletionRequestAssistantMessage::from(first).into());
                messages.push(
                    ChatCompletionRequestUserMessage::from(format!(
                        "That reply is invalid: {reason}. Reply again with only the JSON object \
                         required by the schema."
                    ))
                    .into(),
                );
                let (second, more) = self.complete(messages).await?;
                tokens += more;
                match validate(&second) {
                    Ok(a) => (a, 2),
                    Err(reason) => {
                        return Err(AnalystError::Failed(format!(
                            "the model's answer was invalid twice: {reason}"
                        )));
                    }
                }
            }
        };
        let redact = |s: &str| self.redactor.redact(s).into_owned();
        Ok(Analysis {
            title: redact(&answer.title),
            summary: redact(&answer.summary),
            root_cause: Some(redact(&answer.root_cause)),
            suggested_fix: Some(redact(&answer.suggested_fix)),
            severity: answer.severity,
            confidence: answer.confidence,
            evidence: json!({ "model_evidence": answer.evidence.iter().map(|e| redact(e)).collect::<Vec<_>>() }),
            calls,
            tokens,
        })
    }
}
