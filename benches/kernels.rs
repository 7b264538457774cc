//! Single-thread kernel throughput on each supported path, in ns per element:
//! `cargo bench --bench kernels` (`-- avx512` measures only the paths named). No Python
//! involved; only the crate's public API.

use heinit_rs::{
    fill_slice, set_num_threads, set_simd_path, Distribution, Element, Normal, Path, Stream,
    TruncNormal, Uniform,
};
use std::hint::black_box;
use std::time::Instant;

/// The best of five fills of `out`, in ns per element.
fn time<T: Element, D: Distribution>(x: &D, out: &mut [T]) -> f64 {
    let stream = Stream::new(1, 0);
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        fill_slice(x, &stream, black_box(&mut *out)).expect("the bench's parameters fit");
        best = best.min(start.elapsed().as_secs_f64());
    }
    best / out.len() as f64 * 1e9
}

fn main() {
    set_num_threads(1);
    let n = 1 << 22;
    let mut f32s = vec![0f32; n];
    let mut f64s = vec![0f64; n];
    let normal = Normal::new(0.0, 1.0).unwrap();
    let uniform = Uniform::new(-1.0, 1.0).unwrap();
    let trunc = TruncNormal::new(0.0, 1.0, -2.0, 2.0).unwrap();
    println!(
        "{:<10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "path", "fill32", "normal32", "unif32", "trunc32", "normal64", "unif64"
    );
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |p: &Path| only.is_empty() || only.iter().any(|name| name == p.name());
    for path in Path::ALL.into_iter().filter(|p| p.supported() && wanted(p)) {
        set_simd_path(path).expect("a supported path");
        let start = Instant::now();
        f32s.fill(black_box(1.0));
        let fill = start.elapsed().as_secs_f64() / n as f64 * 1e9;
        println!(
            "{:<10}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>10.3}",
            path.name(),
            fill,
            time(&normal, &mut f32s),
            time(&uniform, &mut f32s),
            time(&trunc, &mut f32s),
            time(&normal, &mut f64s),
            time(&uniform, &mut f64s),
        );
    }
}
