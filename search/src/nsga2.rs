//! Multi-device Pareto search: NSGA-II over a space's own architectures,
//! with accuracy (maximized) and each device's predicted latency
//! (minimized) as objectives, and a random search with the same number of
//! predictor calls to compare against.
//!
//! - The space's [`Genome`] draws, mutates and recombines valid
//!   architectures. With a candidate pool (accuracy from a table of
//!   measured archs), every offspring is snapped to the nearest pool
//!   member by encoding distance, so the search stays inside the pool.
//! - NSGA-II as Deb et al. 2002: fast non-dominated sorting, crowding
//!   distance, binary tournaments, and constraint domination (a feasible
//!   candidate beats an infeasible one; two infeasible ones compare by total
//!   relative violation). Offspring already evaluated are redrawn a few
//!   times, so the predictor calls go to new architectures.
//! - Hypervolume of everything evaluated so far, after each generation, in
//!   objectives normalized to the range both searches saw (exact in two
//!   dimensions; seeded Monte Carlo with more devices), so NSGA-II and the
//!   random search are scored on one scale.
//!
//! Accuracy comes from the caller (an ONNX model, a table, or a proxy), so
//! this module stays pure computation.

use std::collections::HashMap;

use frontier_predictor::{Prediction, Predictor};
use frontier_spaces::rng::SplitMix64 as Rng;
use frontier_spaces::{Arch, Genome};
use serde::{Deserialize, Serialize};

/// Errors a caller branches on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SearchError {
    #[error("{0}")]
    Input(String),
    #[error("accuracy: {0}")]
    Accuracy(String),
    #[error("no architecture meets the constraints ({0}); fix: relax them")]
    Infeasible(String),
}

/// Limits a candidate must meet (the manifest records them).
pub use frontier_table::frontier::Constraints;

/// Settings of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchConfig {
    pub population: usize,
    pub generations: usize,
    pub seed: u64,
    /// Probability that a gene is redrawn.
    pub mutation_rate: f64,
    pub crossover_prob: f64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            population: 100,
            generations: 50,
            seed: 0,
            mutation_rate: 0.1,
            crossover_prob: 0.9,
        }
    }
}

/// One evaluated architecture.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub arch: Arch,
    pub json: String,
    pub accuracy: f64,
    /// Per device; `None` where the predictor refused the architecture
    /// (such a candidate is infeasible).
    pub latency: Vec<Option<Prediction>>,
    pub params: u64,
    pub macs: u64,
    /// Sum of relative constraint violations; 0 when feasible.
    pub violation: f64,
}

impl Candidate {
    pub fn feasible(&self) -> bool {
        self.violation == 0.0
    }

    /// Objectives, all minimized: -accuracy, then each device's latency.
    fn objectives(&self) -> Vec<f64> {
        std::iter::once(-self.accuracy)
            .chain(
                self.latency
                    .iter()
                    .map(|p| p.map(|p| p.ms).unwrap_or(f64::INFINITY)),
            )
            .collect()
    }
}

/// What evaluates accuracy: a batch of architectures to one value each.
pub type AccuracyFn<'a> = dyn FnMut(&[Arch]) -> Result<Vec<f64>, String> + 'a;

/// Evaluates and caches: each distinct architecture costs one predictor
/// call per device, once.
struct Evaluator<'a, 'b> {
    predictors: &'a [&'a dyn Predictor],
    accuracy: &'a mut AccuracyFn<'b>,
    constraints: &'a Constraints,
    cache: HashMap<String, usize>,
    all: Vec<Candidate>,
}

impl Evaluator<'_, '_> {
    /// Indices (into `all`) of `archs`, evaluating those not seen before.
    fn eval(&mut self, archs: Vec<Arch>) -> Result<Vec<usize>, SearchError> {
        let mut new: Vec<Arch> = Vec::new();
        let mut new_keys: HashMap<String, usize> = HashMap::new();
        for a in &archs {
            let k = a.json();
            if !self.cache.contains_key(&k) && !new_keys.contains_key(&k) {
                new_keys.insert(k, new.len());
                new.push(a.clone());
            }
        }
        if !new.is_empty() {
            let acc = (self.accuracy)(&new).map_err(SearchError::Accuracy)?;
            if acc.len() != new.len() {
                return Err(SearchError::Accuracy(format!(
                    "{} values for {} architectures",
                    acc.len(),
                    new.len()
                )));
            }
            for (a, accuracy) in new.into_iter().zip(acc) {
                if !accuracy.is_finite() {
                    return Err(SearchError::Accuracy(format!(
                        "not a number for {}",
                        a.json()
                    )));
                }
                let json = a.json();
                let latency: Vec<Option<Prediction>> = self
                    .predictors
                    .iter()
                    .map(|p| p.predict(&json).ok())
                    .collect();
                let params = a.params();
                let violation = violation(&latency, params, self.constraints);
                self.cache.insert(json.clone(), self.all.len());
                self.all.push(Candidate {
                    macs: a.macs(),
                    arch: a,
                    json,
                    accuracy,
                    latency,
                    params,
                    violation,
                });
            }
        }
        Ok(archs.iter().map(|a| self.cache[&a.json()]).collect())
    }
}

fn violation(latency: &[Option<Prediction>], params: u64, c: &Constraints) -> f64 {
    let mut v = 0.0;
    for (i, p) in latency.iter().enumerate() {
        match (p, c.max_latency_ms.get(i).copied().flatten()) {
            (None, _) => v += 1e9,
            (Some(p), Some(max)) if p.ms > max => v += (p.ms - max) / max,
            _ => {}
        }
    }
    if let Some(max) = c.max_params {
        if params > max {
            v += (params - max) as f64 / max as f64;
        }
    }
    v
}

/// `a` constraint-dominates `b`.
fn dominates(a: &Candidate, b: &Candidate) -> bool {
    match (a.feasible(), b.feasible()) {
        (true, false) => true,
        (false, true) => false,
        (false, false) => a.violation < b.violation,
        (true, true) => {
            let (x, y) = (a.objectives(), b.objectives());
            x.iter().zip(&y).all(|(p, q)| p <= q) && x.iter().zip(&y).any(|(p, q)| p < q)
        }
    }
}

/// Fronts of `ids` (indices into `all`), best first.
fn non_dominated_sort(ids: &[usize], all: &[Candidate]) -> Vec<Vec<usize>> {
    let n = ids.len();
    let mut dominated_by = vec![0usize; n];
    let mut dominates_list: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        for j in (i + 1)..n {
            let (a, b) = (&all[ids[i]], &all[ids[j]]);
            if dominates(a, b) {
                dominates_list[i].push(j);
                dominated_by[j] += 1;
            } else if dominates(b, a) {
                dominates_list[j].push(i);
                dominated_by[i] += 1;
            }
        }
    }
    let mut fronts = Vec::new();
    let mut current: Vec<usize> = (0..n).filter(|i| dominated_by[*i] == 0).collect();
    while !current.is_empty() {
        let mut next = Vec::new();
        for &i in &current {
            for &j in &dominates_list[i] {
                dominated_by[j] -= 1;
                if dominated_by[j] == 0 {
                    next.push(j);
                }
            }
        }
        fronts.push(current.iter().map(|i| ids[*i]).collect());
        current = next;
    }
    fronts
}

/// Crowding distance of each member of a front (same order).
fn crowding(front: &[usize], all: &[Candidate]) -> Vec<f64> {
    let n = front.len();
    let mut d = vec![0.0; n];
    if n <= 2 {
        return vec![f64::INFINITY; n];
    }
    let objs: Vec<Vec<f64>> = front.iter().map(|i| all[*i].objectives()).collect();
    // Indexes the inner vectors (objective m of each member), not `objs`.
    #[allow(clippy::needless_range_loop)]
    for m in 0..objs[0].len() {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|a, b| objs[*a][m].total_cmp(&objs[*b][m]));
        let (lo, hi) = (objs[order[0]][m], objs[order[n - 1]][m]);
        d[order[0]] = f64::INFINITY;
        d[order[n - 1]] = f64::INFINITY;
        if !(hi - lo).is_finite() || hi <= lo {
            continue;
        }
        for k in 1..n - 1 {
            d[order[k]] += (objs[order[k + 1]][m] - objs[order[k - 1]][m]) / (hi - lo);
        }
    }
    d
}

/// A candidate pool (accuracy from a table): offspring snap to the
/// nearest member by L1 distance between encodings.
struct Pool {
    archs: Vec<Arch>,
    enc: Vec<Vec<f32>>,
}

impl Pool {
    fn new(archs: &[Arch]) -> Pool {
        Pool {
            enc: archs.iter().map(|a| a.encode()).collect(),
            archs: archs.to_vec(),
        }
    }

    fn nearest(&self, a: &Arch, rng: &mut Rng) -> Arch {
        let e = a.encode();
        let dist: Vec<f32> = self
            .enc
            .iter()
            .map(|v| v.iter().zip(&e).map(|(x, y)| (x - y).abs()).sum())
            .collect();
        let best = dist.iter().copied().fold(f32::INFINITY, f32::min);
        // Ties broken at random, so that equal neighbours all get a chance.
        let ties: Vec<usize> = (0..dist.len()).filter(|i| dist[*i] == best).collect();
        self.archs[ties[rng.below(ties.len() as u64) as usize]].clone()
    }

    fn sample(&self, rng: &mut Rng) -> Arch {
        self.archs[rng.below(self.archs.len() as u64) as usize].clone()
    }
}

/// What a search found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Every architecture NSGA-II evaluated (each one predictor call per device).
    pub evaluated: Vec<Candidate>,
    /// Indices into `evaluated` of the final population.
    pub population: Vec<usize>,
    /// After each generation (0 = the initial population): evaluations so
    /// far and the hypervolume of everything evaluated so far.
    pub history: Vec<(usize, f64)>,
    /// The random search with as many evaluations: everything it evaluated,
    /// and its hypervolume at the same evaluation counts as `history`.
    pub random: Vec<Candidate>,
    pub random_history: Vec<(usize, f64)>,
    /// Normalization of the hypervolume: per objective (accuracy first, then
    /// each device's latency) the best and the worst value either search saw
    /// among feasible candidates.
    pub bounds: Vec<(f64, f64)>,
}

/// Run NSGA-II, then a random search with as many evaluations (same
/// seed), and score both by hypervolume.
pub fn search(
    genome: &Genome,
    pool: Option<&[Arch]>,
    config: &SearchConfig,
    constraints: &Constraints,
    predictors: &[&dyn Predictor],
    accuracy: &mut AccuracyFn,
) -> Result<Outcome, SearchError> {
    if predictors.is_empty() {
        return Err(SearchError::Input(
            "no predictor; fix: give --predictor FILE".into(),
        ));
    }
    if config.population < 4 {
        return Err(SearchError::Input("population must be at least 4".into()));
    }
    let pool = match pool {
        Some([]) => return Err(SearchError::Input("the candidate pool is empty".into())),
        Some(p) => Some(Pool::new(p)),
        None => None,
    };
    let mut rng = Rng::new(config.seed);
    let mut ev = Evaluator {
        predictors,
        accuracy,
        constraints,
        cache: HashMap::new(),
        all: Vec::new(),
    };
    let draw = |rng: &mut Rng| match &pool {
        Some(p) => p.sample(rng),
        None => genome.sample(rng),
    };
    let n = config.population;
    let first: Vec<Arch> = (0..n).map(|_| draw(&mut rng)).collect();
    let mut population = dedup(ev.eval(first)?);
    let mut marks = vec![ev.all.len()];
    for _gen in 0..config.generations {
        let fronts = non_dominated_sort(&population, &ev.all);
        let mut rank: HashMap<usize, (usize, f64)> = HashMap::new();
        for (r, f) in fronts.iter().enumerate() {
            for (i, c) in f.iter().zip(crowding(f, &ev.all)) {
                rank.insert(*i, (r, c));
            }
        }
        let better = |a: usize, b: usize| -> usize {
            let (ra, ca) = rank[&a];
            let (rb, cb) = rank[&b];
            if ra < rb || (ra == rb && ca > cb) {
                a
            } else {
                b
            }
        };
        let mut children = Vec::with_capacity(n);
        while children.len() < n {
            let mut child = None;
            for _attempt in 0..20 {
                let pa = pick_index(&population, &mut rng);
                let pb = pick_index(&population, &mut rng);
                let p1 = better(pa, pb);
                let pa = pick_index(&population, &mut rng);
                let pb = pick_index(&population, &mut rng);
                let p2 = better(pa, pb);
                let mut c = if rng.next_f64() < config.crossover_prob {
                    genome.crossover(&ev.all[p1].arch, &ev.all[p2].arch, &mut rng)
                } else {
                    ev.all[p1].arch.clone()
                };
                c = genome.mutate(&c, config.mutation_rate, &mut rng);
                if let Some(p) = &pool {
                    c = p.nearest(&c, &mut rng);
                }
                let seen = ev.cache.contains_key(&c.json())
                    || children.iter().any(|x: &Arch| x.json() == c.json());
                child = Some(c);
                if !seen {
                    break;
                }
            }
            children.push(child.expect("at least one attempt"));
        }
        let kids = ev.eval(children)?;
        let mut union = population.clone();
        union.extend(kids);
        let union = dedup(union);
        let mut next = Vec::with_capacity(n);
        for f in non_dominated_sort(&union, &ev.all) {
            if next.len() + f.len() <= n {
                next.extend(f);
            } else {
                let d = crowding(&f, &ev.all);
                let mut order: Vec<usize> = (0..f.len()).collect();
                order.sort_by(|a, b| d[*b].total_cmp(&d[*a]));
                next.extend(order.iter().take(n - next.len()).map(|i| f[*i]));
                break;
            }
        }
        population = next;
        marks.push(ev.all.len());
    }
    let evaluated = std::mem::take(&mut ev.all);
    // Random search: as many distinct evaluations, same seed.
    let mut rrng = Rng::new(config.seed ^ 0x5EA2_C400);
    ev.cache.clear();
    let target = evaluated.len();
    let mut misses = 0;
    while ev.all.len() < target && misses < 50 * target {
        let before = ev.all.len();
        let batch: Vec<Arch> = (0..(target - ev.all.len()).min(256))
            .map(|_| draw(&mut rrng))
            .collect();
        ev.eval(batch)?;
        if ev.all.len() == before {
            misses += 256;
        }
    }
    let random = std::mem::take(&mut ev.all);
    if !evaluated.iter().chain(&random).any(Candidate::feasible) {
        let fastest = (0..predictors.len())
            .map(|d| {
                evaluated
                    .iter()
                    .filter_map(|c| c.latency[d].map(|p| p.ms))
                    .fold(f64::INFINITY, f64::min)
            })
            .map(|ms| format!("{ms:.3} ms"))
            .collect::<Vec<_>>()
            .join(", ");
        let small = evaluated.iter().map(|c| c.params).min().unwrap_or(0);
        return Err(SearchError::Infeasible(format!(
            "of {} evaluated, the fastest predicted per device: {fastest}; the fewest parameters: {small}",
            evaluated.len()
        )));
    }
    let bounds = bounds(evaluated.iter().chain(&random), predictors.len());
    let history = marks
        .iter()
        .map(|&m| (m, hypervolume(&evaluated[..m], &bounds, config.seed)))
        .collect();
    let random_history = marks
        .iter()
        .map(|&m| {
            let m = m.min(random.len());
            (m, hypervolume(&random[..m], &bounds, config.seed))
        })
        .collect();
    Ok(Outcome {
        evaluated,
        population,
        history,
        random,
        random_history,
        bounds,
    })
}

fn pick_index(v: &[usize], rng: &mut Rng) -> usize {
    v[rng.below(v.len() as u64) as usize]
}

fn dedup(mut v: Vec<usize>) -> Vec<usize> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|i| seen.insert(*i));
    v
}

/// Per objective (accuracy, then latencies) the best and worst value among
/// feasible candidates.
fn bounds<'a>(cands: impl Iterator<Item = &'a Candidate>, devices: usize) -> Vec<(f64, f64)> {
    let mut b = vec![(f64::INFINITY, f64::NEG_INFINITY); devices + 1];
    for c in cands.filter(|c| c.feasible()) {
        for (i, v) in c.objectives().into_iter().enumerate() {
            b[i] = (b[i].0.min(v), b[i].1.max(v));
        }
    }
    b
}

/// Hypervolume of the feasible candidates' objectives, normalized to
/// `bounds` (each objective to [0, 1], the worst value seen as the
/// reference point, so 1 would be one candidate best in everything).
pub fn hypervolume(cands: &[Candidate], bounds: &[(f64, f64)], seed: u64) -> f64 {
    let pts: Vec<Vec<f64>> = cands
        .iter()
        .filter(|c| c.feasible())
        .map(|c| {
            c.objectives()
                .iter()
                .zip(bounds)
                .map(|(v, (lo, hi))| {
                    if hi > lo {
                        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    if pts.is_empty() {
        return 0.0;
    }
    if bounds.len() == 2 {
        // Exact: sweep by the first objective, keep the running best second.
        let mut p: Vec<(f64, f64)> = pts.iter().map(|v| (v[0], v[1])).collect();
        p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut hv = 0.0;
        let mut best_y = 1.0;
        for (x, y) in p {
            if y < best_y {
                hv += (1.0 - x) * (best_y - y);
                best_y = y;
            }
        }
        return hv;
    }
    // Monte Carlo over the unit box, seeded: the same points score both
    // searches.
    const SAMPLES: usize = 100_000;
    let mut rng = Rng::new(seed ^ 0x4D0C_A410);
    let dims = bounds.len();
    let mut inside = 0usize;
    let mut q = vec![0.0; dims];
    for _ in 0..SAMPLES {
        for v in q.iter_mut() {
            *v = rng.next_f64();
        }
        if pts.iter().any(|p| p.iter().zip(&q).all(|(a, b)| a <= b)) {
            inside += 1;
        }
    }
    inside as f64 / SAMPLES as f64
}

/// The 2-D Pareto frontier of the feasible candidates for one device
/// (accuracy up, that device's latency down), sorted by latency, thinned
/// to at most `max` models spread evenly over the latency range (the
/// fastest and the most accurate always kept).
pub fn device_frontier(cands: &[Candidate], device: usize, max: usize) -> Vec<usize> {
    let mut ids: Vec<usize> = (0..cands.len())
        .filter(|i| cands[*i].feasible() && cands[*i].latency[device].is_some())
        .collect();
    let lat = |i: usize| {
        cands[i].latency[device]
            .map(|p| p.ms)
            .unwrap_or(f64::INFINITY)
    };
    ids.sort_by(|a, b| {
        lat(*a)
            .total_cmp(&lat(*b))
            .then(cands[*b].accuracy.total_cmp(&cands[*a].accuracy))
    });
    let mut front = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for i in ids {
        if cands[i].accuracy > best {
            best = cands[i].accuracy;
            front.push(i);
        }
    }
    if front.len() <= max {
        return front;
    }
    if max < 2 {
        // The most accurate one.
        return front.split_off(front.len() - max);
    }
    // Evenly spaced latency targets; the nearest unused frontier point each.
    let (lo, hi) = (lat(front[0]), lat(front[front.len() - 1]));
    let mut keep = vec![false; front.len()];
    for k in 0..max {
        let target = lo + (hi - lo) * k as f64 / (max - 1) as f64;
        let best = (0..front.len()).filter(|j| !keep[*j]).min_by(|a, b| {
            (lat(front[*a]) - target)
                .abs()
                .total_cmp(&(lat(front[*b]) - target).abs())
        });
        if let Some(j) = best {
            keep[j] = true;
        }
    }
    front
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(i, _)| *i)
        .collect()
}

#[cfg(test)]
mod tests;
