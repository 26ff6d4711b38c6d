//! A bounded, shared buffer of a process's output lines.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// Lines kept per supervised process; older lines are dropped.
pub const LOG_CAPACITY: usize = 1000;

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line of output, without its line terminator; invalid UTF-8 is replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Where it was written.
    pub stream: Stream,
    /// The text.
    pub text: String,
}

/// A ring buffer of the last [`LOG_CAPACITY`] lines, across restarts. Cloning is cheap
/// and shares the buffer.
#[derive(Debug, Clone, Default)]
pub struct LogBuffer {
    inner: Arc<Mutex<Ring>>,
}

#[derive(Debug, Default)]
struct Ring {
    lines: VecDeque<LogLine>,
    /// Lines ever pushed, so a reader can ask for the lines since a mark.
    total: u64,
}

/// A position in a [`LogBuffer`]: the lines pushed before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark(u64);

impl LogBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last `n` lines (fewer if fewer were kept), oldest first.
    pub fn tail(&self, n: usize) -> Vec<LogLine> {
        let ring = self.lock();
        let skip = ring.lines.len().saturating_sub(n);
        ring.lines.iter().skip(skip).cloned().collect()
    }

    pub(crate) fn push(&self, line: LogLine) {
        let mut ring = self.lock();
        if ring.lines.len() == LOG_CAPACITY {
            ring.lines.pop_front();
        }
        ring.lines.push_back(line);
        ring.total += 1;
    }

    pub(crate) fn mark(&self) -> Mark {
        Mark(self.lock().total)
    }

    /// The texts of the last `n` lines pushed after `mark`.
    pub(crate) fn tail_since(&self, mark: Mark, n: usize) -> Vec<String> {
        let ring = self.lock();
        let new = usize::try_from(ring.total - mark.0).unwrap_or(usize::MAX);
        let take = new.min(n).min(ring.lines.len());
        let skip = ring.lines.len() - take;
        ring.lines
            .iter()
            .skip(skip)
            .map(|l| l.text.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding the lock cannot leave the ring inconsistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> LogLine {
        LogLine {
            stream: Stream::Stdout,
            text: text.to_owned(),
        }
    }

    #[test]
    fn the_buffer_keeps_only_the_last_lines() {
        let logs = LogBuffer::new();
        for i in 0..LOG_CAPACITY + 5 {
            logs.push(line(&i.to_string()));
        }
        let all = logs.tail(usize::MAX);
        assert_eq!(all.len(), LOG_CAPACITY, "the ring holds LOG_CAPACITY lines");
        assert_eq!(all[0].text, "5", "the oldest lines are dropped first");
        assert_eq!(logs.tail(1)[0].text, (LOG_CAPACITY + 4).to_string());
    }

    #[test]
    fn tail_since_returns_only_lines_after_the_mark() {
        let logs = LogBuffer::new();
        logs.push(line("old"));
        let mark = logs.mark();
        assert!(
            logs.tail_since(mark, 5).is_empty(),
            "nothing after the mark yet"
        );
        for text in ["a", "b", "c"] {
            logs.push(line(text));
        }
        assert_eq!(logs.tail_since(mark, 5), ["a", "b", "c"]);
        assert_eq!(logs.tail_since(mark, 2), ["b", "c"], "at most n lines");
    }
}
