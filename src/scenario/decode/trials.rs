//! `trials:`: a count (`trials: 10`) or a count with the seed of the
//! offsets and the trials' real-time spacing (`trials: { count: 10, seed:
//! 7, every: 20m }`), range-checked.

use super::*;
use crate::input::yaml::NodeKind;

pub(super) fn decode_trials(dec: &mut Decoder, node: &Node) -> Option<Trials> {
    if let NodeKind::Scalar { .. } = &node.kind {
        let count = count(dec, node, "trials")?;
        return Some(Trials {
            count,
            ..Trials::default()
        });
    }
    let mut m = dec.map(node, "trials")?;
    let count = m
        .required(dec, "count")
        .and_then(|n| count(dec, n, "trials.count"));
    let seed = match m.get("seed") {
        Some(n) => dec.u64(n, "trials.seed"),
        None => Some(Trials::default().seed),
    };
    let every = match m.get("every") {
        Some(n) => dec.duration(n, "trials.every").map(Some),
        None => Some(None),
    };
    m.finish(dec);
    Some(Trials {
        count: count?,
        seed: seed?,
        every: every?,
    })
}

fn count(dec: &mut Decoder, node: &Node, field: &str) -> Option<Located<u32>> {
    let n = dec.u64_in(node, field, 1..=u64::from(MAX_TRIALS), |n| {
        format!("expected a number of trials from 1 to {MAX_TRIALS}, found {n}")
    })?;
    Some(Located::new(n as u32, node.pos, field))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::scenario::parse_scenario;

    fn with(trials: &str) -> Result<crate::scenario::Scenario, String> {
        parse_scenario(
            Path::new("s.yml"),
            &format!(
                "name: t\nslo: s.yml\nload:\n  phases:\n    - {{duration: 1m, rate: 5/s}}\n  mix: [{{request: GET /}}]\n{trials}"
            ),
        )
        .map_err(|d| d.to_string())
    }

    #[test]
    fn a_count_or_a_count_with_a_seed() {
        let s = with("").unwrap();
        assert_eq!((s.trials.count.value, s.trials.seed), (1, 1));
        let s = with("trials: 10\n").unwrap();
        assert_eq!((s.trials.count.value, s.trials.seed), (10, 1));
        let s = with("trials: { count: 4, seed: 99 }\n").unwrap();
        assert_eq!((s.trials.count.value, s.trials.seed), (4, 99));
        assert!(s.trials.every.is_none());
        let s = with("trials: { count: 5, every: 20m }\n").unwrap();
        let every = s.trials.every.unwrap();
        assert_eq!(every.value, std::time::Duration::from_secs(1200));
        assert_eq!((every.field.as_str(), every.pos.line), ("trials.every", 7));
        let e = with("trials: { count: 5, every: soon }\n").unwrap_err();
        assert!(e.contains("s.yml:7:"), "{e}");
        assert!(e.contains("trials.every"), "{e}");
    }

    #[test]
    fn refuses_zero_absurd_and_unknown_fields_where_they_are() {
        let e = with("trials: 0\n").unwrap_err();
        assert!(
            e.contains("s.yml:7:9: trials: expected a number of trials from 1 to 100, found 0"),
            "{e}"
        );
        let e = with("trials: 99999999999999999999999\n").unwrap_err();
        assert!(e.contains("trials: expected a whole number"), "{e}");
        let e = with("trials: { count: 3, sed: 1 }\n").unwrap_err();
        assert!(e.contains("trials.sed"), "{e}");
        let e = with("trials: { seed: 1 }\n").unwrap_err();
        assert!(e.contains("trials.count"), "{e}");
    }
}
