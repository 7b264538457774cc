//! An XLA FFI handler: the typed custom-call ABI of XLA's `xla/ffi/api/c_api.h` (API 0.3, as
//! jaxlib ships it), so that `heinit_rs.jax` under `jit` on the CPU backend fills the output
//! buffer XLA allocated, with no callback and no copy.
//!
//! The call (`jax.ffi.ffi_call("heinit_rs_fill", ...)`):
//! - argument 0: the key, `uint32[2]` (w0, w1), heinit_rs key `w0 * 2**32 + w1`;
//! - argument 1: the block's position, `int32[rank]`: the output is block
//!   `position * dims .. (position + 1) * dims` of the array (zeros for the whole array);
//! - result 0: the values, float32/float64/float16/bfloat16, row-major;
//! - attributes: `kind` (0 normal, 1 uniform, 2 truncated normal), `parameters` (float64:
//!   mean, std / a, b / mean, std, a, b), `global_shape` (int64[rank]), `stream` (uint64).

use crate::distributions::Element;
use crate::error::Error;
use crate::philox::Stream;
use crate::real::{BF16, F16};
use crate::slices::{fill_block, Block};
use crate::{Distribution, Normal, TruncNormal, Uniform};
use core::ffi::{c_char, c_void};
use std::ffi::CString;

const API_MAJOR: i32 = 0;
const API_MINOR: i32 = 3;
const EXTENSION_METADATA: i32 = 1;
const STAGE_EXECUTE: i32 = 3;
const ERROR_INVALID_ARGUMENT: i32 = 3;
const ERROR_INTERNAL: i32 = 13;
const ARGUMENT_BUFFER: i32 = 1;
const ATTRIBUTE_ARRAY: i32 = 1;
const ATTRIBUTE_SCALAR: i32 = 3;
const DTYPE_S32: i32 = 4;
const DTYPE_S64: i32 = 5;
const DTYPE_U32: i32 = 8;
const DTYPE_U64: i32 = 9;
const DTYPE_F16: i32 = 10;
const DTYPE_F32: i32 = 11;
const DTYPE_F64: i32 = 12;
const DTYPE_BF16: i32 = 16;

#[repr(C)]
pub struct ExtensionBase {
    struct_size: usize,
    kind: i32,
    next: *mut ExtensionBase,
}

#[repr(C)]
struct ApiVersion {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    major: i32,
    minor: i32,
}

/// XLA's error; opaque, made by the API's `XLA_FFI_Error_Create`.
#[repr(C)]
pub struct FfiError {
    _private: [u8; 0],
}

#[repr(C)]
struct ErrorCreateArgs {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    message: *const c_char,
    code: i32,
}

/// The head of XLA_FFI_Api, up to the one function used (`XLA_FFI_Error_Create`).
#[repr(C)]
pub struct Api {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    api_version: ApiVersion,
    internal_api: *const c_void,
    error_create: Option<unsafe extern "C" fn(*mut ErrorCreateArgs) -> *mut FfiError>,
}

#[repr(C)]
struct Buffer {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    dtype: i32,
    data: *mut c_void,
    rank: i64,
    dims: *mut i64,
}

/// XLA_FFI_Args and XLA_FFI_Rets (the same layout).
#[repr(C)]
struct Buffers {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    size: i64,
    types: *mut i32,
    items: *mut *mut c_void,
}

#[repr(C)]
struct ByteSpan {
    ptr: *const c_char,
    len: usize,
}

#[repr(C)]
struct Scalar {
    dtype: i32,
    value: *mut c_void,
}

#[repr(C)]
struct Array {
    dtype: i32,
    size: usize,
    data: *mut c_void,
}

#[repr(C)]
struct Attributes {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    size: i64,
    types: *mut i32,
    names: *mut *mut ByteSpan,
    attrs: *mut *mut c_void,
}

/// XLA_FFI_CallFrame.
#[repr(C)]
pub struct CallFrame {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    api: *const Api,
    ctx: *mut c_void,
    stage: i32,
    args: Buffers,
    rets: Buffers,
    attrs: Attributes,
    future: *mut c_void,
}

#[repr(C)]
struct Metadata {
    struct_size: usize,
    api_version: ApiVersion,
    traits: u32,
    state_type_id: i64,
}

#[repr(C)]
struct MetadataExtension {
    base: ExtensionBase,
    metadata: *mut Metadata,
}

/// What went wrong, as XLA reports it (an error code and a message).
struct Failure(i32, String);

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure(ERROR_INVALID_ARGUMENT, e.to_string())
    }
}

fn invalid(message: String) -> Failure {
    Failure(ERROR_INVALID_ARGUMENT, format!("heinit_rs_fill: {message}"))
}

/// The FFI handler `heinit_rs_fill` (registered by heinit_rs.jax for the CPU platform).
///
/// # Safety
/// `frame` must be a call frame XLA built for this target: valid for the call, its buffers
/// sized as their dims say, the result buffer written by nothing else during the call.
pub unsafe extern "C" fn fill_handler(frame: *mut CallFrame) -> *mut FfiError {
    // SAFETY: XLA passes a valid call frame (the caller's contract).
    let frame = match unsafe { frame.as_mut() } {
        Some(frame) => frame,
        None => return core::ptr::null_mut(),
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: as for the frame itself.
        unsafe { handle(frame) }
    }));
    let failure = match outcome {
        Ok(Ok(())) => return core::ptr::null_mut(),
        Ok(Err(failure)) => failure,
        Err(_) => Failure(ERROR_INTERNAL, "heinit_rs_fill panicked".into()),
    };
    // SAFETY: `api` is XLA's API table for this call.
    unsafe { report(frame.api, failure) }
}

/// # Safety
/// `api` must be null or XLA's API table.
unsafe fn report(api: *const Api, Failure(code, message): Failure) -> *mut FfiError {
    // SAFETY: the caller's contract.
    let Some(create) = (unsafe { api.as_ref() }).and_then(|api| api.error_create) else {
        return core::ptr::null_mut();
    };
    let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
    let mut args = ErrorCreateArgs {
        struct_size: core::mem::size_of::<ErrorCreateArgs>(),
        extension_start: core::ptr::null_mut(),
        message: message.as_ptr(),
        code,
    };
    // SAFETY: XLA's error constructor copies the message before returning.
    unsafe { create(&mut args) }
}

/// # Safety
/// As for `fill_handler`.
unsafe fn handle(frame: &mut CallFrame) -> Result<(), Failure> {
    let frame_size = core::mem::offset_of!(CallFrame, attrs) + core::mem::size_of::<Attributes>();
    if frame.struct_size < frame_size {
        return Err(invalid(format!(
            "XLA's call frame has {} bytes, fewer than the {frame_size} of FFI API {API_MAJOR}.{API_MINOR}",
            frame.struct_size
        )));
    }
    // SAFETY: the extension chain is XLA's, valid for the call.
    if let Some(extension) = unsafe { frame.extension_start.as_ref() } {
        if extension.kind == EXTENSION_METADATA {
            // SAFETY: an extension of this type is an XLA_FFI_Metadata_Extension.
            return unsafe { describe(frame.extension_start.cast()) };
        }
    }
    if frame.stage != STAGE_EXECUTE {
        return Err(invalid(format!(
            "called at stage {}; only execution is handled",
            frame.stage
        )));
    }
    // SAFETY: the frame's buffers and attributes are XLA's (the caller's contract).
    let (key, position) = unsafe { (argument(&frame.args, 0)?, argument(&frame.args, 1)?) };
    // SAFETY: as above.
    let out = unsafe { argument(&frame.rets, 0)? };
    if frame.args.size != 2 || frame.rets.size != 1 {
        return Err(invalid(format!(
            "takes 2 arguments and 1 result, got {} and {}",
            frame.args.size, frame.rets.size
        )));
    }
    // SAFETY: as above.
    let attributes = unsafe { read_attributes(&frame.attrs)? };
    // SAFETY: the buffers' dims hold `rank` entries.
    let (key_dims, dims, position_dims) =
        unsafe { (dims_of(key), dims_of(out), dims_of(position)) };
    if key.dtype != DTYPE_U32 || key_dims != [2] {
        return Err(invalid("the key must be uint32[2]".into()));
    }
    if position.dtype != DTYPE_S32 || position_dims != [dims.len() as i64] {
        return Err(invalid(format!(
            "the position must be int32[{}]",
            dims.len()
        )));
    }
    if attributes.global_shape.len() != dims.len() {
        return Err(invalid(format!(
            "global_shape has {} entries for a rank-{} result",
            attributes.global_shape.len(),
            dims.len()
        )));
    }
    let shape: Vec<usize> = dims.iter().map(|&n| n.max(0) as usize).collect();
    if shape.contains(&0) {
        return Ok(());
    }
    // SAFETY: a uint32[2] buffer and an int32[rank] buffer, checked above.
    let (words, position) = unsafe {
        (
            core::slice::from_raw_parts(key.data as *const u32, 2),
            core::slice::from_raw_parts(position.data as *const i32, shape.len()),
        )
    };
    let stream = Stream::new(
        (u64::from(words[0]) << 32) | u64::from(words[1]),
        attributes.stream,
    );
    let offset: Vec<u64> = position
        .iter()
        .zip(&shape)
        .map(|(&p, &n)| u64::from(p.max(0) as u32) * n as u64)
        .collect();
    let mut strides = vec![1usize; shape.len()];
    for axis in (0..shape.len().saturating_sub(1)).rev() {
        strides[axis] = strides[axis + 1] * shape[axis + 1];
    }
    let block = Block {
        shape: &shape,
        strides: &strides,
        global_shape: &attributes.global_shape,
        offset: &offset,
    };
    let elements: usize = shape.iter().product();
    let fill = Fill {
        stream: &stream,
        block: &block,
        data: out.data,
        elements,
    };
    // SAFETY: XLA's result buffer holds `elements` values of its dtype, row-major.
    unsafe {
        match out.dtype {
            DTYPE_F32 => fill.values::<f32>(&attributes),
            DTYPE_F64 => fill.values::<f64>(&attributes),
            DTYPE_F16 => fill.values::<F16>(&attributes),
            DTYPE_BF16 => fill.values::<BF16>(&attributes),
            other => Err(invalid(format!(
                "the result's XLA dtype {other} is not float32, float64, float16 or bfloat16"
            ))),
        }
    }
}

/// From this many bytes on, the result's pages are advised to be transparent huge pages
/// before the first write, as NumPy advises its arrays of 4 MiB and more: XLA's fresh buffers
/// otherwise take a page fault every 4 KiB, which on a VM costs as much as the fill itself.
const HUGE_PAGES_FROM: usize = 4 << 20;

fn advise_huge_pages(data: *mut c_void, bytes: usize) {
    #[cfg(target_os = "linux")]
    if bytes >= HUGE_PAGES_FROM {
        const PAGE: usize = 4096;
        let start = (data as usize).next_multiple_of(PAGE);
        let end = (data as usize + bytes) / PAGE * PAGE;
        if end > start {
            // SAFETY: advice on whole pages inside XLA's result buffer; it changes how the
            // kernel backs them, never their contents. A refusal (THP off) changes nothing.
            unsafe { libc::madvise(start as *mut c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (data, bytes);
}

/// Answer XLA's metadata query: the API version this handler was written against.
///
/// # Safety
/// `extension` must be XLA's metadata extension.
unsafe fn describe(extension: *mut MetadataExtension) -> Result<(), Failure> {
    // SAFETY: the caller's contract.
    let metadata = unsafe { (*extension).metadata.as_mut() }
        .ok_or_else(|| invalid("metadata query without metadata".into()))?;
    let traits_end = core::mem::offset_of!(Metadata, traits) + core::mem::size_of::<u32>();
    if metadata.struct_size < traits_end {
        return Err(invalid("XLA's metadata struct is too small".into()));
    }
    metadata.api_version = ApiVersion {
        struct_size: core::mem::size_of::<ApiVersion>(),
        extension_start: core::ptr::null_mut(),
        major: API_MAJOR,
        minor: API_MINOR,
    };
    metadata.traits = 0;
    if metadata.struct_size >= core::mem::size_of::<Metadata>() {
        metadata.state_type_id = 0;
    }
    Ok(())
}

/// # Safety
/// `buffers` must be XLA's argument or result list.
unsafe fn argument(buffers: &Buffers, index: usize) -> Result<&Buffer, Failure> {
    if (index as i64) >= buffers.size {
        return Err(invalid(format!(
            "expected at least {} buffers, got {}",
            index + 1,
            buffers.size
        )));
    }
    // SAFETY: `types` and `items` hold `size` entries.
    let (kind, item) = unsafe { (*buffers.types.add(index), *buffers.items.add(index)) };
    if kind != ARGUMENT_BUFFER {
        return Err(invalid(format!("buffer {index} is not an array")));
    }
    // SAFETY: an entry of buffer type is an XLA_FFI_Buffer.
    unsafe { (item as *const Buffer).as_ref() }
        .ok_or_else(|| invalid(format!("buffer {index} is null")))
}

/// # Safety
/// `buffer.dims` must hold `buffer.rank` entries.
unsafe fn dims_of(buffer: &Buffer) -> &[i64] {
    if buffer.rank <= 0 {
        &[]
    } else {
        // SAFETY: the caller's contract.
        unsafe { core::slice::from_raw_parts(buffer.dims, buffer.rank as usize) }
    }
}

/// The call's attributes, decoded.
struct Attributes64 {
    kind: i64,
    parameters: Vec<f64>,
    global_shape: Vec<u64>,
    stream: u64,
}

/// # Safety
/// `attrs` must be XLA's attribute list.
unsafe fn read_attributes(attrs: &Attributes) -> Result<Attributes64, Failure> {
    let (mut kind, mut parameters, mut global_shape, mut stream) = (None, None, None, None);
    for index in 0..attrs.size.max(0) as usize {
        // SAFETY: `types`, `names` and `attrs` hold `size` entries; each name is a byte span.
        let (kind_of, name, value) = unsafe {
            let span = &**attrs.names.add(index);
            (
                *attrs.types.add(index),
                core::slice::from_raw_parts(span.ptr as *const u8, span.len),
                *attrs.attrs.add(index),
            )
        };
        match (name, kind_of) {
            (b"kind", ATTRIBUTE_SCALAR) => {
                // SAFETY: a scalar attribute's value is an XLA_FFI_Scalar.
                kind = Some(unsafe { scalar_i64(value)? });
            }
            (b"stream", ATTRIBUTE_SCALAR) => {
                // SAFETY: as for `kind`.
                stream = Some(unsafe { scalar_i64(value)? } as u64);
            }
            (b"parameters", ATTRIBUTE_ARRAY) => {
                // SAFETY: an array attribute's value is an XLA_FFI_Array.
                parameters = Some(unsafe { array_of::<f64>(value, DTYPE_F64, "parameters")? });
            }
            (b"global_shape", ATTRIBUTE_ARRAY) => {
                // SAFETY: as for `parameters`.
                let shape = unsafe { array_of::<i64>(value, DTYPE_S64, "global_shape")? };
                global_shape = Some(shape.iter().map(|&n| n.max(0) as u64).collect());
            }
            (other, _) => {
                return Err(invalid(format!(
                    "unexpected attribute {:?}",
                    String::from_utf8_lossy(other)
                )))
            }
        }
    }
    match (kind, parameters, global_shape, stream) {
        (Some(kind), Some(parameters), Some(global_shape), Some(stream)) => Ok(Attributes64 {
            kind,
            parameters,
            global_shape,
            stream,
        }),
        _ => Err(invalid(
            "needs the attributes kind, parameters, global_shape and stream".into(),
        )),
    }
}

/// # Safety
/// `value` must point to an XLA_FFI_Scalar.
unsafe fn scalar_i64(value: *mut c_void) -> Result<i64, Failure> {
    // SAFETY: the caller's contract; the scalar's dtype says how wide its value is.
    unsafe {
        let scalar = &*(value as *const Scalar);
        match scalar.dtype {
            DTYPE_S64 | DTYPE_U64 => Ok(*(scalar.value as *const i64)),
            DTYPE_S32 => Ok(i64::from(*(scalar.value as *const i32))),
            DTYPE_U32 => Ok(i64::from(*(scalar.value as *const u32))),
            other => Err(invalid(format!(
                "an integer attribute has XLA dtype {other}"
            ))),
        }
    }
}

/// The values of an array attribute of XLA dtype `dtype` (an error naming `name` otherwise).
///
/// # Safety
/// `value` must point to an XLA_FFI_Array whose data holds `size` values of its dtype, and
/// `T` must be the type of `dtype`.
unsafe fn array_of<T: Copy>(value: *mut c_void, dtype: i32, name: &str) -> Result<Vec<T>, Failure> {
    // SAFETY: the caller's contract.
    let array = unsafe { &*(value as *const Array) };
    if array.dtype != dtype {
        return Err(invalid(format!(
            "{name} has XLA dtype {}, not {dtype}",
            array.dtype
        )));
    }
    if array.size == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: the caller's contract, the dtype checked above.
    Ok(unsafe { core::slice::from_raw_parts(array.data as *const T, array.size) }.to_vec())
}

/// One fill of XLA's result buffer.
struct Fill<'a> {
    stream: &'a Stream,
    block: &'a Block<'a>,
    data: *mut c_void,
    elements: usize,
}

impl Fill<'_> {
    /// # Safety
    /// `data` must hold `elements` values of `T` that nothing else uses during the call.
    unsafe fn values<T: Element>(&self, attributes: &Attributes64) -> Result<(), Failure> {
        advise_huge_pages(self.data, self.elements * core::mem::size_of::<T>());
        // SAFETY: the caller's contract.
        let out = unsafe { core::slice::from_raw_parts_mut(self.data as *mut T, self.elements) };
        let p = &attributes.parameters;
        let wants = |n: usize| {
            if p.len() == n {
                Ok(())
            } else {
                Err(invalid(format!(
                    "kind {} takes {n} parameters, got {}",
                    attributes.kind,
                    p.len()
                )))
            }
        };
        match attributes.kind {
            0 => {
                wants(2)?;
                self.into(&Normal::new(p[0], p[1])?, out)
            }
            1 => {
                wants(2)?;
                self.into(&Uniform::new(p[0], p[1])?, out)
            }
            2 => {
                wants(4)?;
                self.into(&TruncNormal::new(p[0], p[1], p[2], p[3])?, out)
            }
            other => Err(invalid(format!("unknown kind {other}"))),
        }
    }

    fn into<T: Element, D: Distribution>(&self, d: &D, out: &mut [T]) -> Result<(), Failure> {
        Ok(fill_block(d, self.stream, out, self.block)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slices::fill_slice;
    use core::ffi::CStr;
    use std::cell::RefCell;

    thread_local! {
        static REPORTED: RefCell<Vec<(i32, String)>> = const { RefCell::new(Vec::new()) };
    }

    /// XLA's `XLA_FFI_Error_Create` stand-in: records the error, returns a non-null token.
    unsafe extern "C" fn record_error(args: *mut ErrorCreateArgs) -> *mut FfiError {
        // SAFETY: the handler passes valid arguments with a NUL-terminated message.
        let (code, message) = unsafe { ((*args).code, CStr::from_ptr((*args).message)) };
        let message = message.to_string_lossy().into_owned();
        REPORTED.with(|r| r.borrow_mut().push((code, message)));
        core::ptr::NonNull::dangling().as_ptr()
    }

    fn api() -> Api {
        Api {
            struct_size: core::mem::size_of::<Api>(),
            extension_start: core::ptr::null_mut(),
            api_version: ApiVersion {
                struct_size: core::mem::size_of::<ApiVersion>(),
                extension_start: core::ptr::null_mut(),
                major: API_MAJOR,
                minor: API_MINOR,
            },
            internal_api: core::ptr::null(),
            error_create: Some(record_error),
        }
    }

    struct Owned {
        dims: Vec<Vec<i64>>,
        buffers: Vec<Buffer>,
    }

    fn buffer(dtype: i32, data: *mut c_void, dims: &mut Vec<i64>) -> Buffer {
        Buffer {
            struct_size: core::mem::size_of::<Buffer>(),
            extension_start: core::ptr::null_mut(),
            dtype,
            data,
            rank: dims.len() as i64,
            dims: dims.as_mut_ptr(),
        }
    }

    /// Calls the handler as XLA would for a (rows x 8) float32 block at `position` of a
    /// (4 rows x 8) array of Normal(0, 2) with key (1, 2), stream 5.
    fn call(rows: i64, position: [i32; 2], kind_name: &[u8]) -> (Vec<f32>, Option<String>) {
        let mut key = [1u32, 2u32];
        let mut position = position;
        let mut out = vec![0f32; rows as usize * 8];
        let mut owned = Owned {
            dims: vec![vec![2], vec![2], vec![rows, 8]],
            buffers: Vec::new(),
        };
        let [d0, d1, d2] = &mut owned.dims[..] else {
            unreachable!()
        };
        owned.buffers = vec![
            buffer(DTYPE_U32, key.as_mut_ptr().cast(), d0),
            buffer(DTYPE_S32, position.as_mut_ptr().cast(), d1),
            buffer(DTYPE_F32, out.as_mut_ptr().cast(), d2),
        ];
        let mut types = [ARGUMENT_BUFFER; 2];
        let mut args: Vec<*mut c_void> = owned.buffers[..2]
            .iter_mut()
            .map(|b| (b as *mut Buffer).cast())
            .collect();
        let mut rets: Vec<*mut c_void> = vec![(&mut owned.buffers[2] as *mut Buffer).cast()];
        let (mut kind, mut stream) = (0i64, 5u64);
        let mut parameters = [0.0f64, 2.0];
        let mut global = [4i64, 8];
        let mut scalars = [
            Scalar {
                dtype: DTYPE_S64,
                value: (&mut kind as *mut i64).cast(),
            },
            Scalar {
                dtype: DTYPE_U64,
                value: (&mut stream as *mut u64).cast(),
            },
        ];
        let mut arrays = [
            Array {
                dtype: DTYPE_F64,
                size: 2,
                data: parameters.as_mut_ptr().cast(),
            },
            Array {
                dtype: DTYPE_S64,
                size: 2,
                data: global.as_mut_ptr().cast(),
            },
        ];
        let names: [&[u8]; 4] = [kind_name, b"stream", b"parameters", b"global_shape"];
        let mut spans: Vec<ByteSpan> = names
            .iter()
            .map(|n| ByteSpan {
                ptr: n.as_ptr().cast(),
                len: n.len(),
            })
            .collect();
        let mut span_ptrs: Vec<*mut ByteSpan> = spans.iter_mut().map(|s| s as *mut _).collect();
        let mut attr_types = [
            ATTRIBUTE_SCALAR,
            ATTRIBUTE_SCALAR,
            ATTRIBUTE_ARRAY,
            ATTRIBUTE_ARRAY,
        ];
        let [s0, s1] = &mut scalars;
        let [a0, a1] = &mut arrays;
        let mut values: Vec<*mut c_void> = vec![
            (s0 as *mut Scalar).cast(),
            (s1 as *mut Scalar).cast(),
            (a0 as *mut Array).cast(),
            (a1 as *mut Array).cast(),
        ];
        let list = |types: *mut i32, items: *mut *mut c_void, size| Buffers {
            struct_size: core::mem::size_of::<Buffers>(),
            extension_start: core::ptr::null_mut(),
            size,
            types,
            items,
        };
        let mut ret_types = [ARGUMENT_BUFFER];
        let api = api();
        let mut frame = CallFrame {
            struct_size: core::mem::size_of::<CallFrame>(),
            extension_start: core::ptr::null_mut(),
            api: &api,
            ctx: core::ptr::null_mut(),
            stage: STAGE_EXECUTE,
            args: list(types.as_mut_ptr(), args.as_mut_ptr(), 2),
            rets: list(ret_types.as_mut_ptr(), rets.as_mut_ptr(), 1),
            attrs: Attributes {
                struct_size: core::mem::size_of::<Attributes>(),
                extension_start: core::ptr::null_mut(),
                size: 4,
                types: attr_types.as_mut_ptr(),
                names: span_ptrs.as_mut_ptr(),
                attrs: values.as_mut_ptr(),
            },
            future: core::ptr::null_mut(),
        };
        REPORTED.with(|r| r.borrow_mut().clear());
        // SAFETY: the frame and everything it points to live until the call returns.
        let error = unsafe { fill_handler(&mut frame) };
        let reported = REPORTED.with(|r| r.borrow_mut().pop());
        assert_eq!(error.is_null(), reported.is_none());
        (
            out,
            reported.map(|(code, message)| format!("{code}: {message}")),
        )
    }

    #[test]
    fn fills_the_result_buffer_with_the_stream() {
        let mut whole = vec![0f32; 32];
        fill_slice(
            &Normal::new(0.0, 2.0).unwrap(),
            &Stream::new((1 << 32) | 2, 5),
            &mut whole,
        )
        .unwrap();
        assert_eq!(call(4, [0, 0], b"kind"), (whole.clone(), None));
        // The block at position (1, 0) of 2-row blocks is rows 2..4.
        assert_eq!(call(2, [1, 0], b"kind"), (whole[16..].to_vec(), None));
    }

    #[test]
    fn an_unknown_attribute_is_refused_before_writing() {
        let message = "3: heinit_rs_fill: unexpected attribute \"kinds\"".to_string();
        assert_eq!(call(4, [0, 0], b"kinds"), (vec![0f32; 32], Some(message)));
        // A block outside the array: the fill's own error, nothing written.
        let (out, error) = call(4, [1, 0], b"kind");
        assert_eq!(out, vec![0f32; 32]);
        assert!(error.unwrap().starts_with("3: "));
    }
}
