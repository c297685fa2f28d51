//! Tables of several profiling invocations on one scale.
//!
//! Two invocations on one device measure the same model a few percent
//! apart (clock, thermal state, what else ran, where the binary landed in
//! memory): an offset shared by every model of the invocation, which a
//! predictor trained on one invocation carries into every prediction for
//! another. Every `frontier profile` invocation therefore measures the
//! space's fixed reference subnets beside its models (rows with
//! `reference: true`, all rows with the invocation's id). Two invocations'
//! offset is the geometric mean of their references' ratios; a table is
//! put on another's scale by dividing its latencies by it.
//!
//! The predictor file keeps the references of the invocation it was
//! trained on (its *scale*), so `predict` on a later table with references
//! gives predictions on that table's scale and says the offset.

use std::collections::BTreeMap;

use frontier_table::LatencyRow;

/// References shared by fewer invocations are not enough for an offset.
pub const MIN_REFERENCES: usize = 2;

/// Reference latencies by architecture JSON (ms): one invocation's scale.
pub type References = BTreeMap<String, f64>;

/// One invocation's offset from a scale.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Offset {
    /// The invocation's latencies over the scale's (1.03: 3% slower).
    pub factor: f64,
    /// References the two have in common.
    pub references: usize,
    /// Standard deviation of the references' log ratios: how well one
    /// factor describes the invocation (0.01: the references agree on the
    /// factor within about 1%).
    pub spread: f64,
}

impl Offset {
    /// `+3.1% (5 references, spread 0.8%)`.
    pub fn describe(&self) -> String {
        format!(
            "{:+.1}% ({} references, spread {:.1}%)",
            (self.factor - 1.0) * 100.0,
            self.references,
            self.spread * 100.0
        )
    }
}

/// The key rows of no invocation (tables before 1.7) are grouped under.
pub const NO_INVOCATION: &str = "";

fn invocation_of(r: &LatencyRow) -> &str {
    r.invocation.as_deref().unwrap_or(NO_INVOCATION)
}

/// Each invocation's references: per reference architecture, the median
/// of its reference rows (the geometric mean of the middle two when their
/// count is even: an active invocation measures its references once at its
/// start and once at its end, and its scale is their middle).
pub fn references_by_invocation<'a>(
    rows: impl IntoIterator<Item = &'a LatencyRow>,
) -> BTreeMap<String, References> {
    let mut per: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    for r in rows.into_iter().filter(|r| r.is_reference()) {
        if let (Some(arch), Some(ms)) = (&r.arch, r.latency_ms()) {
            per.entry(invocation_of(r).to_string())
                .or_default()
                .entry(arch.clone())
                .or_default()
                .push(ms);
        }
    }
    per.into_iter()
        .map(|(inv, archs)| {
            let refs = archs
                .into_iter()
                .map(|(a, mut v)| {
                    v.sort_by(f64::total_cmp);
                    let n = v.len();
                    let m = if n % 2 == 1 {
                        v[n / 2]
                    } else {
                        (v[n / 2 - 1] * v[n / 2]).sqrt()
                    };
                    (a, m)
                })
                .collect();
            (inv, refs)
        })
        .collect()
}

/// The offset of `refs` from `scale`: the geometric mean of their common
/// references' ratios; `None` with fewer than [`MIN_REFERENCES`] in common.
pub fn offset(refs: &References, scale: &References) -> Option<Offset> {
    let logs: Vec<f64> = refs
        .iter()
        .filter_map(|(a, ms)| scale.get(a).map(|s| (ms / s).ln()))
        .filter(|l| l.is_finite())
        .collect();
    if logs.len() < MIN_REFERENCES {
        return None;
    }
    let n = logs.len() as f64;
    let mean = logs.iter().sum::<f64>() / n;
    let var = logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some(Offset {
        factor: mean.exp(),
        references: logs.len(),
        spread: var.sqrt(),
    })
}

/// How the rows of a training set were put on one scale.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Alignment {
    /// The invocation whose scale the others were put on (the one with
    /// the most rows among those with references).
    pub anchor: Option<String>,
    /// The anchor's references: the predictor's scale.
    pub scale: References,
    /// Each other invocation's offset from the anchor, by invocation.
    pub offsets: BTreeMap<String, Offset>,
    /// Invocations left as measured (no or too few references), with
    /// their row counts.
    pub unaligned: BTreeMap<String, usize>,
}

impl Alignment {
    /// The factor a row's latency is divided by to be on the anchor's scale.
    pub fn factor(&self, r: &LatencyRow) -> f64 {
        self.offsets
            .get(invocation_of(r))
            .map(|o| o.factor)
            .unwrap_or(1.0)
    }

    /// `r` as a training sample on the anchor's scale, grouped by its
    /// invocation (cross-validation holds out whole groups); `None` without
    /// a positive latency or an arch.
    pub fn sample(
        &self,
        r: &LatencyRow,
        groups: &mut Groups,
    ) -> Option<frontier_predictor::Sample> {
        let mut s = crate::sample_of(r)?;
        s.ms /= self.factor(r);
        s.group = groups.index(r);
        Some(s)
    }

    /// A later invocation's error of scale after alignment (relative sd):
    /// the root mean square of the offsets' reference spreads, at least
    /// [`frontier_predictor::ALIGNED_SIGMA`] (one invocation has none to
    /// measure).
    pub fn later_sigma(&self) -> f64 {
        let n = self.offsets.len();
        if n == 0 {
            return frontier_predictor::ALIGNED_SIGMA;
        }
        let ms = self.offsets.values().map(|o| o.spread.powi(2)).sum::<f64>() / n as f64;
        ms.sqrt().max(frontier_predictor::ALIGNED_SIGMA)
    }

    /// Invocations of the training rows (the anchor's included).
    pub fn invocations(&self) -> usize {
        usize::from(self.anchor.is_some()) + self.offsets.len() + self.unaligned.len()
    }
}

/// Small consecutive indices for invocation ids (a sample's `group`).
#[derive(Debug, Default)]
pub struct Groups(BTreeMap<String, u32>);

impl Groups {
    pub fn index(&mut self, r: &LatencyRow) -> u32 {
        let n = self.0.len() as u32;
        *self.0.entry(invocation_of(r).to_string()).or_insert(n)
    }
}

/// Choose the anchor among the invocations of `rows` (the models measured,
/// not their references) and each other invocation's offset from it.
pub fn align(rows: &[&LatencyRow], all: &[&LatencyRow]) -> Alignment {
    let refs = references_by_invocation(all.iter().copied());
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in rows {
        *counts.entry(invocation_of(r).to_string()).or_default() += 1;
    }
    let anchor = counts
        .iter()
        .filter(|(inv, _)| refs.get(*inv).is_some_and(|r| r.len() >= MIN_REFERENCES))
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(inv, _)| inv.clone());
    let Some(anchor) = anchor else {
        return Alignment {
            unaligned: counts,
            ..Alignment::default()
        };
    };
    let scale = refs[&anchor].clone();
    let mut out = Alignment {
        anchor: Some(anchor.clone()),
        scale: scale.clone(),
        ..Alignment::default()
    };
    for (inv, n) in counts {
        if inv == anchor {
            continue;
        }
        match refs.get(&inv).and_then(|r| offset(r, &scale)) {
            Some(o) => {
                out.offsets.insert(inv, o);
            }
            None => {
                out.unaligned.insert(inv, n);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(inv: &str, arch: &str, ms: f64, reference: bool) -> LatencyRow {
        LatencyRow {
            invocation: Some(inv.into()),
            arch: Some(arch.into()),
            median_ms: ms,
            median_ms_corrected: ms,
            reference: reference.then_some(true),
            ..Default::default()
        }
    }

    #[test]
    fn offsets_are_the_geometric_mean_of_reference_ratios() {
        // Invocation b runs 4% slower than a, its references with ±1% noise.
        let mut rows = Vec::new();
        for (i, noise) in [1.01, 0.99, 1.0, 1.005, 0.995].iter().enumerate() {
            let ms = 10.0 + i as f64;
            rows.push(row("a", &format!("r{i}"), ms, true));
            rows.push(row("b", &format!("r{i}"), ms * 1.04 * noise, true));
        }
        for i in 0..10 {
            rows.push(row("a", &format!("m{i}"), 5.0 + i as f64, false));
        }
        for i in 0..3 {
            rows.push(row("b", &format!("n{i}"), 7.0, false));
        }
        rows.push(row("c", "lonely", 3.0, false));
        let all: Vec<&LatencyRow> = rows.iter().collect();
        let models: Vec<&LatencyRow> = rows.iter().filter(|r| r.reference.is_none()).collect();
        let a = align(&models, &all);
        assert_eq!(
            a.anchor.as_deref(),
            Some("a"),
            "the invocation with most rows"
        );
        let b = &a.offsets["b"];
        assert_eq!(b.references, 5);
        assert!((b.factor - 1.04).abs() < 0.002, "{b:?}");
        assert!(b.spread > 0.005 && b.spread < 0.02, "{b:?}");
        assert_eq!(a.unaligned.get("c"), Some(&1), "no references: as measured");
        assert_eq!(a.invocations(), 3);
        assert!((a.factor(&rows[1]) - 1.04).abs() < 0.002);
        assert_eq!(a.factor(&rows[0]), 1.0);
        assert!(
            b.describe().starts_with("+4.0% (5 references"),
            "{}",
            b.describe()
        );
    }

    #[test]
    fn a_reference_measured_at_start_and_end_is_their_middle() {
        // An active invocation drifting 4% between its first and last batch.
        let rows = [
            row("a", "r0", 10.0, true),
            row("a", "r0", 10.4, true),
            row("a", "r1", 20.0, true),
            row("a", "r1", 30.0, true),
            row("a", "r1", 21.0, true),
        ];
        let refs = &references_by_invocation(&rows)["a"];
        assert!(
            (refs["r0"] - (10.0f64 * 10.4).sqrt()).abs() < 1e-9,
            "{refs:?}"
        );
        assert_eq!(refs["r1"], 21.0, "odd counts keep the median");
    }

    #[test]
    fn one_reference_in_common_is_no_offset() {
        let scale: References = [("x".to_string(), 1.0)].into();
        let refs: References = [("x".to_string(), 2.0), ("y".to_string(), 1.0)].into();
        assert_eq!(offset(&refs, &scale), None);
        let none = align(&[], &[]);
        assert_eq!(none.anchor, None);
    }
}
