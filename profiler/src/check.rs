//! Do two backends compute the same function? Outputs of the same model on
//! the same seeded inputs, compared element by element.
//!
//! The relative difference is taken against the scale of the reference
//! output (its largest magnitude), not element by element: float32 kernels
//! that sum in another order (Winograd, FMA, blocked layouts) differ by a few
//! ulps of the *large* values, which would be an enormous relative error on
//! an element that happens to be near zero.

use crate::backend::OutputTensor;

/// How far one set of outputs is from another.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Largest `|a - b|` over all elements of all outputs.
    pub max_abs: f64,
    /// `max_abs` divided by the largest `|b|` (the reference's scale).
    pub max_rel: f64,
    /// Elements compared.
    pub elements: usize,
    /// Why the outputs could not be compared element by element, if so.
    pub mismatch: Option<String>,
}

impl Comparison {
    /// Whether the difference is within `tolerance` (relative to the scale).
    pub fn within(&self, tolerance: f64) -> bool {
        self.mismatch.is_none() && self.max_rel <= tolerance
    }
}

/// Default tolerance of `frontier profile --check`: 1e-4 of the output's
/// scale. float32 has a 6e-8 unit round-off; a deep network's reductions in
/// another order accumulate errors a few hundred times that (measured on the
/// fixtures: see docs/BENCHMARKS.md), and a real disagreement (another
/// padding, another activation) is off by more than 1e-2.
pub const DEFAULT_TOLERANCE: f64 = 1e-4;

/// Compare outputs `a` with the reference `b`, matched by position.
pub fn compare(a: &[OutputTensor], b: &[OutputTensor]) -> Comparison {
    let mut c = Comparison {
        max_abs: 0.0,
        max_rel: 0.0,
        elements: 0,
        mismatch: None,
    };
    if a.len() != b.len() {
        c.mismatch = Some(format!("{} outputs against {}", a.len(), b.len()));
        return c;
    }
    let mut scale: f64 = 0.0;
    for (x, y) in a.iter().zip(b) {
        if x.shape != y.shape {
            c.mismatch = Some(format!(
                "output '{}' has shape {:?} against {:?}",
                x.name, x.shape, y.shape
            ));
            return c;
        }
        for (p, q) in x.values.iter().zip(&y.values) {
            if p.is_nan() != q.is_nan() {
                c.mismatch = Some(format!("output '{}': NaN in one backend only", x.name));
                return c;
            }
            if !p.is_nan() {
                c.max_abs = c.max_abs.max((p - q).abs());
                scale = scale.max(q.abs());
            }
        }
        c.elements += x.values.len();
    }
    c.max_rel = if scale > 0.0 {
        c.max_abs / scale
    } else if c.max_abs == 0.0 {
        0.0
    } else {
        f64::INFINITY
    };
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::DType;

    fn t(values: &[f64]) -> OutputTensor {
        OutputTensor {
            name: "y".into(),
            dtype: DType::F32,
            shape: vec![values.len()],
            values: values.to_vec(),
        }
    }

    #[test]
    fn relative_to_the_scale() {
        let c = compare(&[t(&[10.0, 0.001])], &[t(&[10.001, 0.0])]);
        assert!((c.max_abs - 0.001).abs() < 1e-12);
        assert!((c.max_rel - 0.001 / 10.001).abs() < 1e-12);
        assert!(c.within(1e-3) && !c.within(1e-5));
        assert_eq!(c.elements, 2);
    }

    #[test]
    fn degenerate_cases() {
        assert_eq!(compare(&[t(&[0.0])], &[t(&[0.0])]).max_rel, 0.0);
        assert!(compare(&[t(&[1.0])], &[t(&[0.0])]).max_rel.is_infinite());
        assert!(compare(&[t(&[1.0, 2.0])], &[t(&[1.0])]).mismatch.is_some());
        assert!(compare(&[t(&[f64::NAN])], &[t(&[1.0])]).mismatch.is_some());
        assert!(compare(&[], &[t(&[1.0])]).mismatch.is_some());
    }
}
