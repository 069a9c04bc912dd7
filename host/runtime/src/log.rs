//! A step's log: what the node logged, printed, and what the host said
//! about it (egress refusals, limits), bounded in size.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// How important a log line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

/// Who wrote a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// The node, through the `log` import.
    Node,
    /// The node's standard output.
    Stdout,
    /// The node's standard error.
    Stderr,
    /// The host, about the node (egress refusals, limits).
    Host,
}

/// One line of a step's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// Milliseconds since the step started.
    pub at_ms: u64,
    /// How important it is.
    pub level: LogLevel,
    /// Who wrote it.
    pub source: LogSource,
    /// The text.
    pub message: String,
}

/// The shared, bounded log of one step.
#[derive(Clone)]
pub(crate) struct StepLog(Arc<Mutex<LogBuffer>>);

struct LogBuffer {
    started: Instant,
    lines: Vec<LogLine>,
    bytes: usize,
    cap: usize,
    dropped: usize,
    partial_stdout: Vec<u8>,
    partial_stderr: Vec<u8>,
}

impl StepLog {
    pub(crate) fn new(cap: usize) -> Self {
        StepLog(Arc::new(Mutex::new(LogBuffer {
            started: Instant::now(),
            lines: Vec::new(),
            bytes: 0,
            cap,
            dropped: 0,
            partial_stdout: Vec::new(),
            partial_stderr: Vec::new(),
        })))
    }

    pub(crate) fn push(&self, level: LogLevel, source: LogSource, message: String) {
        self.0
            .lock()
            .expect("log lock")
            .push(level, source, message);
    }

    /// Appends raw output, splitting it into lines.
    fn append_output(&self, source: LogSource, bytes: &[u8]) {
        let mut buffer = self.0.lock().expect("log lock");
        let partial = match source {
            LogSource::Stderr => &mut buffer.partial_stderr,
            _ => &mut buffer.partial_stdout,
        };
        partial.extend_from_slice(bytes);
        let mut complete = Vec::new();
        while let Some(end) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            complete.push(String::from_utf8_lossy(&line[..end]).into_owned());
        }
        // A line that never ends is cut into pieces of at most this size.
        const LONGEST_LINE: usize = 64 * 1024;
        if partial.len() >= LONGEST_LINE {
            let line = std::mem::take(partial);
            complete.push(String::from_utf8_lossy(&line).into_owned());
        }
        for line in complete {
            buffer.push(LogLevel::Info, source, line);
        }
    }

    /// The lines so far, with unterminated output flushed.
    pub(crate) fn finish(&self) -> Vec<LogLine> {
        let mut buffer = self.0.lock().expect("log lock");
        for source in [LogSource::Stdout, LogSource::Stderr] {
            let partial = match source {
                LogSource::Stderr => std::mem::take(&mut buffer.partial_stderr),
                _ => std::mem::take(&mut buffer.partial_stdout),
            };
            if !partial.is_empty() {
                buffer.push(
                    LogLevel::Info,
                    source,
                    String::from_utf8_lossy(&partial).into_owned(),
                );
            }
        }
        if buffer.dropped > 0 {
            let dropped = buffer.dropped;
            let cap = buffer.cap;
            let at_ms = buffer.started.elapsed().as_millis() as u64;
            buffer.lines.push(LogLine {
                at_ms,
                level: LogLevel::Warn,
                source: LogSource::Host,
                message: format!("{dropped} more log lines dropped: the step's log is capped at {cap} bytes (limits.log_bytes)"),
            });
            buffer.dropped = 0;
        }
        buffer.lines.clone()
    }

    /// A writer for the guest's stdout or stderr that feeds this log.
    pub(crate) fn output(&self, source: LogSource) -> GuestOutput {
        GuestOutput {
            log: self.clone(),
            source,
        }
    }
}

impl LogBuffer {
    fn push(&mut self, level: LogLevel, source: LogSource, message: String) {
        if self.bytes + message.len() > self.cap {
            self.dropped += 1;
            return;
        }
        self.bytes += message.len();
        self.lines.push(LogLine {
            at_ms: self.started.elapsed().as_millis() as u64,
            level,
            source,
            message,
        });
    }
}

/// The guest's stdout or stderr. Writes always succeed; what does not fit in
/// the log is counted as dropped, so printing never fails a node.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    log: StepLog,
    source: LogSource,
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.log.append_output(self.source, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_split_into_lines_and_the_tail_is_flushed() {
        let log = StepLog::new(1024);
        log.append_output(LogSource::Stdout, b"one\ntw");
        log.append_output(LogSource::Stdout, b"o\nthree");
        let lines: Vec<_> = log.finish().into_iter().map(|l| l.message).collect();
        assert_eq!(lines, ["one", "two", "three"]);
    }

    #[test]
    fn lines_over_the_cap_are_dropped_and_counted() {
        let log = StepLog::new(10);
        log.push(LogLevel::Info, LogSource::Node, "12345".into());
        log.push(LogLevel::Info, LogSource::Node, "123456".into());
        log.push(LogLevel::Info, LogSource::Node, "12345".into());
        let lines = log.finish();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[2].message.starts_with("1 more log lines dropped"),
            "{:?}",
            lines[2]
        );
    }
}
