//! How admin commands print: aligned text tables for people, JSON for scripts.

use serde_json::Value;

/// A table: header and rows of cells, printed with columns padded to their widest cell.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| -> String {
            let padded: Vec<String> = cells
                .iter()
                .enumerate()
                .take(columns)
                .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
                .collect();
            padded.join("  ").trim_end().to_string()
        };
        let mut out = line(&self.header);
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }
}

/// Prints `json` when asked for JSON, else the table.
pub fn emit(json_wanted: bool, json: Value, table: impl FnOnce() -> String) {
    if json_wanted {
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    } else {
        print!("{}", table());
    }
}

/// A progress bar on stderr for a long operation (`total` known or not). Hidden unless
/// `enabled` and stderr is a terminal, so scripts and `--json` output never see it.
pub fn progress(total: Option<u64>, enabled: bool, what: &str) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    bar.set_draw_target(if enabled {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let template = if total.is_some() {
        "{prefix} {wide_bar} {human_pos}/{human_len} ({per_sec})"
    } else {
        "{prefix} {spinner} {human_pos} ({per_sec})"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_prefix(what.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let mut t = Table::new(&["TOPIC", "PARTITIONS"]);
        t.row(vec!["orders".into(), "3".into()]);
        t.row(vec!["a".into(), "12".into()]);
        assert_eq!(t.render(), "TOPIC   PARTITIONS\norders  3\na       12\n");
    }
}
