//! The error every command returns: a one-line message and an exit status.

use std::fmt;

/// A failed command: the message printed after `error: ` and the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One line, naming the file, line and column where there is one.
    pub message: String,
    /// 2 for bad input or settings, 1 for a failure while running.
    pub code: i32,
}

impl Failure {
    /// Bad input (exit status 2).
    pub fn input(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }

    /// A failure while running (exit status 1).
    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result of a command.
pub type Outcome<T = ()> = Result<T, Failure>;
