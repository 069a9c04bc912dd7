//! Step log lines, shown with the step's run data.
//!
//! Use the formatting macros, or the functions for plain text:
//!
//! ```no_run
//! use n8n_work_sdk::log;
//!
//! log::info!("fetched {} records", 3);
//! log::warn("rate limit almost reached");
//! ```
//!
//! Never log a credential or a header that carries one.

use crate::bindings::n8n_work::node::log::Level as WitLevel;
use crate::host;

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Step-by-step detail.
    Trace,
    /// Detail useful when debugging a node.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected that the node worked around.
    Warn,
    /// A failure.
    Error,
}

/// Writes `message` at `level`.
pub fn log(level: Level, message: &str) {
    let level = match level {
        Level::Trace => WitLevel::Trace,
        Level::Debug => WitLevel::Debug,
        Level::Info => WitLevel::Info,
        Level::Warn => WitLevel::Warn,
        Level::Error => WitLevel::Error,
    };
    host::log(level, message);
}

/// Writes `message` at trace level.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Writes `message` at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Writes `message` at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Writes `message` at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Writes `message` at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_trace {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Trace, &::std::format!($($arg)+))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_debug {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Debug, &::std::format!($($arg)+))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_info {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Info, &::std::format!($($arg)+))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_warn {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Warn, &::std::format!($($arg)+))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_error {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Error, &::std::format!($($arg)+))
    };
}

/// Writes a formatted line at trace level.
#[doc(inline)]
pub use crate::__log_trace as trace;

/// Writes a formatted line at debug level.
#[doc(inline)]
pub use crate::__log_debug as debug;

/// Writes a formatted line at info level.
#[doc(inline)]
pub use crate::__log_info as info;

/// Writes a formatted line at warn level.
#[doc(inline)]
pub use crate::__log_warn as warn;

/// Writes a formatted line at error level.
#[doc(inline)]
pub use crate::__log_error as error;
