//! Log output through `tracing`: human-readable lines on stderr, JSON lines in
//! a file rotated by size, or both (`logging.default_logger: composite`).
//!
//! Rotation is done by the `logroller` crate (size-based, with a cap on kept
//! files), not by hand: the live file is `file_path`, rotated files are
//! `file_path.1` (newest) … `file_path.N` (oldest), and files beyond
//! `backup_count` are deleted.
//!
//! Writes are synchronous (each event is one `write` under a mutex). That
//! keeps every line on disk when the process dies and needs no background
//! writer; it costs a syscall per log line, which is why the hot path logs at
//! `debug`/`trace` only.
//!
//! A global subscriber can be installed once per process, so
//! [`init_logging`] is for programs; tests of the file output use
//! [`rotating_file_writer`] directly.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use logroller::{LogRoller, LogRollerBuilder, Rotation, RotationSize};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogLevel, LoggerKind, LoggingConfig};

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// `file_path` has no file-name component (e.g. ends in `..`).
    #[error("logging.file_path: {path}: must name a file")]
    InvalidPath {
        /// The configured path.
        path: PathBuf,
    },
    /// The size limit is zero; every write would rotate.
    #[error("log rotation size must be at least 1 byte, got 0")]
    ZeroMaxSize,
    /// The log file (or its directory) could not be created or opened.
    #[error("cannot open log file {path}: {reason}")]
    OpenFile {
        /// The configured path.
        path: PathBuf,
        /// The rotation crate's message.
        reason: String,
    },
    /// `RUST_LOG` is set but is not a valid filter.
    #[error("invalid RUST_LOG filter {directive:?}: {reason}")]
    InvalidFilter {
        /// The offending directive.
        directive: String,
        /// The parser's message.
        reason: String,
    },
    /// A global `tracing` subscriber is already installed in this process.
    #[error("logging is already initialised in this process: {0}")]
    AlreadyInitialized(String),
}

/// A size-rotated log file that can be shared between threads and handed to
/// `tracing_subscriber` as a [`MakeWriter`].
///
/// Cloning is cheap (an `Arc`); all clones write to the same file.
#[derive(Clone)]
pub struct RotatingFileWriter {
    inner: Arc<Mutex<LogRoller>>,
    path: PathBuf,
}

impl std::fmt::Debug for RotatingFileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatingFileWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RotatingFileWriter {
    /// The live log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lock the file. A panic in another thread while it held the lock
    /// cannot leave the file in a state worse than a partial line, so the
    /// poison is ignored rather than losing all later log output.
    fn lock(&self) -> MutexGuard<'_, LogRoller> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Write for RotatingFileWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().write(buf)
    }

    /// Flushes the file and waits for pending rotation work (archive
    /// renaming and pruning, done on a background thread by `logroller`),
    /// so that after `flush` the directory holds at most `backup_count`
    /// rotated files.
    fn flush(&mut self) -> io::Result<()> {
        self.lock().flush()
    }
}

impl<'a> MakeWriter<'a> for RotatingFileWriter {
    type Writer = RotatingFileWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Open `path` for appending, rotating it before a write would make it
/// reach `max_bytes`, and keeping at most `backup_count` rotated files.
///
/// Takes bytes (the configuration is in MiB) so tests can rotate after a few
/// kilobytes. The directory is created if missing. A single write larger
/// than `max_bytes` still goes into one file whole: lines are never split.
pub fn rotating_file_writer(
    path: &Path,
    max_bytes: u64,
    backup_count: u32,
) -> Result<RotatingFileWriter, LoggingError> {
    if max_bytes == 0 {
        return Err(LoggingError::ZeroMaxSize);
    }
    let file_name = path.file_name().ok_or_else(|| LoggingError::InvalidPath {
        path: path.to_path_buf(),
    })?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    private_log_file(directory, path).map_err(|e| LoggingError::OpenFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let roller = LogRollerBuilder::new(directory, Path::new(file_name))
        .rotation(Rotation::SizeBased(RotationSize::Bytes(max_bytes)))
        // Files opened after a rotation: owner only, like the first one.
        .file_mode(LOG_FILE_MODE)
        .max_keep_files(u64::from(backup_count))
        // Make flush/drop wait for the background rename-and-prune work, so
        // the backup cap holds once the writer is flushed.
        .graceful_shutdown(true)
        .build()
        .map_err(|e| LoggingError::OpenFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    Ok(RotatingFileWriter {
        inner: Arc::new(Mutex::new(roller)),
        path: path.to_path_buf(),
    })
}

/// Log files are readable by their owner only, like the database: they hold
/// payload sizes and error messages.
const LOG_FILE_MODE: u32 = 0o600;

/// Creates the missing directories of the log file 0700 and the log file
/// itself 0600 before the rotation crate opens it, so that neither is ever
/// visible to others, not even for a moment. Existing directories are left
/// as they are (they are the user's); an existing log file is ours.
fn private_log_file(directory: &Path, path: &Path) -> io::Result<()> {
    let mut dirs = std::fs::DirBuilder::new();
    dirs.recursive(true);
    let mut file = std::fs::OpenOptions::new();
    file.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
        dirs.mode(0o700);
        file.mode(LOG_FILE_MODE);
    }
    dirs.create(directory)?;
    file.open(path).map(drop)
}

/// Lets through at most `per_second` log events a second and counts the
/// rest, so that a failing load does not flood the log (one line per
/// failure would be thousands a second, each a `write`). The first event let
/// through after some were held back reports how many.
///
/// Events held back at the very end of a burst are never reported; the
/// database has every failure, so the log only needs to tell the story.
#[derive(Debug)]
pub struct LogThrottle {
    per_second: u32,
    state: Mutex<ThrottleState>,
}

#[derive(Debug)]
struct ThrottleState {
    window_start: Option<std::time::Instant>,
    passed: u32,
    held_back: u64,
}

impl LogThrottle {
    /// A throttle letting `per_second` events through each second.
    pub const fn new(per_second: u32) -> Self {
        LogThrottle {
            per_second,
            state: Mutex::new(ThrottleState {
                window_start: None,
                passed: 0,
                held_back: 0,
            }),
        }
    }

    /// `Some(n)` when this event may be logged, `n` being how many were
    /// held back since the last one let through; `None` to leave it out.
    pub fn admit(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = std::time::Instant::now();
        let new_window = state
            .window_start
            .is_none_or(|start| now.duration_since(start) >= std::time::Duration::from_secs(1));
        if new_window {
            state.window_start = Some(now);
            state.passed = 0;
        }
        if state.passed < self.per_second {
            state.passed += 1;
            Some(std::mem::take(&mut state.held_back))
        } else {
            state.held_back += 1;
            None
        }
    }
}

/// Keeps logging alive; dropping it flushes the log file.
///
/// Hold it in `main` for the life of the program.
#[must_use = "dropping the guard flushes the log file; keep it alive in main"]
#[derive(Debug)]
pub struct LoggingGuard {
    file: Option<RotatingFileWriter>,
}

impl LoggingGuard {
    /// The log file being written, if file output is on.
    pub fn file_path(&self) -> Option<&Path> {
        self.file.as_ref().map(RotatingFileWriter::path)
    }
}

impl Drop for LoggingGuard {
    fn drop(&mut self) {
        if let Some(file) = self.file.as_mut()
            && let Err(e) = file.flush()
        {
            // Logging is what failed, so stderr is the only place left.
            eprintln!("multiagents: failed to flush log file: {e}");
        }
    }
}

/// The filter directive to use: `--log-level` beats `RUST_LOG`, which beats
/// the configured level.
///
/// `RUST_LOG` sits between the two because it is how Rust users expect to
/// change verbosity for one run without editing files, while an explicit
/// command-line flag is more specific still. Pure (takes `RUST_LOG`'s value)
/// so it can be tested without touching the environment.
pub fn filter_directive(
    config_level: LogLevel,
    level_override: Option<LogLevel>,
    rust_log: Option<&str>,
) -> String {
    match (level_override, rust_log.map(str::trim)) {
        (Some(level), _) => level.as_str().to_owned(),
        (None, Some(env)) if !env.is_empty() => env.to_owned(),
        _ => config_level.as_str().to_owned(),
    }
}

/// Install the global `tracing` subscriber described by `config`.
///
/// `level_override` is the `--log-level` flag; see [`filter_directive`] for
/// the precedence. Console output is human-readable on stderr (coloured
/// when stderr is a terminal); file output is JSON lines (or plain text when
/// `json_format` is false) in `config.file_path`, rotated at
/// `max_file_size_mb` MiB keeping `backup_count` old files.
///
/// Fails if a subscriber is already installed, if `RUST_LOG` is invalid, or
/// if the log file cannot be opened.
pub fn init_logging(
    config: &LoggingConfig,
    level_override: Option<LogLevel>,
) -> Result<LoggingGuard, LoggingError> {
    let rust_log = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    let directive = filter_directive(config.level, level_override, rust_log.as_deref());
    let filter = EnvFilter::try_new(&directive).map_err(|e| LoggingError::InvalidFilter {
        directive: directive.clone(),
        reason: e.to_string(),
    })?;

    type Stack = tracing_subscriber::layer::Layered<EnvFilter, Registry>;
    let mut layers: Vec<Box<dyn Layer<Stack> + Send + Sync>> = Vec::new();

    if matches!(
        config.default_logger,
        LoggerKind::Console | LoggerKind::Composite
    ) {
        layers.push(
            tracing_subscriber::fmt::layer()
                .with_writer(io::stderr)
                .with_ansi(io::stderr().is_terminal())
                .boxed(),
        );
    }

    let mut file = None;
    if matches!(
        config.default_logger,
        LoggerKind::File | LoggerKind::Composite
    ) {
        let writer = rotating_file_writer(
            &config.file_path,
            config.max_file_size_bytes(),
            config.backup_count,
        )?;
        let layer = if config.json_format {
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_writer(writer.clone())
                .boxed()
        } else {
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer.clone())
                .boxed()
        };
        layers.push(layer);
        file = Some(writer);
    }

    tracing_subscriber::registry()
        .with(filter)
        .with(layers)
        .try_init()
        .map_err(|e| LoggingError::AlreadyInitialized(e.to_string()))?;
    Ok(LoggingGuard { file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_beats_rust_log_beats_config() {
        assert_eq!(
            filter_directive(LogLevel::Info, Some(LogLevel::Trace), Some("warn")),
            "trace"
        );
        assert_eq!(
            filter_directive(LogLevel::Info, None, Some("multiagents=debug")),
            "multiagents=debug"
        );
        assert_eq!(filter_directive(LogLevel::Debug, None, None), "debug");
        assert_eq!(filter_directive(LogLevel::Error, None, Some("  ")), "error");
    }

    #[test]
    fn the_throttle_lets_a_few_through_and_counts_the_rest() {
        let throttle = LogThrottle::new(3);
        assert_eq!(throttle.admit(), Some(0));
        assert_eq!(throttle.admit(), Some(0));
        assert_eq!(throttle.admit(), Some(0));
        assert_eq!(throttle.admit(), None);
        assert_eq!(throttle.admit(), None);
        // A new second: the next one through says two were held back.
        throttle
            .state
            .lock()
            .unwrap()
            .window_start
            .replace(std::time::Instant::now() - std::time::Duration::from_secs(2));
        assert_eq!(throttle.admit(), Some(2));
        assert_eq!(throttle.admit(), Some(0));
    }

    #[test]
    fn zero_size_and_pathless_file_are_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = rotating_file_writer(&dir.path().join("a.log"), 0, 1).unwrap_err();
        assert!(matches!(err, LoggingError::ZeroMaxSize), "{err}");
        let err = rotating_file_writer(Path::new(".."), 10, 1).unwrap_err();
        assert!(err.to_string().contains("must name a file"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn log_files_and_new_directories_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new").join("deeper").join("private.log");
        let mut writer = rotating_file_writer(&path, 64, 2).expect("writer");
        // Enough lines to rotate: the files opened afterwards are private too.
        for i in 0..20 {
            writeln!(writer, "line {i} with some padding").expect("write");
        }
        writer.flush().expect("flush");
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600, "live log file");
        assert_eq!(mode(&path.with_extension("log.1")), 0o600, "rotated file");
        assert_eq!(mode(path.parent().expect("dir")), 0o700, "log directory");
        assert_eq!(mode(&dir.path().join("new")), 0o700, "created parent");
    }

    #[test]
    fn writer_works_as_a_tracing_make_writer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("events.log");
        let writer = rotating_file_writer(&path, 1 << 20, 2).expect("writer");
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(worker = "fast_processor", "step done");
        });
        let mut writer = writer;
        writer.flush().expect("flush");
        let text = std::fs::read_to_string(&path).expect("read log");
        let line: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("one line")).expect("json line");
        assert_eq!(line["fields"]["message"], "step done");
        assert_eq!(line["fields"]["worker"], "fast_processor");
        assert_eq!(line["level"], "INFO");
    }
}
