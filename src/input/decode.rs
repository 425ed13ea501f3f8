//! Decoding a [`Node`] tree into typed values while collecting every problem.
//!
//! Each accessor returns `Option<T>`: `None` means a diagnostic was recorded
//! and the caller should carry on with the next field, so one pass reports
//! everything wrong with a file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::diag::{Diagnostics, Located};
use super::units;
use super::yaml::{Node, NodeKind, Pos};

pub struct Decoder {
    file: PathBuf,
    diags: Diagnostics,
}

impl Decoder {
    pub fn new(file: &Path) -> Self {
        Decoder {
            file: file.to_path_buf(),
            diags: Diagnostics::default(),
        }
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn error(&mut self, pos: Pos, field: &str, message: impl Into<String>) {
        self.diags.push(&self.file, pos, field, message);
    }

    fn expected(&mut self, node: &Node, field: &str, what: &str) {
        self.error(
            node.pos,
            field,
            format!("expected {what}, found {}", node.describe()),
        );
    }

    pub fn into_diagnostics(self) -> Diagnostics {
        self.diags
    }

    pub fn has_errors(&self) -> bool {
        !self.diags.is_empty()
    }

    /// How many problems so far: a caller that adds a general message only
    /// when a part it read said nothing compares two counts.
    pub fn error_count(&self) -> usize {
        self.diags.len()
    }

    pub fn map<'n>(&mut self, node: &'n Node, field: &str) -> Option<MapReader<'n>> {
        match &node.kind {
            NodeKind::Map(entries) => {
                let mut seen: Vec<&str> = Vec::new();
                for (k, _) in entries {
                    if let Some(key) = scalar_text(k) {
                        if seen.contains(&key) {
                            self.error(k.pos, &join(field, key), "this field is given twice");
                        }
                        seen.push(key);
                    }
                }
                Some(MapReader {
                    field: field.to_string(),
                    pos: node.pos,
                    entries,
                    used: vec![false; entries.len()],
                    asked: Vec::new(),
                })
            }
            _ => {
                self.expected(node, field, "a mapping");
                None
            }
        }
    }

    pub fn seq<'n>(&mut self, node: &'n Node, field: &str) -> Option<&'n [Node]> {
        match &node.kind {
            NodeKind::Seq(items) => Some(items),
            _ => {
                self.expected(node, field, "a list");
                None
            }
        }
    }

    pub fn string(&mut self, node: &Node, field: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar { text, .. } if !node.is_null() => Some(text.clone()),
            _ => {
                self.expected(node, field, "a string");
                None
            }
        }
    }

    pub fn bool(&mut self, node: &Node, field: &str) -> Option<bool> {
        match &node.kind {
            NodeKind::Scalar {
                text,
                quoted: false,
            } if text == "true" || text == "false" => Some(text == "true"),
            _ => {
                self.expected(node, field, "true or false");
                None
            }
        }
    }

    pub fn u64(&mut self, node: &Node, field: &str) -> Option<u64> {
        match &node.kind {
            NodeKind::Scalar {
                text,
                quoted: false,
            } => match text.replace('_', "").parse() {
                Ok(n) => Some(n),
                Err(_) => {
                    self.expected(node, field, "a whole number");
                    None
                }
            },
            _ => {
                self.expected(node, field, "a whole number");
                None
            }
        }
    }

    /// `read` the field when it is written, else `default`: what an absent
    /// field means is said once, beside the reader of a present one.
    pub fn or<'n, T>(
        &mut self,
        node: Option<&'n Node>,
        default: T,
        read: impl FnOnce(&mut Self, &'n Node) -> Option<T>,
    ) -> Option<T> {
        match node {
            Some(n) => read(self, n),
            None => Some(default),
        }
    }

    /// A whole number within `range`; outside it, the error `refuse(n)`
    /// at the node (which says what was expected and what was found).
    pub fn u64_in(
        &mut self,
        node: &Node,
        field: &str,
        range: std::ops::RangeInclusive<u64>,
        refuse: impl FnOnce(u64) -> String,
    ) -> Option<u64> {
        let n = self.u64(node, field)?;
        if range.contains(&n) {
            return Some(n);
        }
        self.error(node.pos, field, refuse(n));
        None
    }

    pub fn f64(&mut self, node: &Node, field: &str) -> Option<f64> {
        match &node.kind {
            NodeKind::Scalar {
                text,
                quoted: false,
            } => match text.parse::<f64>() {
                Ok(n) if n.is_finite() => Some(n),
                _ => {
                    self.expected(node, field, "a number");
                    None
                }
            },
            _ => {
                self.expected(node, field, "a number");
                None
            }
        }
    }

    pub fn duration(&mut self, node: &Node, field: &str) -> Option<Located<Duration>> {
        let NodeKind::Scalar { text, .. } = &node.kind else {
            self.expected(node, field, units::DURATION_EXPECTED);
            return None;
        };
        match units::parse_duration_checked(text) {
            Ok(d) => Some(Located::new(d, node.pos, field)),
            Err(why) => {
                self.error(node.pos, field, why);
                None
            }
        }
    }

    pub fn rate(&mut self, node: &Node, field: &str) -> Option<units::Rate> {
        let parsed = match &node.kind {
            NodeKind::Scalar { text, .. } => units::parse_rate(text),
            _ => None,
        };
        match parsed {
            None => self.expected(node, field, units::RATE_EXPECTED),
            Some(r) if r.per_second > units::MAX_ENGINE_RATE * 1000.0 => {
                self.error(
                    node.pos,
                    field,
                    format!(
                        "{:.0} requests/s is beyond any load test; expected at most {:.0}/s per engine (split larger loads with `zeta-bench load --shard i/N`)",
                        r.per_second,
                        units::MAX_ENGINE_RATE
                    ),
                );
                return None;
            }
            Some(_) => {}
        }
        parsed
    }

    pub fn percent(&mut self, node: &Node, field: &str) -> Option<f64> {
        let parsed = match &node.kind {
            NodeKind::Scalar { text, .. } => units::parse_percent(text),
            _ => None,
        };
        if parsed.is_none() {
            self.expected(node, field, units::PERCENT_EXPECTED);
        }
        parsed
    }

    /// A list of strings, or a single string meaning a list of one.
    pub fn strings(&mut self, node: &Node, field: &str) -> Option<Vec<String>> {
        match &node.kind {
            NodeKind::Seq(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    out.push(self.string(item, &format!("{field}[{i}]"))?);
                }
                Some(out)
            }
            _ => self.string(node, field).map(|s| vec![s]),
        }
    }

    /// A mapping of string keys to string values (label sets).
    pub fn string_map(&mut self, node: &Node, field: &str) -> Option<Vec<(String, String)>> {
        let NodeKind::Map(entries) = &node.kind else {
            self.expected(node, field, "a mapping of names to values");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (k, v) in entries {
            let key = self.string(k, field);
            let value = key
                .as_ref()
                .and_then(|key| self.string(v, &join(field, key)));
            match (key, value) {
                (Some(k), Some(v)) => out.push((k, v)),
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// One of a fixed set of words.
    pub fn one_of(&mut self, node: &Node, field: &str, choices: &[&str]) -> Option<String> {
        let s = self.string(node, field)?;
        if choices.contains(&s.as_str()) {
            Some(s)
        } else {
            self.error(
                node.pos,
                field,
                format!("expected one of {}, found {s:?}", quote_list(choices)),
            );
            None
        }
    }
}

/// Fields of one mapping. Keys that were never asked for are reported as
/// unknown by [`MapReader::finish`].
pub struct MapReader<'n> {
    field: String,
    pos: Pos,
    entries: &'n [(Node, Node)],
    used: Vec<bool>,
    asked: Vec<&'static str>,
}

impl<'n> MapReader<'n> {
    pub fn pos(&self) -> Pos {
        self.pos
    }

    /// The dotted path of a child field, for diagnostics.
    pub fn path(&self, key: &str) -> String {
        join(&self.field, key)
    }

    pub fn get(&mut self, key: &'static str) -> Option<&'n Node> {
        if !self.asked.contains(&key) {
            self.asked.push(key);
        }
        let i = self
            .entries
            .iter()
            .position(|(k, _)| scalar_text(k) == Some(key))?;
        self.used[i] = true;
        let value = &self.entries[i].1;
        (!value.is_null()).then_some(value)
    }

    pub fn required(&mut self, dec: &mut Decoder, key: &'static str) -> Option<&'n Node> {
        let v = self.get(key);
        if v.is_none() {
            dec.error(self.pos, &self.path(key), "this field is required");
        }
        v
    }

    /// Report every key that no `get` asked for.
    pub fn finish(self, dec: &mut Decoder) {
        for (i, (k, _)) in self.entries.iter().enumerate() {
            if self.used[i] {
                continue;
            }
            let name = scalar_text(k).unwrap_or("?");
            let mut msg = format!("unknown field {name:?}");
            if let Some(close) = closest(name, &self.asked) {
                msg.push_str(&format!(" (did you mean {close:?}?)"));
            }
            msg.push_str(&format!("; expected one of {}", quote_list(&self.asked)));
            dec.error(k.pos, &join(&self.field, name), msg);
        }
    }
}

fn scalar_text(node: &Node) -> Option<&str> {
    match &node.kind {
        NodeKind::Scalar { text, .. } => Some(text),
        _ => None,
    }
}

pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn quote_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The choice within edit distance 2 of `word`, if any.
fn closest<'a>(word: &str, choices: &[&'a str]) -> Option<&'a str> {
    choices
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::super::yaml;
    use super::*;

    #[test]
    fn collects_every_problem_with_positions() {
        let doc = yaml::parse("name: x\nduraton: 5m\nrate: fast\nlist: 3\n").unwrap();
        let mut dec = Decoder::new(Path::new("s.yml"));
        let mut m = dec.map(&doc, "").unwrap();
        let _ = m.get("name");
        let _ = m.get("duration");
        if let Some(r) = m.get("rate") {
            dec.rate(r, "rate");
        }
        if let Some(l) = m.get("list") {
            dec.seq(l, "list");
        }
        m.finish(&mut dec);
        let text = dec.into_diagnostics().sorted().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with(
                "s.yml:2:1: duraton: unknown field \"duraton\" (did you mean \"duration\"?)"
            ),
            "{text}"
        );
        assert!(
            lines[1].starts_with("s.yml:3:7: rate: expected a rate"),
            "{text}"
        );
        assert!(lines[1].ends_with("found \"fast\""), "{text}");
        assert_eq!(lines[2], "s.yml:4:7: list: expected a list, found \"3\"");
    }

    #[test]
    fn duplicate_keys_and_missing_required_fields() {
        let doc = yaml::parse("a: 1\na: 2\n").unwrap();
        let mut dec = Decoder::new(Path::new("f.yml"));
        let mut m = dec.map(&doc, "top").unwrap();
        let _ = m.get("a");
        assert!(m.required(&mut dec, "b").is_none());
        m.finish(&mut dec);
        let text = dec.into_diagnostics().to_string();
        assert!(
            text.contains("f.yml:2:1: top.a: this field is given twice"),
            "{text}"
        );
        assert!(text.contains("top.b: this field is required"), "{text}");
    }
}
