//! `kind: exec` faults: the `inject`, `revert` and `check` commands (each
//! an argv list, or `{argv, timeout}`), their environment (`env`,
//! `pass_env`), and how the effect is seen (`effect`, `effect_within`);
//! and the drill's `halt_when:` conditions.

use super::*;
use crate::input::decode::join;
use crate::input::{MapReader, NodeKind};

/// The longest an `exec` command or `effect_within` may be.
const MAX_WAIT: Duration = Duration::from_secs(3600);
/// Variables the harness sets for every command.
const RESERVED: &[&str] = &[
    "ZETA_FAULT",
    "ZETA_TARGET",
    "ZETA_TARGET_URL",
    "ZETA_RUN_DIR",
];
/// What `effect:` may say.
const EFFECTS: &str =
    "`down`, `check`, or a mapping with one of `promql`, `error_ratio`, `latency`";

pub(super) fn decode_exec(dec: &mut Decoder, m: &mut MapReader<'_>) -> Option<ExecFault> {
    let inject = m
        .required(dec, "inject")
        .and_then(|n| command(dec, n, &m.path("inject")));
    let revert = m
        .required(dec, "revert")
        .and_then(|n| command(dec, n, &m.path("revert")));
    let check = match m.get("check") {
        Some(n) => Some(command(dec, n, &m.path("check"))?),
        None => None,
    };
    let env = match m.get("env") {
        Some(n) => env(dec, n, &m.path("env"))?,
        None => Vec::new(),
    };
    let pass_env = match m.get("pass_env") {
        Some(n) => pass_env(dec, n, &m.path("pass_env"))?,
        None => Vec::new(),
    };
    let effect = match m.get("effect") {
        Some(n) => effect(dec, n, &m.path("effect"), check.is_some())?,
        None if check.is_some() => Effect::Check,
        None => Effect::Down,
    };
    let effect_within = match m.get("effect_within") {
        Some(n) => wait(dec, n, &m.path("effect_within"))?,
        None => EFFECT_WITHIN,
    };
    Some(ExecFault {
        inject: inject?,
        revert: revert?,
        check,
        env,
        pass_env,
        effect,
        effect_within,
    })
}

/// `[argv…]` or `{argv: […], timeout: 30s}`.
fn command(dec: &mut Decoder, node: &Node, field: &str) -> Option<ExecCommand> {
    match &node.kind {
        NodeKind::Seq(_) => Some(ExecCommand {
            argv: argv(dec, node, field)?,
            timeout: EXEC_TIMEOUT,
        }),
        NodeKind::Map(_) => {
            let mut m = dec.map(node, field)?;
            let argv = m
                .required(dec, "argv")
                .and_then(|n| argv(dec, n, &m.path("argv")));
            let timeout = match m.get("timeout") {
                Some(n) => wait(dec, n, &m.path("timeout")),
                None => Some(EXEC_TIMEOUT),
            };
            m.finish(dec);
            Some(ExecCommand {
                argv: argv?,
                timeout: timeout?,
            })
        }
        _ => {
            dec.error(
                node.pos,
                field,
                format!(
                    "expected a command as a list of arguments, run without a shell (e.g. [\"systemctl\", \"stop\", \"backend-api\"]; for a shell, [\"sh\", \"-c\", \"…\"]), or {{argv: […], timeout: 30s}}; found {}",
                    node.describe()
                ),
            );
            None
        }
    }
}

fn argv(dec: &mut Decoder, node: &Node, field: &str) -> Option<Vec<String>> {
    let NodeKind::Seq(items) = &node.kind else {
        dec.error(
            node.pos,
            field,
            format!("expected a list of arguments, found {}", node.describe()),
        );
        return None;
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let arg = dec.string(item, &format!("{field}[{i}]"))?;
        if arg.contains('\0') {
            dec.error(
                item.pos,
                &format!("{field}[{i}]"),
                "an argument cannot hold a NUL byte",
            );
            return None;
        }
        out.push(arg);
    }
    match out.first() {
        Some(program) if !program.trim().is_empty() => Some(out),
        _ => {
            dec.error(
                node.pos,
                field,
                "expected a program and its arguments, found an empty command",
            );
            None
        }
    }
}

/// A timeout or wait: above 0, at most an hour.
fn wait(dec: &mut Decoder, node: &Node, field: &str) -> Option<Duration> {
    let d = dec.duration(node, field)?.value;
    if d.is_zero() || d > MAX_WAIT {
        dec.error(
            node.pos,
            field,
            format!(
                "expected a duration above 0 and at most 1h, found {}",
                crate::input::units::human_duration(d)
            ),
        );
        return None;
    }
    Some(d)
}

fn env_name(dec: &mut Decoder, name: &str, pos: crate::input::Pos, field: &str) -> bool {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        dec.error(
            pos,
            field,
            format!("expected an environment variable name (letters, digits, _), found {name:?}"),
        );
    } else if RESERVED.contains(&name) {
        dec.error(
            pos,
            field,
            format!("{name} is set by zeta-bench for every command; choose another name"),
        );
    }
    valid && !RESERVED.contains(&name)
}

fn env(dec: &mut Decoder, node: &Node, field: &str) -> Option<Vec<(String, String)>> {
    let vars = dec.string_map(node, field)?;
    let ok = vars
        .iter()
        .map(|(k, _)| env_name(dec, k, node.pos, &join(field, k)))
        .fold(true, |a, b| a & b);
    ok.then_some(vars)
}

fn pass_env(dec: &mut Decoder, node: &Node, field: &str) -> Option<Vec<String>> {
    let items = dec.seq(node, field)?;
    let mut names = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let name = dec.string(item, &f)?;
        if !env_name(dec, &name, item.pos, &f) {
            return None;
        }
        names.push(name);
    }
    Some(names)
}

fn effect(dec: &mut Decoder, node: &Node, field: &str, has_check: bool) -> Option<Effect> {
    match &node.kind {
        NodeKind::Scalar { text, .. } if text == "down" => Some(Effect::Down),
        NodeKind::Scalar { text, .. } if text == "check" && has_check => Some(Effect::Check),
        NodeKind::Scalar { text, .. } if text == "check" => {
            dec.error(node.pos, field, "effect: check needs a `check` command");
            None
        }
        NodeKind::Map(entries) if entries.len() == 1 => {
            let before = dec.error_count();
            let mut m = dec.map(node, field)?;
            let effect = if let Some(n) = m.get("promql") {
                promql(dec, n, &m.path("promql")).map(Effect::Promql)
            } else if let Some(n) = m.get("error_ratio") {
                error_ratio(dec, n, &m.path("error_ratio")).map(Effect::ErrorRatio)
            } else if let Some(n) = m.get("latency") {
                wait(dec, n, &m.path("latency")).map(Effect::Latency)
            } else {
                None
            };
            m.finish(dec);
            if effect.is_none() && dec.error_count() == before {
                dec.error(node.pos, field, format!("expected {EFFECTS}"));
            }
            effect
        }
        _ => {
            dec.error(
                node.pos,
                field,
                format!("expected {EFFECTS}, found {}", node.describe()),
            );
            None
        }
    }
}

/// A ratio above 0 %, as `error_ratio:` takes it.
fn error_ratio(dec: &mut Decoder, node: &Node, field: &str) -> Option<f64> {
    match dec.percent(node, field)? {
        r if r > 0.0 => Some(r),
        _ => {
            dec.error(node.pos, field, "expected a ratio above 0%, found 0%");
            None
        }
    }
}

/// A PromQL expression Prometheus would parse, within the nesting bounds.
fn promql(dec: &mut Decoder, node: &Node, field: &str) -> Option<String> {
    let q = dec.string(node, field)?;
    let parsed = crate::input::nesting::check(&q)
        .and_then(|()| promql_parser::parser::parse(&q).map(|_| ()));
    match parsed {
        Ok(()) => Some(q),
        Err(e) => {
            dec.error(
                node.pos,
                field,
                format!("not a PromQL expression Prometheus would parse: {e}"),
            );
            None
        }
    }
}

/// `halt_when:` a list of conditions, each a PromQL expression (a string,
/// or `{promql: …}`) or `{error_ratio: 50%}`.
pub(super) fn decode_halt(dec: &mut Decoder, node: &Node) -> Option<Vec<Located<Halt>>> {
    let items = dec.seq(node, "halt_when")?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("halt_when[{i}]");
        let before = dec.error_count();
        let halt = match &item.kind {
            NodeKind::Scalar { .. } => promql(dec, item, &field).map(Halt::Promql),
            NodeKind::Map(entries) if entries.len() == 1 => {
                let mut m = dec.map(item, &field)?;
                let h = if let Some(n) = m.get("promql") {
                    promql(dec, n, &m.path("promql")).map(Halt::Promql)
                } else if let Some(n) = m.get("error_ratio") {
                    error_ratio(dec, n, &m.path("error_ratio")).map(Halt::ErrorRatio)
                } else {
                    None
                };
                m.finish(dec);
                h
            }
            _ => None,
        };
        match halt {
            Some(h) => out.push(Located::new(h, item.pos, field)),
            None => {
                if dec.error_count() == before {
                    dec.error(
                        item.pos,
                        &field,
                        format!(
                            "expected a PromQL expression, {{promql: …}} or {{error_ratio: 50%}}, found {}",
                            item.describe()
                        ),
                    );
                }
                return None;
            }
        }
    }
    Some(out)
}
