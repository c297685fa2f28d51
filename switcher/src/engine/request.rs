//! The request path: check the input, resize it to the current variant,
//! run it, record its latency; on failure quarantine the variant and retry
//! on the fastest healthy one. Reads the active generation without a lock.

#[allow(unused_imports)]
use super::*;

impl Switcher {
    /// Run one request on the current variant (its own input size); if that
    /// variant fails, it is quarantined and the request runs on the fastest
    /// healthy one.
    pub fn infer(&self, req: &Request) -> Result<Response, InferError> {
        let s = &self.shared;
        let active = s.active.load_full();
        let g = &active.generation;
        check_input(req, &g.canonical)?;
        let mut tried = Vec::new();
        let mut errors = Vec::new();
        let mut next = Some(active.variant);
        while let Some(i) = next {
            tried.push(i);
            let v = &g.variants[i];
            match run_variant(v, req, &g.canonical) {
                Ok((outputs, ms, infer_ms)) => {
                    self.record(v, ms, infer_ms);
                    self.field_served(
                        &v.variant,
                        ms,
                        infer_ms,
                        f64::from_bits(s.contention_bits.load(Ordering::Relaxed)),
                    );
                    return Ok(Response {
                        model: v.variant.name.clone(),
                        threads: v.variant.threads,
                        latency_ms: ms,
                        outputs,
                    });
                }
                Err(e) => {
                    errors.push(format!("{}: {e}", v.variant.name));
                    *v.quarantined.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(format!("failed at run time: {e}"));
                    // Only if the policy still describes this generation
                    // (a reload may have replaced both meanwhile).
                    let mut policy = s.policy.lock().unwrap_or_else(|p| p.into_inner());
                    if Arc::ptr_eq(&s.active.load().generation, &active.generation) {
                        policy.quarantine(i);
                    }
                    next = fastest_healthy(g, &tried);
                }
            }
        }
        s.failed.fetch_add(1, Ordering::Relaxed);
        self.field_failed(&g.variants[active.variant].variant);
        Err(InferError::AllFailed(errors.join("; ")))
    }

    /// `ms`: the whole request in the server (resizing, binding, inference);
    /// `infer_ms`: the inference alone, what the tables' curves measure.
    pub(super) fn record(&self, v: &Loaded, ms: f64, infer_ms: f64) {
        let s = &self.shared;
        s.requests.fetch_add(1, Ordering::Relaxed);
        v.requests.fetch_add(1, Ordering::Relaxed);
        if ms > s.config.slo_ms {
            s.slo_misses.fetch_add(1, Ordering::Relaxed);
        }
        let b = BUCKETS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(BUCKETS_MS.len());
        s.histogram[b].fetch_add(1, Ordering::Relaxed);
        s.latency_sum_us
            .fetch_add((ms * 1000.0) as u64, Ordering::Relaxed);
        let now = Instant::now();
        let contention = f64::from_bits(s.contention_bits.load(Ordering::Relaxed));
        {
            let mut r = v.recent.lock().unwrap_or_else(|p| p.into_inner());
            r.push_back((now, infer_ms, contention));
            while r.len() > 512 || r.front().is_some_and(|(t, _, _)| now - *t > WINDOW) {
                r.pop_front();
            }
        }
        ewma(&v.ewma_ms, ms);
        ewma(&v.overhead_ms, ms - infer_ms);
    }
}

/// Fold `x` into an exponentially weighted mean (weight 0.2 for the new).
fn ewma(cell: &Mutex<Option<f64>>, x: f64) {
    let mut e = cell.lock().unwrap_or_else(|p| p.into_inner());
    *e = Some(match *e {
        Some(old) => 0.8 * old + 0.2 * x,
        None => x,
    });
}

impl Switcher {
    /// What a request spent in the caller's layer outside [`Switcher::infer`]
    /// (an HTTP server's body parsing, hand-off and response encoding), ms:
    /// the policy adds its average to every prediction.
    pub fn record_transport(&self, ms: f64) {
        if ms.is_finite() && ms >= 0.0 {
            ewma(&self.shared.transport_ms, ms);
        }
    }
}

/// The p95 of the last [`WINDOW`] of requests, up to `until`, made under a
/// load within `same` busy cores of `contention`, and the mean contention
/// they ran under; `None` with fewer than [`MIN_OBSERVED`] such requests.
pub(super) fn p95_at(
    recent: &VecDeque<(Instant, f64, f64)>,
    now: Instant,
    until: Instant,
    contention: f64,
    same: f64,
) -> Option<Observation> {
    let window: Vec<(f64, f64)> = recent
        .iter()
        .filter(|(t, _, c)| now - *t <= WINDOW && *t <= until && (c - contention).abs() <= same)
        .map(|(_, ms, c)| (*ms, *c))
        .collect();
    if window.len() < MIN_OBSERVED {
        return None;
    }
    let mut v: Vec<f64> = window.iter().map(|x| x.0).collect();
    v.sort_by(f64::total_cmp);
    Some(Observation {
        p95_ms: v[((v.len() - 1) as f64 * 0.95).round() as usize],
        contention: window.iter().map(|x| x.1).sum::<f64>() / window.len() as f64,
    })
}

pub(super) fn fastest_healthy(g: &Generation, tried: &[usize]) -> Option<usize> {
    g.loaded_by_latency().into_iter().find(|i| {
        !tried.contains(i)
            && g.variants[*i]
                .quarantined
                .lock()
                .map(|q| q.is_none())
                .unwrap_or(false)
    })
}

pub(super) fn check_input(req: &Request, canonical: &[usize]) -> Result<(), InferError> {
    if req.shape != canonical {
        return Err(InferError::BadInput(format!(
            "shape {:?}; this frontier takes {canonical:?}",
            req.shape
        )));
    }
    let n: usize = canonical.iter().product();
    let (len, finite) = match &req.data {
        TensorData::F32(v) => (v.len(), v.iter().all(|x| x.is_finite())),
        TensorData::I64(v) => (v.len(), true),
        _ => {
            return Err(InferError::BadInput(
                "dtype: this frontier takes f32 images or i64 token ids".into(),
            ))
        }
    };
    if len != n {
        return Err(InferError::BadInput(format!(
            "{len} values for shape {canonical:?} ({n} values)"
        )));
    }
    if !finite {
        return Err(InferError::BadInput("NaN or infinite values".into()));
    }
    Ok(())
}

/// Adapt the canonical input to the variant's own and run it.
pub(super) fn run_variant(
    v: &Loaded,
    req: &Request,
    canonical: &[usize],
) -> Result<(Vec<OutputTensor>, f64, f64), String> {
    let Some(prepared) = &v.prepared else {
        return Err("not loaded".into());
    };
    let want = &v.input.shape;
    let start = Instant::now();
    let data = match (&req.data, v.input.dtype) {
        (TensorData::F32(x), DType::F32) => {
            if canonical.len() == 4 && want.len() == 4 && canonical != want.as_slice() {
                TensorData::F32(resize_bilinear_nchw(
                    x,
                    [canonical[0], canonical[1], canonical[2], canonical[3]],
                    want[2],
                    want[3],
                ))
            } else {
                TensorData::F32(x.clone())
            }
        }
        (TensorData::I64(x), DType::I64) if canonical == want.as_slice() => {
            TensorData::I64(x.clone())
        }
        (_, d) => {
            return Err(format!(
                "the model takes {} {want:?}; the request does not match",
                d.name()
            ))
        }
    };
    let tensor = InputTensor {
        name: v.input.name.clone(),
        shape: want.clone(),
        data,
    };
    let mut state = prepared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .state(std::slice::from_ref(&tensor))
        .map_err(|e| e.to_string())?;
    let infer_start = Instant::now();
    let outputs = state.outputs().map_err(|e| e.to_string())?;
    let infer_ms = infer_start.elapsed().as_secs_f64() * 1e3;
    Ok((outputs, start.elapsed().as_secs_f64() * 1e3, infer_ms))
}
