//! Bilinear resizing of NCHW images: requests carry the manifest's
//! canonical resolution and each model takes its own.

/// Resize `src` (`[n, c, h, w]`) to `oh × ow`, bilinear with half-pixel
/// centres (PyTorch's `align_corners=False`, without antialiasing).
pub fn resize_bilinear_nchw(src: &[f32], shape: [usize; 4], oh: usize, ow: usize) -> Vec<f32> {
    let [n, c, h, w] = shape;
    if (h, w) == (oh, ow) {
        return src.to_vec();
    }
    let mut out = vec![0f32; n * c * oh * ow];
    let (sy, sx) = (h as f32 / oh as f32, w as f32 / ow as f32);
    // Per output column: left index, right index, weight of the right one.
    let cols: Vec<(usize, usize, f32)> = (0..ow)
        .map(|x| {
            let fx = ((x as f32 + 0.5) * sx - 0.5).max(0.0);
            let x0 = (fx.floor() as usize).min(w - 1);
            ((x0), (x0 + 1).min(w - 1), fx - x0 as f32)
        })
        .collect();
    for plane in 0..n * c {
        let s = &src[plane * h * w..(plane + 1) * h * w];
        let o = &mut out[plane * oh * ow..(plane + 1) * oh * ow];
        for y in 0..oh {
            let fy = ((y as f32 + 0.5) * sy - 0.5).max(0.0);
            let y0 = (fy.floor() as usize).min(h - 1);
            let y1 = (y0 + 1).min(h - 1);
            let wy = fy - y0 as f32;
            let (r0, r1) = (&s[y0 * w..(y0 + 1) * w], &s[y1 * w..(y1 + 1) * w]);
            for (x, &(x0, x1, wx)) in cols.iter().enumerate() {
                let top = r0[x0] + (r0[x1] - r0[x0]) * wx;
                let bottom = r1[x0] + (r1[x1] - r1[x0]) * wx;
                o[y * ow + x] = top + (bottom - top) * wy;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_and_keeps_constants_and_gradients() {
        // A horizontal ramp 0..8 over 8 columns, halved: PyTorch gives
        // the means of neighbouring pairs.
        let src: Vec<f32> = (0..2).flat_map(|_| (0..8).map(|x| x as f32)).collect();
        let out = resize_bilinear_nchw(&src, [1, 1, 2, 8], 2, 4);
        assert_eq!(out, vec![0.5, 2.5, 4.5, 6.5, 0.5, 2.5, 4.5, 6.5]);
        let flat = vec![3.0f32; 3 * 5 * 5];
        assert!(resize_bilinear_nchw(&flat, [1, 3, 5, 5], 3, 3)
            .iter()
            .all(|v| *v == 3.0));
        assert_eq!(resize_bilinear_nchw(&flat, [1, 3, 5, 5], 5, 5), flat);
    }
}
