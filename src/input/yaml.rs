//! A YAML document as a tree of nodes that remember their line and column.
//!
//! Built from yaml-rust2's event stream, which reports a position for every
//! event; serde-based loaders drop that information.
//!
//! Input is hostile until proven otherwise (scenarios come from pull
//! requests): aliases are expanded by copying, so a few lines of nested
//! aliases ("billion laughs") could ask for gigabytes. The builder counts
//! the nodes aliases add and refuses a document whose aliases add more
//! than [`MAX_EXPANDED`] beyond the nodes written in it, naming the anchor
//! being expanded: a bomb needs exponential growth, an honest file copies
//! a few blocks. Written nodes are bounded by [`MAX_NODES`], which is far
//! above what real rule sets need (10,000 rules are about 200,000 nodes),
//! and depth by [`MAX_DEPTH`]. After the first error it stops building,
//! so the work stays linear in the input's size.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// 1-based line and column in the source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        Pos {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar as written. `quoted` scalars are always strings; plain ones
    /// may be numbers, booleans or null, which the decoder decides by type.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    /// Keys keep their own positions so that unknown fields can be pointed at.
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub pos: Pos,
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, quoted: false } if text.is_empty() || text == "~" || text == "null")
    }

    /// What kind of value this is, in words, for "expected X, found Y".
    pub fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Scalar { text, .. } if self.is_null() && text.is_empty() => "nothing".into(),
            NodeKind::Scalar { text, .. } => format!("{text:?}"),
            NodeKind::Seq(_) => "a list".into(),
            NodeKind::Map(_) => "a mapping".into(),
        }
    }
}

/// Most nodes a document may hold, aliases included: a scenario has a few
/// hundred, a team's 10,000 rules about 200,000; at about 100 bytes a
/// node this bounds a document's tree near 200 MB.
pub const MAX_NODES: usize = 2_000_000;
/// Most nodes aliases may add beyond the nodes written in the document.
pub const MAX_EXPANDED: usize = 100_000;
/// Deepest nesting of lists and mappings.
pub const MAX_DEPTH: usize = 64;

/// Parse one YAML document. An empty document is an empty mapping.
pub fn parse(text: &str) -> Result<Node, (Pos, String)> {
    let mut builder = Builder {
        anchor_names: anchor_names(text),
        ..Builder::default()
    };
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| {
        let m = *e.marker();
        (Pos::from(m), e.info().to_string())
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.root.unwrap_or(Node {
        kind: NodeKind::Map(Vec::new()),
        pos: Pos { line: 1, column: 1 },
    }))
}

enum Frame {
    Seq(Pos, Vec<Node>, usize),
    Map(Pos, Vec<(Node, Node)>, Option<Node>, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    /// Each anchor's node and how many nodes it holds.
    anchors: HashMap<usize, (Node, usize)>,
    /// Anchor names in the order they appear (ids count from 1).
    anchor_names: Vec<String>,
    /// Nodes created so far, expansions included.
    nodes: usize,
    /// Of those, the nodes aliases added.
    expanded: usize,
    error: Option<(Pos, String)>,
}

/// The names of `&anchor`s in order of appearance, for messages.
fn anchor_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices('&') {
        let name: String = text[i + 1..]
            .chars()
            .take_while(|c| !c.is_whitespace() && !",[]{}".contains(*c))
            .collect();
        let starts_token =
            i == 0 || bytes[i - 1].is_ascii_whitespace() || b"[{,:-".contains(&bytes[i - 1]);
        if !name.is_empty() && starts_token {
            out.push(name);
        }
    }
    out
}

/// How many nodes a tree holds.
fn size(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar { .. } => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| size(k) + size(v))
                .sum::<usize>()
        }
    }
}

impl Builder {
    fn anchor_name(&self, id: usize) -> String {
        self.anchor_names
            .get(id.wrapping_sub(1))
            .map(|n| format!("&{n}"))
            .unwrap_or_else(|| format!("anchor #{id}"))
    }

    fn alias(&mut self, id: usize, pos: Pos) {
        let Some((node, n)) = self.anchors.get(&id) else {
            self.error = Some((pos, "alias to an unknown anchor".to_string()));
            return;
        };
        let written = self.nodes - self.expanded;
        let budget = MAX_EXPANDED + written;
        if self.expanded + n > budget || self.nodes + n > MAX_NODES {
            self.error = Some((
                pos,
                format!(
                    "aliases of {} expand this document by more than {} nodes ({MAX_EXPANDED} beyond the {written} written so far); refusing it (nested aliases, \"billion laughs\")",
                    self.anchor_name(id),
                    budget.min(MAX_NODES)
                ),
            ));
            return;
        }
        self.nodes += n;
        self.expanded += n;
        let mut node = node.clone();
        node.pos = pos;
        self.finish(node, 0);
    }

    fn open(&mut self, frame: Frame, pos: Pos) {
        if self.stack.len() >= MAX_DEPTH {
            self.error = Some((
                pos,
                format!("lists and mappings nested deeper than {MAX_DEPTH} levels"),
            ));
            return;
        }
        self.stack.push(frame);
    }

    fn finish(&mut self, node: Node, anchor: usize) {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            self.error = Some((
                node.pos,
                format!("more than {MAX_NODES} values in one document"),
            ));
            return;
        }
        if anchor > 0 {
            let n = size(&node);
            self.anchors.insert(anchor, (node.clone(), n));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(_, items, _)) => items.push(node),
            Some(Frame::Map(_, entries, key, _)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = Pos::from(mark);
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.finish(
                    Node {
                        kind: NodeKind::Scalar { text, quoted },
                        pos,
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => self.open(Frame::Seq(pos, Vec::new(), anchor), pos),
            Event::MappingStart(anchor, _) => {
                self.open(Frame::Map(pos, Vec::new(), None, anchor), pos)
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(p, items, anchor)) = self.stack.pop() {
                    self.finish(
                        Node {
                            kind: NodeKind::Seq(items),
                            pos: p,
                        },
                        anchor,
                    );
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(p, entries, _, anchor)) = self.stack.pop() {
                    self.finish(
                        Node {
                            kind: NodeKind::Map(entries),
                            pos: p,
                        },
                        anchor,
                    );
                }
            }
            Event::Alias(id) => self.alias(id, pos),
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_aliases_are_refused_naming_the_anchor() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let started = std::time::Instant::now();
        let (pos, msg) = parse(&doc).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(msg.contains("billion laughs"), "{msg}");
        assert!(msg.contains("aliases of &a"), "{msg}");
        assert!(pos.line >= 5, "{pos:?}");
    }

    #[test]
    fn a_team_sized_rule_file_is_not_a_bomb() {
        // 10,000 rules, about 200,000 nodes written, a shared block aliased
        // into each: the size of an honest file is no reason to refuse it.
        let mut doc = String::from(
            "defaults: &d {severity: warning, team: sre}\ngroups:\n- name: g\n  rules:\n",
        );
        for i in 0..10_000 {
            doc.push_str(&format!(
                "  - alert: A{i}\n    expr: up{{job=\"j{i}\"}} == 0\n    for: 5m\n    labels: *d\n    annotations: {{summary: s, description: d}}\n"
            ));
        }
        assert!(doc.len() > 1_000_000);
        parse(&doc).unwrap();
    }

    #[test]
    fn a_few_aliases_still_work() {
        let n = parse("base: &b {x: 1}\nuse: *b\n").unwrap();
        let NodeKind::Map(entries) = &n.kind else {
            panic!("not a map")
        };
        assert_eq!(entries[1].1.pos, Pos { line: 2, column: 6 });
        assert!(matches!(entries[1].1.kind, NodeKind::Map(_)));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let doc = format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse(&format!("a: {}{}\n", "[".repeat(70), "]".repeat(70))).is_err());
        let (_, msg) = parse(&doc).unwrap_err();
        // yaml-rust2's own recursion limit, or ours: either way refused.
        assert!(
            msg.contains("nested deeper than 64") || msg.contains("recursion limit"),
            "{msg}"
        );
    }

    #[test]
    fn positions_are_one_based_and_point_at_values() {
        let n = parse("a: 1\nb:\n  - x\n  - {c: \"d\"}\n").unwrap();
        let NodeKind::Map(entries) = &n.kind else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0.pos, Pos { line: 1, column: 1 });
        assert_eq!(entries[0].1.pos, Pos { line: 1, column: 4 });
        let NodeKind::Seq(items) = &entries[1].1.kind else {
            panic!("not a seq")
        };
        assert_eq!(items[0].pos, Pos { line: 3, column: 5 });
        let NodeKind::Map(inner) = &items[1].kind else {
            panic!("not a map")
        };
        assert_eq!(
            inner[0].1.kind,
            NodeKind::Scalar {
                text: "d".into(),
                quoted: true
            }
        );
        assert_eq!(inner[0].0.pos, Pos { line: 4, column: 6 });
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let (pos, msg) = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(pos.line >= 1, "{pos:?}");
        assert!(!msg.is_empty());
    }

    #[test]
    fn aliases_resolve_to_their_anchor() {
        let n = parse("a: &x {k: 1}\nb: *x\n").unwrap();
        let NodeKind::Map(entries) = &n.kind else {
            panic!()
        };
        assert!(matches!(entries[1].1.kind, NodeKind::Map(_)));
    }
}

/// One step of a path into a document: a mapping key or a list index.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

impl Node {
    /// The node at `path`, or the deepest node on the way there. Used to put
    /// a position on a problem found in a serde-decoded value.
    pub fn locate(&self, path: &[Step<'_>]) -> Pos {
        let mut node = self;
        for step in path {
            let next = match (step, &node.kind) {
                (Step::Key(k), NodeKind::Map(entries)) => entries
                    .iter()
                    .find(
                        |(key, _)| matches!(&key.kind, NodeKind::Scalar { text, .. } if text == k),
                    )
                    .map(|(_, v)| v),
                (Step::Index(i), NodeKind::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node.pos
    }
}
