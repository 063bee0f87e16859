//! The list of what was published, as `fulfil-check --published FILE` reads it: JSON Lines,
//! one line per publication, repeats included. A line holding a JSON string is the body that
//! string encodes (how the chaos soak writes every body, so any body survives exactly, an
//! invalid one or one with a line break too); any other line is the body itself, byte for
//! byte, so a file of commands as `fulfil publish --file` takes is a list as well.

/// The line that records one publication of `body`.
pub fn line(body: &str) -> String {
    serde_json::Value::String(body.to_owned()).to_string()
}

/// Every body in a published list, in order; blank lines are skipped.
pub fn parse(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
            Ok(serde_json::Value::String(body)) => body,
            _ => l.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_body_written_as_a_line_reads_back_exactly() {
        let bodies = [
            r#"{"version":1,"command_id":"a","type":"Restock","product_id":"p","quantity":1}"#,
            "{not json",
            "two\nlines\r\n",
            "  ",
            "\"quoted\"",
        ];
        let text: String = bodies.iter().map(|b| line(b) + "\n").collect();
        assert_eq!(parse(&text), bodies);
    }

    #[test]
    fn a_plain_command_line_is_its_own_body_and_blank_lines_are_skipped() {
        let command =
            r#"{"version":1,"command_id":"a","type":"Restock","product_id":"p","quantity":1}"#;
        let text = format!("{command}\r\n\n{{broken\n{command}\n");
        assert_eq!(parse(&text), vec![command, "{broken", command]);
    }
}
