//! Output for the one-shot commands: text (coloured on a terminal), markdown and JSON.
//!
//! Text output always carries ANSI styles; the caller writes it through `anstream`, which strips
//! them when stdout is not a terminal or `NO_COLOR` is set. Untrusted text (log lines) goes
//! through [`sanitize::for_terminal`] first.

pub mod analysis;
pub mod docs;
pub mod playbook;
pub mod sanitize;

use anstyle::{AnsiColor, Style};

use crate::playbook::Severity;

/// Output format of `analyze` and `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

pub(crate) const BOLD: Style = Style::new().bold();
pub(crate) const DIM: Style = Style::new().dimmed();
pub(crate) const HEADING: Style = Style::new().bold().underline();

pub(crate) fn severity_style(s: Severity) -> Style {
    let color = match s {
        Severity::Critical | Severity::High => AnsiColor::Red,
        Severity::Medium => AnsiColor::Yellow,
        Severity::Low | Severity::Info => AnsiColor::Cyan,
    };
    Style::new().fg_color(Some(color.into())).bold()
}

pub(crate) fn confidence_style(c: f64) -> Style {
    let color = if c >= 0.7 {
        AnsiColor::Green
    } else if c >= 0.5 {
        AnsiColor::Yellow
    } else {
        AnsiColor::Red
    };
    Style::new().fg_color(Some(color.into())).bold()
}

/// Writes `text` indented by `indent` spaces, each paragraph word-wrapped at `width` columns.
/// Lines that start with white space, fences and list items keep their own layout.
pub(crate) fn write_wrapped(out: &mut String, text: &str, indent: usize, width: usize) {
    let pad = " ".repeat(indent);
    let mut in_fence = false;
    for line in text.trim_end().lines() {
        let t = line.trim_start();
        if t.starts_with("```") {
            in_fence = !in_fence;
            out.push_str(&pad);
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if in_fence || line.starts_with(' ') || line.len() + indent <= width {
            if !line.is_empty() {
                out.push_str(&pad);
                out.push_str(line);
            }
            out.push('\n');
            continue;
        }
        let mut col = 0;
        out.push_str(&pad);
        for word in line.split(' ') {
            if col > 0 && indent + col + 1 + word.len() > width {
                out.push('\n');
                out.push_str(&pad);
                col = 0;
            } else if col > 0 {
                out.push(' ');
                col += 1;
            }
            out.push_str(word);
            col += word.chars().count();
        }
        out.push('\n');
    }
}

/// Formats a number the way Faultline prints scores: two decimals.
pub(crate) fn two_decimals(x: f64) -> String {
    format!("{x:.2}")
}
