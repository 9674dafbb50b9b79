//! Workers: named async functions that do a step's work.
//!
//! A worker receives a [`Context`] (the workflow input plus the results of
//! earlier steps) and returns a JSON object or a [`WorkerError`]. Register one
//! as briefly as the seed's `@worker("fast_processor")`:
//!
//! ```
//! use multiagents::worker::{WorkerRegistry, Context};
//! use serde_json::json;
//!
//! let mut workers = WorkerRegistry::new();
//! workers.register("fast_processor", |ctx: Context| async move {
//!     let data = ctx.get_str("data").unwrap_or("");
//!     Ok(json!({ "processed": data.to_uppercase() }))
//! });
//! assert!(workers.contains("fast_processor"));
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Map, Value};

/// The JSON object a worker reads: the workflow input merged with the results
/// of the steps before it. Cloning is cheap (shared), so parallel steps share
/// one copy.
#[derive(Debug, Clone, Default)]
pub struct Context {
    data: Arc<Map<String, Value>>,
}

impl Context {
    /// A context holding these fields.
    pub fn new(data: Map<String, Value>) -> Self {
        Context {
            data: Arc::new(data),
        }
    }

    /// A field, like the seed's `context.get("data")`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.data.get(key)
    }

    /// A string field.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }

    /// An integer field.
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.data.get(key).and_then(Value::as_i64)
    }

    /// All fields.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.data
    }

    /// Adds fields, copying the map only if another step still shares it.
    /// `step_results` is the orchestrator's: a worker's field of that name
    /// does not replace the results of earlier steps.
    pub(crate) fn merge(&mut self, fields: &Map<String, Value>) {
        let data = Arc::make_mut(&mut self.data);
        for (k, v) in fields {
            if k != STEP_RESULTS {
                data.insert(k.clone(), v.clone());
            }
        }
    }

    /// Sets one field, copying the map only if it is shared.
    pub(crate) fn insert(&mut self, key: String, value: Value) {
        Arc::make_mut(&mut self.data).insert(key, value);
    }

    /// Adds a step's result under `step_results.<step>` in place, so later
    /// steps see every earlier result without the map being rebuilt per stage.
    pub(crate) fn insert_step_result(&mut self, step: &str, result: Value) {
        let data = Arc::make_mut(&mut self.data);
        let results = data
            .entry(STEP_RESULTS)
            .or_insert_with(|| Value::Object(Map::new()));
        if !results.is_object() {
            *results = Value::Object(Map::new());
        }
        if let Value::Object(results) = results {
            results.insert(step.to_string(), result);
        }
    }
}

/// The context key holding every earlier step's result by step name.
pub const STEP_RESULTS: &str = "step_results";

/// Why a worker failed.
///
/// The message's text before the first `:` is its error type
/// (`"NetworkError: Connection timeout"` → `NetworkError`), which error
/// patterns group by. A non-retryable error skips the step's remaining
/// attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerError {
    message: String,
    retryable: bool,
}

impl WorkerError {
    /// A retryable error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        WorkerError {
            message: message.into(),
            retryable: true,
        }
    }

    /// An error that retrying cannot fix (bad input, say).
    pub fn fatal(message: impl Into<String>) -> Self {
        WorkerError {
            message: message.into(),
            retryable: false,
        }
    }

    /// The full message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The error's type: see [`error_type`].
    pub fn error_type(&self) -> &str {
        error_type(&self.message)
    }
}

/// Longest error type kept: the classification is for grouping, and a
/// message without a short `Type:` prefix must not make a long group key.
pub const MAX_ERROR_TYPE_LEN: usize = 64;

/// The error type of a message: the text before its first `:`, trimmed
/// (`"NetworkError: Connection timeout"` → `"NetworkError"`). A message
/// without a usable prefix (none, empty, too long, or spanning lines) is
/// typed `"Error"`.
pub fn error_type(message: &str) -> &str {
    match message.split_once(':') {
        Some((prefix, _)) => {
            let prefix = prefix.trim();
            if prefix.is_empty() || prefix.len() > MAX_ERROR_TYPE_LEN || prefix.contains('\n') {
                "Error"
            } else {
                prefix
            }
        }
        None => "Error",
    }
}

impl std::fmt::Display for WorkerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WorkerError {}

impl From<String> for WorkerError {
    fn from(message: String) -> Self {
        WorkerError::new(message)
    }
}

impl From<&str> for WorkerError {
    fn from(message: &str) -> Self {
        WorkerError::new(message)
    }
}

impl From<serde_json::Error> for WorkerError {
    fn from(e: serde_json::Error) -> Self {
        WorkerError::fatal(format!("JsonError: {e}"))
    }
}

impl From<std::io::Error> for WorkerError {
    fn from(e: std::io::Error) -> Self {
        WorkerError::new(format!("IoError: {e}"))
    }
}

/// The failure message of a worker that panicked with `payload`:
/// `WorkerPanic: ` and the panic's text.
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    };
    format!("WorkerPanic: {text}")
}

/// How a JSON value is named in an error ("a string", "an array").
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What a worker returns: a JSON object on success. Any other JSON value is
/// recorded as a failed execution.
pub type WorkerResult = Result<Value, WorkerError>;

/// A boxed worker future.
pub type WorkerFuture = Pin<Box<dyn Future<Output = WorkerResult> + Send + 'static>>;

/// A worker function, shareable between tasks.
pub type WorkerFn = Arc<dyn Fn(Context) -> WorkerFuture + Send + Sync + 'static>;

/// Named workers.
#[derive(Clone, Default)]
pub struct WorkerRegistry {
    workers: HashMap<Arc<str>, WorkerFn>,
}

impl std::fmt::Debug for WorkerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.workers.keys()).finish()
    }
}

impl WorkerRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an async function as the worker `name`, replacing any
    /// earlier one of that name.
    pub fn register<F, Fut>(&mut self, name: &str, worker: F) -> &mut Self
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = WorkerResult> + Send + 'static,
    {
        let f: WorkerFn = Arc::new(move |ctx| Box::pin(worker(ctx)));
        self.workers.insert(Arc::from(name), f);
        self
    }

    /// Whether a worker of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.workers.contains_key(name)
    }

    /// The worker of this name.
    pub fn get(&self, name: &str) -> Option<&WorkerFn> {
        self.workers.get(name)
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.workers.keys().map(|k| k.to_string()).collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_type_is_the_prefix_before_the_first_colon() {
        assert_eq!(
            error_type("NetworkError: Connection timeout"),
            "NetworkError"
        );
        assert_eq!(
            error_type("RateLimitError: Too many: requests"),
            "RateLimitError"
        );
        assert_eq!(error_type("no colon here"), "Error");
        assert_eq!(error_type(": empty prefix"), "Error");
        assert_eq!(error_type(&format!("{}: long", "x".repeat(100))), "Error");
        assert_eq!(error_type("multi\nline: x"), "Error");
    }

    #[test]
    fn merging_into_a_shared_context_leaves_the_other_copy_alone() {
        let mut a = Context::new(Map::new());
        let b = a.clone();
        a.insert("k".into(), Value::from(1));
        assert_eq!(a.get_i64("k"), Some(1));
        assert!(b.get("k").is_none());
    }
}
