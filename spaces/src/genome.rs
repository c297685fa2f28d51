//! How a space's architectures are drawn, mutated and recombined, so that
//! a search's offspring are always valid architectures: OFA per-slot
//! kernel and expand, per-stage depth, resolution (results in canonical
//! form); GPT-2 layers, width, per-layer heads and FFN widths, with heads
//! repaired to divide the width.

use crate::rng::SplitMix64 as Rng;
use crate::{gpt2, ofa_mbv3, Arch, Space};

/// How a space's architectures are drawn, mutated and recombined.
#[derive(Debug, Clone, PartialEq)]
pub enum Genome {
    Ofa,
    Gpt2(gpt2::Space),
}

impl Genome {
    /// The genome of `space` with its default choices.
    pub fn of(space: Space) -> Genome {
        match space {
            Space::OfaMbv3 => Genome::Ofa,
            Space::Gpt2 => Genome::Gpt2(gpt2::Space::default()),
        }
    }

    pub fn space(&self) -> Space {
        match self {
            Genome::Ofa => Space::OfaMbv3,
            Genome::Gpt2(_) => Space::Gpt2,
        }
    }

    pub fn sample(&self, rng: &mut Rng) -> Arch {
        match self {
            Genome::Ofa => Arch::Ofa(ofa_mbv3::sample(rng).canonical()),
            Genome::Gpt2(s) => Arch::Gpt2(gpt2::sample(s, rng)),
        }
    }

    /// Each gene redrawn with probability `rate`.
    pub fn mutate(&self, a: &Arch, rate: f64, rng: &mut Rng) -> Arch {
        let hit = |rng: &mut Rng| rng.next_f64() < rate;
        match (self, a) {
            (Genome::Ofa, Arch::Ofa(a)) => {
                let mut a = a.clone();
                for i in 0..a.ks.len() {
                    if hit(rng) {
                        a.ks[i] = pick(&ofa_mbv3::KERNELS, rng);
                    }
                    if hit(rng) {
                        a.e[i] = pick(&ofa_mbv3::EXPANDS, rng);
                    }
                }
                for d in a.d.iter_mut() {
                    if hit(rng) {
                        *d = pick(&ofa_mbv3::DEPTHS, rng);
                    }
                }
                if hit(rng) {
                    let rs: Vec<u32> = (ofa_mbv3::MIN_RES..=ofa_mbv3::MAX_RES).step_by(4).collect();
                    a.r = pick(&rs, rng);
                }
                Arch::Ofa(a.canonical())
            }
            (Genome::Gpt2(s), Arch::Gpt2(a)) => {
                let mut heads = a.heads();
                let mut inners = a.inners();
                let mut layers = a.n_layer;
                let mut d_model = a.d_model;
                if hit(rng) {
                    layers = pick(&s.n_layer, rng);
                }
                if hit(rng) {
                    d_model = pick(&s.d_model, rng);
                }
                heads.resize_with(layers as usize, || pick(&s.n_head, rng));
                inners.resize_with(layers as usize, || pick(&s.d_inner, rng));
                for i in 0..layers as usize {
                    if hit(rng) {
                        heads[i] = pick(&s.n_head, rng);
                    }
                    if hit(rng) {
                        inners[i] = pick(&s.d_inner, rng);
                    }
                }
                Arch::Gpt2(gpt2_arch(s, layers, d_model, heads, inners, rng))
            }
            _ => a.clone(),
        }
    }

    /// Uniform crossover: each gene from either parent.
    pub fn crossover(&self, a: &Arch, b: &Arch, rng: &mut Rng) -> Arch {
        let coin = |rng: &mut Rng| rng.next_u64() & 1 == 0;
        match (self, a, b) {
            (Genome::Ofa, Arch::Ofa(a), Arch::Ofa(b)) => {
                let mut c = a.clone();
                for i in 0..c.ks.len() {
                    if coin(rng) {
                        c.ks[i] = b.ks[i];
                    }
                    if coin(rng) {
                        c.e[i] = b.e[i];
                    }
                }
                for s in 0..c.d.len() {
                    if coin(rng) {
                        c.d[s] = b.d[s];
                    }
                }
                if coin(rng) {
                    c.r = b.r;
                }
                Arch::Ofa(c.canonical())
            }
            (Genome::Gpt2(s), Arch::Gpt2(a), Arch::Gpt2(b)) => {
                let layers = if coin(rng) { a.n_layer } else { b.n_layer };
                let d_model = if coin(rng) { a.d_model } else { b.d_model };
                let (ha, hb, ia, ib) = (a.heads(), b.heads(), a.inners(), b.inners());
                let mut heads = Vec::new();
                let mut inners = Vec::new();
                for i in 0..layers as usize {
                    let from_a = match (i < ha.len(), i < hb.len()) {
                        (true, true) => coin(rng),
                        (x, _) => x,
                    };
                    heads.push(if from_a { ha[i] } else { hb[i] });
                    let from_a = match (i < ia.len(), i < ib.len()) {
                        (true, true) => coin(rng),
                        (x, _) => x,
                    };
                    inners.push(if from_a { ia[i] } else { ib[i] });
                }
                Arch::Gpt2(gpt2_arch(s, layers, d_model, heads, inners, rng))
            }
            _ => a.clone(),
        }
    }
}

fn pick(choices: &[u32], rng: &mut Rng) -> u32 {
    choices[rng.below(choices.len() as u64) as usize]
}

/// A valid GPT-2 architecture: heads that do not divide `d_model` redrawn
/// among those that do.
fn gpt2_arch(
    s: &gpt2::Space,
    layers: u32,
    d_model: u32,
    mut heads: Vec<u32>,
    inners: Vec<u32>,
    rng: &mut Rng,
) -> gpt2::Arch {
    let valid: Vec<u32> = s
        .n_head
        .iter()
        .copied()
        .filter(|h| d_model.is_multiple_of(*h))
        .collect();
    let valid = if valid.is_empty() { vec![1] } else { valid };
    for h in heads.iter_mut() {
        if !d_model.is_multiple_of(*h) {
            *h = pick(&valid, rng);
        }
    }
    gpt2::Arch {
        n_layer: layers,
        d_model,
        n_head: gpt2::PerLayer::Each(heads),
        d_inner: gpt2::PerLayer::Each(inners),
        vocab_size: s.vocab_size,
        n_positions: s.n_positions,
        seq_len: s.seq_len,
    }
}
