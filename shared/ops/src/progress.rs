//! Progress of long CLI operations (DLQ redrive, watch resync) on stderr: a bar redrawn in
//! place when stderr is a terminal, plain lines otherwise (logs, CI), so output captured to a
//! file has no carriage returns and only a line per tenth of the work.

use std::io::{IsTerminal, Write};

const WIDTH: usize = 24;

/// How progress is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Draw {
    /// A bar redrawn in place (`\r`).
    Bar,
    /// A line per step of a tenth of the total (or per 100 items when the total is unknown).
    Lines,
}

impl Draw {
    /// [`Draw::Bar`] when stderr is a terminal.
    pub fn for_stderr() -> Self {
        if std::io::stderr().is_terminal() {
            Self::Bar
        } else {
            Self::Lines
        }
    }
}

/// One operation's progress: counts, and draws to `sink`.
#[derive(Debug)]
pub struct Progress<W: Write> {
    label: String,
    total: Option<usize>,
    done: usize,
    draw: Draw,
    /// The last step a line was printed for, and its count ([`Draw::Lines`]).
    last_step: Option<usize>,
    printed: Option<usize>,
    sink: W,
}

impl Progress<std::io::Stderr> {
    /// On stderr, drawn as [`Draw::for_stderr`] says.
    pub fn stderr(label: &str, total: Option<usize>) -> Self {
        Self::new(label, total, Draw::for_stderr(), std::io::stderr())
    }
}

impl<W: Write> Progress<W> {
    pub fn new(label: &str, total: Option<usize>, draw: Draw, sink: W) -> Self {
        Self {
            label: label.to_owned(),
            total,
            done: 0,
            draw,
            last_step: None,
            printed: None,
            sink,
        }
    }

    /// The total, once known (a paged read learns it late).
    pub fn set_total(&mut self, total: usize) {
        self.total = Some(total);
    }

    /// `done` items so far (never goes back).
    pub fn set(&mut self, done: usize) {
        self.done = self.done.max(done);
        self.show();
    }

    /// One more item.
    pub fn inc(&mut self) {
        self.set(self.done + 1);
    }

    pub fn done(&self) -> usize {
        self.done
    }

    /// Ends the bar's line (a final line in line mode).
    pub fn finish(&mut self) {
        let line = render(&self.label, self.done, self.total);
        // Progress is advisory: a closed stderr must not fail the operation.
        let _ = match self.draw {
            Draw::Bar => writeln!(self.sink, "\r{line}"),
            Draw::Lines if self.printed != Some(self.done) => writeln!(self.sink, "{line}"),
            Draw::Lines => Ok(()),
        };
        self.printed = Some(self.done);
    }

    fn show(&mut self) {
        let line = render(&self.label, self.done, self.total);
        let _ = match self.draw {
            Draw::Bar => write!(self.sink, "\r{line}").and_then(|_| self.sink.flush()),
            Draw::Lines => {
                let step = step(self.done, self.total);
                if self.last_step == Some(step) {
                    return;
                }
                self.last_step = Some(step);
                self.printed = Some(self.done);
                writeln!(self.sink, "{line}")
            }
        };
    }
}

/// Which line-mode step `done` is in: tenths of the total, or hundreds when it is unknown.
fn step(done: usize, total: Option<usize>) -> usize {
    match total {
        Some(total) if total > 0 => done.min(total) * 10 / total,
        _ => done / 100,
    }
}

/// `[#######.................] 7/24 label`; with no known total, a count and a cycling bar.
pub fn render(label: &str, done: usize, total: Option<usize>) -> String {
    match total {
        Some(total) => {
            // Nothing to do is all done.
            let filled = (done.min(total) * WIDTH)
                .checked_div(total)
                .unwrap_or(WIDTH);
            format!(
                "[{}{}] {done}/{total} {label}",
                "#".repeat(filled),
                ".".repeat(WIDTH - filled)
            )
        }
        None => {
            let at = done % WIDTH;
            format!(
                "[{}#{}] {done} {label}",
                ".".repeat(at),
                ".".repeat(WIDTH - at - 1)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_share_done() {
        assert_eq!(
            render("moved", 0, Some(4)),
            format!("[{}] 0/4 moved", ".".repeat(24))
        );
        assert_eq!(
            render("moved", 1, Some(4)),
            format!("[{}{}] 1/4 moved", "#".repeat(6), ".".repeat(18))
        );
        assert_eq!(
            render("moved", 9, Some(4)),
            format!("[{}] 9/4 moved", "#".repeat(24))
        );
        assert_eq!(
            render("x", 0, Some(0)),
            format!("[{}] 0/0 x", "#".repeat(24))
        );
        let unknown = render("read", 25, None);
        assert!(
            unknown.starts_with("[.#...") && unknown.ends_with("] 25 read"),
            "{unknown}"
        );
    }

    #[test]
    fn line_mode_prints_a_line_per_tenth_and_no_carriage_returns() {
        let mut p = Progress::new("moved", Some(20), Draw::Lines, Vec::new());
        for _ in 0..20 {
            p.inc();
        }
        p.finish();
        assert_eq!(p.done(), 20);
        let text = String::from_utf8(p.sink).expect("utf8");
        assert!(!text.contains('\r'));
        // Steps 0..=10 each once (the first item is step 0); finish adds none after step 10.
        assert_eq!(text.lines().count(), 11, "{text}");
        assert!(text.ends_with("20/20 moved\n"), "{text}");
    }

    #[test]
    fn bar_mode_redraws_in_place_and_ends_the_line() {
        let mut p = Progress::new("read", None, Draw::Bar, Vec::new());
        p.set(3);
        p.set(2); // never goes back
        p.finish();
        let text = String::from_utf8(p.sink).expect("utf8");
        assert_eq!(text.matches('\r').count(), 3, "{text:?}");
        assert_eq!(text.matches('\n').count(), 1);
        assert!(text.trim_end().ends_with("3 read"), "{text:?}");
    }
}
