//! Deterministic randomness: the splitmix64 PRNG ([`Rng`]), per-key hashes ([`key_unit`]),
//! the Zipf(α) popularity sampler ([`Zipf`], an exact CDF searched by bisection) and the
//! log-normal value-size draw ([`lognormal`]).
//!
//! Owns: every random number of the trace. Must not know about profiles, keys or sockets.

/// splitmix64's finaliser: a cheap, well-mixed hash.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// splitmix64 PRNG: the same seed gives the same sequence on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(mix(seed))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    /// Uniform in [0, 1) with 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A uniform number in [0, 1) that depends only on (seed, salt, key): per-key attributes
/// (value size, TTL) are fixed for the whole trace and independent of popularity.
pub fn key_unit(seed: u64, salt: u64, key: u64) -> f64 {
    let h = mix(mix(seed ^ salt.wrapping_mul(0x2545_f491_4f6c_dd1d)) ^ key);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Zipf(α) over ranks `0..n`: P(rank r) ∝ (r + 1)^-α (α = 0 is uniform). Exact: the CDF is
/// tabulated once (8 bytes per rank) and a draw is a bisection.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, alpha: f64) -> Self {
        assert!(n > 0, "Zipf over no keys");
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for r in 0..n {
            acc += ((r + 1) as f64).powf(-alpha);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf { cdf }
    }

    pub fn len(&self) -> usize {
        self.cdf.len()
    }

    /// Probability of rank `r`.
    pub fn p(&self, r: usize) -> f64 {
        if r == 0 {
            self.cdf[0]
        } else {
            self.cdf[r] - self.cdf[r - 1]
        }
    }

    /// The rank for a uniform `u` in [0, 1): the first rank whose CDF exceeds `u`.
    pub fn rank(&self, u: f64) -> usize {
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

/// A log-normal draw with the given mean and shape σ from a uniform `u` in (0, 1), rounded
/// and clamped to `[lo, hi]`: exp(μ + σ·z) with μ = ln(mean) − σ²/2, z = Φ⁻¹(u).
pub fn lognormal(mean: f64, sigma: f64, u: f64, lo: u32, hi: u32) -> u32 {
    let mu = mean.ln() - sigma * sigma / 2.0;
    let v = (mu + sigma * normal_quantile(u)).exp().round();
    v.clamp(f64::from(lo), f64::from(hi)) as u32
}

/// Φ⁻¹(u), the standard normal quantile (Acklam's rational approximation, relative error
/// below 1.2e-9), for u in (0, 1); clamped away from 0 and 1.
pub fn normal_quantile(u: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = u.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}
