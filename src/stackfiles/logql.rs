//! A syntax check for the LogQL in SLO files, so that a broken query is an
//! input error at its line instead of a log search that fails at run time
//! (or, worse, an empty answer that looks fast). There is no maintained
//! LogQL crate, so this is a small recursive-descent checker of our own,
//! after Loki's grammar (`pkg/logql/syntax`):
//!
//! - a log query is a stream selector `{label op "value", …}` followed by
//!   pipeline stages: line filters (`|=`, `!=`, `|~`, `!~`, chained with
//!   `or`), parsers (`| json`, `| logfmt`, `| regexp "…"`, `| pattern "…"`,
//!   `| unpack`), `| line_format "…"`, `| label_format a="…"`, `| drop …`,
//!   `| keep …`, `| decolorize`, and label filters (`| level="error"`,
//!   `| latency_ms > 250 and status=~"5.."`);
//! - a metric query is a range aggregation over a log query with a range,
//!   `rate({…} | json [5m])`, optionally inside vector aggregations
//!   (`sum by (service) (…)`) and with `| unwrap label` before the range.
//!
//! Regular expressions are checked with Rust's `regex`, whose syntax is
//! close to Go's RE2 that Loki uses. As Loki does, a selector must have at
//! least one matcher that cannot match the empty string.

use std::fmt;

/// Where in the query a problem is (0-based character offset) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogqlError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for LogqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.offset + 1, self.message)
    }
}

/// Check one LogQL query (log or metric).
pub fn check(query: &str) -> Result<(), LogqlError> {
    parse(query).map(|_| ())
}

/// The label names of every stream selector (`{service="x", level=~"e"}`)
/// of a query, in order, as the checker parses them; none when it does
/// not parse (the checker's error says why).
pub fn stream_labels(query: &str) -> Vec<String> {
    parse(query).unwrap_or_default()
}

/// Parse one query; its stream selectors' label names.
fn parse(query: &str) -> Result<Vec<String>, LogqlError> {
    if let Err(message) = crate::input::nesting::check(query) {
        return Err(LogqlError { offset: 0, message });
    }
    let mut p = Parser {
        s: query.chars().collect(),
        i: 0,
        stream_labels: Vec::new(),
    };
    p.skip_ws();
    p.expr()?;
    p.skip_ws();
    if p.i < p.s.len() {
        return Err(p.err(format!("unexpected {:?} after the query", p.rest(12))));
    }
    Ok(p.stream_labels)
}

const RANGE_AGGREGATIONS: &[&str] = &[
    "rate",
    "count_over_time",
    "bytes_rate",
    "bytes_over_time",
    "absent_over_time",
    "sum_over_time",
    "avg_over_time",
    "max_over_time",
    "min_over_time",
    "first_over_time",
    "last_over_time",
    "stdvar_over_time",
    "stddev_over_time",
    "quantile_over_time",
    "rate_counter",
];

const VECTOR_AGGREGATIONS: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "sort",
    "sort_desc",
];

/// Opens a stream selector (a named constant keeps brace-counting tools
/// from miscounting the functions that use it).
const SELECTOR_OPEN: char = '\u{7b}';

const PARSERS: &[&str] = &["json", "logfmt", "unpack", "decolorize"];

struct Parser {
    s: Vec<char>,
    i: usize,
    /// The label names of the stream selectors' matchers, in order.
    stream_labels: Vec<String>,
}

impl Parser {
    fn err(&self, message: String) -> LogqlError {
        LogqlError {
            offset: self.i,
            message,
        }
    }

    fn rest(&self, n: usize) -> String {
        self.s[self.i..].iter().take(n).collect()
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        let t: Vec<char> = token.chars().collect();
        if self.s[self.i..].starts_with(&t) {
            self.i += t.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str, what: &str) -> Result<(), LogqlError> {
        if self.eat(token) {
            Ok(())
        } else {
            let found = if self.i >= self.s.len() {
                "the end of the query".to_string()
            } else {
                format!("{:?}", self.rest(12))
            };
            Err(self.err(format!("expected {what}, found {found}")))
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.skip_ws();
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || (c == '.' && self.i > start))
        {
            if self.i == start && self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return None;
            }
            self.i += 1;
        }
        (self.i > start).then(|| self.s[start..self.i].iter().collect())
    }

    /// A query: a log query, or metric queries and numbers joined by
    /// binary operators (`/`, `> 10`, `or vector(0)`, `and on (x)`, …).
    fn expr(&mut self) -> Result<(), LogqlError> {
        self.operand()?;
        while self.binary_operator() {
            self.vector_matching()?;
            self.operand()?;
        }
        Ok(())
    }

    /// A binary operator, consumed if one comes next.
    fn binary_operator(&mut self) -> bool {
        const SYMBOLS: [&str; 12] = [
            "==", "!=", ">=", "<=", ">", "<", "+", "-", "*", "/", "%", "^",
        ];
        SYMBOLS.iter().any(|op| self.eat(op))
            || ["and", "or", "unless"].iter().any(|w| self.eat_word(w))
    }

    /// `bool`, `on (…)`/`ignoring (…)` and `group_left`/`group_right (…)`
    /// after a binary operator, each optional.
    fn vector_matching(&mut self) -> Result<(), LogqlError> {
        self.eat_word("bool");
        if self.eat_word("on") || self.eat_word("ignoring") {
            self.paren_labels()?;
            if self.eat_word("group_left") || self.eat_word("group_right") {
                self.skip_ws();
                if self.peek() == Some('(') {
                    self.paren_labels()?;
                }
            }
        }
        Ok(())
    }

    /// `(a, b)`: a parenthesised, possibly empty, list of label names.
    fn paren_labels(&mut self) -> Result<(), LogqlError> {
        self.expect("(", "\"(\" before the label list")?;
        loop {
            if self.eat(")") {
                return Ok(());
            }
            if self.ident().is_none() {
                return Err(self.err("expected a label name in the list".into()));
            }
            if !self.eat(",") {
                return self.expect(")", "\")\" closing the label list");
            }
        }
    }

    /// `word` as a whole word (not the start of a longer name).
    fn eat_word(&mut self, word: &str) -> bool {
        self.skip_ws();
        let save = self.i;
        match self.ident() {
            Some(w) if w == word => true,
            _ => {
                self.i = save;
                false
            }
        }
    }

    /// One side of a binary operation: a signed number, a parenthesised
    /// query, a log query, or a function.
    fn operand(&mut self) -> Result<(), LogqlError> {
        self.skip_ws();
        if matches!(self.peek(), Some('-' | '+')) {
            self.i += 1;
            self.skip_ws();
        }
        if self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
            return self.number().map(drop);
        }
        if self.peek() == Some(SELECTOR_OPEN) {
            return self.log_query(false);
        }
        if self.peek() == Some('(') {
            self.i += 1;
            self.expr()?;
            return self.expect(")", "\")\"");
        }
        let at = self.i;
        let Some(name) = self.ident() else {
            return Err(self.err(format!(
                "expected a stream selector like {{service=\"backend-api\"}} or a function like rate(…), found {:?}",
                self.rest(12)
            )));
        };
        if RANGE_AGGREGATIONS.contains(&name.as_str()) {
            return self.range_aggregation(&name);
        }
        if VECTOR_AGGREGATIONS.contains(&name.as_str()) {
            return self.vector_aggregation(&name);
        }
        match name.as_str() {
            "vector" => {
                self.expect("(", "\"(\" after vector")?;
                self.number()?;
                return self.expect(")", "\")\" closing vector");
            }
            "label_replace" => return self.label_replace(),
            _ => {}
        }
        self.skip_ws();
        let call = self.peek() == Some('(');
        self.i = at;
        if call {
            Err(self.err(format!("unknown function {name:?}")))
        } else {
            Err(self.err(format!(
                "expected a stream selector like {{service=\"backend-api\"}} or a function like rate(…), found {:?}",
                self.rest(12)
            )))
        }
    }

    /// `label_replace(q, "dst", "replacement", "src", "regex")`.
    fn label_replace(&mut self) -> Result<(), LogqlError> {
        self.expect("(", "\"(\" after label_replace")?;
        self.expr()?;
        for what in ["destination label", "replacement", "source label", "regex"] {
            self.expect(",", &format!("\",\" before the {what}"))?;
            let at = self.i;
            let value = self.string()?;
            if what == "regex" {
                self.regex(&value, at)?;
            }
        }
        self.expect(")", "\")\" closing label_replace")
    }

    /// `rate({…} [5m])`, `quantile_over_time(0.9, {…} | unwrap x [5m])`.
    fn range_aggregation(&mut self, name: &str) -> Result<(), LogqlError> {
        self.expect("(", "\"(\" after the function name")?;
        if name == "quantile_over_time" {
            self.number()?;
            self.expect(",", "\",\" after the quantile")?;
        }
        self.log_query(true)?;
        self.expect(")", "\")\" closing the range aggregation")?;
        self.grouping()
    }

    /// `sum by (x) (…)`, `topk(3, …)`.
    fn vector_aggregation(&mut self, name: &str) -> Result<(), LogqlError> {
        self.grouping()?;
        self.expect("(", "\"(\" after the aggregation")?;
        if matches!(name, "topk" | "bottomk") {
            self.number()?;
            self.expect(",", "\",\" after the count")?;
        }
        self.expr()?;
        self.expect(")", "\")\" closing the aggregation")?;
        self.grouping()
    }

    /// `by (a, b)` or `without (a)`, optional.
    fn grouping(&mut self) -> Result<(), LogqlError> {
        if !(self.eat_word("by") || self.eat_word("without")) {
            return Ok(());
        }
        self.paren_labels()
    }

    fn number(&mut self) -> Result<f64, LogqlError> {
        self.skip_ws();
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || c == '.' || c == '-')
        {
            self.i += 1;
        }
        let text: String = self.s[start..self.i].iter().collect();
        text.parse()
            .map_err(|_| self.err(format!("expected a number, found {text:?}")))
    }

    /// A selector and its pipeline; with `range`, also `| unwrap x` and
    /// the `[5m]` range that a metric query needs.
    fn log_query(&mut self, range: bool) -> Result<(), LogqlError> {
        self.selector()?;
        self.pipeline(range)?;
        if range {
            self.expect("[", "a range like [5m] after the log query")?;
            self.duration()?;
            self.expect("]", "\"]\" closing the range")?;
            if self.eat_word("offset") {
                self.duration()?;
            }
        }
        Ok(())
    }

    fn duration(&mut self) -> Result<(), LogqlError> {
        self.skip_ws();
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.i += 1;
        }
        let text: String = self.s[start..self.i].iter().collect();
        if crate::input::units::parse_duration(&text).is_some_and(|d| !d.is_zero()) {
            Ok(())
        } else {
            self.i = start;
            Err(self.err(format!("expected a duration like 5m, found {text:?}")))
        }
    }

    fn selector(&mut self) -> Result<(), LogqlError> {
        let open = self.i;
        self.expect("{", "\"{\" opening the stream selector")?;
        let mut non_empty = false;
        loop {
            self.skip_ws();
            if self.eat("}") {
                break;
            }
            non_empty |= self.matcher()?;
            if !self.eat(",") {
                self.expect("}", "\",\" or \"}\" in the stream selector")?;
                break;
            }
        }
        if !non_empty {
            self.i = open;
            return Err(self.err(
                "the stream selector needs at least one matcher that cannot match an empty value, e.g. {service=\"backend-api\"}".into(),
            ));
        }
        Ok(())
    }

    /// `label op "value"`; true when it cannot match the empty value.
    fn matcher(&mut self) -> Result<bool, LogqlError> {
        let Some(label) = self.ident() else {
            return Err(self.err(format!("expected a label name, found {:?}", self.rest(12))));
        };
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| self.eat(op))
            .ok_or_else(|| {
                self.err(format!(
                    "expected one of =, !=, =~, !~ after {label}, found {:?}",
                    self.rest(6)
                ))
            })?;
        let at = self.i;
        let value = self.string()?;
        self.stream_labels.push(label);
        match op {
            "=" => Ok(!value.is_empty()),
            "=~" => Ok(!self.regex(&value, at)?.is_match("")),
            "!~" => self.regex(&value, at).map(|_| false),
            _ => Ok(false),
        }
    }

    fn regex(&self, pattern: &str, at: usize) -> Result<regex::Regex, LogqlError> {
        regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| LogqlError {
            offset: at,
            message: format!(
                "invalid regular expression {pattern:?}: {}",
                e.to_string().lines().last().unwrap_or("")
            ),
        })
    }

    /// A "double-quoted" (with escapes) or `backtick` string.
    fn string(&mut self) -> Result<String, LogqlError> {
        self.skip_ws();
        let quote = match self.peek() {
            Some(q @ ('"' | '`')) => q,
            _ => {
                return Err(self.err(format!(
                    "expected a quoted string, found {:?}",
                    self.rest(12)
                )));
            }
        };
        let start = self.i;
        self.i += 1;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                c if c == quote => return Ok(out),
                '\\' if quote == '"' => match self.peek() {
                    Some(e) => {
                        self.i += 1;
                        out.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        self.i = start;
        Err(self.err("unterminated string".into()))
    }

    fn pipeline(&mut self, range: bool) -> Result<(), LogqlError> {
        loop {
            self.skip_ws();
            let at = self.i;
            if let Some(op) = ["|=", "!=", "|~", "!~", "|>", "!>"]
                .into_iter()
                .find(|op| self.eat(op))
            {
                self.line_filter(op)?;
                continue;
            }
            if !self.eat("|") {
                return Ok(());
            }
            self.stage(range, at)?;
        }
    }

    fn line_filter(&mut self, op: &str) -> Result<(), LogqlError> {
        loop {
            // `|= ip("10.0.0.0/8")` matches addresses in a range.
            if op.ends_with('=') && self.eat_word("ip") {
                self.expect("(", "\"(\" after ip")?;
                self.string()?;
                self.expect(")", "\")\" closing ip")?;
                if !self.eat_word("or") {
                    return Ok(());
                }
                continue;
            }
            let at = self.i;
            let value = self.string()?;
            if op.ends_with('~') {
                self.regex(&value, at)?;
            }
            if !self.eat("or") {
                return Ok(());
            }
        }
    }

    fn stage(&mut self, range: bool, at: usize) -> Result<(), LogqlError> {
        self.skip_ws();
        let name_at = self.i;
        let Some(name) = self.ident() else {
            return Err(self.err(format!(
                "expected a stage after \"|\" (json, logfmt, line_format, a label filter, …), found {:?}",
                self.rest(12)
            )));
        };
        match name.as_str() {
            n if PARSERS.contains(&n) => self.parser_params(),
            "regexp" => {
                let at = self.i;
                let re = self.string()?;
                self.regex(&re, at).map(|_| ())
            }
            "pattern" | "line_format" => self.string().map(|_| ()),
            "label_format" => self.assignments(),
            "drop" | "keep" => self.label_list(),
            "unwrap" if range => self.unwrap(),
            "unwrap" => {
                self.i = at;
                Err(self.err("| unwrap belongs in a metric query, before its [range]".into()))
            }
            _ => self.label_filter(name, name_at),
        }
    }

    /// `| json a="x.y", b` and `| logfmt --strict a` take optional
    /// parameters.
    fn parser_params(&mut self) -> Result<(), LogqlError> {
        while self.eat("--") {
            self.ident();
        }
        self.skip_ws();
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        {
            let save = self.i;
            let name = self.ident();
            if matches!(name.as_deref(), Some("or" | "and")) {
                self.i = save;
                return Ok(());
            }
            if self.eat("=") {
                self.string()?;
            }
            while self.eat(",") {
                self.ident()
                    .ok_or_else(|| self.err("expected a label name".into()))?;
                if self.eat("=") {
                    self.string()?;
                }
            }
        }
        Ok(())
    }

    fn assignments(&mut self) -> Result<(), LogqlError> {
        loop {
            self.ident()
                .ok_or_else(|| self.err("expected a label name to assign".into()))?;
            self.expect("=", "\"=\" in label_format")?;
            self.skip_ws();
            if self.peek().is_some_and(|c| c == '"' || c == '`') {
                self.string()?;
            } else {
                self.ident()
                    .ok_or_else(|| self.err("expected a label or a template string".into()))?;
            }
            if !self.eat(",") {
                return Ok(());
            }
        }
    }

    fn label_list(&mut self) -> Result<(), LogqlError> {
        loop {
            self.ident()
                .ok_or_else(|| self.err("expected a label name".into()))?;
            if ["=~", "!~", "!=", "="].into_iter().any(|op| self.eat(op)) {
                self.string()?;
            }
            if !self.eat(",") {
                return Ok(());
            }
        }
    }

    fn unwrap(&mut self) -> Result<(), LogqlError> {
        if let Some(f) = self.ident() {
            if matches!(f.as_str(), "bytes" | "duration" | "duration_seconds") && self.eat("(") {
                self.ident()
                    .ok_or_else(|| self.err("expected a label name".into()))?;
                return self.expect(")", "\")\"");
            }
            return Ok(());
        }
        Err(self.err("expected a label name after unwrap".into()))
    }

    /// `label op value`, combined with `and`, `or` or `,`.
    fn label_filter(&mut self, first: String, first_at: usize) -> Result<(), LogqlError> {
        let mut label = Some(first);
        loop {
            let name_at = if label.is_some() { first_at } else { self.i };
            let name = match label.take() {
                Some(l) => l,
                None => self
                    .ident()
                    .ok_or_else(|| self.err("expected a label name in the label filter".into()))?,
            };
            let op = ["==", "=~", "!~", "!=", ">=", "<=", "=", ">", "<"]
                .into_iter()
                .find(|op| self.eat(op))
                .ok_or_else(|| LogqlError {
                    offset: name_at,
                    message: format!(
                        "unknown stage or label filter {name:?}: expected a parser (json, logfmt, regexp, pattern, unpack), line_format, label_format, drop, keep, or a filter like {name}=\"value\""
                    ),
                })?;
            self.skip_ws();
            let at = self.i;
            if self.peek().is_some_and(|c| c == '"' || c == '`') {
                let v = self.string()?;
                if op.contains('~') {
                    self.regex(&v, at)?;
                }
            } else {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                {
                    self.i += 1;
                }
                if self.i == start {
                    return Err(self.err(format!(
                        "expected a value after {name}{op}, found {:?}",
                        self.rest(12)
                    )));
                }
            }
            if !(self.eat("and") || self.eat("or") || self.eat(",")) {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_labels_are_the_selectors_names_not_braces_in_strings() {
        assert_eq!(
            stream_labels(
                r#"sum by (level) (count_over_time({service="backend-api", level=~"ERROR|WARN"} |= "a}b" | line_format "{{.msg}}" [5m]))"#
            ),
            vec!["service", "level"]
        );
        assert_eq!(
            stream_labels(
                r#"count_over_time({tenant_id="t\"1", endpoint!="/x"}[5m]) or count_over_time({job="files"}[5m])"#
            ),
            vec!["tenant_id", "endpoint", "job"]
        );
        assert!(stream_labels("").is_empty());
    }

    #[test]
    fn the_shipped_and_common_queries_pass() {
        for q in [
            r#"{service="backend-api", level="ERROR"}"#,
            r#"{tenant_id="tenant_001"} | json"#,
            r#"{service=~"backend-.*"} |= "timeout" != "health" | logfmt"#,
            r#"{job="x"} |~ `err(or)?` or "fatal" | json status="response.status" | status >= 500 and path=~"/api/.*""#,
            r#"{app="a"} | pattern "<ip> - - <_> \"<method> <uri>\"" | line_format "{{.ip}}" | label_format x=y, z="{{.a}}""#,
            r#"{app="a"} | logfmt --strict | drop __error__, __error_details__ | keep level"#,
            r#"sum by (service) (rate({service="backend-api"} | json [5m]))"#,
            r#"quantile_over_time(0.95, {service="backend-api"} | json | unwrap latency_ms [5m]) by (endpoint)"#,
            r#"topk(3, sum by (tenant_id) (count_over_time({service="backend-api"}[1h])))"#,
            r#"{app="a"} | latency_ms > 250ms or size > 1KB"#,
            // Binary operations, scalars and the functions Loki adds.
            r#"sum(rate({service="x"} |= "error" [5m])) / sum(rate({service="x"}[5m]))"#,
            r#"sum(rate({service="x"}[5m])) by (service) * 100 > bool 5"#,
            r#"sum(count_over_time({service="x"} | json | level="ERROR" [1m])) or vector(0)"#,
            r#"sum by (a) (rate({s="x"}[5m])) / ignoring (b) group_left sum(rate({s="x"}[5m]))"#,
            r#"-1 * sum(rate({s="x"}[5m])) and on (a) sum(rate({s="y"}[5m]))"#,
            r#"count_over_time({service="x"}[5m] offset 1h)"#,
            r#"label_replace(rate({service="x"}[5m]), "foo", "$1", "service", "(.*)")"#,
            r#"{service="x"} |> "<_> error <_>" !> "<_> debug <_>""#,
            r#"{service="x"} != ip("10.0.0.0/8")"#,
            r#"avg_over_time({service="x"} | json | unwrap duration(latency) [5m]) by (service)"#,
        ] {
            check(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }

    #[test]
    fn broken_queries_are_refused_with_their_place() {
        for (q, want) in [
            (r#"service="backend-api""#, "expected a stream selector"),
            (r#"{service="backend-api""#, "\",\" or \"}\""),
            (r#"{service=backend-api}"#, "expected a quoted string"),
            (r#"{service=="x"}"#, "expected a quoted string"),
            (r#"{service="x}"#, "unterminated string"),
            (r#"{}"#, "at least one matcher"),
            (r#"{service=~".*"}"#, "at least one matcher"),
            (r#"{service=~"(unclosed"}"#, "invalid regular expression"),
            (
                r#"{service="x"} | jsn"#,
                "unknown stage or label filter \"jsn\"",
            ),
            (r#"{service="x"} |= timeout"#, "expected a quoted string"),
            (r#"{service="x"} |"#, "expected a stage"),
            (r#"rate({service="x"})"#, "a range like [5m]"),
            (r#"rate({service="x"}[five])"#, "expected a duration"),
            (r#"sum(rate({service="x"}[5m])"#, "closing the aggregation"),
            (r#"{service="x"} | unwrap latency"#, "metric query"),
            (r#"frobnicate({service="x"}[5m])"#, "unknown function"),
            (r#"{service="x"} }"#, "after the query"),
            (r#"sum(rate({s="x"}[5m])) /"#, "expected a stream selector"),
            (r#"vector(x)"#, "expected a number"),
            (
                r#"label_replace(rate({s="x"}[5m]), "a", "b", "c", "(unclosed")"#,
                "invalid regular expression",
            ),
            (r#"rate({s="x"}[5m] offset)"#, "expected a duration"),
            (r#"{s="x"} |= ip("10.0.0.0/8""#, "closing ip"),
        ] {
            let e = check(q).expect_err(q);
            assert!(e.to_string().contains(want), "{q}: {e}");
        }
        assert_eq!(check(r#"{a="x"} | jsn"#).unwrap_err().offset, 10);
    }
}
