//! What the processes' logs say of each command the check found in a DLQ: the lines that
//! name its message id or command id, so a broken soak (in CI above all, where the logs
//! are gone with the clone) explains itself in its own report.

use std::fmt::Write as _;
use std::path::Path;

use fulfil_testkit::check::CheckReport;

/// Lines shown per dead letter (the first and the last ones when there are more).
const MOST_LINES: usize = 40;
/// Longest line shown.
const MOST_CHARS: usize = 600;

/// The clue section for every dead letter that broke an invariant; empty when none did.
pub fn for_violations(check: &CheckReport, logs: &Path) -> String {
    let broken: Vec<_> = check.dead_letters.iter().filter(|d| d.violation).collect();
    if broken.is_empty() {
        return String::new();
    }
    let texts = read_logs(logs);
    let mut out = String::new();
    for dead in broken {
        let mut keys = vec![dead.message_id.as_str()];
        keys.extend(dead.id.as_deref());
        let _ = writeln!(out, "log lines naming {}:", keys.join(" or "));
        out.push_str(&lines_naming(&texts, &keys));
    }
    out
}

/// Every log file of `dir` as (file name, text), by name.
fn read_logs(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut texts: Vec<(String, String)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), text))
        })
        .collect();
    texts.sort();
    texts
}

/// The lines of `texts` that contain any of `keys`, each prefixed by its file, at most
/// [`MOST_LINES`] (the first and last halves, with the number left out between).
fn lines_naming(texts: &[(String, String)], keys: &[&str]) -> String {
    let found: Vec<String> = texts
        .iter()
        .flat_map(|(file, text)| {
            text.lines()
                .filter(|line| keys.iter().any(|k| line.contains(k)))
                .map(move |line| format!("  {file}: {}\n", shorten(line)))
        })
        .collect();
    if found.is_empty() {
        return "  (none)\n".to_owned();
    }
    if found.len() <= MOST_LINES {
        return found.concat();
    }
    let half = MOST_LINES / 2;
    let left_out = found.len() - MOST_LINES;
    let (head, tail) = (&found[..half], &found[found.len() - half..]);
    format!(
        "{}  … {left_out} more lines …\n{}",
        head.concat(),
        tail.concat()
    )
}

fn shorten(line: &str) -> &str {
    match line.char_indices().nth(MOST_CHARS) {
        Some((cut, _)) => &line[..cut],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts() -> Vec<(String, String)> {
        let worker = (1..=50)
            .map(|i| format!("line {i} batch message_ids=[\"m-1\"]\n"))
            .collect::<String>()
            + "other message m-2\n";
        vec![("worker-1.log".into(), worker)]
    }

    #[test]
    fn only_lines_naming_a_key_are_shown_first_and_last_when_there_are_many() {
        let shown = lines_naming(&texts(), &["m-1"]);
        assert!(shown.contains("worker-1.log: line 1 batch"), "{shown}");
        assert!(shown.contains("line 50 batch"), "{shown}");
        assert!(shown.contains("… 10 more lines …"), "{shown}");
        assert!(!shown.contains("line 25 batch"), "{shown}");
        assert!(!shown.contains("m-2"), "{shown}");
    }

    #[test]
    fn a_key_no_line_names_says_none_and_long_lines_are_cut() {
        assert_eq!(lines_naming(&texts(), &["m-9"]), "  (none)\n");
        assert_eq!(shorten(&"x".repeat(MOST_CHARS + 10)).len(), MOST_CHARS);
    }
}
