//! Logs: the services' log lines checked against the seed's format
//! without Loki ([`logs`]), and where Loki runs, the SLO file's LogQL
//! searches timed under load and completeness checked ([`logsearch`],
//! through Loki's query API, [`api`]).

pub mod api;
pub mod logs;
pub mod logsearch;
