//! Traces: did every request the load sent leave a complete trace
//! ([`traces`])? Looked up by trace id in Jaeger's query API ([`api`]) or,
//! without Jaeger, in the harness's own OTLP receiver.

pub mod api;
pub mod traces;
