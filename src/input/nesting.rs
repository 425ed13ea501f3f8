//! Bounds on a query before it is parsed. The PromQL and LogQL parsers and
//! every walk the crate writes over their trees recurse once per level of
//! nesting, so a rule of ten thousand nested parentheses would overflow the
//! stack and abort the process. A query is refused first when it nests
//! deeper than [`MAX_DEPTH`] brackets, chains more than [`MAX_OPERATORS`]
//! binary operators (`a + a + …` nests just as deep in the tree), or is
//! longer than [`MAX_LEN`] bytes.

/// The deepest bracket nesting a query may have: real rules and dashboards
/// stay under ten.
pub const MAX_DEPTH: usize = 64;

/// The most binary operators a query may chain: real ones use a few dozen.
pub const MAX_OPERATORS: usize = 512;

/// The longest query, in bytes: real ones stay under a few KiB.
pub const MAX_LEN: usize = 16 * 1024;

/// `Ok` when `query` is within both bounds; otherwise the words for which
/// bound it passes. Brackets inside quoted strings do not count.
pub fn check(query: &str) -> Result<(), String> {
    if query.len() > MAX_LEN {
        return Err(format!(
            "the query is {} bytes long, over the {MAX_LEN}-byte limit",
            query.len()
        ));
    }
    let mut depth = 0usize;
    let mut operators = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut prev_op = false;
    let mut word = String::new();
    for c in query.chars() {
        if let Some(q) = quote {
            match c {
                _ if escaped => escaped = false,
                '\\' if q != '`' => escaped = true,
                _ if c == q => quote = None,
                _ => {}
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(format!(
                        "the query nests brackets deeper than {MAX_DEPTH} levels"
                    ));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        // A run of operator characters (`+`, `>=`, `!=`) is one operator;
        // so are the words `and`, `or`, `unless`.
        let is_op = "+-*/%^<>=!".contains(c);
        if is_op && !prev_op {
            operators += 1;
        }
        prev_op = is_op;
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            if matches!(word.as_str(), "and" | "or" | "unless") {
                operators += 1;
            }
            word.clear();
        }
        if operators > MAX_OPERATORS {
            return Err(format!(
                "the query chains more than {MAX_OPERATORS} operators"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}up{}", "(".repeat(levels), ")".repeat(levels))
    }

    #[test]
    fn at_the_bound_and_just_past_it() {
        assert!(check(&nested(MAX_DEPTH)).is_ok());
        let e = check(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(e.contains("deeper than 64"), "{e}");
        let long = "x".repeat(MAX_LEN + 1);
        assert!(
            check(&long)
                .unwrap_err()
                .contains("over the 16384-byte limit")
        );
        assert!(check(&"1+".repeat(MAX_OPERATORS)).is_ok());
        let e = check(&"1+".repeat(MAX_OPERATORS + 1)).unwrap_err();
        assert!(e.contains("more than 512 operators"), "{e}");
        assert!(check(&"a or ".repeat(MAX_OPERATORS + 1)).is_err());
        assert!(
            check(&"a >= ".repeat(MAX_OPERATORS)).is_ok(),
            ">= is one operator"
        );
    }

    #[test]
    fn brackets_in_strings_do_not_count() {
        let q = format!("up{{job=\"{}\"}}", "(".repeat(200));
        assert!(check(&q).is_ok());
        let q = format!("up{{job=\"a\\\"{}\"}}", "(".repeat(200));
        assert!(
            check(&q).is_ok(),
            "an escaped quote does not end the string"
        );
    }
}
