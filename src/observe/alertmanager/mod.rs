//! Alertmanager and what it delivered: the harness's own receivers record
//! every notification as it arrives ([`receiver`], at [`destination`]s);
//! [`attribution`] works out which alert instances each one carried;
//! [`inhibitions`] polls `/api/v2/alerts` for suppressed alerts; and
//! [`failures`] reads Alertmanager's own failed-notification counters.

pub mod attribution;
pub mod destination;
pub mod failures;
pub mod inhibitions;
pub mod receiver;
