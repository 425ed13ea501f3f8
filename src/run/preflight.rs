//! Before anything starts: can the chosen provider inject every fault the
//! scenario asks for? A stack the harness did not start takes only the
//! mocks' knobs (the same message the decoder gives); a stack the harness
//! starts takes a fault only where this machine can carry it out. Each
//! refusal is an input error at the fault's line.

use crate::input::Diagnostics;
use crate::scenario::Scenario;
use crate::stack::{self, Provider};

pub(super) fn check(scenario: &Scenario, provider: Provider) -> Result<(), Diagnostics> {
    let mut d = Diagnostics::default();
    for f in &scenario.faults {
        let refusal = match provider {
            Provider::External => f.external_refusal(),
            Provider::Native | Provider::Docker => {
                stack::native::can_fault(f.machine_target(), provider == Provider::Docker)
                    .err()
                    .map(|why| {
                        format!(
                            "{} on {:?} cannot run here: {why}",
                            f.kind.name(),
                            f.target.value
                        )
                    })
            }
        };
        if let Some(why) = refusal {
            d.push(&scenario.file, f.target.pos, &f.target.field, why);
        }
    }
    if d.is_empty() { Ok(()) } else { Err(d) }
}
