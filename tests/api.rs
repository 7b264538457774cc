//! The crate as a Rust user sees it: only the public API, no Python.

use heinit_rs::{
    fill_block, fill_slice, set_num_threads, Block, Error, GeometryError, Normal, ParameterError,
    Path, Stream, TruncNormal, Uniform, BF16,
};

#[test]
fn a_block_filled_alone_equals_that_block_of_the_whole() {
    let stream = Stream::new(7, 3);
    let normal = Normal::new(0.5, 2.0).unwrap();
    let mut whole = vec![0f64; 40 * 30];
    fill_slice(&normal, &stream, &mut whole).unwrap();
    // Rows 10..25, columns 4..20, held column-major (strides 1 and 15) in a larger buffer.
    let mut held = vec![f64::NAN; 15 * 16 + 5];
    let block = Block {
        shape: &[15, 16],
        strides: &[1, 15],
        global_shape: &[40, 30],
        offset: &[10, 4],
    };
    fill_block(&normal, &stream, &mut held, &block).unwrap();
    for i in 0..15 {
        for j in 0..16 {
            assert_eq!(
                held[i + 15 * j].to_bits(),
                whole[(10 + i) * 30 + 4 + j].to_bits()
            );
        }
    }
    assert!(
        held[15 * 16..].iter().all(|v| v.is_nan()),
        "beyond the block"
    );
}

#[test]
fn values_do_not_depend_on_the_thread_count() {
    let trunc = TruncNormal::new(0.0, 1.0, -2.0, 2.0).unwrap();
    let fill = |threads| {
        set_num_threads(threads);
        let mut out = vec![0f32; 1 << 20];
        fill_slice(&trunc, &Stream::new(1, 0), &mut out).unwrap();
        out
    };
    let one = fill(1);
    assert_eq!(one, fill(3));
    assert!(one.iter().all(|v| (-2.0..=2.0).contains(v)));
}

#[test]
fn rejected_fills_write_nothing() {
    let stream = Stream::new(0, 0);
    let mut out = vec![BF16(0x1234); 64];
    let huge = Normal::new(0.0, 1e38).unwrap();
    assert!(matches!(
        fill_slice(&huge, &stream, &mut out),
        Err(Error::Parameter(ParameterError::Overflow {
            format: "bfloat16",
            ..
        }))
    ));
    let unit = Uniform::new(-1.0, 1.0).unwrap();
    let beyond = Block {
        shape: &[8, 9],
        strides: &[9, 1],
        global_shape: &[8, 9],
        offset: &[0, 0],
    };
    assert!(matches!(
        fill_block(&unit, &stream, &mut out, &beyond),
        Err(Error::Geometry(GeometryError::OutsideSlice {
            reach: 71,
            len: 64
        }))
    ));
    assert!(out.iter().all(|v| *v == BF16(0x1234)));
}

#[test]
fn every_path_is_named_once() {
    let names: Vec<&str> = Path::ALL.iter().map(|p| p.name()).collect();
    assert_eq!(names, ["scalar", "baseline", "avx2", "avx512", "neon"]);
    assert!(Path::Scalar.supported() && Path::Baseline.supported());
}
