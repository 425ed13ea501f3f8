//! Prometheus' own view of its rules (`/api/v1/rules`): a rule whose
//! evaluation fails (`health` other than `ok`, with `lastError`) cannot
//! fire, so a run whose rules error is not a test of the stack's alerting.
//! Read once after the load; the verdict fails on any such rule.

use std::time::Duration;

use serde_json::Value;

use crate::http::endpoint::{self, Endpoint};

/// `group/rule: health (lastError)` for every rule that is not healthy.
pub fn unhealthy(body: &Value) -> Result<Vec<String>, String> {
    let groups = body["data"]["groups"]
        .as_array()
        .ok_or_else(|| "/api/v1/rules: no data.groups in the answer".to_string())?;
    let mut out = Vec::new();
    for g in groups {
        for r in g["rules"].as_array().into_iter().flatten() {
            let health = r["health"].as_str().unwrap_or("unknown");
            if health != "ok" && health != "unknown" {
                out.push(format!(
                    "{}/{}: health {health}{}",
                    g["name"].as_str().unwrap_or("?"),
                    r["name"].as_str().unwrap_or("?"),
                    r["lastError"]
                        .as_str()
                        .filter(|e| !e.is_empty())
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    Ok(out)
}

/// Ask Prometheus once; a failed lookup is itself reported.
pub async fn check(prometheus: &Endpoint) -> Vec<String> {
    let http = match endpoint::client(Duration::from_secs(10)) {
        Ok(c) => c,
        Err(e) => return vec![format!("/api/v1/rules: {e}")],
    };
    match endpoint::json(prometheus.get(&http, "/api/v1/rules"), "/api/v1/rules").await {
        Ok((s, body)) if s.is_success() => unhealthy(&body).unwrap_or_else(|e| vec![e]),
        Ok((s, _)) => vec![format!("/api/v1/rules: HTTP {s}")],
        Err(e) => vec![e],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_that_fail_to_evaluate_are_named() {
        let body = serde_json::json!({"status": "success", "data": {"groups": [
            {"name": "zeta-api", "rules": [
                {"name": "HighErrorRate", "health": "ok", "lastError": ""},
                {"name": "Broken", "health": "err", "lastError": "found duplicate series for the match group"},
                {"name": "Fresh", "health": "unknown"}
            ]}
        ]}});
        assert_eq!(
            unhealthy(&body).unwrap(),
            vec!["zeta-api/Broken: health err (found duplicate series for the match group)"]
        );
        assert!(unhealthy(&serde_json::json!({"status": "error"})).is_err());
    }
}
