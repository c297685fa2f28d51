//! Predictors from a collector: `collector:URL?device=NAME|ID[&backend=B]
//! [&threads=T][&space=S]` names the newest *fresh* predictor of one cohort
//! of that device (the collector's trainer keeps them, `GET
//! /v1/predictors`); `collector:URL?id=PID` names one version exactly (to
//! reproduce a search). A reader token reads them.
//!
//! The choice is strict, as `frontier train`'s row selection is: when the
//! device has fresh predictors of several backends, thread counts or
//! spaces, the source must say which; when its newest is stale (a runtime
//! change, a canary shift), the error says why instead of handing out a
//! predictor the board no longer matches.

use std::time::Duration;

use serde::Deserialize;

/// A parsed `collector:` predictor source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The collector's base URL.
    pub url: String,
    /// Query pairs, decoded.
    pub query: Vec<(String, String)>,
}

/// Why no predictor came back.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Source(String),
    #[error("{url}: {message}; fix: {fix}")]
    Refused {
        url: String,
        message: String,
        fix: String,
    },
}

const KEYS: [&str; 5] = ["device", "backend", "threads", "space", "id"];

fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("{s}: a % not followed by two hex digits"))?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s}: not UTF-8 once decoded"))
}

impl Source {
    /// Parse what follows `collector:`.
    pub fn parse(rest: &str) -> Result<Source, FetchError> {
        let bad = |m: String| FetchError::Source(m);
        let (url, query) = rest.split_once('?').unwrap_or((rest, ""));
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(bad(format!(
                "collector:{rest}: not a collector URL; fix: collector:http://HOST:8787?device=NAME"
            )));
        }
        let mut pairs = Vec::new();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let (k, v) = (decode(k).map_err(bad)?, decode(v).map_err(bad)?);
            if !KEYS.contains(&k.as_str()) {
                return Err(bad(format!(
                    "collector:{rest}: unknown parameter {k}; fix: use {}",
                    KEYS.join(", ")
                )));
            }
            if v.is_empty() {
                return Err(bad(format!("collector:{rest}: {k} has no value")));
            }
            pairs.push((k, v));
        }
        let has = |k: &str| pairs.iter().any(|(p, _)| p == k);
        if !has("device") && !has("id") {
            return Err(bad(format!(
                "collector:{rest}: which device's predictor? fix: add ?device=NAME (or ?id=PREDICTOR from GET /v1/predictors)"
            )));
        }
        Ok(Source {
            url: url.trim_end_matches('/').to_string(),
            query: pairs,
        })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One entry of `GET /v1/predictors` (the fields read here).
#[derive(Debug, Clone, Deserialize)]
pub struct Listed {
    pub id: String,
    pub cohort_id: String,
    pub cohort: serde_json::Value,
    pub created_at: String,
    pub rows: i64,
    #[serde(default)]
    pub metrics: serde_json::Value,
    pub stale: bool,
    #[serde(default)]
    pub stale_reason: Option<String>,
}

/// A predictor file fetched, and what it is.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub id: String,
    /// The predictor file's JSON.
    pub json: String,
    /// One line for people: id, cohort, rows, cross-validated accuracy.
    pub describe: String,
}

fn cohort_line(c: &serde_json::Value) -> String {
    let s = |k: &str| {
        c.get(k)
            .map(|v| v.to_string().replace('"', ""))
            .unwrap_or_default()
    };
    format!(
        "{} {} {} {} thread(s), agent {}, space {}",
        s("device_id"),
        s("backend"),
        s("backend_version"),
        s("threads"),
        s("agent_version"),
        s("space")
    )
}

fn get_text(
    client: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    query: &[(String, String)],
) -> Result<String, FetchError> {
    let refused = |message: String, fix: &str| FetchError::Refused {
        url: url.to_string(),
        message,
        fix: fix.to_string(),
    };
    let resp = client
        .get(url)
        .query(query)
        .bearer_auth(token)
        .send()
        .map_err(|e| refused(e.to_string(), "check that the collector runs and the URL"))?;
    let status = resp.status().as_u16();
    let text = resp
        .text()
        .map_err(|e| refused(e.to_string(), "retry; the answer was cut off"))?;
    if !(200..300).contains(&status) {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(String::from))
            .unwrap_or_else(|| text.chars().take(200).collect());
        let fix = match status {
            401 | 403 => {
                "use a reader token (FRONTIER_TOKEN; frontier-collector token create --role reader)"
            }
            404 => "check the device name or predictor id (GET /v1/predictors)",
            _ => "check the collector URL",
        };
        return Err(refused(format!("{status}: {message}"), fix));
    }
    Ok(text)
}

/// Fetch the predictor `source` names, with a reader `token`.
pub fn fetch(source: &Source, token: &str) -> Result<Fetched, FetchError> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| FetchError::Source(format!("cannot build the HTTP client: {e}")))?;
    let file = |id: &str| {
        get_text(
            &client,
            &format!("{}/v1/predictors/{id}", source.url),
            token,
            &[],
        )
    };
    if let Some(id) = source.get("id") {
        let json = file(id)?;
        return Ok(Fetched {
            id: id.to_string(),
            json,
            describe: format!("predictor {id} of {}", source.url),
        });
    }
    let mut query: Vec<(String, String)> = source
        .query
        .iter()
        .filter(|(k, _)| k != "id")
        .cloned()
        .collect();
    query.push(("limit".into(), "200".into()));
    let text = get_text(
        &client,
        &format!("{}/v1/predictors", source.url),
        token,
        &query,
    )?;
    let listed: Vec<Listed> = serde_json::from_str(&text).map_err(|e| FetchError::Refused {
        url: source.url.clone(),
        message: format!("GET /v1/predictors: not the list this frontier reads: {e}"),
        fix: "upgrade frontier to read this collector".into(),
    })?;
    let device = source.get("device").unwrap_or_default();
    let chosen = choose(&listed, device, &source.url)?;
    let json = file(&chosen.id)?;
    let m = |k: &str| chosen.metrics.get(k).and_then(|v| v.as_f64());
    Ok(Fetched {
        id: chosen.id.clone(),
        json,
        describe: format!(
            "predictor {} of {} ({} rows, trained {}; cross-validated {:.1}% within ±10%, τ {:.3})",
            chosen.id,
            cohort_line(&chosen.cohort),
            chosen.rows,
            chosen.created_at,
            m("within_10pct").unwrap_or(f64::NAN) * 100.0,
            m("kendall_tau").unwrap_or(f64::NAN),
        ),
    })
}

/// The newest fresh predictor of one cohort among `listed` (newest first).
pub fn choose<'a>(listed: &'a [Listed], device: &str, url: &str) -> Result<&'a Listed, FetchError> {
    let refuse = |message: String, fix: String| FetchError::Refused {
        url: url.to_string(),
        message,
        fix,
    };
    let fresh: Vec<&Listed> = listed.iter().filter(|p| !p.stale).collect();
    let mut cohorts: Vec<&str> = fresh.iter().map(|p| p.cohort_id.as_str()).collect();
    cohorts.sort();
    cohorts.dedup();
    match (fresh.first(), cohorts.len()) {
        (Some(p), 1) => Ok(p),
        (Some(_), n) => {
            let lines: Vec<String> = cohorts
                .iter()
                .map(|c| {
                    let p = fresh.iter().find(|p| p.cohort_id == *c).expect("listed");
                    cohort_line(&p.cohort)
                })
                .collect();
            Err(refuse(
                format!(
                    "device {device} has fresh predictors of {n} cohorts ({})",
                    lines.join("; ")
                ),
                "add &backend=, &threads= or &space= to name one".into(),
            ))
        }
        (None, _) => match listed.first() {
            None => Err(refuse(
                format!("no predictor of device {device} matches yet"),
                "profile it (a job, or `frontier profile --upload`); the collector trains once it has enough rows (GET /v1/cohorts says why it has not)".into(),
            )),
            Some(p) => Err(refuse(
                format!(
                    "the newest predictor of device {device} ({}, {}) is stale: {}",
                    p.id,
                    p.created_at,
                    p.stale_reason.as_deref().unwrap_or("no reason given")
                ),
                format!(
                    "wait for the collector to train on the new rows, or take this one knowingly with ?id={}",
                    p.id
                ),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, cohort: &str, stale: bool) -> Listed {
        Listed {
            id: id.into(),
            cohort_id: cohort.into(),
            cohort: serde_json::json!({"device_id": "d", "backend": cohort}),
            created_at: "2026-12-06T00:00:00Z".into(),
            rows: 40,
            metrics: serde_json::json!({}),
            stale,
            stale_reason: stale.then(|| "the board's canaries shifted".into()),
        }
    }

    #[test]
    fn sources_are_parsed_and_checked() {
        let s = Source::parse("http://h:8787/?device=lab%203&backend=ort&threads=2").unwrap();
        assert_eq!(s.url, "http://h:8787");
        assert_eq!(s.get("device"), Some("lab 3"));
        assert_eq!(s.get("threads"), Some("2"));
        for (bad, says) in [
            ("h:8787?device=x", "not a collector URL"),
            ("http://h:8787", "?device=NAME"),
            (
                "http://h:8787?device=x&colour=red",
                "unknown parameter colour",
            ),
            ("http://h:8787?device=", "no value"),
            ("http://h:8787?device=%zz", "two hex digits"),
        ] {
            let e = Source::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(Source::parse("https://h?id=p1").is_ok());
    }

    #[test]
    fn the_newest_fresh_predictor_of_one_cohort_is_chosen() {
        let l = [listed("p3", "c1", false), listed("p2", "c1", false)];
        assert_eq!(choose(&l, "d", "u").unwrap().id, "p3");
        // A stale newest is skipped for an older fresh one of the cohort.
        let l = [listed("p4", "c2", true), listed("p3", "c1", false)];
        assert_eq!(choose(&l, "d", "u").unwrap().id, "p3");
        // Two cohorts fresh: say which to add.
        let l = [listed("p4", "c2", false), listed("p3", "c1", false)];
        let e = choose(&l, "d", "u").unwrap_err().to_string();
        assert!(e.contains("2 cohorts") && e.contains("&backend="), "{e}");
        // Only stale: say why, and how to take it anyway.
        let l = [listed("p4", "c2", true)];
        let e = choose(&l, "d", "u").unwrap_err().to_string();
        assert!(
            e.contains("canaries shifted") && e.contains("?id=p4"),
            "{e}"
        );
        let e = choose(&[], "d", "u").unwrap_err().to_string();
        assert!(e.contains("no predictor of device d"), "{e}");
    }
}
