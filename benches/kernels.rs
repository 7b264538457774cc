//! Single-thread kernel throughput on each supported path, in ns per element:
//! `cargo bench --bench kernels`. No Python involved.

use heinit_rs::dispatch::{fill_run_on, Path};
use heinit_rs::distributions::{Normal, TruncNormal, Uniform};
use heinit_rs::philox::Stream;
use heinit_rs::real::{Real, Store, Transform};
use std::hint::black_box;
use std::time::Instant;

fn time<T: Real + Store<Real = T>, X: Transform<T>>(path: Path, x: &X, out: &mut [T]) -> f64 {
    let stream = Stream::new(1, 0);
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        fill_run_on(path, x, &stream, black_box(&mut *out), 0);
        best = best.min(start.elapsed().as_secs_f64());
    }
    best / out.len() as f64 * 1e9
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2")]
#[inline(never)]
fn philox_words_avx512(stream: &Stream, batches: u64) -> u32 {
    let mut acc = [0u32; 16];
    for b in 0..batches {
        // SAFETY: this function is only called after `is_x86_feature_detected!("avx512f")`
        // (and bw/dq/vl), the features `blocks_avx512` is compiled for.
        let words = unsafe { heinit_rs::philox::blocks_avx512(stream, b * 16) };
        for word in &words {
            for (a, w) in acc.iter_mut().zip(word) {
                *a ^= w;
            }
        }
    }
    acc.iter().fold(0, |a, &b| a ^ b)
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    if Path::Avx512.supported() {
        let batches = 1 << 16;
        let start = Instant::now();
        // SAFETY: the CPU supports AVX-512 (checked above).
        let x = unsafe { philox_words_avx512(&Stream::new(1, 0), black_box(batches)) };
        let ns = start.elapsed().as_secs_f64() / (batches * 64) as f64 * 1e9;
        println!("philox4x32-10 words on avx512: {ns:.3} ns/word ({x})");
    }
    let n = 1 << 22;
    let mut f32s = vec![0f32; n];
    let mut f64s = vec![0f64; n];
    println!(
        "{:<10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "path", "fill32", "normal32", "unif32", "trunc32", "normal64", "unif64"
    );
    // `cargo bench --bench kernels -- avx512` measures only the paths named.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |p: &Path| only.is_empty() || only.iter().any(|name| name == p.name());
    for path in Path::ALL.into_iter().filter(|p| p.supported() && wanted(p)) {
        let start = Instant::now();
        f32s.fill(black_box(1.0));
        let fill = start.elapsed().as_secs_f64() / n as f64 * 1e9;
        println!(
            "{:<10}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>10.3}",
            path.name(),
            fill,
            time(
                path,
                &Normal {
                    mean: 0.0f32,
                    std: 1.0
                },
                &mut f32s
            ),
            time(path, &Uniform::<f32>::new(-1.0, 1.0), &mut f32s),
            time(
                path,
                &TruncNormal::<f32>::new(0.0, 1.0, -2.0, 2.0),
                &mut f32s
            ),
            time(
                path,
                &Normal {
                    mean: 0.0f64,
                    std: 1.0
                },
                &mut f64s
            ),
            time(path, &Uniform::<f64>::new(-1.0, 1.0), &mut f64s),
        );
    }
}
