//! Scenario YAML → [`Scenario`], collecting every problem.

use std::path::{Path, PathBuf};

use super::*;
use crate::input::{Decoder, Diagnostics, Located, Node, yaml};

mod exec;
mod expect;
#[cfg(test)]
mod external_tests;
mod faults;
mod load;
mod network;
mod stack;
#[cfg(test)]
mod tests;
mod trials;

use expect::decode_expect;
use faults::{check_faults_fit, check_provider_can_inject, decode_faults};
use load::{decode_load, decode_tenants};
use stack::decode_stack;
use trials::decode_trials;

pub fn parse_scenario(file: &Path, text: &str) -> Result<Scenario, Diagnostics> {
    let root = yaml::parse(text).map_err(|(pos, msg)| {
        let mut d = Diagnostics::default();
        d.push(file, pos, "", format!("invalid YAML: {msg}"));
        d
    })?;
    let mut dec = Decoder::new(file);
    let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    let scenario = decode_root(&mut dec, &root, &base);
    match scenario {
        Some(s) if !dec.has_errors() => Ok(s),
        _ => Err(dec.into_diagnostics().sorted()),
    }
}

fn decode_root(dec: &mut Decoder, root: &Node, base: &Path) -> Option<Scenario> {
    let mut m = dec.map(root, "")?;
    let name = m.required(dec, "name").and_then(|n| dec.string(n, "name"));
    let description = m
        .get("description")
        .and_then(|n| dec.string(n, "description"))
        .unwrap_or_default();
    let stack = decode_stack(dec, m.get("stack"), base, m.pos());
    let target = m.get("target").and_then(|n| {
        let u = dec.string(n, "target")?;
        match crate::scenario::check_target_url(&u) {
            Ok(()) => Some(Located::new(u, n.pos, "target")),
            Err(e) => {
                dec.error(n.pos, "target", e);
                None
            }
        }
    });
    // Plain load (`target:`) needs no SLO file.
    let slo = match (m.get("slo"), &target) {
        (Some(n), _) => dec
            .string(n, "slo")
            .map(|s| Located::new(base.join(s), n.pos, "slo")),
        (None, Some(t)) => Some(Located::new(PathBuf::new(), t.pos, "slo")),
        (None, None) => {
            dec.error(
                m.pos(),
                "slo",
                "this field is required (or give `target:` for plain load with `zeta-bench load`)",
            );
            None
        }
    };
    let tenants = decode_tenants(dec, m.get("tenants"));
    let load = m.required(dec, "load").and_then(|n| decode_load(dec, n));
    let faults = match m.get("faults") {
        Some(n) => decode_faults(dec, n),
        None => Some(Vec::new()),
    };
    let expect = decode_expect(dec, m.get("expect"), faults.as_deref());
    let trials = match m.get("trials") {
        Some(n) => decode_trials(dec, n),
        None => Some(Trials::default()),
    };
    let halt_when = match m.get("halt_when") {
        Some(n) => exec::decode_halt(dec, n),
        None => Some(Vec::new()),
    };
    m.finish(dec);

    let (load, faults) = (load?, faults?);
    check_faults_fit(dec, &faults, &load);
    if let Some(st) = &stack {
        check_provider_can_inject(dec, st, &faults);
    }
    if let Some(t) = &tenants {
        for p in &load.phases {
            if let Some(s) = &p.surge {
                let ok = s
                    .value
                    .tenant
                    .strip_prefix("tenant_")
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| {
                        (1..=t.count).contains(&n) && super::tenant_name(n) == s.value.tenant
                    });
                if !ok {
                    dec.error(
                        s.pos,
                        &format!("{}.tenant", s.field),
                        format!(
                            "expected one of tenant_001 … {}, found {:?}",
                            super::tenant_name(t.count),
                            s.value.tenant
                        ),
                    );
                }
            }
        }
    }
    Some(Scenario {
        file: dec.file().to_path_buf(),
        name: name?,
        description,
        stack: stack?,
        target,
        slo: slo?,
        tenants: tenants?,
        load,
        faults,
        expect: expect?,
        trials: trials?,
        halt_when: halt_when?,
    })
}
