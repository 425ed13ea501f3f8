//! A YAML document as a tree of nodes that remember their line and column.
//!
//! Built from yaml-rust2's event stream, which reports a position for every
//! event; serde-based loaders drop that information.

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

/// Parse one YAML document. An empty document is an empty mapping.
pub fn parse(text: &str) -> Result<Node, (Pos, String)> {
    let mut builder = Builder::default();
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
    anchors: HashMap<usize, Node>,
    error: Option<(Pos, String)>,
}

impl Builder {
    fn finish(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
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
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(pos, Vec::new(), anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(pos, Vec::new(), None, anchor))
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
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut node) => {
                    node.pos = pos;
                    self.finish(node, 0);
                }
                None => {
                    self.error
                        .get_or_insert((pos, "alias to an unknown anchor".to_string()));
                }
            },
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
