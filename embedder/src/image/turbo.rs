//! JPEG through libjpeg-turbo's decoder (the C sources bundled by `mozjpeg-sys`), so that decoded
//! pixels are bit-identical to Pillow's, which links libjpeg-turbo: same `JDCT_ISLOW` integer
//! IDCT, same "fancy" (triangle) chroma upsampling, same YCbCr tables. zune-jpeg, the `image`
//! crate's decoder, differs by up to a few levels per sample (see `decode_bytes`).
//!
//! Errors: libjpeg reports fatal errors through `error_exit`, which must not return; ours unwinds
//! (the C code is built with `-fexceptions` by the `unwinding` feature of `mozjpeg-sys`) to a
//! `catch_unwind` here (so this needs `panic = "unwind"`, the default; with `panic = "abort"` a
//! corrupt JPEG would abort the process). Warnings are silenced like Pillow does, except
//! "premature end of JPEG file", which Pillow reports as "image file is truncated" and so do we.

use std::os::raw::{c_int, c_ulong};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use mozjpeg_sys::{
    jpeg_common_struct, jpeg_create_decompress, jpeg_decompress_struct, jpeg_destroy_decompress, jpeg_error_mgr, jpeg_mem_src,
    jpeg_read_header, jpeg_read_scanlines, jpeg_start_decompress, jpeg_std_error, JWRN_JPEG_EOF, J_COLOR_SPACE,
};

use super::decode::pillow_cmyk_to_rgb;
use super::Rgb8;

/// Why libjpeg refused the data.
pub(super) struct JpegFailure(pub(super) String);

/// The error manager with room for what `emit_message` observes; `pub_` must stay first.
#[repr(C)]
struct ErrorMgr {
    pub_: jpeg_error_mgr,
    truncated: bool,
}

/// Largest decoded image accepted, in bytes (the `image` crate's default allocation limit).
const MAX_BYTES: usize = 512 << 20;

unsafe extern "C-unwind" fn error_exit(cinfo: &mut jpeg_common_struct) {
    let msg = unsafe { message(cinfo) };
    // Not `panic!`: no panic hook, no message on stderr; caught in `decode`.
    resume_unwind(Box::new(JpegFailure(msg)))
}

unsafe extern "C-unwind" fn emit_message(cinfo: &mut jpeg_common_struct, level: c_int) {
    if level < 0 {
        // SAFETY: `cinfo.err` points at the `pub_` field of the `ErrorMgr` set up in `decode`.
        let err = unsafe { &mut *(cinfo.err as *mut ErrorMgr) };
        err.pub_.num_warnings += 1;
        if err.pub_.msg_code == JWRN_JPEG_EOF as c_int {
            err.truncated = true;
        }
    }
}

unsafe extern "C-unwind" fn output_message(_cinfo: &mut jpeg_common_struct) {}

/// libjpeg's text for the current message.
unsafe fn message(cinfo: &mut jpeg_common_struct) -> String {
    let mut buf = [0u8; 200]; // JMSG_LENGTH_MAX is 200
                              // SAFETY: `err` is valid while libjpeg runs; `format_message` writes at most
                              // JMSG_LENGTH_MAX bytes, NUL-terminated. The binding types the buffer as `&[u8; 80]`, a
                              // shared reference the optimiser may treat as read-only: call it through a raw pointer.
    unsafe {
        if let Some(f) = (*cinfo.err).format_message {
            type Format = unsafe extern "C-unwind" fn(&mut jpeg_common_struct, *mut u8);
            let f: Format = std::mem::transmute(f);
            f(cinfo, buf.as_mut_ptr());
        }
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Decode a JPEG to RGB as Pillow's `Image.open(..).convert("RGB")` does: grey replicated,
/// CMYK (Pillow assumes Adobe's inverted convention) through Pillow's `cmyk2rgb`.
pub(super) fn decode(bytes: &[u8]) -> Result<Rgb8, JpegFailure> {
    // SAFETY: zeroed is the documented initial state before jpeg_std_error / jpeg_create_*.
    let mut err: ErrorMgr = ErrorMgr { pub_: unsafe { std::mem::zeroed() }, truncated: false };
    let mut cinfo: jpeg_decompress_struct = unsafe { std::mem::zeroed() };
    // SAFETY: `err` and `cinfo` live on this frame until `jpeg_destroy_decompress` below.
    unsafe {
        cinfo.common.err = jpeg_std_error(&mut err.pub_);
    }
    err.pub_.error_exit = Some(error_exit);
    err.pub_.emit_message = Some(emit_message);
    err.pub_.output_message = Some(output_message);

    let result = catch_unwind(AssertUnwindSafe(|| unsafe {
        jpeg_create_decompress(&mut cinfo);
        jpeg_mem_src(&mut cinfo, bytes.as_ptr(), bytes.len() as c_ulong);
        jpeg_read_header(&mut cinfo, 1);
        let cmyk = cinfo.num_components == 4;
        cinfo.out_color_space = if cmyk { J_COLOR_SPACE::JCS_CMYK } else { J_COLOR_SPACE::JCS_RGB };
        let (w, h) = (cinfo.image_width as usize, cinfo.image_height as usize);
        let comps = if cmyk { 4 } else { 3 };
        if w * h * comps > MAX_BYTES {
            return Err(JpegFailure(format!("{w}x{h} is too large to decode (over {} MiB)", MAX_BYTES >> 20)));
        }
        jpeg_start_decompress(&mut cinfo);
        let (w, h) = (cinfo.output_width as usize, cinfo.output_height as usize);
        let stride = w * cinfo.output_components as usize;
        let mut buf = vec![0u8; stride * h];
        while (cinfo.output_scanline as usize) < h {
            let y = cinfo.output_scanline as usize;
            let n = (h - y).min(cinfo.rec_outbuf_height.max(1) as usize).min(16);
            let mut rows = [std::ptr::null_mut::<u8>(); 16];
            for (i, r) in rows[..n].iter_mut().enumerate() {
                *r = buf.as_mut_ptr().add((y + i) * stride);
            }
            if jpeg_read_scanlines(&mut cinfo, rows.as_mut_ptr(), n as _) == 0 {
                break; // only with a suspending source; jpeg_mem_src never suspends
            }
        }
        Ok((w, h, cmyk, buf))
    }));
    // SAFETY: created above (destroying a zeroed, never-created struct is also a no-op).
    unsafe { jpeg_destroy_decompress(&mut cinfo) };
    let (width, height, cmyk, buf) = match result {
        Ok(r) => r?,
        Err(payload) => match payload.downcast::<JpegFailure>() {
            Ok(f) => return Err(*f),
            Err(other) => resume_unwind(other),
        },
    };
    if err.truncated {
        return Err(JpegFailure("truncated: premature end of JPEG data".into()));
    }
    let data = if cmyk { cmyk_to_rgb(&buf) } else { buf };
    Ok(Rgb8 { width, height, data })
}

/// Pillow: raw mode `CMYK;I` (inverted, "Adobe conventions") then `cmyk2rgb` of Convert.c.
fn cmyk_to_rgb(buf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(buf.len() / 4 * 3);
    for p in buf.chunks_exact(4) {
        out.extend_from_slice(&pillow_cmyk_to_rgb([255 - p[0], 255 - p[1], 255 - p[2], 255 - p[3]]));
    }
    out
}
